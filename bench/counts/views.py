"""Counts in the run's tidy table (``count_*`` columns, so CSV/JSON/Markdown carry them) and as text: the counts
per step, the work per sample and per FLOP (why one implementation does more than another), and how estimated
cycles and wall time agree (per phase, and every ordering of two implementations they disagree on)."""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
from scipy.stats import spearmanr

from bench.counts.model import METRICS
from bench.tables import wrap

COLUMNS = [f"count_{m}" for m in METRICS] + ["count_unit", "count_samples", "count_flop"]
#: Counts closer than this (estimated cycles) order nothing: the largest A/A difference is 0.23 % (docs/counts.md).
ORDER_MARGIN = 0.01
#: (ratio B/A, interval low, interval high) of the wall times of two rows of a run, or None where not compared.
TimeRatio = Callable[[Any, Any], "tuple[float, float, float] | None"]


def columns_of(info: dict[str, Any]) -> dict[str, Any]:
    """A case's ``count_*`` cells from its extra_info (None where it has no counts)."""
    counts = info.get("counts") or {}
    return {**{f"count_{m}": counts.get(m) for m in METRICS}, "count_unit": counts.get("unit"),
            "count_samples": counts.get("samples"), "count_flop": counts.get("flop")}


def _counted(frame: pd.DataFrame) -> pd.DataFrame:
    if "count_instructions" not in frame or frame["count_instructions"].isna().all():
        return frame.iloc[0:0]
    return frame[frame["count_instructions"].notna()].sort_values(["phase", "batch_size", "impl"], kind="stable")


def counts_table(frame: pd.DataFrame) -> str:
    """The counts of every case that has them, in millions per step (per epoch for full runs), and the same work
    per sample and per FLOP where the run recorded them; '' if none."""
    rows = _counted(frame)
    if rows.empty:
        return ""
    shown = pd.DataFrame({"impl": rows["impl"], "phase": rows["phase"], "batch": rows["batch_size"],
                          "per": rows["count_unit"],
                          **{f"{METRICS[m][0]} (M)": rows[f"count_{m}"] / 1e6 for m in METRICS}})
    parts = ["### counts under Valgrind (millions per step; per epoch for full runs; docs/counts.md)",
             shown.to_markdown(index=False, floatfmt=".4g")]
    explained = explain_table(rows)
    return "\n".join(parts + ([""] + explained if explained else []))


def explain_table(rows: pd.DataFrame) -> list[str]:
    """Work per sample and per FLOP (matrix products only): where two implementations of the same mathematics
    differ in work, and in which kind (instructions, cache misses, mispredictions)."""
    rows = rows[rows["count_samples"].notna() & (rows["count_samples"] > 0)]
    if rows.empty:
        return []
    samples = rows["count_samples"].astype(float)
    flop = rows["count_flop"].astype(float).replace(0.0, np.nan)  # prepare: no matrix products, no per-FLOP figure
    shown = pd.DataFrame({"impl": rows["impl"], "phase": rows["phase"], "batch": rows["batch_size"],
                          "Ir/sample": rows["count_instructions"] / samples,
                          "cyc/sample": rows["count_est_cycles"] / samples,
                          "L1m/sample": rows["count_l1_misses"] / samples,
                          "LLm/sample": rows["count_ll_misses"] / samples,
                          "Bm/sample": rows["count_branch_mispredicts"] / samples,
                          "Ir/FLOP": rows["count_instructions"] / flop, "cyc/FLOP": rows["count_est_cycles"] / flop})
    for column in shown.columns[3:]:
        shown[column] = [significant(v) for v in shown[column]]
    return ["### counts explain: work per sample and per FLOP (FLOP: matrix products only, as the roofline counts "
            "them)", shown.to_markdown(index=False, colalign=["left"] * 2 + ["right"] * (len(shown.columns) - 2))]


def significant(value: float, digits: int = 4) -> str:
    """``value`` to ``digits`` significant digits without an exponent: 39,440 / 1,006 / 28.31 / 0.0421."""
    if not math.isfinite(value):
        return "-"
    if value == 0:
        return "0"
    decimals = max(0, digits - 1 - math.floor(math.log10(abs(value))))
    return f"{value:,.{decimals}f}"


def _time_per_unit(row: Any) -> float:
    """Wall time of one counted unit: a step, or one epoch of a full run (its time over its epochs)."""
    seconds = float(row.process_median_s)
    return seconds / float(row.epochs or 1) if row.phase == "full_run" else seconds


def against_time(frame: pd.DataFrame, time_ratio: TimeRatio) -> tuple[pd.DataFrame, list[str]]:
    """Per phase: how estimated cycles and wall time agree over the cases with both (the rank correlation over
    every case of the phase; of the pairs of one batch size whose estimated cycles differ by more than
    :data:`ORDER_MARGIN`, those wall time orders alike, and the pairs with the same work; estimated cycles per second
    of wall time); and one line per ordering of two implementations that wall time resolves (its interval excludes 1)
    and estimated cycles reverse by more than :data:`ORDER_MARGIN`: the report says so rather than picking one."""
    rows = _counted(frame)
    rows = rows[rows["process_median_s"].notna() & (rows["process_median_s"] > 0)]
    table, disagreements = [], []
    for phase, group in rows.groupby("phase", sort=False):
        seconds = np.array([_time_per_unit(r) for r in group.itertuples()])
        cycles = group["count_est_cycles"].to_numpy(float)
        rate = cycles / seconds / 1e9
        agree = pairs = ties = 0
        for _, same_b in group.groupby("batch_size"):
            for a, b in itertools.combinations(list(same_b.itertuples()), 2):
                cycle_ratio = b.count_est_cycles / a.count_est_cycles
                if abs(math.log(cycle_ratio)) <= math.log1p(ORDER_MARGIN):
                    ties += 1  # the same work (the same code, e.g. two variants' identical forward) orders nothing
                    continue
                pairs += 1
                agree += (cycle_ratio > 1) == (_time_per_unit(b) > _time_per_unit(a))
                timed = time_ratio(a, b)
                if timed is None:
                    continue
                ratio, low, high = timed
                if (low > 1 and cycle_ratio < 1) or (high < 1 and cycle_ratio > 1):
                    disagreements.append(
                        f"{phase} B={a.batch_size}: wall time says {b.impl} is {'slower' if low > 1 else 'faster'} "
                        f"than {a.impl} ({ratio:.3f} [{low:.3f}, {high:.3f}]); estimated cycles say it does "
                        f"{'less' if cycle_ratio < 1 else 'more'} work ({cycle_ratio:.3f})")
        rho = spearmanr(cycles, seconds).statistic if len(group) > 2 else float("nan")
        table.append({"phase": phase, "cases": len(group), "rank correlation": round(float(rho), 3),
                      "same order (pairs of one B)": f"{agree} of {pairs}", "same work": ties,
                      "G est. cycles/s median": round(float(np.median(rate)), 2),
                      "min": round(float(rate.min()), 2), "max": round(float(rate.max()), 2)})
    return pd.DataFrame(table), disagreements


def against_time_text(frame: pd.DataFrame, time_ratio: TimeRatio) -> str:
    """:func:`against_time` as a section; '' where no case has both counts and a time."""
    table, disagreements = against_time(frame, time_ratio)
    if table.empty:
        return ""
    lines = [wrap("### counts against time: estimated cycles (Valgrind, one thread) and wall time per phase "
                  "(docs/counts.md)"), table.to_markdown(index=False)]
    if disagreements:
        lines += ["", wrap(f"{len(disagreements)} ordering(s) that wall time resolves and estimated cycles reverse "
                           "(neither is picked):"), *[wrap(f"- {line}") for line in disagreements]]
    return "\n".join(lines)
