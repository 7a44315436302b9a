"""`mlp-bench` as a user runs it: one-line errors with a non-zero exit and no traceback; JSON output."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from bench.cli import LIST_WIDTH
from impl.contract import SHORT_REASON_MAX, needs_extra, no_gpu, shorten
from impl.registry import all_implementations


def mlp_bench(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "bench.cli", *args], capture_output=True, text=True,
                          env={**os.environ, **(env or {})}, timeout=300)


def assert_one_line_error(result: subprocess.CompletedProcess, *words: str) -> None:
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("mlp-bench: error:")
    for word in words:
        assert word in lines[0]


def test_list_shows_the_numpy_implementations():
    result = mlp_bench("list")
    assert result.returncode == 0
    for name in ("numpy-v0-naive", "numpy-v1-float32", "numpy-v2-c", "numpy-v2-f", "numpy-v3-sliced"):
        assert name in result.stdout


def test_list_is_one_line_per_implementation_within_a_terminal():
    result = mlp_bench("list")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert all(len(line) <= LIST_WIDTH for line in lines), max(lines, key=len)
    names = [line.split()[0] for line in lines[2:] if line.strip()]
    assert names == list(all_implementations())  # one line each, no wrapped continuation lines


def test_list_long_and_json_carry_descriptions_and_full_reasons():
    long = mlp_bench("list", "--long")
    assert long.returncode == 0 and "description" in long.stdout.splitlines()[0]
    entries = json.loads(mlp_bench("list", "--json").stdout)
    assert [e["impl"] for e in entries] == list(all_implementations())
    for entry in entries:
        cls = all_implementations()[entry["impl"]]
        assert entry["description"] == cls.description and entry["available"] == (entry["reason"] is None)
        assert entry["short_reason"] == cls.short_unavailable_reason()
    assert mlp_bench("list", "--long", "--json").returncode == 2  # one form at a time


@pytest.mark.parametrize("reason, short", [
    (needs_extra("torch", "PyTorch is not installed; install it with: pip install -e .[torch]"), "needs extra: torch"),
    (no_gpu("no GPU found (no nvidia-smi)"), "no GPU"),
    ("the foo runtime is missing; install it with: pip install foo", "the foo runtime is missing"),
    ("x" * 100, "x" * (SHORT_REASON_MAX - 3) + "..."),
])
def test_short_reasons(reason, short):
    assert shorten(reason) == short and str(reason) == reason


@pytest.mark.parametrize("args, words", [
    (["--impl", "numpy-v9"], ["unknown implementation", "numpy-v9"]),
    (["--impl", "numpy-v3-sliced", "--batch-size", "0"], ["--batch-size", "at least 1"]),
    (["--impl", "numpy-v3-sliced", "--batch-size", "70000"], ["batch size", "60000"]),
    (["--impl", "numpy-v3-sliced", "--epochs", "0"], ["--epochs", "at least 1"]),
    (["--impl", "numpy-v3-sliced", "--seed", "-1"], ["--seed", "0 or more"]),
    (["--impl", "numpy-v3-sliced", "--threads", "-3"], ["--threads", "at least 1"]),
    (["--impl", "numpy-v3-sliced", "--lr", "inf"], ["--lr", "finite"]),
    (["--impl", "numpy-v3-sliced", "--mnist", "/nonexistent/mnist"], ["/nonexistent/mnist"]),
])
def test_train_bad_input(args, words):
    assert_one_line_error(mlp_bench("train", *args, "--synthetic" if "--mnist" not in args else "--offline"),
                          *words)


def test_train_json_is_one_object_with_the_documented_keys():
    result = mlp_bench("train", "--impl", "numpy-v3-sliced", "--epochs", "2", "--batch-size", "20000",
                       "--synthetic", "--json", "--threads", "1")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    for key in ("impl", "workload", "batch_size", "epochs", "lr", "seed", "threads", "seconds",
                "first_epoch_seconds", "per_epoch_seconds", "train_accuracy", "test_accuracy", "dataset",
                "versions"):
        assert key in report
    assert report["dataset"] == "synthetic" and report["train_accuracy"] is None
    assert report["batch_averaged_accuracy"] is None  # synthetic data are for timing only
    assert report["threads"] == 1 and len(report["per_epoch_seconds"]) == 2
    assert report["seconds"] == pytest.approx(sum(report["per_epoch_seconds"]))


def test_train_text_report_on_real_data(real_data):
    result = mlp_bench("train", "--impl", "numpy-v2-f", "--epochs", "1", "--batch-size", "20000")
    assert result.returncode == 0, result.stderr
    assert "test accuracy" in result.stdout and "data=real" in result.stdout
    assert "batch-averaged accuracy (last epoch" in result.stdout  # the articles' own measure, beside ours


def test_train_another_model_reports_it_and_no_article_figure(real_data):
    result = mlp_bench("train", "--impl", "numpy-tuned", "--epochs", "1", "--layers", "784,40,20,16,10", "--json",
                       "--threads", "1")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["layers"] == "784-40-20-16-10" and report["articles_figures"] == []
    seed = json.loads(mlp_bench("train", "--impl", "numpy-v3-sliced", "--epochs", "1", "--batch-size", "20000",
                                "--json", "--threads", "1", "--synthetic").stdout)
    assert seed["layers"] == "784-70-30-10"


def test_profile_reaches_every_transition_of_another_model():
    result = mlp_bench("profile", "--impl", "numpy-v3-sliced", "--layers", "784,40,20,16,10", "--transition", "fw:4",
                       "--steps", "3", "--synthetic", "--threads", "1")
    assert result.returncode == 0 and "saved:" in result.stdout and "784-40-20-16-10" in result.stdout, result.stderr


# -- every option, every bad value: a one-line usage error (exit 2), never a traceback ----------------------------
#: what each subcommand needs besides the option under test
BASE = {"train": ["--impl", "numpy-v3-sliced", "--synthetic"], "profile": ["--impl", "numpy-v3-sliced",
        "--transition", "bw:1", "--synthetic"], "report": ["reference"], "compare": [], "table": [],
        "reproduce": ["--quick"], "list": [], "roofline": [], "map": []}
ALWAYS_BAD = ["abc", "nan", "inf", "-1", "1e999"]


def _valued_options():
    import argparse
    from pathlib import Path

    from bench.cli import build_parser
    from bench.options import folder, path_text

    texts = (None, str, Path, path_text, folder)  # any text is a path: their only bad value is empty text
    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    for command, parser in sub.choices.items():
        for action in parser._actions:
            if action.option_strings and action.nargs != 0 and (action.choices or action.type not in texts):
                yield command, action.option_strings[-1], action


@pytest.mark.parametrize(("command", "option", "action"), list(_valued_options()),
                         ids=[f"{c} {o}" for c, o, _ in _valued_options()])
def test_every_bad_value_of_every_option_is_a_one_line_usage_error(command, option, action, capsys):
    from bench.cli import build_parser

    must_refuse = ["(", "[a-"] if action.type is not None and action.type.__name__ == "_regex" else \
        ["bogus"] if action.choices else ALWAYS_BAD
    for bad in [*must_refuse, "0", "("]:
        try:  # values are checked as the command line is parsed: an accepted one is not run here
            build_parser().parse_args([command, *BASE[command], option, bad])
        except SystemExit as stop:
            err = capsys.readouterr().err.strip().splitlines()
            assert stop.code == 2 and len(err) == 1 and err[0].startswith(f"mlp-bench: error: {command}: argument"), \
                (bad, err)
            continue
        if bad in must_refuse:
            pytest.fail(f"{command} {option} {bad!r} was accepted")


def test_zero_is_refused_where_it_makes_no_sense():
    for args in (["train", "--impl", "numpy-v3-sliced", "--threads", "0"], ["train", "--impl", "x", "--epochs", "0"],
                 ["train", "--impl", "x", "--batch-size", "0"], ["train", "--impl", "x", "--lr", "0"],
                 ["profile", "--impl", "x", "--transition", "bw:1", "--steps", "0"], ["compare", "--threshold", "0"],
                 ["compare", "--alpha", "0"], ["compare", "--alpha", "0.6"], ["compare", "--threshold", "100%"]):
        done = mlp_bench(*args)
        assert done.returncode == 2 and "Traceback" not in done.stderr and ": argument --" in done.stderr, args


def test_version():
    done = mlp_bench("--version")
    assert done.returncode == 0 and done.stdout.startswith("mlp-bench ") and "unknown" not in done.stdout


def test_an_output_path_that_cannot_be_written_is_refused_before_any_work(tmp_path):
    for args in (["report", "reference", "--output", str(tmp_path / "missing" / "x.md")],
                 ["report", "reference", "--html", str(tmp_path / "missing" / "x.html")],
                 ["table", "reference", "--html", str(tmp_path / "missing" / "x.html")],
                 ["compare", "reference", "reference", "--html", str(tmp_path / "missing" / "x.html")],
                 ["table", "reference", "--html", str(tmp_path)]):
        done = mlp_bench(*args, "--results-dir", "results")
        assert_one_line_error(done, "cannot write")
        assert done.returncode == 3 and not done.stdout  # refused before the tables are printed
    assert list(tmp_path.iterdir()) == []
