"""Per-step phases, cycling through real shuffled full-size batches (never one cache-warm batch).

Each phase's timed call and mode come from the phase table (:mod:`impl.phases`): ``calibrated`` phases use
pytest-benchmark's calibrated mode (iterations per round chosen so each round is long enough to time; at least
5 rounds, about 1 s per case); a ``with_setup`` phase (``backward``: it needs a fresh forward state before every
round) uses ``benchmark.pedantic`` with that forward as untimed setup, one iteration per round and 30 rounds
(5 with --quick), split over the processes and the windows each worker times it in (bench/windows.py).

Where a process measures several implementations of one phase and batch size (a shared worker, or one process
measuring alone), they are timed call by call in rotation instead (bench/rotation.py): each call on its own, the
same time budget, and every call kept with its cycle and position.
"""

from __future__ import annotations

from bench import pytest_benchmark_adapter as adapter
from bench.harness import record
from bench.windows import ROTATION_LOCATION
from impl.phases import PHASE_TABLE
from impl.registry import get_implementation


def test_step(benchmark, bench, impl, backend, batch_size, phase):
    cls = get_implementation(impl, require_available=False)
    if bench.rotates(phase, batch_size):
        calls, shared = bench.rotated(impl, batch_size, phase)
        adapter.replay(benchmark, calls.seconds)
        record(benchmark, bench, bench.live_trainer(cls, batch_size), phase, samples_per_round=batch_size,
               call_cycles=calls.cycles, call_positions=calls.positions, location=ROTATION_LOCATION, **shared)
        return
    trainer = bench.trainer(cls, batch_size)
    spec = PHASE_TABLE[phase]
    timed = spec.build(trainer, bench.step_batches(trainer))
    if spec.mode == "with_setup":
        benchmark.pedantic(timed.target, setup=timed.setup, rounds=bench.backward_rounds(),
                           iterations=1, warmup_rounds=1)
    else:
        benchmark(timed.target)
    record(benchmark, bench, trainer, phase, samples_per_round=batch_size)
