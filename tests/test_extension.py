"""The extension path, proven: the example module of docs/adding-an-implementation.md, written into a new
framework package under ``impl/`` with no other change, appears in ``mlp-bench list``, in the benchmark
parametrisation and in the generic equivalence tests. The package gets a unique name and is always removed."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from impl.contract import PHASES
from impl.registry import all_implementations

ROOT = Path(__file__).resolve().parents[1]
WALKTHROUGH = ROOT / "docs" / "adding-an-implementation.md"
EXAMPLE_NAME = "example-plain"


def example_module() -> str:
    """The single ```python block of the walkthrough: the test runs the code readers copy."""
    blocks = re.findall(r"^```python\n(.*?)^```", WALKTHROUGH.read_text(encoding="utf-8"), re.M | re.S)
    assert len(blocks) == 1, "the walkthrough should hold exactly one python block: the example module"
    assert f'name = "{EXAMPLE_NAME}"' in blocks[0]
    return blocks[0]


def run(*args: str, timeout: int = 300) -> subprocess.CompletedProcess:
    env = {**os.environ, "MPLBACKEND": "Agg"}
    return subprocess.run([sys.executable, *args], cwd=ROOT, capture_output=True, text=True, timeout=timeout,
                          env=env)


@pytest.fixture(scope="module")
def new_implementation() -> Iterator[str]:
    """A new framework package ``impl/ext<random>_mlp/`` holding the example under a unique name."""
    all_implementations()  # this process discovers before the package exists: only the subprocesses see it
    token = uuid.uuid4().hex[:8]
    name = f"ext{token}-plain"
    package = ROOT / "impl" / f"ext{token}_mlp"
    package.mkdir()
    try:
        (package / "__init__.py").write_text('"""Temporary package of tests/test_extension.py."""\n')
        (package / "plain.py").write_text(example_module().replace(f'"{EXAMPLE_NAME}"', f'"{name}"'))
        yield name
    finally:
        shutil.rmtree(package, ignore_errors=True)


def test_the_new_implementation_is_listed(new_implementation):
    done = run("-m", "bench.cli", "list")
    assert done.returncode == 0, done.stderr
    line = next((line for line in done.stdout.splitlines() if line.startswith(new_implementation + " ")), None)
    assert line is not None, done.stdout
    assert line.split() == [new_implementation, "mlp", "--layers", "float64", "cpu", "yes"]


def test_the_benchmarks_parametrise_it(new_implementation, tmp_path):
    done = run("-m", "pytest", "bench/", "--benchmark-only", "--collect-only", "-q", "-p", "no:cacheprovider",
               "--impl", new_implementation, "--results-dir", str(tmp_path))
    assert done.returncode == 0, done.stdout + done.stderr
    ids = [line for line in done.stdout.splitlines() if "::" in line]
    for phase in PHASES:  # the phase table: every phase the example can time
        assert any(f"[{new_implementation}-B" in i and i.endswith(f"-{phase}]") for i in ids), (phase, ids)


def test_the_generic_equivalence_tests_run_it_and_pass(new_implementation):
    done = run("-m", "pytest", "tests/test_equivalence.py", "-q", "-p", "no:cacheprovider", "-k", new_implementation,
               timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    summary = done.stdout.strip().splitlines()[-1]
    passed = re.search(r"(\d+) passed", summary)
    assert passed and int(passed.group(1)) >= 4, summary  # loss/gradients/update, two epochs, reset, accuracy
    assert "failed" not in summary and "error" not in summary
