"""Command-line options shared by the `mlp-bench` commands and the pytest plugin: one definition each (flag,
value check, default, help), added to an argparse parser or to pytest's with the same check, so a bad value gets
the same one-line usage error everywhere. An option only one parser takes is defined where it is used (the
plugin's in bench/settings.py)."""

from __future__ import annotations

import argparse
import dataclasses
import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from bench.runs import DEFAULT_RESULTS_DIR
from impl.config import N_TRAIN, SEED_LAYERS, layer_text, validate_layers
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


def layer_sizes(text: str) -> tuple[int, ...]:
    """Comma-separated layer widths, input to output (``784,70,30,10``), as :func:`validate_layers` accepts
    them."""
    try:
        values = tuple(int(part) for part in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers such as 784,70,30,10, got {text!r}"
                                         ) from None
    try:
        return validate_layers(values)
    except ConfigError as err:
        raise argparse.ArgumentTypeError(str(err)) from None


def implementation_names(text: str) -> list[str]:
    """Comma-separated implementation names, each one the registry knows."""
    try:
        names = parse_names(text)
    except ConfigError as err:
        raise argparse.ArgumentTypeError(str(err)) from None
    if not names:
        raise argparse.ArgumentTypeError(f"expected comma-separated implementation names, got {text!r}")
    return list(dict.fromkeys(names))


class PytestConfig(Protocol):
    """What :meth:`Option.read` needs of a ``pytest.Config``."""

    def getoption(self, name: str) -> Any: ...

    def getini(self, name: str) -> Any: ...


PYTEST_DEST = "mlpbench_"  # the plugin's options live under mlpbench_* in pytest's namespace


def path_text(text: str) -> str:
    """A file or folder name, kept as given (it is recorded so); empty text would silently mean '.'."""
    if not text.strip():
        raise argparse.ArgumentTypeError(f"expected a path, got {text!r}")
    return text


def folder(text: str) -> Path:
    return Path(path_text(text))


@dataclass(frozen=True)
class Option:
    """One long option as every parser that takes it defines it: flag, value check, default, help. A parser
    whose default differs (the plugin picks its thread count itself) says so with :meth:`but`, keeping the
    flag, the check and the help."""

    flag: str
    help: str  # what the value is, without the default
    check: Callable[[str], Any] | None = None  # text -> value, raising ArgumentTypeError; None: the text as is
    default: Any = None  # the value when the option is not given (None: the command decides)
    default_help: str = ""  # the default as the help states it; "" states none
    metavar: str | None = None
    switch: bool = False  # a flag without a value (store_true)
    ini: str | None = None  # pytest only: the ini key whose value replaces ``default``

    def but(self, **changes: Any) -> Option:
        """The same option with another default, default text or ini key, for one parser."""
        return dataclasses.replace(self, **changes)

    @property
    def dest(self) -> str:
        return self.flag.lstrip("-").replace("-", "_")

    @property
    def full_help(self) -> str:
        text = f"{self.help} (default: {self.default_help})" if self.default_help else self.help
        return text.replace("%", "%%")  # argparse formats help with %

    def add_to(self, parser: argparse._ActionsContainer, **extra: Any) -> None:
        """Add to an argparse parser or group; ``extra`` for what is that parser's own (``required``)."""
        if self.switch:
            parser.add_argument(self.flag, action="store_true", help=self.full_help, **extra)
            return
        parser.add_argument(self.flag, type=self.check, default=self.default, metavar=self.metavar,
                            help=self.full_help, **extra)

    def add_to_pytest(self, group: Any) -> None:
        """Add to a pytest option group as text: :meth:`read` checks it, so that a bad value is the same
        one-line error as in `mlp-bench` (pytest's own type errors come with its usage text)."""
        kwargs: dict[str, Any] = {"action": "store_true"} if self.switch else {"metavar": self.metavar}
        group.addoption(self.flag, dest=PYTEST_DEST + self.dest, help=self.full_help, **kwargs)

    def parse(self, text: str, source: str = "") -> Any:
        """The checked value of ``text``, or a ConfigError worded as argparse words the same failure."""
        if self.check is None:
            return text
        try:
            return self.check(text)
        except argparse.ArgumentTypeError as err:
            raise ConfigError(f"argument {self.flag}: {err}{source}") from None

    def read(self, config: PytestConfig) -> Any:
        """The plugin's value: the command line, else the ini key, else the default; checked as argparse
        checks it."""
        given = config.getoption(PYTEST_DEST + self.dest)
        if self.switch:
            return bool(given)
        if given is not None:
            return self.parse(given)
        ini = (config.getini(self.ini) or "").strip() if self.ini else ""
        if ini:
            return self.parse(ini, f" (from the ini key {self.ini})")
        return self.default


# -- the options more than one parser takes ---------------------------------------------------------------------
THREADS = Option("--threads", "BLAS/OpenMP threads via threadpoolctl", positive_int, metavar="N",
                 default_help="the library's own choice")
SEED = Option("--seed", "seed of the initial weights and batch order", nonnegative_int, default=0, default_help="0")
MNIST = Option("--mnist", "directory with the four MNIST IDX files (.gz or raw) or a Keras mnist.npz", path_text,
               metavar="PATH", default_help="$MLPBENCH_MNIST, then the Keras cache, then a verified download")
RESULTS_DIR = Option("--results-dir", "where run folders are written and run ids looked up", folder,
                     default=DEFAULT_RESULTS_DIR, default_help=str(DEFAULT_RESULTS_DIR), metavar="DIR")
EPOCHS = Option("--epochs", "epochs of each training run", positive_int, default_help="the workload's: 35")
ROUNDS = Option("--rounds", "rounds of each full training run, per process where there are several", positive_int)
IMPL = Option("--impl", "implementation name (see `mlp-bench list`)")
IMPLS = Option("--impl", "comma-separated implementations (see `mlp-bench list`)", implementation_names)
BATCH_SIZE = Option("--batch-size", "mini-batch size", positive_int, default_help="the workload's: 500")
BATCH_SIZES = Option("--batch-sizes", "comma-separated batch sizes", batch_sizes)
PROCESSES = Option("--processes", "worker processes per case, run one at a time with the rounds interleaved across "
                   "cases", positive_int)
LAYERS = Option("--layers", "the MLP's layer widths, input to output, comma-separated (hidden layers sigmoid; the "
                "learning rate follows the batch size only, docs/training.md)", layer_sizes, default=SEED_LAYERS,
                default_help=f"{layer_text(SEED_LAYERS).replace('-', ',')}, the seed's", metavar="N,N,...")

#: what tests/test_options.py holds to one definition and one message: flag -> the option
SHARED = {o.flag: o for o in (THREADS, SEED, MNIST, RESULTS_DIR, EPOCHS, ROUNDS, BATCH_SIZE, BATCH_SIZES, LAYERS,
                                               PROCESSES)}


def add_data_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("data")
    MNIST.add_to(group)
    group.add_argument("--offline", action="store_true", default=None,
                       help="never download MNIST (also: MLPBENCH_OFFLINE=1)")
    group.add_argument("--synthetic", action="store_true",
                       help="seeded synthetic MNIST-shaped data: timings only, no meaningful accuracy")
    group.add_argument("--split", choices=SPLITS, default="standard",
                       help="standard: MNIST's 60,000/10,000 split, scaler fitted on the training images "
                            "(default); pooled: the seed articles' protocol, all 70,000 images pooled and "
                            "standardised together, then a random 60,000/10,000 split drawn from --seed")


def add_run_options(parser: argparse.ArgumentParser) -> None:
    SEED.add_to(parser)
    THREADS.add_to(parser)


def load_data(args: argparse.Namespace) -> Dataset:
    return load_dataset(args.mnist, offline=args.offline, synthetic=args.synthetic, split=args.split,
                        split_seed=getattr(args, "seed", 0))
