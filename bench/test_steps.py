"""Per-step phases, cycling through real shuffled full-size batches (never one cache-warm batch).

Each phase's timed call and mode come from the phase table (:mod:`impl.phases`): ``calibrated`` phases use
pytest-benchmark's calibrated mode (iterations per round chosen so each round is long enough to time; at least
5 rounds, about 1 s per case); a ``with_setup`` phase (``backward``: it needs a fresh forward state before every
round) uses ``benchmark.pedantic`` with that forward as untimed setup, one iteration per round and 30 rounds
(5 with --quick), split over the processes and the windows each worker times it in (bench/windows.py).
"""

from __future__ import annotations

from bench.harness import record
from impl.phases import PHASE_TABLE
from impl.registry import get_implementation


def test_step(benchmark, bench, impl, backend, batch_size, phase):
    trainer = bench.trainer(get_implementation(impl, require_available=False), batch_size)
    spec = PHASE_TABLE[phase]
    timed = spec.build(trainer, bench.step_batches(trainer))
    if spec.mode == "with_setup":
        benchmark.pedantic(timed.target, setup=timed.setup, rounds=bench.backward_rounds(),
                           iterations=1, warmup_rounds=1)
    else:
        benchmark(timed.target)
    record(benchmark, bench, trainer, phase, samples_per_round=batch_size)
