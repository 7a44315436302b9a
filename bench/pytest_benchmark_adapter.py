"""Every use of pytest-benchmark's private API, in one place (tests/test_adapter.py fails loudly when an
upgrade changes them).

The suite needs three things pytest-benchmark has no public API for: the timing options of the session (so
the controller can hand its workers the options it would have timed with), a worker that stores nothing, and
a test whose samples were measured in other processes fed into its fixture, so that pytest-benchmark's own
table, JSON and storage hold them.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from pytest_benchmark.utils import SecondsDecimal, load_timer

#: The session options that change how a case is timed (storage, display and comparison stay with the
#: controller).
TIMING_OPTIONS = ("min_time", "min_rounds", "max_time", "timer", "calibration_precision", "disable_gc", "warmup",
                  "warmup_iterations")
REPLAY_MODE = "mlp-bench worker processes"


def session(config: Any) -> Any | None:
    """pytest-benchmark's session object (None when the plugin is off)."""
    return getattr(config, "_benchmarksession", None)


def timing_options(bench_session: Any) -> dict[str, Any]:
    """The session's timing options as plain JSON values."""
    out = {}
    for name in TIMING_OPTIONS:
        value = bench_session.options[name]
        if isinstance(value, Decimal):
            value = float(value)
        elif name == "timer":
            value = str(value)  # NameWrapper -> "time.perf_counter"
        out[name] = value
    return out


def apply_timing_options(bench_session: Any, options: dict[str, Any]) -> None:
    """Set the session's timing options from :func:`timing_options`'s output (a worker does this)."""
    for name, value in options.items():
        if name not in TIMING_OPTIONS:
            continue
        if name in ("min_time", "max_time"):
            value = SecondsDecimal(str(value))
        elif name == "timer":
            value = load_timer(value)
        bench_session.options[name] = value


def timer(bench_session: Any) -> Callable[[], float]:
    """The clock the session times rounds with (``--benchmark-timer``; ``time.perf_counter`` by default), as
    pytest-benchmark's fixture unwraps it from its display wrapper: the yardstick reads the same clock, so both
    see the same kind of seconds."""
    if bench_session is None:
        return time.perf_counter
    wrapped = bench_session.options["timer"]
    return getattr(wrapped, "target", wrapped)


def timer_name(bench_session: Any) -> str:
    """The clock's name as pytest-benchmark stores it with every benchmark (``perf_counter``, ``thread_time``)."""
    return getattr(timer(bench_session), "__name__", str(timer(bench_session)))


def set_max_time(bench_session: Any, seconds: float) -> None:
    bench_session.options["max_time"] = SecondsDecimal(str(seconds))


def set_min_rounds(bench_session: Any, rounds: int) -> None:
    bench_session.options["min_rounds"] = rounds


def store_nothing(bench_session: Any) -> None:
    """A worker hands its document to the controller: no saving, autosaving, JSON or histogram of its own."""
    bench_session.save = bench_session.autosave = bench_session.json = bench_session.histogram = None


def stats_of(durations: list[float]) -> dict[str, Any]:
    """pytest-benchmark's statistics of rounds measured elsewhere, as its JSON holds them (with the raw data):
    for cases no test replayed (a run interrupted between its workers)."""
    from pytest_benchmark.stats import Stats

    stats = Stats()
    for duration in durations:
        stats.update(duration)
    return {**stats.as_dict(), "data": list(durations)}


def replay(benchmark: Any, durations: list[float]) -> None:
    """Feed rounds measured elsewhere (seconds per iteration) into this test's fixture, as if it had timed them."""
    stats = benchmark._make_stats(1)
    benchmark._mode = REPLAY_MODE
    for duration in durations:
        stats.update(duration)
