"""Several measurement windows per case in one worker process: where most of a step phase's spread lives.

A worker used to time each step case in one contiguous half second. On a shared VM the host's disturbances
come in bursts about that long, so one window's median moves with whatever the neighbours did in that half
second: a probe on the Intel Xeon VM found the windows of one process scattered by 0.05-0.10 (sd of log window
medians) against 0.013-0.038 between processes (docs/noise.md). Averaging several short windows spread over
the worker's life narrows a process's value at no start-up cost, where another process costs seconds.

So a worker times its cases in passes: every step case once per pass, each pass in its own seeded order, and
the full runs in a pass of their own after the first (a full run is one long window already). A case's value
in that process is the geometric mean of its window medians. The yardstick is read at every pass boundary
instead of around every case (cheaper: passes + 1 readings per worker), and each window gets the readings on
either side of its pass.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from bench.yardstick import Yardstick, combined
from impl.errors import MLPBenchError

FULL_RUN = "full_run"


def plan_passes(items: Sequence[Any], windows: int, seed: str, phase_of: Callable[[Any], str]) -> list[list[Any]]:
    """The worker's passes: ``windows`` passes over the step cases (each shuffled with its own seed), the full
    runs as one pass of their own after the first; empty passes are dropped. A case never runs twice in a row
    (back to back, two windows would be one; pytest also keeps a test's fixtures for a next test that is the
    same one), so a worker with a single step case times it in one window."""
    steps = [i for i in items if phase_of(i) != FULL_RUN]
    full = [i for i in items if phase_of(i) == FULL_RUN]
    passes: list[list[Any]] = []
    for index in range(max(windows, 1) if len(steps) > 1 else 1):
        order = list(steps)
        random.Random(f"{seed}-pass{index}").shuffle(order)
        previous = [i for p in passes for i in p][-1:]
        if previous and order[0] is previous[0]:
            order[0], order[1] = order[1], order[0]
        passes.append(order)
        if index == 0:
            passes.append(full)
    return [p for p in passes if p]


class PassClock:
    """Knows which pass the worker is in and reads the yardstick at each pass boundary."""

    def __init__(self, passes: list[list[Any]], yardstick: bool, clock: Callable[[], float],
                 phase_of: Callable[[Any], str]) -> None:
        self.starts = set(np.cumsum([0] + [len(p) for p in passes[:-1]]).tolist())
        self.windows = sum(1 for p in passes if any(phase_of(i) != FULL_RUN for i in p)) or 1  # per step case
        self.position = -1
        self.current = -1
        self.readings: list[dict[str, float]] = []
        self._yardstick = Yardstick(clock) if yardstick else None

    def next_item(self) -> None:
        """Called before each item runs: a new pass starts with a yardstick reading."""
        self.position += 1
        if self.position in self.starts:
            self.current += 1
            self.read()

    def read(self) -> None:
        if self._yardstick is not None:
            self.readings.append(self._yardstick.measure())

    def finish(self, benchmarks: Sequence[Any]) -> None:
        """After the last pass: the closing reading, then each window's yardstick from the readings around its
        pass (``extra_info["pass"]``)."""
        self.read()
        for bench in benchmarks:
            info = bench.extra_info
            index = info.get("pass")
            if self._yardstick is not None and index is not None and index + 1 < len(self.readings):
                info["yardstick_s"] = combined(self.readings[index], self.readings[index + 1])


def split(rounds: Sequence[float], rounds_per_window: Sequence[int] | None) -> list[list[float]]:
    """One process's rounds cut into its windows (no window counts: one window)."""
    rounds = list(rounds)
    if not rounds_per_window:
        return [rounds]
    if sum(rounds_per_window) != len(rounds):
        raise MLPBenchError(f"{len(rounds)} rounds but windows of {sum(rounds_per_window)}")
    edges = np.cumsum([0, *rounds_per_window]).tolist()
    return [rounds[a:b] for a, b in zip(edges[:-1], edges[1:], strict=True)]


#: Per-window location statistics a case can be summarised with (``extra_info["location"]``; median before).
LOCATIONS: dict[str, Callable[[np.ndarray], float]] = {
    "median": lambda w: float(np.median(w)),
    "p25": lambda w: float(np.percentile(w, 25)),
    "p10": lambda w: float(np.percentile(w, 10)),
    "min": lambda w: float(np.min(w)),
}
#: What rotated cases record: a step case, the median of all its calls in a process (one window's few calls at
#: B=20000 no longer decide a process); a full run, its epochs times its median epoch (a stalled epoch no longer
#: decides it). Chosen from the first A/A run with --baseline (docs/noise.md#the-location-statistic).
ROTATION_LOCATION = "calls-median"
FULL_RUN_LOCATION = "epoch-median"
#: Fields with one entry per call that a case's windows (and processes) concatenate in round order.
PER_CALL = ("call_cycles", "call_positions")


def window_log(rounds_of_windows: Sequence[Sequence[float]], location: str = "median",
               epoch_runs: Sequence[Sequence[float]] | None = None) -> float:
    """One process's log time: the mean of its windows' log locations (a single window: its log location);
    ``calls-median``: the log median of all its calls; ``epoch-median``: the log median over its runs of
    epochs x median epoch (``epoch_runs``: the per-epoch seconds of each of its runs)."""
    if location == "calls-median":
        return math.log(float(np.median([x for w in rounds_of_windows for x in w])))
    if location == "epoch-median":
        if epoch_runs:
            return math.log(float(np.median([len(e) * float(np.median(e)) for e in epoch_runs if len(e)])))
        location = "median"  # no epochs recorded: the runs' own times
    stat = LOCATIONS[location]
    return float(np.mean([math.log(stat(np.asarray(w, dtype=float))) for w in rounds_of_windows if len(w)]))


def merge_windows(benches: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """One process's windows of one case (pytest-benchmark JSON entries) as one entry: rounds in window order,
    ``rounds_per_window`` and ``window_medians_s`` kept, the yardstick the geometric mean of the windows', the
    noise counters added up."""
    benches = sorted(benches, key=lambda b: b.get("extra_info", {}).get("window", 0))
    infos = [b.get("extra_info", {}) for b in benches]
    windows = [list(b["stats"]["data"]) for b in benches]
    info = {k: v for k, v in infos[0].items() if k not in ("window", "pass")}
    info["rounds_per_window"] = [len(w) for w in windows]
    info["window_medians_s"] = [float(np.median(w)) for w in windows]
    for name in PER_CALL:
        if all(name in i for i in infos):
            info[name] = [v for i in infos for v in i[name]]
    yards = [i.get("yardstick_s") for i in infos]
    if all(isinstance(y, int | float) and y > 0 for y in yards):
        info["yardstick_s"] = float(np.exp(np.mean(np.log(yards))))
    info.update(added_noise(infos))
    return {**benches[0], "stats": {**benches[0].get("stats", {}), "data": [d for w in windows for d in w]},
            "extra_info": info}


def added_noise(infos: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """The noise counters of several windows as one reading: seconds, switches and migrations added up, the
    steal share weighted by seconds."""
    seconds = [i.get("noise_seconds") or 0.0 for i in infos]
    if not any("noise_seconds" in i for i in infos):
        return {}
    total = float(sum(seconds))
    out: dict[str, Any] = {"noise_seconds": round(total, 4), "noise_steal_share": round(
        sum(s * (i.get("noise_steal_share") or 0.0) for s, i in zip(seconds, infos, strict=True)) / total, 5)
        if total else 0.0}
    for name in ("noise_involuntary_switches", "noise_voluntary_switches", "noise_migrations"):
        values = [i.get(name) for i in infos]
        out[name] = None if any(v is None for v in values) else int(sum(values))
    out["noise_cpu_set"] = infos[0].get("noise_cpu_set")
    return out
