"""`compare` pairs only cases that did the same work, and loses none: unlike cases are listed as not comparable
(no verdict, no gate), cases of one run only are listed in every form, and a filter picks rows after every
statistic (in `table` as in `compare`)."""

from __future__ import annotations

import json

import pytest
from saved_runs import edited, scaled, small_doc, write_run

from bench import cli
from bench.conftest import group_name
from bench.identity import describe, differences, identity_of


def run_cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = cli.main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(scope="module")
def base():
    return small_doc()


def is_full(info):
    return info["phase"] == "full_run"


def test_a_one_epoch_run_is_not_comparable_with_a_35_epoch_one_and_trips_no_gate(base, tmp_path, capsys):
    def one_epoch(bench):
        bench["extra_info"]["epochs"] = 1
        scaled(bench, 33.0)  # even 33x slower: not a slowdown, other work

    a = write_run(tmp_path / "a", base)
    b = write_run(tmp_path / "b", edited(base, one_epoch, is_full))
    code, out, _ = run_cli(capsys, "compare", a, b, "--fail-above", "10%")
    assert code == 0, out
    assert "not comparable: epochs 35 vs 1 (4)" in out and "numpy-tuned-B500-full_run" in out
    code, out, _ = run_cli(capsys, "compare", a, b, "--json")
    cases = {c["id"]: c for c in json.loads(out)["cases"]}
    full = cases["numpy-tuned-B500-full_run"]
    assert full["verdict"] == "not comparable" and full["ratio_b_over_a"] is None and "epochs 35 vs 1" in full["note"]
    assert cases["numpy-tuned-B500-forward"]["verdict"] in ("same", "cannot resolve", "slower", "faster")


def test_a_quick_run_shares_no_comparable_case_with_a_full_one(base, tmp_path, capsys):
    def quick(bench):
        bench["extra_info"]["quick"] = True

    a, b = write_run(tmp_path / "a", base), write_run(tmp_path / "b", edited(base, quick))
    code, _, err = run_cli(capsys, "compare", a, b)
    assert code == 3 and "no comparable case" in err and "quick False vs True" in err


def test_an_implementation_s_declared_run_time_choices_are_identity(base, tmp_path, capsys):
    def form(name):
        return lambda bench: bench["extra_info"].update(sigmoid_form=name)

    def tuned(info):
        return info["impl"] == "numpy-tuned"

    a = write_run(tmp_path / "a", edited(base, form("exp"), tuned))
    b = write_run(tmp_path / "b", edited(base, form("tanh"), tuned))
    code, out, _ = run_cli(capsys, "compare", a, b, "--csv")
    rows = [line for line in out.splitlines() if line.startswith("numpy-tuned-")]
    assert code == 0 and rows and all("not comparable" in r and "sigmoid_form exp vs tanh" in r for r in rows)
    assert not any("not comparable" in line for line in out.splitlines() if line.startswith("numpy-v1-"))


def test_unrecorded_facts_are_no_difference_and_recorded_ones_are():
    a = {"extra_info": {"impl": "numpy-tuned", "workload": "mlp", "threads": 1, "chunk_rows": 1024}}
    b = {"extra_info": {"impl": "numpy-tuned", "workload": "mlp", "threads": 2}, "options": {"timer": "thread_time"}}
    differ = differences(identity_of(a), identity_of(b))
    assert describe(differ) == "threads 1 vs 2, timer perf_counter vs thread_time"


def test_cases_of_one_run_only_are_listed_in_every_form(base, tmp_path, capsys):
    a = write_run(tmp_path / "a", edited(base, lambda b: None))
    b = write_run(tmp_path / "b", {**base, "benchmarks": [x for x in base["benchmarks"]
                                                          if x["extra_info"]["impl"] != "numpy-v2-f"]})
    code, out, _ = run_cli(capsys, "compare", a, b)
    assert code == 0 and "only in A (6): numpy-v2-f-B500-" in out
    code, out, _ = run_cli(capsys, "compare", b, a, "--json")
    only = [c for c in json.loads(out)["cases"] if c["impl"] == "numpy-v2-f"]
    assert len(only) == 6 and {c["verdict"] for c in only} == {"only in B"} and only[0]["time_b_s"] > 0
    code, out, _ = run_cli(capsys, "compare", a, b, "--csv", "-k", "numpy-v2-f-B500-forward")
    assert code == 0 and "only in A" in out.splitlines()[1]


def cells(line: str) -> list[str]:
    return [c.strip() for c in line.strip("|").split("|")]


def full_run_row(text: str, impl: str, size: str) -> list[str]:
    """The row's cells from its batch size on (a one-row table keeps the columns a longer one factors out)."""
    row = next(cells(x) for x in text.splitlines() if x.startswith("|") and impl in cells(x) and size in cells(x))
    return row[row.index(size):]


def test_a_filter_in_table_changes_no_verdict(capsys):
    code, out, _ = run_cli(capsys, "table", "results/reference", "-k", "v0-naive-B500-full")
    assert code == 0
    row = full_run_row(out, "numpy-v0-naive", "500")
    assert "fastest" not in row and "slower" in row
    code, whole, _ = run_cli(capsys, "table", "results/reference")
    same = full_run_row(whole, "numpy-v0-naive", "500")  # its row in the whole table
    assert [c for c in row if "[" in c] == [c for c in same if "[" in c] and "slower" in same


def test_the_pytest_benchmark_group_carries_the_work_s_size():
    assert group_name("numpy-tuned", "full_run", 500) == "mlp full_run B=500"
    assert group_name("numpy-tuned", "full_run", 500, epochs=35) == "mlp full_run B=500"
    assert group_name("numpy-tuned", "full_run", 500, epochs=1, quick=True) == "mlp full_run B=500 1 epochs quick"
    assert group_name("numpy-tuned", "forward", 500, epochs=1, quick=True) == "mlp forward B=500 quick"


@pytest.mark.parametrize("change, message", [
    (lambda b: b["extra_info"].update(threads=2), "different BLAS threads (1 vs 2)"),
    (lambda b: b["options"].update(timer="thread_time"), "different clocks (perf_counter vs thread_time)"),
    (lambda b: b["extra_info"].update(layers="784-40-20-16-10"), "different models (784-70-30-10 vs 784-40-20-16-10)"),
])
def test_runs_with_no_comparable_case_name_the_difference(base, tmp_path, capsys, change, message):
    a, b = write_run(tmp_path / "a", base), write_run(tmp_path / "b", edited(base, change))
    code, _, err = run_cli(capsys, "compare", a, b)
    assert code == 3 and message in err and len(err.strip().splitlines()) == 1, err


def test_a_case_that_differs_only_where_one_side_kept_no_record_is_compared(base, tmp_path, capsys):
    def forget(bench):
        bench["extra_info"].pop("threads", None)
        bench["extra_info"].pop("chunk_rows", None)

    a, b = write_run(tmp_path / "a", base), write_run(tmp_path / "b", edited(base, forget))
    code, out, _ = run_cli(capsys, "compare", a, b, "--json")
    assert code == 0 and not [c for c in json.loads(out)["cases"] if c["verdict"] == "not comparable"]


def test_a_note_several_cases_share_is_printed_once_with_its_count(base):
    from bench.compare import compare_frames, render_comparison
    from bench.results import tidy_frame

    table = compare_frames(base, tidy_frame(base), base, tidy_frame(base))
    table.loc[table.index[:3], "note"] = "the same note"
    text = render_comparison(table, 0.01, 0.05)
    assert text.count("the same note") == 1 and "the same note (3): " in text


def test_a_comparison_page_lists_cases_of_one_run_without_drawing_them(base, tmp_path, capsys):
    a = write_run(tmp_path / "a", base)
    b = write_run(tmp_path / "b", {**base, "benchmarks": [x for x in base["benchmarks"]
                                                          if x["extra_info"]["impl"] != "numpy-v2-f"]})
    page = tmp_path / "page.html"
    code, _, _ = run_cli(capsys, "compare", a, b, "--html", page)
    assert code == 0 and "only in A" in page.read_text() and "data:image/png;base64," in page.read_text()
