"""Per-step phases, cycling through real shuffled full-size batches (never one cache-warm batch).

Modes: ``prepare``, ``forward``, ``forward_backward`` and ``train_step`` use pytest-benchmark's calibrated mode
(iterations per round chosen so each round is long enough to time; at least 5 rounds, about 1 s per case).
``backward`` needs a fresh forward state before every round, so it uses ``benchmark.pedantic`` with that
forward as untimed setup, one iteration per round and 30 rounds (5 with --quick), split over the processes.
"""

from __future__ import annotations

from itertools import cycle

from bench.harness import record
from impl.registry import get_implementation


def test_step(benchmark, bench, impl, backend, batch_size, phase):
    trainer = bench.trainer(get_implementation(impl, require_available=False), batch_size)
    indices = bench.step_batches(trainer)
    if phase in ("prepare", "train_step"):
        next_idx = cycle(indices).__next__
        target = trainer.prepare_batch if phase == "prepare" else trainer.train_step
        benchmark(lambda: target(next_idx()))
    elif phase in ("forward", "forward_backward"):
        next_batch = cycle([trainer.prepare_batch(idx) for idx in indices]).__next__
        target = trainer.forward if phase == "forward" else trainer.forward_backward
        benchmark(lambda: target(next_batch()))
    else:  # backward: the forward it needs is per-round setup
        next_batch = cycle([trainer.prepare_batch(idx) for idx in indices]).__next__

        def forward_state():
            batch = next_batch()
            return (trainer.forward(batch), batch), {}

        benchmark.pedantic(trainer.backward, setup=forward_state, rounds=bench.settings.backward_rounds(),
                           iterations=1, warmup_rounds=1)
    record(benchmark, bench, trainer, phase, samples_per_round=batch_size)
