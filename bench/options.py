"""Command-line options shared by the `mlp-bench` commands and the pytest plugin: one definition each (flag,
value check, help), added to an argparse parser or to pytest's with the same check, so a bad value gets the same
one-line usage error everywhere."""

from __future__ import annotations

import argparse
import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from impl.config import N_TRAIN
from impl.data import SPLITS, Dataset, load_dataset
from impl.errors import ConfigError
from impl.registry import parse_names


# -- value checks: argparse turns an ArgumentTypeError into a one-line usage error (exit code 2) ------------
def _number(text: str, kind: Callable[[str], float]) -> float:
    try:
        value = kind(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected {'an integer' if kind is int else 'a number'}, got {text!r}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"expected a finite number, got {text!r}")
    return value


def positive_int(text: str) -> int:
    value = int(_number(text, int))
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {text!r}")
    return value


def nonnegative_int(text: str) -> int:
    value = int(_number(text, int))
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, got {text!r}")
    return value


def positive_float(text: str) -> float:
    value = _number(text, float)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be above 0, got {text!r}")
    return value


def alpha(text: str) -> float:
    """1 - confidence of an interval: (0, 0.5], so that an interval is never narrower than its point."""
    value = _number(text, float)
    if not 0 < value <= 0.5:
        raise argparse.ArgumentTypeError(f"must be in (0, 0.5], e.g. 0.01 for 99% intervals; got {text!r}")
    return value


def percent(text: str) -> float:
    """A percentage as a fraction: ``10%`` or ``10`` -> 0.1; 0 up to (not including) 100 %."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*%?\s*", text)
    if not match:
        raise argparse.ArgumentTypeError(f"expected a percentage such as 10%, got {text!r}")
    value = float(match.group(1)) / 100
    if value >= 1:
        raise argparse.ArgumentTypeError(f"must be below 100%, got {text!r}")
    return value


def positive_percent(text: str) -> float:
    value = percent(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be above 0%, got {text!r}")
    return value


def batch_sizes(text: str) -> list[int]:
    """Comma-separated batch sizes, each between 1 and the training set's 60,000, in the order given, without
    repeats (the benchmark plugin's --batch-sizes reads them the same way)."""
    try:
        values = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {text!r}") from None
    if not values:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {text!r}")
    for value in values:
        if not 1 <= value <= N_TRAIN:
            raise argparse.ArgumentTypeError(f"batch size must be between 1 and {N_TRAIN}, got {value}")
    return list(dict.fromkeys(values))


def implementation_names(text: str) -> list[str]:
    """Comma-separated implementation names, each one the registry knows."""
    try:
        names = parse_names(text)
    except ConfigError as err:
        raise argparse.ArgumentTypeError(str(err)) from None
    if not names:
        raise argparse.ArgumentTypeError(f"expected comma-separated implementation names, got {text!r}")
    return list(dict.fromkeys(names))


@dataclass(frozen=True)
class Option:
    """One option, defined once. :meth:`add_to` adds it to an ``argparse`` parser or group (the `mlp-bench`
    commands) or to a pytest option group (``addoption``: the benchmark plugin, which uses argparse too)."""

    flag: str
    help: str
    type: Callable[[str], Any] | None = None
    metavar: str | None = None

    def add_to(self, parser: Any, *, default_help: str | None = None, **kwargs: Any) -> None:
        """Add the option; ``default_help`` says what an unset option means in that command."""
        text = f"{self.help} (default: {default_help})" if default_help else self.help
        extra = {k: v for k, v in (("type", self.type), ("metavar", self.metavar)) if v is not None}
        add = getattr(parser, "addoption", None) or parser.add_argument
        add(self.flag, help=text, **extra, **kwargs)


THREADS = Option("--threads", "BLAS/OpenMP threads via threadpoolctl", positive_int, "N")
SEED = Option("--seed", "seed of the initial weights and batch order", nonnegative_int)
MNIST = Option("--mnist", "directory with the four MNIST IDX files (.gz or raw) or a Keras mnist.npz",
               metavar="PATH")
MNIST_DEFAULT = "$MLPBENCH_MNIST, then the Keras cache, then a verified download"
RESULTS_DIR = Option("--results-dir", "where run folders are written and run ids looked up", Path, "DIR")


def add_results_dir(parser: argparse.ArgumentParser) -> None:
    """``--results-dir`` of every `mlp-bench` command (default: results)."""
    from bench.runs import DEFAULT_RESULTS_DIR

    RESULTS_DIR.add_to(parser, default=DEFAULT_RESULTS_DIR, default_help=str(DEFAULT_RESULTS_DIR))


def add_data_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("data")
    MNIST.add_to(group, default_help=MNIST_DEFAULT)
    group.add_argument("--offline", action="store_true", default=None,
                       help="never download MNIST (also: MLPBENCH_OFFLINE=1)")
    group.add_argument("--synthetic", action="store_true",
                       help="seeded synthetic MNIST-shaped data: timings only, no meaningful accuracy")
    group.add_argument("--split", choices=SPLITS, default="standard",
                       help="standard: MNIST's 60,000/10,000 split, scaler fitted on the training images "
                            "(default); pooled: the seed articles' protocol, all 70,000 images pooled and "
                            "standardised together, then a random 60,000/10,000 split drawn from --seed")


def add_run_options(parser: argparse.ArgumentParser) -> None:
    SEED.add_to(parser, default=0, default_help="0")
    THREADS.add_to(parser, default_help="the library's own choice")


def load_data(args: argparse.Namespace) -> Dataset:
    return load_dataset(args.mnist, offline=args.offline, synthetic=args.synthetic, split=args.split,
                        split_seed=getattr(args, "seed", 0))
