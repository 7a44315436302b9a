"""``mlp-bench roofline``: measure this machine's roofline and, with ``--impl``, full runs of the given
implementations interleaved round by round in the same process, and print the roofline section."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence

import pandas as pd

from bench import options
from bench.environment import blas_threads
from bench.options import BATCH_SIZES, IMPLS, ROUNDS, add_run_options
from bench.roofline.flops import EPOCHS
from bench.roofline.machine import measure_machine
from bench.roofline.report import render_roofline, roofline_table


def compare_full_runs(names: Sequence[str], batch_sizes: Sequence[int], epochs: int = EPOCHS, rounds: int = 3,
                      seed: int = 0, log: Callable[[str], None] | None = None) -> pd.DataFrame:
    """Full runs of each implementation at each batch size, the implementations interleaved round by round
    (A, B, A, B, ...) so a change in machine load hits them alike; one row per run with its training time."""
    from impl.config import TrainConfig
    from impl.data import load_dataset
    from impl.registry import get_implementation

    data = load_dataset(allow_synthetic_fallback=True)
    rows = []
    for B in batch_sizes:
        config = TrainConfig.make(batch_size=B, epochs=epochs, seed=seed, n_train=data.n_train)
        trainers = {name: get_implementation(name)(config, data) for name in names}
        for trainer in trainers.values():
            trainer.warm_up()
        for r in range(rounds):
            for name, trainer in trainers.items():
                trainer.reset()
                fit = trainer.fit()
                rows.append({"impl": name, "batch_size": B, "epochs": epochs, "round": r, "seconds": fit.seconds,
                             "final_loss": fit.epoch_losses[-1]})
                if log:
                    log(f"B={B} round {r}: {name} {fit.seconds:.3f} s")
        del trainers
    return pd.DataFrame(rows)


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("roofline", help="this machine's sgemm peak and floors, and full runs against them",
                                   description=__doc__)
    BATCH_SIZES.but(default=[500, 20000], default_help="500,20000").add_to(parser)
    IMPLS.but(help=IMPLS.help + ", run in full, interleaved").add_to(parser)
    options.EPOCHS.but(default=EPOCHS, default_help=str(EPOCHS)).add_to(parser)
    ROUNDS.but(default=3, default_help="3").add_to(parser)
    add_run_options(parser)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    def log(msg: str) -> None:
        print(msg, file=sys.stderr, flush=True)

    with blas_threads(args.threads):
        machine = measure_machine(args.batch_sizes, epochs=args.epochs, log=log)
        if not args.impl:
            print(render_roofline(machine))
            return 0
        runs = compare_full_runs(args.impl, args.batch_sizes, args.epochs, args.rounds, seed=args.seed, log=log)
    frame = runs.groupby(["impl", "batch_size", "epochs"], as_index=False)["seconds"].median()
    table = roofline_table(frame.rename(columns={"seconds": "median_s"}), machine)
    per_round = runs.pivot_table(index=["batch_size", "round"], columns="impl", values="seconds")[args.impl]
    print(render_roofline(machine, table))
    print("Rounds (s, interleaved in this order):\n")
    print(per_round.to_markdown(floatfmt=".3f"))
    return 0
