"""Full training runs (the workload's epochs: 35 for the MLP) with ``benchmark.pedantic``.

Every round starts from the same initial weights, momentum, learning rate and batch order (``reset`` is the
untimed setup). Per-epoch times are kept as raw samples; the first call (tracing/compilation, first touches)
was timed by hand before the rounds; accuracy on the whole training and test sets is measured after the
timed rounds, never inside them, and only on real data. An MLP run also records the products+gather floor of
an epoch measured in the same process (once per batch size and model; not with --quick or
--no-roofline), which the roofline section divides by.

Where a process runs several implementations' full runs at one batch size, their epochs alternate (bench/
rotation.py): every trainer keeps its own state, a run's time is the sum of its epochs.
"""

from __future__ import annotations

from bench import pytest_benchmark_adapter as adapter
from bench.harness import record
from bench.windows import FULL_RUN_LOCATION
from impl.registry import get_implementation


def test_full_run(benchmark, bench, impl, backend, batch_size, phase):
    cls = get_implementation(impl, require_available=False)
    if bench.rotates(phase, batch_size):
        fits, shared = bench.rotated(impl, batch_size, phase)
        adapter.replay(benchmark, [fit.seconds for fit in fits])
        trainer = bench.live_trainer(cls, batch_size)
        extra = {**shared, "alternated": fits[0].alternated, "epoch_positions": [f.positions for f in fits],
                 "location": FULL_RUN_LOCATION}
    else:
        trainer = bench.trainer(cls, batch_size)
        fits, extra = [], {}
        benchmark.pedantic(lambda: fits.append(trainer.fit()), setup=trainer.reset,
                           rounds=bench.settings.full_run_rounds(cls), iterations=1)
    real = bench.data.kind == "real"
    record(benchmark, bench, trainer, phase, samples_per_round=trainer.n_train * trainer.config.epochs, **extra,
           epochs=trainer.config.epochs,
           epoch_seconds=[fit.per_epoch_seconds for fit in fits],
           first_epoch_s=fits[0].per_epoch_seconds[0],
           final_loss=fits[-1].epoch_losses[-1], final_lr=fits[-1].final_learn_rate,
           train_accuracy=trainer.accuracy("train") if real else None,
           test_accuracy=trainer.accuracy("test") if real else None)
    if trainer.workload == "mlp" and bench.settings.roofline:
        benchmark.extra_info["floor_epoch_s"] = bench.floor_epoch_s(trainer)
