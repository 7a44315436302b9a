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
    (["--impl", "numpy-v3-sliced", "--batch-size", "0"], ["batch size"]),
    (["--impl", "numpy-v3-sliced", "--batch-size", "70000"], ["batch size", "60000"]),
    (["--impl", "numpy-v3-sliced", "--epochs", "0"], ["epochs"]),
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
    assert report["threads"] == 1 and len(report["per_epoch_seconds"]) == 2
    assert report["seconds"] == pytest.approx(sum(report["per_epoch_seconds"]))


def test_train_text_report_on_real_data(real_data):
    result = mlp_bench("train", "--impl", "numpy-v2-f", "--epochs", "1", "--batch-size", "20000")
    assert result.returncode == 0, result.stderr
    assert "test accuracy" in result.stdout and "data=real" in result.stdout
