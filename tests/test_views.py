"""What `compare` and `table` show, on the committed reference run (no new measurement): selection and sorting
never change a verdict, units land in the headers, the ladder's intervals hold their point."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from bench.compare import compare_frames, render_comparison, select
from bench.results import ladder_rows, load_run
from bench.tables import pick_unit, too_wide

REFERENCE = Path(__file__).resolve().parents[1] / "results" / "reference"


@pytest.fixture(scope="module")
def reference():
    return load_run(REFERENCE)


@pytest.fixture(scope="module")
def self_comparison(reference):
    doc, frame = reference
    return compare_frames(doc, frame, doc, frame)


def test_a_filter_selects_rows_but_leaves_every_verdict_as_it_was(self_comparison):
    shown = select(self_comparison, re.compile("numpy-tuned-B500-"))
    assert set(shown["impl"]) == {"numpy-tuned"} and set(shown["batch_size"]) == {500} and len(shown) >= 5
    whole = self_comparison.set_index(["impl", "phase", "batch_size"])
    for row in shown.itertuples():
        assert (row.low, row.high, row.verdict) == tuple(whole.loc[(row.impl, row.phase, row.batch_size),
                                                                   ["low", "high", "verdict"]])


def test_sorting_by_ratio_and_by_verdict(self_comparison):
    edited = self_comparison.copy()
    edited.loc[edited.index[:3], "ratio_b_over_a"] = [3.0, 2.0, 0.5]
    edited.loc[edited.index[3], "verdict"] = "slower"
    by_ratio = select(edited, sort="ratio")["ratio_b_over_a"].tolist()
    assert by_ratio == sorted(by_ratio, reverse=True) and by_ratio[:2] == [3.0, 2.0]
    assert select(edited, sort="verdict")["verdict"].iloc[0] == "slower"
    assert select(edited, only_changed=True)["verdict"].tolist() == ["slower"]


def test_units_are_in_the_headers_and_tables_fit(self_comparison):
    text = render_comparison(self_comparison, 0.01, 0.05, unit="us")
    assert "A (µs)" in text and "B (µs)" in text and too_wide(text) == []
    auto = render_comparison(self_comparison, 0.01, 0.05)
    assert "A (s)" in auto and "A (ms)" in auto and "e+0" not in auto  # full runs in s, small steps in ms or µs
    assert pick_unit([2e-4, 5e-3]) == "us" and pick_unit([0.5, 3.0]) == "ms" and pick_unit([2.0]) == "s"


def test_the_ladder_interval_holds_its_speed_up_and_the_baseline_is_one(reference):
    doc, frame = reference
    rungs = ladder_rows(frame, doc)
    assert not rungs.empty and (rungs["baseline"] == "numpy-v0-naive").all()
    assert np.allclose(rungs.loc[rungs["label"] == "numpy-v0-naive", "speedup"], 1.0)
    assert ((rungs["low"] < rungs["speedup"]) & (rungs["speedup"] < rungs["high"])).all()
    tuned = rungs[rungs["label"] == "numpy-tuned"]
    assert (tuned["low"] > 1).all()  # resolved faster than the seed's code at both sizes


def test_the_reference_runs_table_fits_120_columns_in_every_line(capsys):
    from bench import cli

    assert cli.main(["table", str(REFERENCE)]) in (0, None)
    text = capsys.readouterr().out
    assert "Per implementation (full runs" in text and "x floor [99%]" in text  # the roofline section is there
    assert too_wide(text) == [], too_wide(text)


def test_the_memory_figure_names_the_method_of_every_line(reference, tmp_path):
    from bench import figures

    _, frame = reference
    memory = frame.dropna(subset=["peak_step_mb"]).assign(label=lambda f: f["impl"])
    memory = memory.drop_duplicates(["label", "batch_size"])
    assert {"tracemalloc", "rss-sampled"} <= set(memory["mem_method"])  # the reference holds both kinds
    plt = figures.pyplot()
    saved = []
    original, figures.save = figures.save, lambda fig, path: saved.append(fig) or path
    try:
        figures.memory_figure(memory, "mlp", tmp_path / "memory.png")
    finally:
        figures.save = original
    (ax,) = saved[0].axes
    legend = ax.get_legend()
    assert legend.get_title().get_text() == "method"
    assert {t.get_text() for t in legend.get_texts()} == set(memory["mem_method"])
    styles = {(line.get_marker(), line.get_linestyle()) for line in ax.get_lines()}
    assert len(styles) == memory["mem_method"].nunique()  # one look per method, whichever implementation
    plt.close("all")
