"""The change over its base, from one run measured with ``--baseline REV``: the table a run's report leads with.

Every implementation ``NAME`` was alternated call by call (full runs: epoch by epoch) with ``NAME@REV`` in the
same worker processes, so their ratio is taken process by process and what a process shares cancels; the
interval is the paired one of bench/stats.py (the per-process log ratios, their spread moderated toward the
pooled spread of the cases rotated together). ``same`` means the interval lies within the threshold.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from bench.stats import Case, Covariate, PairedPool, compare_cases
from bench.tables import wrap


def _key(row: Any) -> tuple:
    return row.impl, row.backend, row.workload, row.phase, row.batch_size


def base_label(doc: dict[str, Any]) -> str | None:
    """The ``REV`` of a run measured with ``--baseline REV`` (None otherwise)."""
    record = doc.get("mlp_bench_baseline")
    return record.get("label") if isinstance(record, dict) else None


def change_over_base(frame: pd.DataFrame, doc: dict[str, Any], cases: dict[tuple, Case], covariate: Covariate,
                     paired: PairedPool, alpha: float, threshold: float) -> pd.DataFrame:
    """Per case (implementation, phase, batch size): change / base, its interval and verdict, from the run's
    cases, covariate and paired pool (bench/results.py); implementations measured on one side only are left out
    here (:func:`one_sided` lists them)."""
    label = base_label(doc)
    if label is None:
        return pd.DataFrame()
    suffix = f"@{label}"
    by_key = {_key(row): row for row in frame.itertuples()}
    rows = []
    for row in frame.itertuples():
        if not str(row.impl).endswith(suffix):
            continue
        change = (row.impl[: -len(suffix)], *_key(row)[1:])
        if change not in by_key:
            continue
        result = compare_cases(cases[_key(row)], cases[change], covariate, alpha, threshold, paired=paired)
        rows.append({"impl": change[0], "backend": row.backend, "phase": row.phase, "batch": row.batch_size,
                     "change / base": result.ratio, "low": result.low, "high": result.high,
                     "verdict": result.verdict, "paired": "yes" if result.paired else "no",
                     "processes": min(result.n_a, result.n_b)})
    table = pd.DataFrame(rows)
    return table.sort_values(["impl", "phase", "batch"], kind="stable").reset_index(drop=True) if rows else table


def one_sided(frame: pd.DataFrame, doc: dict[str, Any]) -> tuple[list[str], list[str]]:
    """(implementations measured here only, at the base only): listed, never compared."""
    label = base_label(doc)
    if label is None:
        return [], []
    suffix = f"@{label}"
    names = set(frame["impl"])
    here = sorted(n for n in names if not n.endswith(suffix) and f"{n}{suffix}" not in names)
    there = sorted(n for n in names if n.endswith(suffix) and n[: -len(suffix)] not in names)
    return here, there


def render_change(table: pd.DataFrame, frame: pd.DataFrame, doc: dict[str, Any], alpha: float,
                  threshold: float) -> str:
    """The section: the :func:`change_over_base` table, one line of counts, what was measured on one side only."""
    label = base_label(doc)
    if label is None:
        return ""
    commit = (doc.get("mlp_bench_baseline") or {}).get("commit")
    head = wrap(f"### change over base: the working tree's time over {label}'s"
                + (f" ({commit[:12]})" if commit else "") + f", paired per worker process, {1 - alpha:.0%} interval; "
                f"same: the interval lies within {threshold:.0%}")
    parts = [head]
    if table.empty:
        parts.append("no implementation was measured on both sides")
    else:
        intervals = [f"{r:.4f} [{lo:.4f}, {hi:.4f}]" for r, lo, hi in zip(
            table["change / base"], table["low"], table["high"], strict=True)]
        shown = table.assign(**{"change / base": intervals}).drop(columns=["low", "high", "backend"])
        parts.append(shown.to_markdown(index=False))
        counts = table["verdict"].value_counts()
        parts.append(f"{len(table)} cases: " + ", ".join(f"{counts.get(v, 0)} {v}" for v in
                                                           ("same", "slower", "faster", "cannot resolve")))
    here, there = one_sided(frame, doc)
    if here:
        parts.append(f"measured in the working tree only (no base to compare): {', '.join(here)}")
    if there:
        parts.append(f"measured at {label} only: {', '.join(there)}")
    return "\n".join(parts) + "\n"
