"""``pytest bench/ --benchmark-only --counts``: the selected cases' counts, measured in one Valgrind process
before the timings, saved as ``counts.json`` in the run folder and beside each case's timings in
pytest-benchmark's JSON (``extra_info["counts"]``). Counts come beside timings: a run without --counts carries
timings only; add --quick to keep the timings short when the counts are what you want.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from bench.counts import callgrind
from bench.counts.model import MODEL, per_unit
from bench.counts.probe import EMPTY
from bench.options import Option
from impl.errors import MLPBenchError
from impl.registry import get_implementation

COUNTS = Option("--counts", "also measure each selected case's work under Valgrind (instructions, data accesses, "
                "cache misses, branch mispredictions, estimated cycles): deterministic counts, per step or per "
                "epoch, saved beside the timings; see docs/counts.md", switch=True)
FILE = "counts.json"
#: Counted calls per step case (the warm-up pass runs as many again): fewer at the largest batches, whose calls
#: cost most under Valgrind; a full run counts one epoch.
CALLS = {500: 2, 5000: 2}
FULL_RUN_EPOCHS = 1


def refusal(impl: str, backend: str) -> str | None:
    """Why counts cannot measure a case (None: they can)."""
    cls = get_implementation(impl, require_available=False)
    if not cls.__module__.startswith("impl.numpy_mlp."):
        return ("counts: not measured: only the NumPy implementations run under Valgrind here (framework runtimes "
                "start thread pools and JIT compilers that Valgrind runs far too slowly to be worth a count)")
    if backend != cls.default_backend():
        return f"counts: not measured: backend {backend} (counts run the default backend only)"
    return cls.unavailable_reason()


def plan(params: Iterable[dict[str, Any]]) -> tuple[list[dict[str, Any]], dict[str, str]]:
    """The probe's cases and the refused ones (with why), from the selected cases' parameters."""
    cases, refused = [], {}
    for p in params:
        case_id = f"{p['impl']}-B{p['batch_size']}-{p['phase']}"
        reason = refusal(p["impl"], p["backend"])
        if reason:
            refused[case_id] = reason
            continue
        full = p["phase"] == "full_run"
        cases.append({"id": case_id, "impl": p["impl"], "batch_size": p["batch_size"], "phase": p["phase"],
                      "calls": 1 if full else CALLS.get(p["batch_size"], 1),
                      **({"epochs": FULL_RUN_EPOCHS} if full else {})})
    return cases, refused


def measure(params: Iterable[dict[str, Any]], *, mnist: str | None, seed: int, layers: tuple[int, ...],
            run_dir: Path, timeout_s: float, write: Callable[[str], None]) -> dict[str, Any]:
    """Measure the cases under Valgrind; the counts document (also written to the run folder)."""
    version = callgrind.valgrind_version()  # first: a missing Valgrind is a one-line error before any work
    cases, refused = plan(params)
    for case_id, reason in refused.items():
        write(f"mlp-bench: {case_id}: {reason}")
    doc: dict[str, Any] = {"valgrind": version, "model": MODEL, "threads": 1, "cases": {}, "not_measured": refused}
    if cases:
        write(f"mlp-bench: counts of {len(cases)} case(s) under {version} (one process; start-up about a minute) ...")
        start = time.perf_counter()
        spec = {"mnist": mnist, "seed": seed, "layers": list(layers), "epochs": {}, "cases": cases}
        dumps, caches, facts = callgrind.run_probe(spec, run_dir / "counts-valgrind.log", timeout_s)
        doc.update(caches=caches, facts=facts, seconds=round(time.perf_counter() - start, 1))
        for case in cases:
            if case["id"] not in dumps or f"{case['id']}|{EMPTY}" not in dumps:
                raise MLPBenchError(f"counts: no Callgrind dump for {case['id']} (see counts-valgrind.log)")
            units = case["calls"] * case.get("epochs", 1)
            doc["cases"][case["id"]] = {
                "impl": case["impl"], "batch_size": case["batch_size"], "phase": case["phase"],
                "unit": "epoch" if case["phase"] == "full_run" else "step", "calls": case["calls"],
                **per_unit(dumps[case["id"]], dumps[f"{case['id']}|{EMPTY}"], units),
                "raw": dumps[case["id"]], "raw_empty": dumps[f"{case['id']}|{EMPTY}"]}
        write(f"mlp-bench: counts done in {doc['seconds']:.0f} s")
    callgrind.write_json(run_dir / FILE, doc)
    return doc


def attach(bench_doc: dict[str, Any], counts: dict[str, Any]) -> None:
    """Each case's counts (or why none) into its extra_info, and the run's counts facts beside machine_info."""
    bench_doc["mlp_bench_counts"] = {k: v for k, v in counts.items() if k not in ("cases", "not_measured")}
    for bench in bench_doc.get("benchmarks", []):
        info = bench.get("extra_info", {})
        case_id = f"{info.get('impl')}-B{info.get('batch_size')}-{info.get('phase')}"
        if case_id in counts["cases"]:
            info["counts"] = {k: v for k, v in counts["cases"][case_id].items() if k not in ("raw", "raw_empty")}
        elif case_id in counts["not_measured"]:
            info["counts_not_measured"] = counts["not_measured"][case_id]


def counts_of_session(items: list[Any], settings: Any, run_dir: Path, write: Callable[[str], None]) -> dict[str, Any]:
    """The counts of a pytest session's selected, unskipped benchmark cases (bench/conftest.py calls this)."""
    if settings.processes > 1:
        write(f"mlp-bench: warning: counts are measured once, in one Valgrind process: --processes "
              f"{settings.processes} applies to the timings only")
    if settings.threads not in (None, 1):
        write(f"mlp-bench: warning: counts run one BLAS thread: --threads {settings.threads} applies to the timings "
              "only")
    params = [item.callspec.params for item in items if hasattr(item, "callspec")
              and "phase" in item.callspec.params and not item.get_closest_marker("skip")]
    return measure(params, mnist=settings.mnist, seed=settings.seed, layers=settings.layers, run_dir=run_dir,
                   timeout_s=settings.worker_timeout, write=write)
