"""Command-line options shared by several `mlp-bench` commands (one definition, one help text)."""

from __future__ import annotations

import argparse

from impl.data import SPLITS, Dataset, load_dataset


def add_data_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("data")
    group.add_argument("--mnist", metavar="PATH",
                       help="directory with the four MNIST IDX files (.gz or raw) or a Keras mnist.npz "
                            "(default: $MLPBENCH_MNIST, then the Keras cache, then a verified download)")
    group.add_argument("--offline", action="store_true", default=None,
                       help="never download MNIST (also: MLPBENCH_OFFLINE=1)")
    group.add_argument("--synthetic", action="store_true",
                       help="seeded synthetic MNIST-shaped data: timings only, no meaningful accuracy")
    group.add_argument("--split", choices=SPLITS, default="standard",
                       help="standard: MNIST's 60,000/10,000 split, scaler fitted on the training images "
                            "(default); pooled: the seed articles' protocol, all 70,000 images pooled and "
                            "standardised together, then a random 60,000/10,000 split drawn from --seed")


def add_run_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--seed", type=int, default=0, help="seed of the initial weights and batch order (0)")
    parser.add_argument("--threads", type=int, metavar="N",
                        help="BLAS/OpenMP threads via threadpoolctl (default: the library's own choice)")


def load_data(args: argparse.Namespace) -> Dataset:
    return load_dataset(args.mnist, offline=args.offline, synthetic=args.synthetic, split=args.split,
                        split_seed=getattr(args, "seed", 0))
