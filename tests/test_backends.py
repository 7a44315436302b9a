"""Keras on several backends in one benchmark run: the backend is part of a case's identity, each backend is
measured in worker processes of its own, and a single-process run says why it cannot measure the others."""

from __future__ import annotations

import json
import os

import pandas as pd
import pytest
from test_harness import run

from impl.keras.runtime import BACKEND_PACKAGES, installed_version

JAX_INSTALLED = any(installed_version(d) for d in BACKEND_PACKAGES["jax"])
KERAS_INSTALLED = installed_version("keras") is not None and any(
    installed_version(d) for d in BACKEND_PACKAGES["tensorflow"])

needs_two_backends = pytest.mark.skipif(
    not (KERAS_INSTALLED and JAX_INSTALLED) and os.environ.get("MLPBENCH_REQUIRE_JAX") != "1",
    reason="needs Keras with TensorFlow and JAX installed (extras keras and jax)")


def bench(tmp_path, *args: str):
    return run("-m", "pytest", "bench/", "--benchmark-only", "-p", "no:cacheprovider", "--results-dir",
               str(tmp_path), *args)


@needs_two_backends
def test_each_backend_is_a_case_of_its_own(tmp_path):
    done = bench(tmp_path, "--collect-only", "-q", "--impl", "keras-fit-cpu", "--backends", "tensorflow,jax",
                 "--phases", "train_step", "--batch-sizes", "500")
    assert done.returncode == 0, done.stdout[-2000:]
    assert "test_step[keras-fit-cpu-B500-train_step]" in done.stdout
    assert "test_step[keras-fit-cpu@jax-B500-train_step]" in done.stdout


@needs_two_backends
def test_one_process_cannot_switch_backends_and_says_so(tmp_path, real_data):
    done = bench(tmp_path, "--quick", "-rs", "--impl", "keras-fit-cpu", "--backends", "jax",
                 "--phases", "prepare", "--batch-sizes", "500")
    assert done.returncode == 0, done.stdout[-2000:]
    assert "fixed per process" in done.stdout and "--processes 2" in done.stdout


def test_an_unknown_backend_is_a_usage_error(tmp_path):
    done = bench(tmp_path, "--impl", "numpy-v3-sliced", "--backends", "theano")
    assert done.returncode == 4 and "unknown or uninstalled backend 'theano'" in done.stderr
    assert not any(tmp_path.iterdir())


@needs_two_backends
def test_two_backends_measured_in_one_run_with_their_identity(tmp_path, real_data):
    done = bench(tmp_path, "--impl", "keras-cpu", "--backends", "tensorflow,jax", "--processes", "2",
                 "--phases", "prepare", "--batch-sizes", "500", "--threads", "1")
    assert done.returncode == 0, done.stdout[-3000:]
    (folder,) = [p for p in tmp_path.iterdir() if p.is_dir()]
    frame = pd.read_csv(folder / "benchmarks.csv")
    assert sorted(frame["backend"]) == ["jax", "tensorflow"] and (frame["processes"] == 2).all()
    schedule = json.loads((folder / "benchmark.json").read_text())["mlp_bench_schedule"]
    # Keras on two backends cannot share a process: a worker each, though they share a batch size
    assert sorted((m[1], w["process"]) for w in schedule for m in w["members"]) == sorted(
        (b, p) for b in ("jax", "tensorflow") for p in (1, 2))
    assert "keras-cpu@jax" in (folder / "tables.md").read_text()
    same = run("-m", "bench.cli", "compare", str(folder), str(folder))
    assert same.returncode == 0 and "keras-cpu@jax" in same.stdout  # keyed by backend: a row each

