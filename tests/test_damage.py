"""Damage stays local: every kind of damaged run (tests/damage.py) gives a one-line error naming the file, or a
correct result, in `table`, `compare`, `report` and the default forms, never a traceback; one case's damaged
times change no other case's interval or verdict."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
from damage import DAMAGED, ERROR, KINDS, VICTIM, base_doc, good_run, make

from bench import cli
from bench.compare import compare_frames
from bench.results import against_fastest, tidy_frame

NEWEST = "2099-01-01T00:00:00+00:00"


@pytest.fixture(scope="module")
def results_dir(tmp_path_factory):
    """Two good runs, older than any damaged one put beside them."""
    root = tmp_path_factory.mktemp("results")
    good_run(root / "old", created="2020-01-01T00:00:00+00:00")
    good_run(root / "new", created="2020-01-02T00:00:00+00:00")
    return root


def run_cli(capsys: pytest.CaptureFixture[str], *args: object) -> tuple[int, str, str]:
    code = cli.main([str(a) for a in args])  # an exception here (a traceback) fails the test
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    return code, out, err


def expect(code: int, out: str, err: str, outcome: str, folder: Path) -> None:
    errors = [line for line in err.splitlines() if line.startswith("mlp-bench: error:")]
    if outcome == ERROR:
        assert code == 3 and len(errors) == 1 and str(folder) in errors[0], (code, out, err)
        assert len(err.strip().splitlines()) == 1, err
    else:
        assert code == 0 and not errors, (code, out, err)
        if outcome == DAMAGED:
            assert "damaged" in (out + err).lower(), out


@pytest.mark.parametrize("kind", list(KINDS))
def test_every_damage_is_one_line_or_a_correct_result(kind, results_dir, tmp_path, capsys):
    outcome = KINDS[kind][1]
    folder = make(kind, results_dir / f"damaged-{abs(hash(kind))}", created=NEWEST)
    try:
        good = results_dir / "old"
        expect(*run_cli(capsys, "table", folder), outcome, folder)
        expect(*run_cli(capsys, "compare", good, folder), outcome, folder)
        expect(*run_cli(capsys, "compare", folder, good, "--json"), outcome, folder)
        # the ladder needs the damaged case: a one-line error naming what it lacks
        expect(*run_cli(capsys, "report", folder), ERROR if outcome in (ERROR, DAMAGED) else "ok", folder)
        # the default forms: a damaged newest folder is skipped with a one-line warning naming it, and the
        # newest readable runs are used
        for command in ("table", "compare"):
            code, out, err = run_cli(capsys, command, "--results-dir", results_dir)
            assert code == 0 and "mlp-bench: error" not in err, (code, err)
            warned = [line for line in err.splitlines() if "warning: skipped" in line]
            assert len(warned) <= 1 and all(folder.name in line for line in warned), err
            if outcome != ERROR:
                assert not warned and folder.name in out, (out, err)
    finally:
        import shutil

        shutil.rmtree(folder)


def test_the_corpus_is_large_and_varied():
    assert len(KINDS) >= 40
    assert {outcome for _, outcome in KINDS.values()} == {"error", "ok", "damaged"}


def test_unreadable_files_are_one_line(tmp_path, capsys):
    """Run as root, chmod cannot make a file unreadable; a file whose read fails is the same case."""
    import os

    if os.geteuid() == 0:
        pytest.skip("root reads every file whatever its mode: no unreadable file to make")
    folder = good_run(tmp_path / "run")
    (folder / "benchmark.json").chmod(0)
    expect(*run_cli(capsys, "table", folder), ERROR, folder)


def without_victim(doc: dict) -> dict:
    doc = copy.deepcopy(doc)
    doc["benchmarks"] = [b for b in doc["benchmarks"] if not is_victim(b["extra_info"])]
    return doc


def is_victim(info: dict) -> bool:
    return info["impl"] == VICTIM and info["phase"] == "full_run" and info["batch_size"] == 500


@pytest.mark.parametrize("bad", [float("nan"), 0.0, -1.0, 1e300, None, "yardstick"])
def test_one_damaged_case_moves_no_other_case(bad):
    doc = base_doc()
    damaged = copy.deepcopy(doc)
    for bench in damaged["benchmarks"]:
        if is_victim(bench["extra_info"]) and bad == "yardstick":
            bench["extra_info"]["yardstick_by_process"] = [0.0, 0.0]
        elif is_victim(bench["extra_info"]):
            bench["stats"]["data"] = [bad, *bench["stats"]["data"][1:]]
    cut = without_victim(doc)
    # within a run: every other case against the fastest
    ranked = {name: against_fastest(tidy_frame(d), d).set_index(["impl", "phase", "batch_size"])
              for name, d in (("damaged", damaged), ("cut", cut))}
    columns = ["x_fastest", "low", "high", "verdict"]
    assert ranked["damaged"][columns].equals(ranked["cut"][columns])
    assert (VICTIM, "full_run", 500) not in ranked["damaged"].index
    # between runs: every other case's ratio, interval and verdict
    ref, frame = doc, tidy_frame(doc)
    table = compare_frames(ref, frame, damaged, tidy_frame(damaged)).set_index(["impl", "phase", "batch_size"])
    plain = compare_frames(ref, frame, cut, tidy_frame(cut)).set_index(["impl", "phase", "batch_size"])
    assert table.loc[(VICTIM, "full_run", 500), "verdict"] == "damaged"
    others = table.drop(index=(VICTIM, "full_run", 500))
    plain = plain.drop(index=(VICTIM, "full_run", 500))  # there: only in A
    for column in ("ratio_b_over_a", "low", "high", "verdict"):
        assert others[column].tolist() == plain[column].tolist(), column


def test_a_damaged_case_is_no_fastest_and_has_no_interval(tmp_path, capsys):
    doc = base_doc()
    for bench in doc["benchmarks"]:
        if is_victim(bench["extra_info"]):
            bench["stats"]["data"] = [0.0] * len(bench["stats"]["data"])
    folder = good_run(tmp_path / "run", doc)
    code, out, _ = run_cli(capsys, "table", folder)
    assert code == 0 and "DAMAGED: 1 case(s)" in out and "zero or negative times" in out
    assert not [line for line in out.splitlines() if VICTIM in line and "|" in line and "full" not in line
                and "500" in line and "fastest" in line]
    code, out, _ = run_cli(capsys, "table", folder, "--json")
    rows = [c for c in json.loads(out)["cases"] if c["impl"] == VICTIM and c["phase"] == "full_run"
            and c["batch_size"] == 500]
    assert rows[0]["damage"] == "zero or negative times" and rows[0]["process_median_s"] is None
