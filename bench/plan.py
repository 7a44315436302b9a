"""What a run will cost before it starts, and what is left while it runs.

Each worker's cost is planned from what it will do: its full runs (rounds x epochs x an epoch's time), its
rotation windows (a window lasts its budget or its minimum cycles of every member's calls, each after an
untimed call, whichever is longer) and its start (an interpreter, pytest, the data, a framework's import).
Call and epoch times come from the committed reference run (``results/reference``), scaled by batch size
where it lacks one; where it lacks an implementation, the median of the others. The machine may be faster or
slower than the reference's, so while a run goes on the plan is corrected by what finished: a worker whose
group ran in an earlier process round costs what it cost then, any other its planned cost times the ratio of
the time spent to the time planned so far. ``--epochs`` or ``--processes`` that plan more than
:data:`CONFIRM_ABOVE_S` ask for ``--yes``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

from bench.rotation import BLOCK_MAX_S, MIN_CYCLES, WARMUP_CALLS

REFERENCE = Path(__file__).resolve().parents[1] / "results" / "reference"
WORKER_START_S = 6.0  # a worker's interpreter, pytest, NumPy and the data set read back (measured: 4-7 s)
FRAMEWORK_START_S = {"tensorflow": 12.0, "torch": 5.0, "jax": 5.0}  # a framework's import and first compile
CONFIRM_ABOVE_S = 3600.0  # a run planned longer than this needs --yes
UNKNOWN_CALL_S = 0.01  # a step call when nothing is known of its implementation or batch size
#: what each case costs besides its timed calls: its yardstick readings, its first call and its memory
#: measurement (one step and one epoch outside the clock), about CASE_S plus CASE_CALLS of its calls. Fitted to
#: the worker times of two default-setting runs (2026-12-07, 2-vCPU Xeon VM: 0.65-2.7 s a case, growing with B)
CASE_S = 0.7
CASE_CALLS = 15


@cache
def reference_times() -> dict[tuple[str, str, int], float]:
    """(impl, phase, batch size) -> seconds per step call, or per epoch for ``full_run``, from the reference run."""
    try:
        from bench.results import load_run

        _, frame = load_run(REFERENCE)
    except Exception:  # noqa: BLE001 - no reference run: the plan falls back on UNKNOWN_CALL_S
        return {}
    times = {}
    for row in frame.itertuples():
        seconds = row.process_median_s
        if not isinstance(seconds, float) or not math.isfinite(seconds) or seconds <= 0:
            continue
        if row.phase == "full_run":
            seconds /= row.epochs if row.epochs and row.epochs > 0 else 1
        times[(row.impl, row.phase, int(row.batch_size))] = seconds
    return times


def unit_seconds(impl: str, phase: str, batch_size: int) -> float:
    """A step call's (a full run: an epoch's) time as the reference run measured it, scaled by batch size where
    it lacks this one (an epoch is about the same work at any batch size, a call is not)."""
    times = reference_times()
    base = impl.split("@")[0]  # a base revision's twin costs what its implementation costs
    own = {b: t for (i, p, b), t in times.items() if i == base and p == phase}
    if not own:
        others = sorted(t * (1.0 if phase == "full_run" else batch_size / b)
                        for (i, p, b), t in times.items() if p == phase)
        return others[len(others) // 2] if others else UNKNOWN_CALL_S
    nearest = min(own, key=lambda b: abs(math.log(b / batch_size)))
    return own[nearest] * (1.0 if phase == "full_run" else batch_size / nearest)


@dataclass(frozen=True)
class Shape:
    """What a worker's work depends on, from the run's settings."""

    windows: int
    window_s: float
    epochs: int
    full_run_rounds: int
    rotates: bool


def group_seconds(keys: Sequence[tuple[str, str, int, str]], frameworks: set[str], shape: Shape) -> float:
    """The planned wall time of one worker measuring ``keys`` ((impl, backend, batch size, phase))."""
    seconds = WORKER_START_S + sum(FRAMEWORK_START_S.get(f, 0.0) for f in frameworks)
    by_phase: dict[str, list[tuple[str, int]]] = {}
    for impl, _, batch_size, phase in keys:
        by_phase.setdefault(phase, []).append((impl, batch_size))
    for phase, members in by_phase.items():
        units = [unit_seconds(impl, phase, b) for impl, b in members]
        seconds += sum(CASE_S + CASE_CALLS * (u if phase != "full_run" else 0.0) for u in units)
        if phase == "full_run":  # every epoch, plus the untimed first epoch a trainer's warm-up costs
            seconds += sum(shape.full_run_rounds * (shape.epochs + 1) * u for u in units)
            continue
        # a call longer than half a block runs after an untimed call of its own: twice its time per cycle
        cycle = sum(u * (2 if u > BLOCK_MAX_S / 2 else 1) for u in units)
        window = max(shape.window_s * len(units), MIN_CYCLES * cycle) if shape.rotates else shape.window_s * len(units)
        seconds += shape.windows * (window + WARMUP_CALLS * sum(units))
    return seconds


@dataclass
class Progress:
    """The plan of a run's workers, corrected by what finished: :meth:`left` after each one."""

    planned: dict[str, float]  # worker group -> planned seconds of one worker of it
    total_workers: int
    spent_planned: float = 0.0
    spent: float = 0.0
    measured: dict[str, float] = field(default_factory=dict)

    def finished(self, group: str, seconds: float) -> None:
        self.spent_planned += self.planned.get(group, 0.0)
        self.spent += seconds
        self.measured.setdefault(group, seconds)

    def left(self, remaining: Sequence[str]) -> float:
        """Seconds left for the ``remaining`` workers' groups."""
        scale = self.spent / self.spent_planned if self.spent_planned > 0 else 1.0
        return sum(self.measured.get(g, self.planned.get(g, 0.0) * scale) for g in remaining)


def duration_text(seconds: float) -> str:
    """"45 s", "12.5 min", "3.2 h": what a person reads at a glance."""
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 3 * 3600:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"
