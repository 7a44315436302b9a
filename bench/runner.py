"""The benchmark suite as a call: what ``pytest bench/ --benchmark-only`` does, run in this process.

`mlp-bench reproduce` measures its ladder with the suite itself (worker processes, calibrated intervals,
pytest-benchmark's storage), so the ladder's times mean what every other benchmark run's mean. Its settings
are given as the suite's own :class:`~bench.options.Option` objects, so no flag is spelt twice.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest

from bench.options import Option

BENCH_DIR = Path(__file__).resolve().parent


def option_args(values: Mapping[Option, Any]) -> list[str]:
    """Command-line words for the given option values: a switch when true, lists comma-joined, None left out."""
    words: list[str] = []
    for option, value in values.items():
        if value is None or value is False:
            continue
        if option.switch:
            words.append(option.flag)
            continue
        text = ",".join(map(str, value)) if isinstance(value, Sequence) and not isinstance(value, str) else value
        words += [option.flag, str(text)]
    return words


def run_suite(values: Mapping[Option, Any]) -> int:
    """Run the benchmark suite with these options; its report goes to stderr (stdout stays the caller's).
    Returns pytest's exit code."""
    args = [str(BENCH_DIR), "--benchmark-only", "-q", "-p", "no:cacheprovider", *option_args(values)]
    with contextlib.redirect_stdout(sys.stderr):
        return int(pytest.main(args))
