"""Text tables that a terminal can show: times in one auto-scaled unit per table (named in the header), columns
that are the same in every row moved to a line above the table, and long notes wrapped.

Every table the suite prints (`mlp-bench table`, `compare`, the run folder's ``tables.md``) goes through here,
so "120 columns by default, everything behind ``--wide``" holds everywhere.
"""

from __future__ import annotations

import textwrap
from collections.abc import Iterable

import numpy as np
import pandas as pd

WIDTH = 120  # what a default table may take; --wide lifts it
#: seconds per unit; "auto" picks the largest unit in which the table's smallest time is at least 1
UNITS = {"ns": 1e-9, "us": 1e-6, "ms": 1e-3, "s": 1.0}
UNIT_CHOICES = ["auto", *UNITS]
SYMBOL = {"ns": "ns", "us": "µs", "ms": "ms", "s": "s"}


def pick_unit(seconds: Iterable[float], unit: str = "auto") -> str:
    """The unit a table of these times prints in (``unit`` itself unless it is "auto")."""
    if unit != "auto":
        return unit
    values = [float(s) for s in seconds if s is not None and np.isfinite(s) and s > 0]
    if not values:
        return "s"
    smallest = min(values)
    return next((u for u in ("s", "ms", "us") if smallest >= UNITS[u]), "ns")


def in_unit(seconds: float | None, unit: str, digits: int = 4) -> str:
    """``seconds`` in ``unit``, with ``digits`` significant digits ("" where nothing was measured)."""
    if seconds is None or not np.isfinite(seconds):
        return ""
    value = seconds / UNITS[unit]
    return f"{value:,.0f}" if abs(value) >= 10 ** digits else f"{value:.{digits}g}"  # 28,310, never 2.831e+04


def split_constant(frame: pd.DataFrame, keep: Iterable[str] = ()) -> tuple[str, pd.DataFrame]:
    """("col: value, ..." for every column that holds one value in all rows, the frame without them); columns in
    ``keep`` stay whatever they hold. A one-row table keeps its columns (nothing to factor out)."""
    if len(frame) < 2:
        return "", frame
    constant = [c for c in frame.columns if c not in set(keep) and frame[c].astype(str).nunique() == 1]
    text = ", ".join(f"{c}: {frame[c].iloc[0]}" for c in constant if str(frame[c].iloc[0]) not in ("", "nan"))
    return text, frame.drop(columns=constant)


def markdown(frame: pd.DataFrame, wide: bool = False, keep: Iterable[str] = (), **kwargs: object) -> str:
    """A Markdown table; unless ``wide``, constant columns go to a line above it."""
    header, shown = ("", frame) if wide else split_constant(frame, keep)
    table = shown.to_markdown(index=False, **kwargs)
    return f"{wrap('same in every row: ' + header)}\n\n{table}" if header else table


def wrap(text: str, width: int = WIDTH) -> str:
    """A long note as lines of at most ``width`` characters, continuation lines indented."""
    return "\n".join(textwrap.fill(line, width, subsequent_indent="  ", break_on_hyphens=False)
                     for line in text.splitlines())


def too_wide(text: str, width: int = WIDTH) -> list[str]:
    """The lines of ``text`` longer than ``width`` (tests and --wide's hint use it)."""
    return [line for line in text.splitlines() if len(line) > width]
