"""What a case measured, beyond its name: the facts that change its work.

Two results of one implementation, phase and batch size are the same quantity only when they trained the same
model for the same epochs with the same profile, threads, dtype, data, device and clock, and made the same
run-time choices (an implementation names the keys of its ``run_facts`` that are such choices in its
``identity_facts``; this module names none). `mlp-bench compare` pairs two cases only when these agree; others
are listed as ``not comparable`` with what differs, and get no verdict and no gate.
"""

from __future__ import annotations

import hashlib
from typing import Any

from impl.registry import all_implementations

#: extra_info keys that are part of every case's identity (``layers`` read through results.model_of)
RECORDED = ("epochs", "quick", "threads", "dtype", "dataset", "data_checksum", "device")


def identity_of(bench: dict[str, Any], data_checksum: str | None = None) -> dict[str, Any]:
    """A benchmark entry's identity: recorded facts, its model, its clock, and its implementation's declared
    run-time choices; ``data_checksum``: the run's (see :func:`data_checksum`). None where a record does not say
    (older runs)."""
    from bench.results import model_of

    info = bench.get("extra_info") or {}
    facts: dict[str, Any] = {key: info.get(key) for key in RECORDED}
    facts["data_checksum"] = info.get("data_checksum") or data_checksum
    facts["model"] = model_of(info.get("workload"), info.get("layers")) or None
    facts["timer"] = str((bench.get("options") or {}).get("timer", "perf_counter"))
    cls = all_implementations().get(str(info.get("impl")))
    for key in getattr(cls, "identity_facts", ()):
        facts[key] = info.get(key)
    return facts


def differences(a: dict[str, Any], b: dict[str, Any]) -> list[tuple[str, str, str]]:
    """(fact, A's, B's) for every fact both sides recorded and that differs (a fact one side did not record
    cannot be checked, and is no difference: records from before it was kept)."""
    return [(key, _text(a[key]), _text(b[key])) for key in a | b
            if a.get(key) is not None and b.get(key) is not None and _text(a[key]) != _text(b[key])]


def describe(differ: list[tuple[str, str, str]]) -> str:
    """``epochs 35 vs 1, quick False vs True``."""
    return ", ".join(f"{key} {a} vs {b}" for key, a, b in differ)


def _text(value: Any) -> str:
    return str(int(value)) if isinstance(value, float) and value.is_integer() else str(value)


def identities(doc: dict[str, Any]) -> dict[tuple, dict[str, Any]]:
    """Every case's identity, keyed like results.case_data (impl, backend, workload, phase, batch size)."""
    out, data = {}, data_checksum(doc)
    for bench in doc.get("benchmarks", []):
        info = bench.get("extra_info") or {}
        key = (info.get("impl"), info.get("backend") or "", info.get("workload"), info.get("phase"),
               info.get("batch_size"))
        out[key] = identity_of(bench, data)
    return out


def data_checksum(doc: dict[str, Any]) -> str | None:
    """One short digest of the checksums of the data files a run read (None where it recorded none): two runs
    on different files measured different work."""
    from bench.results import data_record

    sums = (data_record(doc) or {}).get("checksums") or {}
    if not sums:
        return None
    joined = ";".join(f"{name}={digest}" for name, digest in sorted(sums.items()))
    return hashlib.sha256(joined.encode()).hexdigest()[:12]
