"""Counts in the run's tidy table (``count_*`` columns, so CSV/JSON/Markdown carry them) and as a text table."""

from __future__ import annotations

from typing import Any

import pandas as pd

from bench.counts.model import METRICS

COLUMNS = [f"count_{m}" for m in METRICS] + ["count_unit"]


def columns_of(info: dict[str, Any]) -> dict[str, Any]:
    """A case's ``count_*`` cells from its extra_info (None where it has no counts)."""
    counts = info.get("counts") or {}
    return {**{f"count_{m}": counts.get(m) for m in METRICS}, "count_unit": counts.get("unit")}


def counts_table(frame: pd.DataFrame) -> str:
    """The counts of every case that has them, in millions per step (per epoch for full runs); '' if none."""
    if "count_instructions" not in frame or frame["count_instructions"].isna().all():
        return ""
    rows = frame[frame["count_instructions"].notna()]
    shown = pd.DataFrame({"impl": rows["impl"], "phase": rows["phase"], "batch": rows["batch_size"],
                          "per": rows["count_unit"],
                          **{f"{METRICS[m][0]} (M)": rows[f"count_{m}"] / 1e6 for m in METRICS}})
    shown = shown.sort_values(["phase", "batch", "impl"], kind="stable")
    return ("### counts under Valgrind (millions per step; per epoch for full runs; docs/counts.md)\n"
            + shown.to_markdown(index=False, floatfmt=".4g"))
