"""`mlp-bench map`: the grid of models, the fastest per cell and its crossovers, and one real quick map (structure
only, never values)."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from test_cli import assert_one_line_error

from bench.crossover import FULL, Grid, add_parser, crossovers, fastest_cells, grid_of, hidden_widths

ROOT = Path(__file__).resolve().parents[1]


def mlp_bench(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "bench.cli", *args], capture_output=True, text=True, cwd=ROOT,
                          env={**os.environ, "MPLBACKEND": "Agg"}, timeout=900)


def test_the_grid_scales_the_seeds_hidden_widths():
    assert hidden_widths(1, 2) == (70, 30) and hidden_widths(4, 2) == (280, 120) and hidden_widths(16, 2) == (1120, 480)
    assert hidden_widths(1, 4) == (70, 57, 43, 30) and hidden_widths(2, 1) == (140,)
    assert [layers for _, _, layers in FULL.models()][:3] == [(784, 70, 30, 10), (784, 280, 120, 10),
                                                              (784, 1120, 480, 10)]


def test_the_default_grid_leaves_out_only_the_deep_x16_model_unless_models_are_named():
    def models(*argv: str) -> list[tuple[int, int]]:
        parser = argparse.ArgumentParser()
        add_parser(parser.add_subparsers())
        return [(w, d) for w, d, _ in grid_of(parser.parse_args(["map", *argv])).models()]

    assert models() == [(1, 2), (4, 2), (16, 2), (1, 4), (4, 4)]
    assert models("--depths", "2,4") == [(1, 2), (4, 2), (16, 2), (1, 4), (4, 4), (16, 4)]
    assert models("--widths", "16", "--depths", "4") == [(16, 4)]
    assert models("--quick") == [(1, 2), (4, 2)]


def test_the_fastest_of_a_cell_and_whether_its_order_resolves():
    cells = pd.DataFrame([
        {"layers": "784-70-30-10", "depth": 2, "phase": "train_step", "batch_size": 500, "impl": "a",
         "x_fastest": 1.0, "low": float("nan"), "high": float("nan"), "verdict": "fastest", "gflops": 40.0,
         "peak_share": 0.5},
        {"layers": "784-70-30-10", "depth": 2, "phase": "train_step", "batch_size": 500, "impl": "b",
         "x_fastest": 1.3, "low": 1.1, "high": 1.5, "verdict": "slower", "gflops": 30.0, "peak_share": 0.4},
        {"layers": "784-70-30-10", "depth": 2, "phase": "train_step", "batch_size": 20000, "impl": "b",
         "x_fastest": 1.0, "low": float("nan"), "high": float("nan"), "verdict": "fastest", "gflops": 70.0,
         "peak_share": 0.9},
        {"layers": "784-70-30-10", "depth": 2, "phase": "train_step", "batch_size": 20000, "impl": "a",
         "x_fastest": 1.02, "low": 0.9, "high": 1.15, "verdict": "cannot resolve", "gflops": 69.0,
         "peak_share": 0.88}])
    best = fastest_cells(cells).set_index("batch_size")
    assert best.loc[500, "fastest"] == "a" and best.loc[500, "runner_up"] == "b" and best.loc[500, "resolved"]
    assert best.loc[20000, "fastest"] == "b" and not best.loc[20000, "resolved"]


@pytest.mark.parametrize("args, words", [
    (["--widths", "0"], "a width multiplier must be between 1 and 64"),
    (["--depths", "9"], "a depth must be between 1 and 8"),
    (["--widths", "x"], "expected comma-separated integers"),
    (["--batch-sizes", "70000"], "batch size must be between 1 and 60000"),
    (["--processes", "1"], "--processes 1 gives no intervals"),
    (["--impl", "nope"], "nope"),
    (["--impl", "keras-cnn-cpu"], "fixed model"),
    (["--mnist", "/no/such/folder"], "/no/such/folder"),
])
def test_bad_input_is_one_line_and_writes_nothing(args, words, tmp_path):
    assert_one_line_error(mlp_bench("map", *args, "--results-dir", str(tmp_path / "r")), words)
    assert not (tmp_path / "r").exists()


def test_a_quick_map_writes_its_table_figures_and_runs(tmp_path, real_data):
    done = mlp_bench("map", "--quick", "--threads", "1", "--results-dir", str(tmp_path))
    assert done.returncode == 0, done.stderr[-3000:]
    (folder,) = [p for p in tmp_path.iterdir() if p.is_dir()]
    record = json.loads((folder / "run.json").read_text())
    assert record["kind"] == "map" and record["complete"] and record["sgemm_gflops"] > 0
    runs = sorted(p.name for p in (folder / "runs").iterdir())
    assert len(runs) == 2 and runs[1].endswith("map-784-280-120-10")  # one benchmark run per model
    cells = pd.read_csv(folder / "cells.csv")
    assert len(cells) == 2 * 2 * 2  # models x implementations x (train step, full epoch)
    assert set(cells["layers"]) == {"784-70-30-10", "784-280-120-10"} and (cells["gflops"] > 0).all()
    table = (folder / "map.md").read_text()
    assert "## train step" in table and "## full epoch" in table and "784-280-120-10" in table
    assert table in done.stdout
    for figure in ("map-fastest.png", "map-flops.png"):
        assert (folder / figure).stat().st_size > 5000


REFERENCE_MAP = ROOT / "results" / "reference" / "map"


@pytest.mark.parametrize("reference", [REFERENCE_MAP, REFERENCE_MAP.with_name("map-avx2")], ids=lambda p: p.name)
def test_the_committed_reference_map_says_what_its_cells_say(reference):
    """The reference map's table of the fastest is what its own cells give: a regenerated cells.csv cannot leave
    a stale fastest.csv or map.md behind."""
    cells = pd.read_csv(reference / "cells.csv")
    saved = pd.read_csv(reference / "fastest.csv")
    again = fastest_cells(cells)
    assert list(again["fastest"]) == list(saved["fastest"]) and list(again["runner_up"]) == list(saved["runner_up"])
    assert again["ratio"].round(6).tolist() == saved["ratio"].round(6).tolist()
    record = json.loads((reference / "run.json").read_text())
    assert record["kind"] == "map" and record["complete"]
    grid = Grid(**{k: tuple(tuple(p) for p in v) if k == "left_out" else tuple(v) for k, v in record["grid"].items()})
    assert set(cells["layers"]) == {"-".join(map(str, layers)) for _, _, layers in grid.models()}
    table = (reference / "map.md").read_text()
    for row in saved.itertuples():
        assert row.fastest in table


def test_crossovers_name_where_the_fastest_changes_and_whether_that_is_resolved():
    def cell(layers: str, size: int, fastest: str, resolved: bool) -> dict:
        return {"layers": layers, "phase": "train_step", "batch_size": size, "fastest": fastest, "resolved": resolved}

    best = pd.DataFrame([cell("784-70-30-10", 64, "a", True), cell("784-70-30-10", 500, "a", True),
                         cell("784-70-30-10", 20000, "b", False), cell("784-280-120-10", 64, "b", True),
                         cell("784-280-120-10", 500, "a", True), cell("784-280-120-10", 20000, "b", True)])
    assert crossovers(best) == [
        "- train step, 784-70-30-10, B=500 -> 20000: a -> b (unresolved: a point estimate)",
        "- train step, 784-280-120-10, B=64 -> 500: b -> a",
        "- train step, 784-280-120-10, B=500 -> 20000: a -> b",
        "- train step, B=64, 784-70-30-10 -> 784-280-120-10: a -> b"]
    deeper = pd.concat([best, pd.DataFrame([cell("784-70-57-43-30-10", 64, "a", True)])])
    assert crossovers(deeper) == crossovers(best)  # x4 depth 2 and x1 depth 4 are no neighbours
    same = best.assign(fastest="a")
    assert crossovers(same) == ["- none: the same implementation is the fastest in every cell"]


def test_the_readmes_map_sentence_is_the_reference_maps():
    saved = pd.read_csv(REFERENCE_MAP / "fastest.csv")
    wide = saved[(saved["phase"] == "train_step") & (saved["layers"].str.split("-").str[1].astype(int) > 70)]
    readme = " ".join((ROOT / "README.md").read_text(encoding="utf-8").split())
    assert f"({int(wide['resolved'].sum())} of those {len(wide)} train-step cells resolved)" in readme
    assert set(wide.loc[wide["batch_size"] < 20000, "fastest"]) == {"jax-cpu"}
    assert set(wide.loc[wide["batch_size"] == 20000, "fastest"]) == {"keras-cpu"}
    assert f"up to {wide['peak_share'].max():.1f}x NumPy's sgemm peak" in readme
    avx2 = pd.read_csv(REFERENCE_MAP.with_name("map-avx2") / "fastest.csv")
    steps = avx2[avx2["phase"] == "train_step"]
    tuned = steps[steps["fastest"] == "numpy-tuned"]
    assert (f"numpy-tuned is the fastest in {len(tuned)} of {len(steps)} train-step cells up to x16, "
            f"{int(tuned['resolved'].sum())} of them resolved") in readme


def test_the_map_skips_the_suites_roofline(monkeypatch, tmp_path):
    from bench import crossover
    from bench import settings as suite

    calls = []

    def first_model_only(values):
        calls.append(values)
        raise KeyboardInterrupt  # enough: the options of the first model's run are what is checked

    monkeypatch.setattr(crossover, "run_suite", first_model_only)
    parser = argparse.ArgumentParser()
    add_parser(parser.add_subparsers())
    with pytest.raises(KeyboardInterrupt):
        crossover.run(parser.parse_args(["map", "--widths", "1", "--depths", "2", "--results-dir", str(tmp_path)]))
    assert calls[0][suite.NO_ROOFLINE] is True
