"""Memory that belongs to its row: what one steady-state train step and one epoch allocate, measured outside
the timed rounds.

A process's RSS high-water mark only grows during a benchmark session, so it says nothing about the
implementation in a given row. Instead, for NumPy implementations (every array reports to tracemalloc) the
peak of traced memory above what was traced when the step (or epoch) began: the temporary memory that work
needs. Frameworks allocate outside Python's allocator, so for them the resident set is sampled every
millisecond from a thread during the same work, and the peak above the RSS at its start is reported. The
method is recorded beside the numbers (``mem_method``). A full run repeats the same epoch, so its peak is
measured over one epoch (the first after a warm step) to keep the cost of the measurement small.
"""

from __future__ import annotations

import threading
import tracemalloc
from collections.abc import Callable
from dataclasses import dataclass

import psutil

from impl.contract import Trainer

MB = 1024 * 1024
SAMPLE_S = 0.001


@dataclass(frozen=True)
class MemoryUse:
    peak_step_mb: float
    peak_run_mb: float
    mem_method: str  # tracemalloc | rss-sampled


def method_for(trainer: Trainer) -> str:
    return "tracemalloc" if type(trainer).backend == "numpy" else "rss-sampled"


def traced_peak(work: Callable[[], object]) -> float:
    """Peak traced memory above the traced memory at the start of ``work``, in MB."""
    started_here = not tracemalloc.is_tracing()
    if started_here:
        tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        base, _ = tracemalloc.get_traced_memory()
        work()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        if started_here:
            tracemalloc.stop()
    return max(0.0, (peak - base) / MB)


def rss_peak(work: Callable[[], object]) -> float:
    """Peak resident set above its value at the start of ``work``, sampled every millisecond, in MB."""
    process = psutil.Process()
    base = process.memory_info().rss
    peak = [base]
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            peak[0] = max(peak[0], process.memory_info().rss)
            done.wait(SAMPLE_S)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        work()
    finally:
        done.set()
        sampler.join()
    peak[0] = max(peak[0], process.memory_info().rss)
    return max(0.0, (peak[0] - base) / MB)


def measure(trainer: Trainer) -> MemoryUse:
    """Peaks of one steady-state train step and of one epoch; the trainer is reset afterwards."""
    method = method_for(trainer)
    peak = traced_peak if method == "tracemalloc" else rss_peak
    batches = trainer.batches(0)
    trainer.reset()
    trainer.train_step(batches[0])  # steady state: buffers, caches and compiled functions exist already
    step = peak(lambda: trainer.train_step(batches[1 % len(batches)]))
    trainer.reset()
    run = peak(trainer.run_epoch)
    trainer.reset()
    return MemoryUse(round(step, 3), round(run, 3), method)
