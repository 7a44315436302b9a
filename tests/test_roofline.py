"""The roofline: its FLOP counts, the arithmetic of results against it, its measurements' consistency (never
timings), the constants it reads from numpy-tuned, and ``mlp-bench roofline``."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from bench import roofline
from bench.cli import main
from impl.numpy_mlp.tuned import NumpyTuned


def cells(line: str) -> list[str]:
    """The cells of one Markdown table row (none for other lines)."""
    return [c.strip() for c in line.strip().strip("|").split("|")] if line.startswith("|") else []


# -- roofline --------------------------------------------------------------------------------------------
def test_flop_counts_match_the_issue():
    per = roofline.flops_per_sample()
    assert per == {"forward": 114_780, "backward": 119_580, "total": 234_360}
    assert roofline.run_flops(35) == 234_360 * 60_000 * 35 == 492_156_000_000
    layers = roofline.layer_flops()
    assert layers == {"fw:1": 109_900, "fw:2": 4_260, "fw:3": 620, "bw:0": 109_900, "bw:1": 8_460, "bw:2": 1_220}
    phases = roofline.phase_flops(500)
    assert phases["forward"] == 114_780 * 500 and phases["train_step"] == 234_360 * 500
    assert phases["prepare"] == 0 and phases["full_run"] == 492_156_000_000


def fake_machine() -> dict:
    """A machine dict with round numbers: 100 GFLOP/s square; at B=500 the products take 1 ms per step and
    the gather 0.25 ms (120 steps per epoch)."""
    per = roofline.flops_per_sample()
    epoch_flops = per["total"] * 60_000
    return {"threads": 1, "layers": roofline.LAYERS, "n_train": 60_000, "epochs": 35, "flops_per_sample": per,
            "layer_flops": roofline.layer_flops(), "epoch_flops": epoch_flops, "run_flops": epoch_flops * 35,
            "square_n": 2048, "square_gflops": 100.0, "peak_bound_epoch_s": epoch_flops / 100e9,
            "peak_bound_s": epoch_flops * 35 / 100e9,
            "batch_sizes": {500: {"batch_size": 500, "steps_per_epoch": 120, "remainder": 0,
                                  "step_flops": per["total"] * 500, "step_products_s": 1e-3, "best_layout": "split",
                                  "mlp_shape_gflops": per["total"] * 500 / 1e-3 / 1e9, "gather_s": 2.5e-4,
                                  "product_floor_epoch_s": 0.12, "gather_floor_epoch_s": 0.03,
                                  "floor_epoch_s": 0.15, "product_floor_s": 4.2, "gather_floor_s": 1.05,
                                  "floor_s": 5.25}}}


def test_roofline_table_arithmetic():
    frame = pd.DataFrame([
        {"impl": "slow", "workload": "mlp", "phase": "full_run", "batch_size": 500, "epochs": 35, "median_s": 10.5},
        {"impl": "fast", "workload": "mlp", "phase": "full_run", "batch_size": 500, "epochs": 10, "median_s": 2.0},
        {"impl": "fast", "workload": "mlp", "phase": "forward", "batch_size": 500, "epochs": None, "median_s": 1e-3},
        {"impl": "other", "workload": "mlp", "phase": "full_run", "batch_size": 64, "epochs": 35, "median_s": 9.0},
    ])
    table = roofline.roofline_table(frame, fake_machine())
    assert list(table.columns) == roofline.TABLE_COLUMNS and len(table) == 3  # the forward row is not a run
    slow = table.set_index("impl").loc["slow"]
    assert slow.gflop == pytest.approx(492.156)
    assert slow.achieved_gflops == pytest.approx(492.156 / 10.5)
    assert slow.pct_of_peak_bound == pytest.approx(100 * 4.92156 / 10.5)
    assert slow.x_product_floor == pytest.approx(10.5 / 4.2) and slow.x_floor == pytest.approx(10.5 / 5.25)
    fast = table.set_index("impl").loc["fast"]  # floors follow the run's own epochs
    assert fast.product_floor_s == pytest.approx(1.2) and fast.x_floor == pytest.approx(2.0 / 1.5)
    other = table.set_index("impl").loc["other"]  # a batch size the machine was not measured at
    assert np.isnan(other.x_floor) and other.achieved_gflops == pytest.approx(492.156 / 9.0)
    assert np.isnan(slow.x_floor_low)  # no interval given: none shown
    spread = roofline.roofline_table(frame, fake_machine(), intervals={("slow", 500): (0.9, 1.2)})
    slow = spread.set_index("impl").loc["slow"]
    assert (slow.x_floor_low, slow.x_floor_high) == pytest.approx((2.0 * 0.9, 2.0 * 1.2))
    assert "2.00 [1.80, 2.40]" in roofline.render_roofline(fake_machine(), spread)
    text = roofline.render_roofline(fake_machine(), table)
    again = roofline.machine_from_json(json.loads(json.dumps(fake_machine())))
    assert again == fake_machine() and roofline.render_roofline(again, table) == text
    assert "100.0 GFLOP/s" in text and "234,360" in text
    assert ["slow", "500", "35", "10.500"] in [cells(line)[:4] for line in text.splitlines()]


def test_a_floor_measured_in_the_workers_replaces_the_controllers_and_says_so():
    frame = pd.DataFrame([
        {"impl": "slow", "workload": "mlp", "phase": "full_run", "batch_size": 500, "epochs": 35, "median_s": 10.5},
        {"impl": "fast", "workload": "mlp", "phase": "full_run", "batch_size": 500, "epochs": 35, "median_s": 6.0}])
    both = roofline.roofline_table(frame, fake_machine(), intervals={("slow", 500): (0.9, 1.2)},
                                   in_process={("fast", 500): (1.1, 1.0, 1.25)})
    fast, slow = both.set_index("impl").loc["fast"], both.set_index("impl").loc["slow"]
    assert (fast.x_floor, fast.x_floor_low, fast.x_floor_high, fast.floor_measured_in) == (1.1, 1.0, 1.25, "worker")
    assert slow.x_floor == pytest.approx(2.0) and slow.floor_measured_in == "controller"
    text = roofline.render_roofline(fake_machine(), both)
    assert "1.10 [1.00, 1.25]*" in text and "2.00 [1.80, 2.40]" in text
    assert "(rows marked *)" in " ".join(text.split())
    alone = roofline.render_roofline(fake_machine(), both[both["impl"] == "fast"])
    assert "Each worker process measured" in alone and "controller" not in alone.split("Per implementation")[1]
    assert "1.10 [1.00, 1.25]*" not in alone  # nothing to tell apart


def test_floor_multiples_pair_each_process_run_with_its_own_floor():
    from bench.results import full_run_floor_multiples, full_run_intervals

    def full_run(impl: str, seconds: list[float], floors: list[float] | None) -> dict:
        info = {"impl": impl, "workload": "mlp", "phase": "full_run", "batch_size": 500, "epochs": 35,
                "process_ids": [1, 2, 3], "rounds_per_process": [1, 1, 1]}
        if floors is not None:
            info["floor_epoch_s_by_process"] = floors
        return {"name": impl, "stats": {"data": seconds}, "extra_info": info}

    # a machine that runs 20 % slower in process 3: the floor measured there moves with the run
    doc = {"benchmarks": [full_run("tuned", [7.0, 7.14, 8.4], [0.1, 0.1, 0.12]),
                          full_run("old", [7.0, 7.14, 8.4], None)]}
    multiples = full_run_floor_multiples(doc)
    assert set(multiples) == {("tuned", 500)}  # a run without floors in its processes keeps the controller's
    centre, low, high = multiples[("tuned", 500)]
    assert centre == pytest.approx((2.0 * 2.04 * 2.0) ** (1 / 3)) and low < centre < high
    raw_low, raw_high = full_run_intervals(doc)[("tuned", 500)]  # the run time's own interval, as factors
    assert high / low < 1.1 < raw_high / raw_low  # the process's slowdown cancelled against its own floor


def test_a_worker_measuring_a_floor_imports_no_pandas():
    import subprocess
    import sys

    code = ("import sys, bench.roofline.machine, bench.harness; "
            "print(sorted(m for m in ('pandas', 'scipy', 'sklearn') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_measure_machine_returns_consistent_floors():
    machine = roofline.measure_machine([70, 2500], threads=1, layers=(20, 7, 5, 3), n_train=5_000, epochs=2,
                                       square_n=64, budget=0.05)
    assert machine["threads"] in (1, None) and machine["square_gflops"] > 0
    assert machine["flops_per_sample"]["total"] == 2 * 2 * (21 * 7 + 8 * 5 + 6 * 3) + 2 * (7 * 5 + 5 * 3)
    m = machine["batch_sizes"][70]
    assert m["steps_per_epoch"] == 72 and m["remainder"] == 5_000 - 71 * 70
    assert m["product_floor_s"] == pytest.approx(2 * m["product_floor_epoch_s"])
    assert np.isnan(m["fused_step_s"])  # at most FUSE_ROWS rows: nothing to fuse
    assert m["floor_s"] == pytest.approx(m["product_floor_s"] + m["gather_floor_s"])
    assert m["best_layout"] in roofline.LAYOUTS and m["mlp_shape_gflops"] > 0
    big = machine["batch_sizes"][2500]
    assert big["remainder"] == 0 and big["fused_step_s"] > 0
    assert big["floor_s"] == pytest.approx(min(big["product_floor_s"] + big["gather_floor_s"], big["fused_floor_s"]))


def test_the_floors_follow_numpy_tuneds_constants(monkeypatch):
    assert roofline.FUSE_ROWS == NumpyTuned.chunk_rows
    assert roofline.padded_layers((784, 70, 30, 10)) == (784, 72, 32, 10)
    monkeypatch.setattr(NumpyTuned, "pad_to", 16)  # a retune moves the padded floor with it
    assert roofline.padded_layers((784, 70, 30, 10)) == (784, 80, 32, 10)


def test_mlp_bench_roofline_prints_the_section(capsys):
    assert main(["roofline", "--batch-sizes", "64", "--threads", "1"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("## Roofline") and any(cells(line)[:1] == ["64"] for line in out.splitlines())


@pytest.mark.parametrize("args, message", [
    (["--batch-sizes", "0"], "batch size must be between 1 and 60000, got 0"),
    (["--batch-sizes", "70000"], "batch size must be between 1 and 60000, got 70000"),
    (["--batch-sizes", "500,x"], "expected comma-separated integers"),
    (["--batch-sizes", ","], "expected comma-separated integers"),
    (["--impl", "nope"], "unknown implementation 'nope'"),
    (["--rounds", "0"], "must be at least 1"),
])
def test_mlp_bench_roofline_rejects_bad_input_in_one_line(capsys, args, message):
    with pytest.raises(SystemExit) as exit_:
        main(["roofline", *args])
    err = capsys.readouterr().err
    assert exit_.value.code == 2 and message in err and len(err.strip().splitlines()) == 1


def test_a_saved_runs_full_runs_get_intervals_around_their_floor_multiples():
    from bench.results import full_run_intervals, load_run

    doc, _ = load_run(Path(__file__).resolve().parents[1] / "results" / "reference" / "floor" / "1-thread-own-kernels")
    intervals = full_run_intervals(doc)
    assert set(intervals) >= {("numpy-tuned", 500), ("numpy-tuned", 20000)}
    assert all(low < 1 < high for low, high in intervals.values())


def test_a_run_measures_the_floor_in_each_worker_beside_its_full_runs(tmp_path, real_data):
    import os
    import subprocess
    import sys

    args = ["-m", "pytest", "bench/", "--benchmark-only", "--impl", "numpy-v3-sliced", "--phases", "full_run",
            "--full-run-batch-sizes", "20000", "--epochs", "1", "--processes", "2", "--threads", "1",
            "--results-dir", str(tmp_path), "-p", "no:cacheprovider"]
    done = subprocess.run([sys.executable, *args], capture_output=True, text=True, timeout=600,
                          cwd=Path(__file__).resolve().parents[1], env={**os.environ, "MPLBACKEND": "Agg"})
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    (folder,) = [p for p in tmp_path.iterdir() if p.is_dir()]
    (case,) = json.loads((folder / "benchmark.json").read_text())["benchmarks"]
    floors = case["extra_info"]["floor_epoch_s_by_process"]
    assert len(floors) == 2 and all(f > 0 for f in floors)
    section = (folder / "tables.md").read_text().split("Per implementation (full runs")[1]
    assert "Each worker process measured the products+gather floor" in section
    row = next(cells(line) for line in section.splitlines() if cells(line)[:2] == ["numpy-v3-sliced", "20000"])
    multiple = float(row[-1].split()[0])
    run_s = float(row[3])
    assert multiple == pytest.approx(run_s / float(np.exp(np.mean(np.log(floors)))), rel=0.05)
