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

import pandas as pd
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


def test_the_counts_kernel_is_checked_before_any_work():
    from test_docs import parse_pytest_bench

    assert session.kernel_name("sandybridge") == "Sandybridge" and session.kernel_name("MACHINE") == "machine"
    with pytest.raises(MLPBenchError, match="--counts-kernel: expected one of Sandybridge, Haswell, machine, got 'zen"):
        parse_pytest_bench(["bench/", "--benchmark-only", "--counts", "--counts-kernel", "zen"])
    assert callgrind.kernel_env("Haswell")["OPENBLAS_CORETYPE"] == "Haswell"
    assert "OPENBLAS_CORETYPE" not in callgrind.kernel_env("machine")
    assert callgrind.kernel_env("machine")["OPENBLAS_NUM_THREADS"] == "1"


def test_a_kernel_openblas_did_not_run_is_a_one_line_error():
    facts = {"blas": [{"internal_api": "openblas", "architecture": "Haswell"}]}
    callgrind.check_kernel("haswell", facts)
    callgrind.check_kernel("machine", facts)
    with pytest.raises(MLPBenchError, match="ran its Haswell kernel under Valgrind, not the Sandybridge kernel"):
        callgrind.check_kernel("Sandybridge", facts)
    callgrind.check_kernel("Sandybridge", {"blas": [{"internal_api": "mkl", "architecture": None}]})  # not OpenBLAS


def test_cases_split_into_balanced_deterministic_groups():
    params = [{"impl": impl, "backend": "numpy", "batch_size": b, "phase": phase}
              for impl in ("numpy-tuned", "numpy-v3-sliced", "numpy-v2-c") for b in (500, 5000, 20000)
              for phase in ("forward", "backward", "train_step")]
    cases, _ = session.plan(params + [{"impl": "numpy-tuned", "backend": "numpy", "batch_size": 500,
                                       "phase": "full_run"}])
    groups = session.split(cases, 2)
    assert sorted(c["id"] for g in groups for c in g) == sorted(c["id"] for c in cases)
    loads = [sum(session.cost(c) for c in g) for g in groups]
    assert max(loads) < 1.25 * min(loads)
    assert groups == session.split(list(cases), 2)  # the same selection, the same groups
    assert all([cases.index(c) for c in g] == sorted(cases.index(c) for c in g) for g in groups)  # order kept
    assert session.split(cases[:1], 4) == [cases[:1]]


def test_work_per_unit_uses_the_roofline_flop_convention():
    forward = session.work_per_unit({"impl": "numpy-tuned", "phase": "forward", "batch_size": 500},
                                    (784, 70, 30, 10), 60_000)
    assert forward == {"samples": 500, "flop": 500 * 114_780}
    epoch = session.work_per_unit({"impl": "numpy-tuned", "phase": "full_run", "batch_size": 500},
                                  (784, 70, 30, 10), 60_000)
    assert epoch == {"samples": 60_000, "flop": 60_000 * 234_360}


def _counted_frame() -> pd.DataFrame:
    rows = []
    for impl, cycles, seconds in (("numpy-tuned", 10e6, 1e-3), ("numpy-v3-sliced", 20e6, 1.5e-3),
                                  ("numpy-v2-c", 30e6, 1.2e-3)):
        rows.append({"impl": impl, "phase": "train_step", "batch_size": 500, "process_median_s": seconds,
                     "epochs": None, "count_unit": "step", "count_samples": 500, "count_flop": 500 * 234_360,
                     **{f"count_{m}": cycles / 2 for m in ("instructions", "data_reads", "data_writes", "l1_misses",
                                                          "ll_misses", "branch_mispredicts")},
                     "count_est_cycles": cycles})
    return pd.DataFrame(rows)


def test_counts_explain_per_sample_and_per_flop():
    text = counts_table(_counted_frame())
    assert "### counts explain: work per sample and per FLOP" in text
    row = next(line for line in text.splitlines() if line.startswith("| numpy-tuned") and "train_step" in line
               and "10,000" in line)  # cyc/sample 10e6 / 500 = 20,000; Ir/sample 10,000
    assert "20,000" in row


def test_counts_against_time_names_the_orderings_they_disagree_on():
    from bench.counts.views import against_time, against_time_text

    frame = _counted_frame()

    def resolved(a, b):  # wall time's verdict: B/A with an interval excluding 1 on the measured side
        ratio = b.process_median_s / a.process_median_s
        return ratio, ratio * 0.95, ratio * 1.05

    table, disagreements = against_time(frame, resolved)
    assert table.loc[0, "cases"] == 3 and table.loc[0, "same order (pairs of one B)"] == "2 of 3"
    assert table.loc[0, "same work"] == 0
    assert table.loc[0, "G est. cycles/s median"] == pytest.approx(13.33, abs=0.01)
    # v3-sliced: 2/3 of v2-c's cycles and yet 1.25x its time, resolved: said, not resolved either way
    assert disagreements == ["train_step B=500: wall time says numpy-v3-sliced is slower than numpy-v2-c (1.250 "
                             "[1.188, 1.313]); estimated cycles say it does less work (0.667)"]
    assert against_time(frame, lambda a, b: None)[1] == []  # unresolved (one process): nothing claimed
    assert "1 ordering(s) that wall time resolves and estimated cycles reverse" in against_time_text(frame, resolved)


def test_compare_gives_the_counts_alone_where_the_timings_cannot_compare(capsys):
    """A --quick run against a full one: no time verdict (said in one line), the counts verdicts all the same;
    the committed A/A of the NumPy matrix."""
    from bench.cli import main

    assert main(["compare", "reference/counts/matrix-quick", "reference/counts/matrix-timed",
                 "--results-dir", str(ROOT / "results")]) == 0
    out = capsys.readouterr().out
    assert "time: no verdict: the two runs have no comparable case" in out
    assert "### counts (Valgrind; 'same' within 1.0%): 60 same" in out
    assert main(["compare", "reference/counts/matrix-quick", "reference/counts/change", "--fail-above", "2%",
                 "--results-dir", str(ROOT / "results")]) == 1  # the backward change: more work above 2 %
    assert "FAILED: 4 case(s) with counts above 2% more work" in capsys.readouterr().out


def test_a_counts_kernel_without_counts_is_a_one_line_warning(tmp_path):
    done = subprocess.run([sys.executable, "-m", "pytest", "-p", "no:xdist", "bench/", "--benchmark-only", "--quick",
                           "--counts-kernel", "haswell", "--impl", "numpy-tuned", "--batch-sizes", "500", "--phases",
                           "forward", "--results-dir", str(tmp_path), "-q"], capture_output=True, text=True, cwd=ROOT,
                          env=dict(os.environ, MLPBENCH_MNIST=""))
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert "mlp-bench: warning: --counts-kernel applies only with --counts: no counts are measured" in done.stdout
    assert not list(tmp_path.glob("*/counts.json"))
