"""The benchmark suite as a user drives it: a real (tiny) pytest-benchmark run writes a new run folder with
tables and plots; compare/table read saved runs; bad options and bad runs are one-line errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from bench.compare import significance
from bench.results import COLUMNS

ROOT = Path(__file__).resolve().parents[1]
TINY = ["--quick", "--impl", "numpy-v3-sliced,numpy-v0-naive", "--batch-sizes", "2000",
        "--full-run-batch-sizes", "20000", "-p", "no:cacheprovider"]


def run(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, *args], capture_output=True, text=True, cwd=cwd, timeout=600,
                          env={**os.environ, "MPLBACKEND": "Agg"})


def bench_run(results: Path, *extra: str) -> subprocess.CompletedProcess:
    return run("-m", "pytest", "bench/", "--benchmark-only", "--results-dir", str(results), *TINY, *extra)


def mlp_bench(*args: str) -> subprocess.CompletedProcess:
    return run("-m", "bench.cli", *args)


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory, real_data) -> Path:
    results = tmp_path_factory.mktemp("results")
    for _ in range(2):
        done = bench_run(results)
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return results


def test_a_run_writes_json_tables_and_plots(two_runs):
    folders = sorted(p for p in two_runs.iterdir() if p.is_dir())
    assert len(folders) == 2  # the second run never overwrote the first
    folder = folders[0]
    for name in ("run.json", "benchmark.json", "benchmarks.csv", "benchmarks.md", "tables.md", "mlp-steps.png",
                 "mlp-ladder.png"):
        assert (folder / name).is_file(), name
    frame = pd.read_csv(folder / "benchmarks.csv")
    assert set(COLUMNS) <= set(frame.columns)
    phases = set(frame["phase"])
    assert phases == {"prepare", "forward", "backward", "forward_backward", "train_step", "full_run"}
    assert set(frame["impl"]) == {"numpy-v3-sliced", "numpy-v0-naive"} and set(frame["dataset"]) == {"real"}
    full = frame[frame["phase"] == "full_run"]
    assert full["test_accuracy"].notna().all() and (full["rounds"] == 1).all()
    doc = json.loads((folder / "benchmark.json").read_text())
    assert all(b["stats"]["data"] for b in doc["benchmarks"])  # raw rounds kept
    full_run = next(b for b in doc["benchmarks"] if b["extra_info"]["phase"] == "full_run")
    assert len(full_run["extra_info"]["epoch_seconds"][0]) == 1 and full_run["extra_info"]["first_call_s"] > 0
    assert "mlp_bench" in doc["machine_info"] and doc["machine_info"]["mlp_bench"]["blas"]
    assert json.loads((folder / "run.json").read_text())["kind"] == "benchmark"
    tables = (folder / "tables.md").read_text()
    assert "speed-up vs numpy-v0-naive" in tables and "QUICK" in tables


def test_compare_defaults_to_the_two_newest_runs(two_runs):
    done = mlp_bench("compare", "--results-dir", str(two_runs))
    assert done.returncode == 0, done.stderr
    assert "ratio_b_over_a" in done.stdout and "full_run" in done.stdout
    assert "too few samples" in done.stdout  # one-epoch full runs cannot be significant
    table = mlp_bench("table", "--results-dir", str(two_runs))
    assert table.returncode == 0 and "full runs" in table.stdout


def test_compare_fail_above_trips_on_a_significant_slowdown(two_runs, tmp_path):
    a, b = sorted(p for p in two_runs.iterdir() if p.is_dir())
    slow = tmp_path / "slow"
    slow.mkdir()
    (slow / "run.json").write_text((b / "run.json").read_text())
    doc = json.loads((b / "benchmark.json").read_text())
    for bench in doc["benchmarks"]:
        bench["stats"]["data"] = [x * 2 for x in bench["stats"]["data"]]
        bench["stats"]["median"] *= 2
    (slow / "benchmark.json").write_text(json.dumps(doc))
    done = mlp_bench("compare", str(a), str(slow), "--fail-above", "10%")
    assert done.returncode == 1 and "significant slowdown" in done.stdout


@pytest.mark.parametrize("args, words", [
    (["--impl", "numpy-v42"], "unknown implementation"),
    (["--phases", "sideways"], "unknown phase"),
    (["--batch-sizes", "0"], "batch size"),
    (["--full-run-batch-sizes", "70000"], "batch size"),
    (["--epochs", "0"], "--epochs"),
    (["--workload", "rnn"], "unknown workload"),
])
def test_bad_bench_options_are_usage_errors(tmp_path, args, words):
    done = run("-m", "pytest", "bench/", "--benchmark-only", "--results-dir", str(tmp_path), *args)
    assert done.returncode == 4  # pytest's usage error
    assert words in done.stderr and "Traceback" not in done.stderr
    assert not any(tmp_path.iterdir())  # nothing written


def test_bad_saved_runs_are_one_line_errors(tmp_path):
    (tmp_path / "corrupt").mkdir()
    (tmp_path / "corrupt" / "run.json").write_text('{"kind": "benchmark", "created": "2026"}')
    (tmp_path / "corrupt" / "benchmark.json").write_text("{not json")
    (tmp_path / "profile").mkdir()
    (tmp_path / "profile" / "run.json").write_text('{"kind": "profile", "created": "2026"}')
    for args, word in ((["table", str(tmp_path / "missing")], "no run"),
                       (["table", str(tmp_path / "corrupt")], "corrupt"),
                       (["table", str(tmp_path / "profile")], "not a benchmark run"),
                       (["compare", "--results-dir", str(tmp_path)], "need 2 more")):
        done = mlp_bench(*args)
        assert done.returncode == 2 and word in done.stderr and "Traceback" not in done.stderr, done.stderr


def test_significance_says_when_samples_are_too_few():
    assert significance([1.0, 1.1, 1.2], [2.0, 2.1, 2.2], alpha=0.01)[1].startswith("too few samples")
    p, verdict = significance([1.0 + i / 100 for i in range(20)], [2.0 + i / 100 for i in range(20)], 0.01)
    assert verdict == "significant" and p < 0.01
    assert significance([1.0 + i / 100 for i in range(20)], [1.0 + i / 100 for i in range(20)], 0.01)[1] == (
        "not significant")
