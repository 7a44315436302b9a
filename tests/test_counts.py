"""Counts under Valgrind (bench/counts/): the parts that need no Valgrind always run; the one measurement
under Valgrind (a minute or two) runs in CI (CI=true) or with MLPBENCH_REQUIRE_VALGRIND=1, where a missing
Valgrind fails instead of skipping."""

from __future__ import annotations

import copy
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from bench.counts import callgrind, client, session, verdicts
from bench.counts.model import metrics_of, per_unit
from bench.counts.views import counts_table
from bench.results import tidy_frame
from impl.errors import MLPBenchError

ROOT = Path(__file__).resolve().parents[1]
DUMP = """version: 1
creator: callgrind-3.19.0
desc: I1 cache: 65536 B, 64 B, 16-way associative
desc: D1 cache: 49152 B, 64 B, 12-way associative
desc: LL cache: 503316480 B, 64 B, 30-way associative
desc: Trigger: Client Request: numpy-tuned-B500-forward
events: Ir Dr Dw I1mr D1mr D1mw ILmr DLmr DLmw Bc Bcm Bi Bim
summary: 1000 300 100 10 20 5 1 2 0 50 7 4 3
totals: 9 9 9 9 9 9 9 9 9 9 9 9 9
"""
RUN_VALGRIND = os.environ.get("CI") == "true" or os.environ.get("MLPBENCH_REQUIRE_VALGRIND") == "1"


def test_client_requests_are_no_ops_natively():
    assert client.running_on_valgrind() == 0
    assert client.request(client.ZERO_STATS, default=7) == 7  # natively the default comes back
    client.dump_stats_at("nothing")  # and nothing happens


def test_a_dump_reads_back_its_name_summary_and_caches(tmp_path):
    trigger, events, caches = callgrind.parse_dump(DUMP)
    assert trigger == "Client Request: numpy-tuned-B500-forward"
    assert events["Ir"] == 1000 and events["Bim"] == 3  # the summary line, not the totals line
    assert caches[2].startswith("LL cache: 503316480 B")
    (tmp_path / "callgrind.out.1.1").write_text(DUMP)
    (tmp_path / "callgrind.out.1").write_text(DUMP.replace("Client Request: numpy-tuned-B500-forward",
                                                           "Program termination"))
    found, _ = callgrind.read_dumps(tmp_path)
    assert list(found) == ["numpy-tuned-B500-forward"]
    with pytest.raises(MLPBenchError, match="without events"):
        callgrind.parse_dump("desc: Trigger: Client Request: x\n")


def test_metrics_and_the_cycle_model():
    m = metrics_of(callgrind.parse_dump(DUMP)[1])
    assert (m["l1_misses"], m["ll_misses"], m["branch_mispredicts"]) == (35, 3, 10)
    assert m["est_cycles"] == (1400 - 35) + 5 * (35 - 3) + 35 * 3
    empty = {"Ir": 200, "Dr": 100, "Dw": 0}
    assert per_unit({"Ir": 1000, "Dr": 300, "Dw": 100}, empty, 2)["instructions"] == 400  # (1000 - 200) / 2


def _doc(ir: float, numpy: str = "2.4.6") -> dict:
    counts = {"unit": "step", **metrics_of({"Ir": ir, "Dr": 300, "Dw": 100, "D1mr": 50})}
    info = {"impl": "numpy-tuned", "batch_size": 500, "phase": "forward", "counts": counts}
    return {"benchmarks": [{"extra_info": info}],
            "mlp_bench_counts": {"valgrind": "valgrind-3.19.0", "caches": ["LL cache: 1 B"],
                                 "facts": {"python": "3.11.7", "numpy": numpy, "numpy_simd_dispatch": ["X86_V3"],
                                           "blas": [{"internal_api": "openblas", "version": "0.3.30",
                                                     "architecture": "Haswell"}]}}}


@pytest.mark.parametrize("ir_b, expected", [(1_000_000, "same"), (1_009_000, "same"), (1_020_000, "more work"),
                                            (970_000, "less work")])
def test_counts_verdicts(ir_b, expected):
    table, reason = verdicts.compare_counts(_doc(1_000_000), _doc(ir_b))
    assert reason is None
    assert table.loc[0, "counts_verdict"] == expected
    assert table.loc[0, "instructions_verdict"] == expected
    assert (verdicts.counts_gate(table, 0.01) == ["numpy-tuned-B500-forward"]) == (expected == "more work")
    assert verdicts.counts_gate(table, 0.05) == []  # 2 % more work passes a 5 % gate


def test_a_small_change_in_misses_is_no_change_in_work():
    a, b = _doc(1_000_000), _doc(1_000_000)
    b["benchmarks"][0]["extra_info"]["counts"]["l1_misses"] *= 1.5  # 25 misses more: 125 cycles of 1.4M
    table, _ = verdicts.compare_counts(a, b)
    assert table.loc[0, "l1_misses_verdict"] == "same"
    b["benchmarks"][0]["extra_info"]["counts"]["l1_misses"] = 50_000
    assert verdicts.compare_counts(a, b)[0].loc[0, "l1_misses_verdict"] == "more work"


def test_other_libraries_are_not_comparable_in_one_line():
    table, reason = verdicts.compare_counts(_doc(1_000_000), _doc(1_000_000, numpy="2.5.0"))
    assert reason == "counts: not comparable: NumPy 2.4.6 -> 2.5.0"
    assert set(table["counts_verdict"]) == {"not comparable"}
    assert "\n" not in reason and reason in verdicts.render_counts(table, reason, 0.01)
    b = copy.deepcopy(_doc(1_000_000))
    b["mlp_bench_counts"]["valgrind"] = "valgrind-3.22.0"
    assert "Valgrind valgrind-3.19.0 -> valgrind-3.22.0" in verdicts.compare_counts(_doc(1_000_000), b)[1]


def test_counts_reach_the_tidy_table():
    doc = _doc(1_000_000)
    doc["benchmarks"][0]["extra_info"].update(workload="mlp", layers="784-70-30-10")
    frame = tidy_frame(doc)
    assert frame.loc[0, "count_instructions"] == 1_000_000 and frame.loc[0, "count_unit"] == "step"
    assert "counts under Valgrind" in counts_table(frame)


def test_frameworks_are_refused_with_one_line_and_numpy_is_planned():
    cases, refused = session.plan([
        {"impl": "numpy-tuned", "backend": "numpy", "batch_size": 500, "phase": "forward"},
        {"impl": "torch-cpu", "backend": "torch", "batch_size": 500, "phase": "forward"},
        {"impl": "numpy-v1-float32", "backend": "numpy", "batch_size": 500, "phase": "full_run"}])
    assert [c["id"] for c in cases] == ["numpy-tuned-B500-forward", "numpy-v1-float32-B500-full_run"]
    assert cases[1]["calls"] == 1 and cases[1]["epochs"] == 1
    assert list(refused) == ["torch-cpu-B500-forward"]
    assert refused["torch-cpu-B500-forward"].startswith("counts: not measured: ") and "\n" not in refused[
        "torch-cpu-B500-forward"]


def test_without_valgrind_counts_are_a_one_line_error_naming_the_package(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(MLPBenchError, match=r"apt-get install valgrind"):
        callgrind.valgrind_version()
    env = dict(os.environ, PATH=str(Path(sys.executable).parent), MLPBENCH_MNIST="")
    done = subprocess.run([sys.executable, "-m", "pytest", "-p", "no:xdist", "bench/", "--benchmark-only", "--counts",
                           "--impl", "numpy-tuned", "--batch-sizes", "500", "--phases", "forward", "--quick",
                           "--results-dir", str(tmp_path), "-q"], capture_output=True, text=True, cwd=ROOT, env=env)
    assert done.returncode == 4, done.stdout + done.stderr
    assert any(f"mlp-bench: error: {callgrind.MISSING}" in line for line in (done.stdout + done.stderr).splitlines())


@pytest.mark.skipif(not RUN_VALGRIND, reason="the Valgrind measurement runs in CI (CI=true) or with "
                    "MLPBENCH_REQUIRE_VALGRIND=1")
def test_one_case_measured_under_valgrind(tmp_path):
    """The numbers are the work of the call: at least one instruction per 16 FLOP (8-wide FMA, AVX2, the widest
    Valgrind executes), at most 2 per FLOP; the toggling around it costs a tiny fraction; Valgrind's NumPy
    dispatch is recorded and without AVX-512."""
    if shutil.which("valgrind") is None:
        pytest.fail("CI wants Valgrind: " + callgrind.MISSING)
    doc = session.measure([{"impl": "numpy-tuned", "backend": "numpy", "batch_size": 500, "phase": "forward"}],
                          mnist=os.environ.get("MLPBENCH_MNIST") or None, seed=0, layers=(784, 70, 30, 10),
                          run_dir=tmp_path, timeout_s=600, write=print)
    case = doc["cases"]["numpy-tuned-B500-forward"]
    flop = 2 * 500 * (784 * 70 + 70 * 30 + 30 * 10)
    assert flop / 16 < case["instructions"] < 2 * flop
    assert case["raw_empty"]["Ir"] < 0.01 * case["raw"]["Ir"]
    assert case["est_cycles"] >= case["instructions"]
    assert doc["facts"]["on_valgrind"] == 1 and doc["valgrind"].startswith("valgrind-")
    assert not any("AVX512" in f or f == "X86_V4" for f in doc["facts"]["numpy_simd_dispatch"])
    assert (tmp_path / session.FILE).is_file()
