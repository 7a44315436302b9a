"""Each shared option is defined once (bench/options.py) and checks its value the same way in the pytest plugin
and in every `mlp-bench` command that takes it: one bad value, one message, everywhere."""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
from pathlib import Path

import pytest

from bench import options
from bench.cli import build_parser

ROOT = Path(__file__).resolve().parents[1]
SHARED = [options.THREADS, options.SEED, options.MNIST, options.RESULTS_DIR]
#: A value each checked option refuses, and the words of its message.
BAD = {"--threads": ("0", "must be at least 1, got '0'"), "--seed": ("-1", "must be 0 or more, got '-1'")}


def commands_taking(flag: str) -> list[str]:
    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    return [name for name, parser in sub.choices.items()
            if any(flag in action.option_strings for action in parser._actions)]


@pytest.mark.parametrize("option", SHARED, ids=lambda o: o.flag)
def test_the_option_is_defined_only_in_bench_options(option):
    definition = re.compile(rf'(add_argument|addoption)\(\s*"{option.flag}"|\("{option.flag}", \{{')
    found = [f"{path.relative_to(ROOT)}" for path in (ROOT / "bench").rglob("*.py")
             if path.name != "options.py" and definition.search(path.read_text(encoding="utf-8"))]
    assert found == [], f"{option.flag} defined outside bench/options.py in {found}"
    assert commands_taking(option.flag), f"no mlp-bench command takes {option.flag}"


@pytest.mark.parametrize("flag", list(BAD))
def test_a_bad_value_gets_the_same_message_from_pytest_and_every_command(flag, tmp_path):
    bad, message = BAD[flag]
    messages = {}
    for command in commands_taking(flag):
        done = subprocess.run([sys.executable, "-m", "bench.cli", command, flag, bad], cwd=ROOT, capture_output=True,
                              text=True, timeout=120)
        messages[command] = done.stderr.strip()
    done = subprocess.run([sys.executable, "-m", "pytest", "bench/", "--benchmark-only", "--collect-only", "-q",
                           "-p", "no:cacheprovider", "--results-dir", str(tmp_path), flag, bad], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)
    messages["pytest bench/"] = done.stderr.strip()
    for where, text in messages.items():
        assert f"argument {flag}: {message}" in text, (where, text)
    assert done.returncode != 0 and not list(tmp_path.iterdir())  # nothing written
