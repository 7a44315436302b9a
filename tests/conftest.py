"""Shared fixtures: a small synthetic dataset for the mathematics, the real MNIST for learning tests."""

from __future__ import annotations

import dataclasses
import os

import pytest

from impl.data import Dataset, load_dataset, preprocess, synthetic_mnist

#: What pytest-xdist (``pytest tests -n auto``) sets in each of its workers. The benchmark suites these tests
#: start in subprocesses inherit the environment, and pytest-benchmark reads PYTEST_XDIST_WORKER as "this run is
#: distributed" and disables the benchmarks; so the workers drop them (xdist itself reads its own settings).
XDIST_VARIABLES = ("PYTEST_XDIST_WORKER", "PYTEST_XDIST_WORKER_COUNT", "PYTEST_XDIST_TESTRUNUID")


def pytest_configure(config: pytest.Config) -> None:
    for name in XDIST_VARIABLES:
        os.environ.pop(name, None)


@pytest.fixture(scope="session")
def small_data() -> Dataset:
    """6,000 synthetic training images: enough for several batches, fast for float64 reference maths."""
    ds = preprocess(synthetic_mnist(seed=1))
    return dataclasses.replace(ds, x_train=ds.x_train[:6000], y_train=ds.y_train[:6000])


@pytest.fixture(scope="session")
def real_data() -> Dataset:
    """The real MNIST from MLPBENCH_MNIST. Skipped when unset, unless MLPBENCH_REQUIRE_DATA=1 (CI)."""
    if not os.environ.get("MLPBENCH_MNIST"):
        if os.environ.get("MLPBENCH_REQUIRE_DATA") == "1":
            pytest.fail("MLPBENCH_REQUIRE_DATA=1 but MLPBENCH_MNIST is not set")
        pytest.skip("real MNIST not configured: set MLPBENCH_MNIST to the directory of the IDX files")
    return load_dataset(offline=True)
