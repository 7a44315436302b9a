"""Where numpy-tuned's train step goes on this machine, against the products+gather floor, in one process.

    python scripts/tuned_step_parts.py --batch-size 500 --threads 1
    python scripts/tuned_step_parts.py --compare-forms 16 --batch-sizes 500,20000 --threads 1

Times numpy-tuned's own parts of a step in the order a step runs them (gather, each forward transition, loss,
backward, regulariser, update) over a few seconds of real MNIST batches, then, in the same process, a whole
train step, the step's matrix products alone in numpy-tuned's layout and the gather alone (the roofline's
floor kernels, bench/roofline/kernels.py), and the sigmoid's two forms on one hidden layer's activations. What
the parts add up to above the floor is the elementwise work and what the products lose in the loop; on a CPU
whose NumPy has no SIMD ``tanh``/``exp`` the sigmoid is a large share of it (docs/results-and-machines.md).
``--compare-forms N`` instead times two-epoch fits of numpy-tuned with each sigmoid form fixed, N interleaved
pairs in this process, and prints exp/tanh with its 99 % interval."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
from threadpoolctl import threadpool_limits

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import options  # noqa: E402
from bench.roofline.kernels import _median_seconds, measure_gather, step_products  # noqa: E402
from bench.roofline.machine import one_hot_targets  # noqa: E402
from impl.config import TrainConfig  # noqa: E402
from impl.data import load_dataset  # noqa: E402
from impl.numpy_mlp.sigmoid import FORMS, SigmoidChoice  # noqa: E402
from impl.numpy_mlp.tuned import NumpyTuned  # noqa: E402


def step_parts(trainer: NumpyTuned, seconds: float) -> dict[str, float]:
    """Mean seconds per step of each part, the parts run in a step's order on the trainer's own buffers."""
    clock = time.perf_counter
    B = trainer.config.batch_size
    batches = [idx for idx in trainer.batches(0) if len(idx) == B]
    trainer.train_step(batches[0])  # takes the step's buffers
    grads = trainer._step_grads
    batch, state = trainer._step_sets[B]
    names = ["gather", *(f"forward {N}" for N in range(1, trainer._n_w + 1)), "loss", "backward",
             "regulariser", "update"]
    totals, steps, start = dict.fromkeys(names, 0.0), 0, clock()
    while clock() - start < seconds:
        for idx in batches:
            marks = [clock()]
            trainer._gather(idx, batch.x, batch.y)
            marks.append(clock())
            for N in range(1, trainer._n_w + 1):
                trainer._fw_prop_Nm1_to_N(N, state)
                marks.append(clock())
            trainer._log_loss(state, batch)
            marks.append(clock())
            trainer._back_propagate(state, batch, grads)
            marks.append(clock())
            trainer._add_regulariser(grads)
            trainer._regulariser()
            marks.append(clock())
            trainer.update(grads)
            marks.append(clock())
            for name, a, b in zip(names, marks[:-1], marks[1:], strict=True):
                totals[name] += b - a
            steps += 1
    return {name: total / steps for name, total in totals.items()}


def compare_forms(data, batch_size: int, pairs: int) -> str:
    """exp form over tanh form: two-epoch fits, the order of the two alternating pair by pair."""
    from scipy.stats import t as student_t

    trainers = {form: type(f"tuned-{form}", (NumpyTuned,), {"sigmoid": SigmoidChoice(form, {})})(
        TrainConfig.make(batch_size=batch_size), data) for form in FORMS}
    for trainer in trainers.values():
        trainer.fit(1)  # warm
    logs: dict[str, list[float]] = {form: [] for form in FORMS}
    for n in range(pairs):
        for form in (list(FORMS) if n % 2 else list(FORMS)[::-1]):
            trainers[form].reset()
            start = time.perf_counter()
            trainers[form].fit(2)
            logs[form].append(float(np.log(time.perf_counter() - start)))
    d = np.array(logs["exp"]) - np.array(logs["tanh"])
    half = float(student_t.ppf(0.995, len(d) - 1)) * d.std(ddof=1) / np.sqrt(len(d))
    return (f"B={batch_size}: exp/tanh {np.exp(d.mean()):.3f} [{np.exp(d.mean() - half):.3f}, "
            f"{np.exp(d.mean() + half):.3f}] (99 %, {pairs} pairs of two-epoch fits)")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    options.BATCH_SIZE.but(default=500, default_help="500").add_to(parser)
    options.THREADS.but(default=1, default_help="1").add_to(parser)
    parser.add_argument("--seconds", type=options.positive_float, default=4.0, help="how long the parts are timed")
    parser.add_argument("--compare-forms", type=options.positive_int, metavar="N",
                        help="time N (at least 2) pairs of fits, one per sigmoid form")
    options.BATCH_SIZES.but(default=(500, 20000), default_help="500,20000; with --compare-forms").add_to(parser)
    args = parser.parse_args()
    if args.compare_forms:
        if args.compare_forms < 2:
            parser.error(f"--compare-forms: at least 2 pairs, got {args.compare_forms}")
        with threadpool_limits(args.threads):
            data = load_dataset()
            for size in args.batch_sizes:
                print(compare_forms(data, size, args.compare_forms))
        return 0
    if not 1 <= args.batch_size <= NumpyTuned.chunk_rows:
        parser.error(f"--batch-size: the parts are those of an unchunked step, 1 to numpy-tuned's chunk_rows "
                     f"({NumpyTuned.chunk_rows} on this machine), got {args.batch_size}")
    with threadpool_limits(args.threads):
        data = load_dataset()
        trainer = NumpyTuned(TrainConfig.make(batch_size=args.batch_size), data)
        parts = step_parts(trainer, args.seconds)
        batches = [idx for idx in trainer.batches(0) if len(idx) == args.batch_size]
        state = {"i": 0}

        def step() -> None:
            trainer.train_step(batches[state["i"] % len(batches)])
            state["i"] += 1

        whole = _median_seconds(step, 1.0)
        products = _median_seconds(step_products(args.batch_size, layout="padded"), 0.8)
        x = np.ascontiguousarray(data.x_train, dtype=np.float32)
        gather = measure_gather(args.batch_size, x, one_hot_targets(len(x), 10), 0.3)
        z = np.random.default_rng(0).standard_normal((args.batch_size, 72), dtype=np.float32)
        forms = {name: _median_seconds(lambda f=f: f(z, np.empty_like(z), np.empty_like(z)), 0.2)
                 for name, f in FORMS.items()}
    us = 1e6
    print(f"numpy-tuned, B={args.batch_size}, {args.threads} BLAS thread(s), sigmoid: {NumpyTuned.sigmoid.form} form")
    print(f"train step {whole * us:.0f} us; products alone {products * us:.0f} us + gather alone {gather * us:.0f} us "
          f"= floor {(products + gather) * us:.0f} us: the step is {whole / (products + gather):.2f}x the floor")
    print(f"its parts in a step's order (sum {sum(parts.values()) * us:.0f} us):")
    for name, seconds in parts.items():
        print(f"  {name:12s} {seconds * us:8.1f} us")
    timings = ", ".join(f"{name} form {s * us:.0f} us" for name, s in forms.items())
    print(f"sigmoid on one (B, 72) hidden layer: {timings}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
