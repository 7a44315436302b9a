"""Each shared option is defined once (bench/options.py), and the pytest plugin and every `mlp-bench` command
that takes it refuse a bad value with the same one-line message."""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from test_docs import parse_pytest_bench

from bench.cli import build_parser
from bench.options import SHARED
from bench.settings import OPTIONS, PROCESSES
from impl.errors import MLPBenchError

ROOT = Path(__file__).resolve().parents[1]
#: bad values of each shared option: every parser that takes it must refuse each with the same message
BAD = {"--threads": ["0", "x", "1.5"], "--seed": ["-1", "x"], "--mnist": ["", " "], "--results-dir": [""],
       "--epochs": ["0", "inf"], "--rounds": ["0", "x"], "--batch-size": ["0", "nan"],
       "--batch-sizes": ["0", "70000", "a,b"],
       "--processes": ["0", "x", "2.5"],
       "--layers": ["784,10", "784,0,10", "784,-5,10", "100,70,10", "784,70,30,9", "784,7.5,10", "", "784,,10"]}


def test_every_shared_option_has_bad_values():
    assert set(BAD) == set(SHARED)


def subparsers() -> dict[str, argparse.ArgumentParser]:
    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    return dict(sub.choices)


def mlp_bench_commands(flag: str) -> list[str]:
    """The `mlp-bench` commands that take ``flag``."""
    return [name for name, parser in subparsers().items() if flag in parser._option_string_actions]


def mlp_bench_message(command: str, flag: str, value: str, capsys: pytest.CaptureFixture[str]) -> str:
    """What `mlp-bench COMMAND FLAG VALUE` says, less its own prefix and --help hint; it must be one line."""
    with pytest.raises(SystemExit) as stop:
        build_parser().parse_args([command, flag, value])
    err = capsys.readouterr().err.strip().splitlines()
    assert stop.value.code == 2 and len(err) == 1, err
    match = re.fullmatch(rf"mlp-bench: error: {command}: (.*) \(see mlp-bench {command} --help\)", err[0])
    assert match, err
    return match.group(1)


def pytest_message(flag: str, value: str) -> str:
    """What the pytest plugin says of ``--flag value`` (pytest prints it as ``ERROR: <message>``)."""
    with pytest.raises(MLPBenchError) as err:
        parse_pytest_bench(["bench/", "--benchmark-only", flag, value])
    assert "\n" not in str(err.value)
    return str(err.value)


def takers(flag: str) -> list[str]:
    plugin = ["pytest"] if any(o.flag == flag for o in OPTIONS) else []
    return plugin + mlp_bench_commands(flag)


@pytest.mark.parametrize("flag", list(SHARED))
def test_every_parser_refuses_a_bad_value_with_the_same_message(flag, capsys):
    where = takers(flag)
    assert len(where) >= 2, f"{flag} is taken only by {where}: define it where it is used, not as shared"
    for value in BAD[flag]:
        messages = {taker: pytest_message(flag, value) if taker == "pytest" else
                    mlp_bench_message(taker, flag, value, capsys) for taker in where}
        assert len(set(messages.values())) == 1, (value, messages)
        assert next(iter(messages.values())).startswith(f"argument {flag}: "), messages


@pytest.mark.parametrize("flag", list(SHARED))
def test_every_parser_uses_the_shared_check_and_help(flag):
    shared = SHARED[flag]
    plugin = [o for o in OPTIONS if o.flag == flag]
    assert all(o.check is shared.check for o in plugin), plugin
    for name in mlp_bench_commands(flag):
        action = subparsers()[name]._option_string_actions[flag]
        assert action.type is shared.check, (name, action)


SOURCES = sorted((ROOT / "bench").rglob("*.py")) + sorted((ROOT / "scripts").glob("*.py"))


@pytest.mark.parametrize("flag", list(SHARED) + ["--impl"])
def test_each_shared_option_is_spelt_once(flag):
    """Its flag in quotes appears once in bench/options.py and nowhere else: every parser, and the ladder's
    benchmark run, take it from there."""
    quoted = re.compile(rf"""["']{re.escape(flag)}["']""")
    found = {p.relative_to(ROOT).as_posix(): len(quoted.findall(p.read_text())) for p in SOURCES}
    expected = 2 if flag == "--impl" else 1  # --impl: one name, or a comma-separated list
    assert {p: n for p, n in found.items() if n} == {"bench/options.py": expected}


def test_the_pytest_plugin_error_is_one_line_and_writes_nothing(tmp_path):
    """As pytest prints it: the same message as `mlp-bench train --threads 0`, on one line, no run folder."""
    done = subprocess.run([sys.executable, "-m", "pytest", "bench/", "--benchmark-only", "-p", "no:cacheprovider",
                           "--results-dir", str(tmp_path), "--threads", "0"], capture_output=True, text=True,
                          cwd=ROOT, env={**os.environ, "MPLBACKEND": "Agg"}, timeout=300)
    lines = [line for line in (done.stdout + done.stderr).splitlines() if line.strip()]
    assert done.returncode == 4 and lines == ["ERROR: argument --threads: must be at least 1, got '0'"], lines
    assert not any(tmp_path.iterdir())


@pytest.mark.parametrize("args, message", [
    (["--results-dir", "{file}"], "--results-dir {file}: not a folder"),
    (["--results-dir", "{file}/runs"], "--results-dir {file}/runs: {file} is not a folder"),
    (["--results-dir", "{locked}/runs"], "--results-dir {locked}/runs: {locked} is not writable"),
    (["--tag", "x" * 65], "--tag: at most 64 characters (a run folder's name), got 65"),
])
def test_a_path_or_tag_the_run_could_not_write_is_one_line_before_any_work(args, message, tmp_path):
    if os.geteuid() == 0 and "locked" in message:
        pytest.skip("root writes into any folder whatever its mode: no unwritable folder to make")
    file, locked = tmp_path / "a-file", tmp_path / "locked"
    file.write_text("")
    locked.mkdir(mode=0o500)
    args = [a.format(file=file, locked=locked) for a in args]
    done = subprocess.run([sys.executable, "-m", "pytest", "bench/", "--benchmark-only", "-p", "no:cacheprovider",
                           *args], capture_output=True, text=True, cwd=ROOT, timeout=300)
    lines = [line for line in (done.stdout + done.stderr).splitlines() if line.strip()]
    assert done.returncode == 4 and lines == [f"ERROR: {message.format(file=file, locked=locked)}"], lines
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a-file", "locked"]


def test_ini_values_are_checked_as_the_command_line_is():
    class Config:
        def getoption(self, name: str) -> None:
            return None

        def getini(self, key: str) -> str:
            return {"mlpbench_processes": "0"}.get(key, "")

    with pytest.raises(MLPBenchError, match=r"^argument --processes: must be at least 1, got '0' \(from the ini key "
                                            r"mlpbench_processes\)$"):
        PROCESSES.read(Config())


def test_the_ladder_s_options_reach_the_suite_as_given(tmp_path):
    """bench/runner.py turns Option values into the suite's words; parsed back, they are the same settings
    (a switch, a list, a path, a number, and None left out)."""
    from bench import settings as suite
    from bench.runner import option_args

    values = {suite.IMPLS: ("numpy-v3-sliced", "numpy-tuned"), suite.PHASES_OPTION: ["full_run"],
              suite.FULL_RUN_BATCH_SIZES: (500, 20000), suite.RESULTS_DIR: tmp_path, suite.TAG: "ladder",
              suite.QUICK_OPTION: True, suite.NO_PIN: False, suite.THREADS: 1, suite.MNIST: None}
    got = parse_pytest_bench(["bench/", "--benchmark-only", *option_args(values)])
    assert [c.name for c in got.impls] == ["numpy-v3-sliced", "numpy-tuned"] and got.phases == ("full_run",)
    assert got.full_run_batch_sizes == {"mlp": (500, 20000)} and got.results_dir == tmp_path
    assert (got.tag, got.quick, got.pin, got.threads, got.mnist) == ("ladder", True, True, 1, None)


@pytest.mark.parametrize("extra, v0_sizes", [([], ["500"]),
                                             (["--full-run-batch-sizes", "500,20000"], ["500", "20000"])])
def test_the_naive_variant_keeps_its_full_runs_to_the_seed_s_size_unless_the_run_names_them(extra, v0_sizes):
    """numpy-v0-naive's 35-epoch runs are a third of the default run at both sizes; the seed timed it at B=500."""
    done = subprocess.run([sys.executable, "-m", "pytest", "bench/test_full_run.py", "--collect-only", "-q",
                           "-p", "no:cacheprovider", "--impl", "numpy-v0-naive,numpy-v1-float32", *extra],
                          capture_output=True, text=True, cwd=ROOT, timeout=300)
    ids = re.findall(r"\[(numpy-v\d-\w+)-B(\d+)-full_run\]", done.stdout)
    assert sorted(b for name, b in ids if name == "numpy-v0-naive") == sorted(v0_sizes), done.stdout[-2000:]
    assert sorted(b for name, b in ids if name == "numpy-v1-float32") == ["20000", "500"]  # V1 on: both sizes


@pytest.mark.parametrize("extra, v0_sizes", [([], {"500"}), (["--batch-sizes", "500,20000"], {"500", "20000"})])
def test_the_naive_variant_keeps_its_steps_to_the_seed_s_size_unless_the_run_names_them(extra, v0_sizes):
    """Its step cases at B=5000 and 20000 (a backward pass of 0.5 s, after an untimed one, in at least 5 cycles a
    window) were a fifth of the default run."""
    done = subprocess.run([sys.executable, "-m", "pytest", "bench/test_steps.py", "--collect-only", "-q",
                           "-p", "no:cacheprovider", "--impl", "numpy-v0-naive,numpy-v1-float32", *extra],
                          capture_output=True, text=True, cwd=ROOT, timeout=300)
    ids = re.findall(r"\[(numpy-v\d-\w+)-B(\d+)-\w+\]", done.stdout)
    assert {b for name, b in ids if name == "numpy-v0-naive"} == v0_sizes, done.stdout[-2000:]
    assert len({b for name, b in ids if name == "numpy-v1-float32"}) == (3 if not extra else 2)


def test_the_roofline_is_measured_unless_quick_or_switched_off():
    assert parse_pytest_bench(["bench/", "--benchmark-only"]).roofline
    assert not parse_pytest_bench(["bench/", "--benchmark-only", "--no-roofline"]).roofline
    assert not parse_pytest_bench(["bench/", "--benchmark-only", "--quick"]).roofline
