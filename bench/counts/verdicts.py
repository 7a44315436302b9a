"""``mlp-bench compare`` on counts: per case and metric, ``same`` within a small threshold, else ``more work``
or ``less work``; ``not comparable`` where Valgrind ran something else (its version, Python, NumPy, NumPy's SIMD
dispatch, the BLAS kernels, the simulated caches) in the two runs. The wall-clock verdicts stay as they are.

The default threshold, 1 %, is 20 times the largest A/A difference of instructions and 4 times that of estimated
cycles over the 60 cases of the NumPy matrix (results/reference/counts, docs/counts.md). A miss or misprediction count
is ``same`` too where its change, at its weight in estimated cycles, is under the threshold of the case's
estimated cycles: a few hundred extra L1 misses in tens of millions of cycles are no change in work.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from bench.counts.model import METRICS, cost_weight

THRESHOLD = 0.01
#: The metrics a headline verdict and the --fail-above gate read (the others are shown beside them).
HEADLINE = ("instructions", "est_cycles")


def counts_by_case(doc: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Each case's counts in a saved run (pytest-benchmark JSON with extra_info.counts), by case id."""
    found = {}
    for bench in doc.get("benchmarks", []):
        info = bench.get("extra_info", {})
        if info.get("counts"):
            found[f"{info.get('impl')}-B{info.get('batch_size')}-{info.get('phase')}"] = info["counts"]
    return found


def conditions(doc: dict[str, Any]) -> dict[str, Any]:
    """What Valgrind ran: what must match for two runs' counts to compare."""
    meta = doc.get("mlp_bench_counts", {})
    facts = meta.get("facts", {})
    kernels = sorted(f"{b.get('internal_api')} {b.get('version')} {b.get('architecture')}"
                     for b in facts.get("blas", []))
    return {"Valgrind": meta.get("valgrind"), "Python": facts.get("python"), "NumPy": facts.get("numpy"),
            "NumPy SIMD": ",".join(facts.get("numpy_simd_dispatch", [])), "BLAS kernels": "; ".join(kernels),
            "caches": "; ".join(meta.get("caches", [])), "model": meta.get("model")}


def not_comparable(doc_a: dict[str, Any], doc_b: dict[str, Any]) -> str | None:
    """One line saying what differs between the runs' Valgrind conditions; None where they match."""
    a, b = conditions(doc_a), conditions(doc_b)
    diffs = [f"{key} {a[key]} -> {b[key]}" for key in a if a[key] != b[key]]
    return f"counts: not comparable: {'; '.join(diffs)}" if diffs else None


def verdict(metric: str, a: float, b: float, cycles: float, threshold: float) -> str:
    change = b - a
    if abs(change) <= threshold * max(abs(a), 1.0):
        return "same"
    if metric not in ("instructions", "data_reads", "data_writes", "est_cycles") and \
            abs(change) * cost_weight(metric) <= threshold * cycles:
        return "same"
    return "more work" if change > 0 else "less work"


def compare_counts(doc_a: dict[str, Any], doc_b: dict[str, Any],
                   threshold: float = THRESHOLD) -> tuple[pd.DataFrame, str | None]:
    """Per case with counts in both runs: each metric's B/A and verdict, and the headline verdict (the worse
    of instructions and estimated cycles). The second value: the one-line reason they cannot compare."""
    ca, cb = counts_by_case(doc_a), counts_by_case(doc_b)
    common = [case for case in ca if case in cb]
    if not common:
        return pd.DataFrame(), None
    reason = not_comparable(doc_a, doc_b)
    rows = []
    for case in common:
        a, b = ca[case], cb[case]
        row: dict[str, Any] = {"case": case, "per": a.get("unit")}
        for metric in METRICS:
            row[f"{metric}_ratio"] = b[metric] / a[metric] if a[metric] else float("nan")
            row[f"{metric}_verdict"] = ("not comparable" if reason else
                                        verdict(metric, a[metric], b[metric], a["est_cycles"], threshold))
        heads = {row[f"{m}_verdict"] for m in HEADLINE}
        row["counts_verdict"] = next((v for v in ("not comparable", "more work", "less work") if v in heads), "same")
        rows.append(row)
    return pd.DataFrame(rows), reason


def render_counts(table: pd.DataFrame, reason: str | None, threshold: float, beside_time: bool = True) -> str:
    """The counts comparison as text: B/A per metric, its verdict where it is not ``same``."""
    if table.empty:
        return ""
    shown = pd.DataFrame({"case": table["case"], "counts": table["counts_verdict"]})
    for metric, (label, _) in METRICS.items():
        shown[f"{label} B/A"] = [f"{r:.4f}" + ("" if v == "same" else f" {v}")
                                 for r, v in zip(table[f"{metric}_ratio"], table[f"{metric}_verdict"], strict=True)]
    counted = table["counts_verdict"].value_counts().to_dict()
    head = (f"### counts (Valgrind; 'same' within {threshold:.1%}"
            + ("; the time verdicts above are unchanged): " if beside_time else "): ")
            + ", ".join(f"{n} {v}" for v, n in counted.items()))
    return "\n".join([head, shown.to_markdown(index=False)] + ([reason] if reason else []))


def counts_records(table: pd.DataFrame) -> list[dict[str, Any]]:
    return [] if table.empty else table.to_dict(orient="records")


def counts_gate(table: pd.DataFrame, limit: float) -> list[str]:
    """The cases whose instructions or estimated cycles grew by more than ``limit`` (--fail-above)."""
    if table.empty:
        return []
    return [r["case"] for r in table.to_dict(orient="records")
            if any(r[f"{m}_verdict"] == "more work" and r[f"{m}_ratio"] > 1 + limit for m in HEADLINE)]
