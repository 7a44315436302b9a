"""Figures the README and the docs quote from the committed runs are checked against those runs, so that a
regenerated reference or reproduction cannot leave a stale copy behind.

* A table quoted from ``mlp-bench table reference`` (recognised by one of its exact header lines) may drop
  rows, never change one: every row shown must be a row of the command's real output.
* Every trimmed claim table of the README and the docs: each row's articles' figure and our value must be those
  of one claim of ``results/reproduction/report.md``, with the same verdict; the sentences counting the verdicts
  (README, docs/reproduce.md) must match the report's own count.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest

from bench.cli import main

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
REPORT = ROOT / "results" / "reproduction" / "report.md"


def command_output(capsys: pytest.CaptureFixture[str], *args: str) -> list[str]:
    assert main([*args, "--results-dir", str(ROOT / "results")]) == 0
    return [line.rstrip() for line in capsys.readouterr().out.splitlines()]


def table_rows(lines: list[str], start: int) -> list[str]:
    """The rows of the markdown table whose header line is ``lines[start]`` (the rule line skipped)."""
    rows = []
    for line in lines[start + 2:]:
        if not line.startswith("|"):
            break
        rows.append(line.rstrip())
    return rows


def cells(row: str) -> list[str]:
    return [c.strip() for c in row.strip().strip("|").split("|")]


def quoted_run(lines: list[str], n: int) -> str:
    """The run a table at line ``n`` is quoted from: the ``$ mlp-bench table RUN`` line that opens its code
    block, else the reference run."""
    for line in reversed(lines[:n]):
        if line.startswith("```"):
            return "reference"
        if line.startswith("$ mlp-bench table "):
            return line.split()[3]
    return "reference"


def test_tables_quoted_from_saved_runs_are_rows_of_their_output(capsys):
    outputs: dict[str, list[str]] = {}
    quoted = 0
    for page in PAGES:
        lines = [line.rstrip() for line in page.read_text(encoding="utf-8").splitlines()]
        for n, (line, rule) in enumerate(zip(lines, lines[1:], strict=False)):
            if not (line.startswith("|") and rule.startswith("|--")):
                continue
            run = quoted_run(lines, n)
            if run not in outputs:
                outputs[run] = command_output(capsys, "table", run)
            output = outputs[run]
            headers = {a for a, b in zip(output, output[1:], strict=False) if a.startswith("|") and b.startswith("|--")}
            if line not in headers:
                continue  # a table of the page's own, not a quoted one
            stale = [row for row in table_rows(lines, n) if row not in output]
            assert not stale, f"{page.relative_to(ROOT)}:{n + 1}: rows not in `mlp-bench table {run}`: {stale}"
            quoted += 1
    assert quoted >= 2  # the README's answer and docs/results-and-machines.md


def report_claims() -> list[list[str]]:
    """claim, source, articles' figure, ours, tolerance, verdict of every row of the reproduction report."""
    lines = REPORT.read_text(encoding="utf-8").splitlines()
    start = next(n for n, line in enumerate(lines) if line.startswith("| claim "))
    return [cells(row) for row in table_rows(lines, start)]


def quoted_claim_tables() -> dict[str, list[list[str]]]:
    """Every trimmed claim table (header ``| claim | articles' figure | ours | verdict``) of the README and the docs,
    by page."""
    tables = {}
    for page in PAGES:
        lines = page.read_text(encoding="utf-8").splitlines()
        for n, line in enumerate(lines):
            if re.match(r"\| claim +\| articles' figure +\| ours +\| verdict", line):
                tables.setdefault(str(page.relative_to(ROOT)), []).extend(cells(row) for row in table_rows(lines, n))
    return tables


def same_verdict(quoted: str, reported: str) -> bool:
    """``differs (unresolved)`` stands for ``differs (unresolved: the interval reaches the claim)``."""
    word, _, detail = quoted.partition(" (")
    return reported.split(" (")[0] == word and all(part in reported for part in re.findall(r"[\w ]+", detail))


def test_quoted_claim_rows_are_the_reports(capsys):
    claims = report_claims()
    tables = quoted_claim_tables()
    assert "README.md" in tables and "docs/reproduce.md" in tables
    assert all(len(rows) >= 5 for rows in tables.values())
    for claim, figure, ours, verdict in (row for rows in tables.values() for row in rows):
        merged = " (both)" in verdict  # two claims in one row: "a / b" figures and values
        pairs = (list(zip(figure.split(" / "), ours.split(" / "), strict=True)) if merged else [(figure, ours)])
        for one_figure, one_ours in pairs:
            matches = [c for c in claims if c[2] == one_figure and c[3] == one_ours]
            assert matches, f"README row {claim!r}: no claim of the report has figure {one_figure}, ours {one_ours}"
            assert any(same_verdict(verdict.replace(" (both)", ""), c[5]) for c in matches), (claim, verdict, matches)


def test_the_readmes_verdict_count_is_the_reports():
    report = REPORT.read_text(encoding="utf-8")
    count = re.search(r"^(\d+) claims \((\d+) rows\): (\d+) reproduced, (\d+) differ, (\d+) unresolved, "
                      r"(\d+) ambiguous, (\d+) not comparable, (\d+) not run here", report, re.M)
    assert count, "the report no longer states its verdict count"
    claims, rows, reproduced, differ, unresolved, ambiguous, not_comparable, not_run = count.groups()
    for page in ("README.md", "docs/reproduce.md"):
        text = (ROOT / page).read_text(encoding="utf-8").replace("\n", " ")
        assert (f"{claims} claims ({rows} rows): {reproduced} reproduced, {differ} differ, {unresolved} "
                "unresolved") in text, page
        assert all(f"{n} {word}" in text for n, word in ((ambiguous, "ambiguous"), (not_comparable, "not comparable"),
                                                         (not_run, "not run here"))), page
    verdicts = [c[5] for c in report_claims()]
    assert len(verdicts) == int(rows)
    for word, n in (("not comparable", not_comparable), ("not run here", not_run)):
        assert sum(v.startswith(word) for v in verdicts) == int(n), word  # no twins among these
    assert int(reproduced) + int(differ) + int(unresolved) + int(ambiguous) + int(not_comparable) + int(
        not_run) == int(claims) < int(rows)


def test_no_reproduced_row_of_the_report_has_an_interval_reaching_the_opposite_ordering():
    from bench.reproduce.claims import load_claims

    ordered = {c.claim: c for c in load_claims() if c.ordering}
    with_interval = crossing = 0
    for claim, _, _, ours, _, result in report_claims():
        interval = re.search(r"\[([\d.]+), ([\d.]+)\]", ours)
        if claim not in ordered or not interval:
            continue
        with_interval += 1
        low, high = (float(v) for v in interval.groups())
        if (low <= 1) if ordered[claim].ordering > 0 else (high >= 1):
            crossing += 1
            assert not result.startswith("reproduced"), (claim, ours, result)
    assert with_interval >= 10 and crossing >= 3  # the rule is exercised on the committed report, not vacuous


def test_the_readmes_peer_and_floor_figures_are_the_floor_runs(capsys):
    """The README's sentence on numpy-tuned against its peers and its floor quotes the committed floor runs."""
    readme = " ".join((ROOT / "README.md").read_text(encoding="utf-8").split())
    quoted = {"1-thread-own-kernels": ["1.256 [1.038, 1.520]", "1.582 [1.318, 1.900]", "1.21 [1.00, 1.48]",
                                       "1.21 [1.01, 1.45]"],
              "2-threads-own-kernels": ["1.630 [1.261, 2.107]", "1.721 [1.336, 2.218]"],
              "1-thread-haswell": ["1.223 [1.030, 1.451]"],
              "avx2-1-thread": ["1.075 [0.937, 1.233]", "1.487 [1.178, 1.877]", "1.39 [1.16, 1.68]"]}
    for run, figures in quoted.items():
        output = "\n".join(command_output(capsys, "table", f"reference/floor/{run}"))
        for figure in figures:
            assert f" {figure} " in output, (run, figure)
            number, _, interval = figure.partition(" ")
            assert f"{number}x {interval}" in readme, (run, figure)


# -- the pairing study (docs/noise.md#pairing-inside-a-worker) against its committed runs -------------------
PAIRING = ROOT / "results" / "reference" / "pairing"


def pairing_row(name: str) -> tuple[int, int, float, float]:
    """(rows resolved paired, the same data unpaired, median log half-width of the runner-up's interval paired,
    unpaired) of a committed run's "which is fastest" table."""
    import copy

    from bench.results import against_fastest, load_run, tidy_frame

    doc, frame = load_run(PAIRING / name)
    unpaired = copy.deepcopy(doc)
    for bench in unpaired["benchmarks"]:
        bench["extra_info"].pop("worker_by_process", None)
    out = []
    for d, f in ((doc, frame), (unpaired, tidy_frame(unpaired))):
        table = against_fastest(f, d)
        runners_up = [g.iloc[1] for _, g in table.groupby(["workload", "phase", "batch_size"], sort=False)
                      if len(g) > 1]
        out.append((sum(r["verdict"] in ("slower", "same") for r in runners_up),
                    float(np.median([np.log(r["high"] / r["low"]) / 2 for r in runners_up]))))
    return out[0][0], out[1][0], out[0][1], out[1][1]


@pytest.mark.parametrize("name, label", [("default-paired", "default run (2 processes, 17 rows)"),
                                         ("aa-3-windows", "V1, V3, tuned, 3 processes, 3 windows (11 rows)"),
                                         ("aa-6-windows", "the same, 6 windows of 0.125 s")])
def test_the_pairing_study_s_verdict_counts_are_its_runs(name, label):
    paired, unpaired, width_paired, width_unpaired = pairing_row(name)
    row = f"| {label} | {paired} | {unpaired} | {width_paired:.3f} / {width_unpaired:.3f} |"
    assert row in (ROOT / "docs" / "noise.md").read_text(), row


@pytest.mark.parametrize("name, label, sizes", [("aa-3-windows", "3 windows x 0.25 s", ["500", "5000", "20000", "all"]),
                                                ("aa-6-windows", "6 windows x 0.125 s", ["all"])])
def test_the_pairing_study_s_spreads_are_its_runs(name, label, sizes):
    import sys

    sys.path.insert(0, str(ROOT / "scripts"))
    from noise_study import pairing_gain

    from bench.results import load_run

    gain = pairing_gain(load_run(PAIRING / name)[0]).set_index("B")
    text = (ROOT / "docs" / "noise.md").read_text()
    for i, size in enumerate(sizes):
        r = gain.loc[size if size == "all" else int(size)]
        row = (f"| {label if i == 0 else ''} | {size} | {r['unpaired raw']:.3f} | {r['unpaired yardstick']:.3f} | "
               f"{r['paired raw']:.3f} | {r['paired yardstick']:.3f} |").replace("|  |", "| |")
        assert row in text, row


def test_the_night_a_a_verdict_counts_are_its_runs():
    """docs/noise.md's "2 false verdicts of 99, 0 same, 97 cannot resolve" and both false rows, from the three
    committed A/A runs compared pairwise as `mlp-bench compare` does."""
    from itertools import combinations

    from bench.compare import compare_frames
    from bench.results import load_run

    runs = {i: load_run(PAIRING / f"aa-night-{i}") for i in (1, 2, 3)}
    counts: dict[str, int] = {}
    false_rows = []
    for a, b in combinations(runs, 2):
        table = compare_frames(*runs[a], *runs[b])
        for row in table.itertuples():
            counts[row.verdict] = counts.get(row.verdict, 0) + 1
            if row.verdict in ("slower", "faster"):
                false_rows.append((a, b, row.impl, row.phase, int(row.batch_size), f"{row.ratio_b_over_a:.3f}",
                                   row.verdict))
    text = " ".join((ROOT / "docs" / "noise.md").read_text().split())
    false = counts.get("slower", 0) + counts.get("faster", 0)
    assert (f"**{false} false verdicts of {sum(counts.values())}, {counts.get('same', 0)} `same`, "
            f"{counts.get('cannot resolve', 0)} `cannot resolve`**") in text
    assert sorted(false_rows) == [(1, 3, "numpy-v1-float32", "train_step", 500, "1.203", "slower"),
                                  (1, 3, "numpy-v3-sliced", "full_run", 500, "0.801", "faster")]


# -- the rotation study (docs/noise.md#a-a-and-a-real-change-with---baseline) against its committed runs ---------
ROTATION = ROOT / "results" / "reference" / "rotation"


def test_the_baseline_runs_quoted_in_the_docs_are_the_committed_ones():
    from bench.results import base_changes, load_run, which_is_fastest

    noise = " ".join((ROOT / "docs" / "noise.md").read_text(encoding="utf-8").split())
    counts = {}
    for name in ("aa1", "aa2", "change"):
        doc, frame = load_run(ROTATION / name)
        table = base_changes(frame, doc)
        counts[name] = table["verdict"].value_counts().to_dict()
        if name == "change":
            v3 = table[table["impl"] == "numpy-v3-sliced"]
            for _, row in v3.iterrows():
                quoted = f"{row['change / base']:.4f} [{row['low']:.4f}, {row['high']:.4f}] {row['verdict']}"
                assert quoted in noise, quoted
            untouched = table[(table["impl"] != "numpy-v3-sliced") | (table["phase"] == "forward")]
            others = untouched["verdict"].value_counts().to_dict()
            found = (len(untouched), others.get("same"), others.get("cannot resolve"), others.get("slower", 0))
            assert found == (27, 21, 6, 0)
            assert ("| real change (18:32): the 27 cases it does not touch | `calls-median`, `epoch-median` "
                    "| 21 | 6 | 0 |") in noise
    assert (counts["aa1"].get("same"), counts["aa1"].get("cannot resolve")) == (20, 16)
    assert (counts["aa2"].get("same"), counts["aa2"].get("cannot resolve"), counts["aa2"].get("slower")) == (23, 12, 1)
    assert "| A/A 1 (18:01) | windows' medians, sum of epochs | 20 | 16 | 0 |" in noise
    assert "| A/A 2 (18:20) | `calls-median`, `epoch-median` | 23 | 12 | 1 |" in noise
    doc, frame = load_run(ROTATION / "default")
    fastest = which_is_fastest(frame, doc)
    resolved = int(fastest["resolved"].str.startswith("yes").sum())
    assert f"resolves {resolved} of {len(fastest)} rows" in noise


def test_the_four_process_a_a_repeats_quoted_in_the_docs_are_the_committed_ones():
    from bench.results import base_changes, case_data, load_run

    noise = (ROOT / "docs" / "noise.md").read_text(encoding="utf-8")
    spread: dict[tuple[str, int], list[np.ndarray]] = {}
    for n, (same, open_) in enumerate([(30, 6), (36, 0), (33, 3)], 1):
        doc, frame = load_run(ROTATION / f"aa4-{n}")
        verdicts = base_changes(frame, doc)["verdict"].value_counts().to_dict()
        assert (verdicts.get("same", 0), verdicts.get("cannot resolve", 0)) == (same, open_)
        assert verdicts.get("slower", 0) + verdicts.get("faster", 0) == 0
        assert re.search(rf"\| A/A 4 processes, {n} \(\d\d:\d\d\) \| {same} \| {open_} \| 0 \|", noise)
        cases = case_data(doc)
        for (impl, backend, workload, phase, batch), case in cases.items():
            if "@" in impl:
                continue
            base = cases[(f"{impl}@HEAD", backend, workload, phase, batch)]
            here, there = dict(zip(case.workers, case.logs, strict=True)), dict(zip(base.workers, base.logs,
                                                                                   strict=True))
            d = np.array([here[w] - there[w] for w in sorted(here)])
            spread.setdefault((phase, batch), []).append(d - d.mean())
    for phase in ("forward", "backward", "train_step", "full_run"):
        sds = [np.sqrt(sum(float((d ** 2).sum()) for d in spread[(phase, b)])
                       / sum(len(d) - 1 for d in spread[(phase, b)])) for b in (500, 5000, 20000)]
        assert f"| {phase} | " + " | ".join(f"{sd:.4f}" for sd in sds) + " |" in noise, (phase, sds)


def test_the_second_default_run_quoted_in_the_docs_is_the_committed_one():
    from bench.results import load_run, which_is_fastest

    noise = " ".join((ROOT / "docs" / "noise.md").read_text(encoding="utf-8").split())
    doc, frame = load_run(ROTATION / "default-2")
    fastest = which_is_fastest(frame, doc)
    resolved = int(fastest["resolved"].str.startswith("yes").sum())
    assert f"**15 min 50 s**, where it should take 15, and {resolved} of {len(fastest)} rows resolved" in noise
    assert "numpy-v0-naive" not in set(frame[frame["batch_size"] != 500]["impl"])  # kept to the seed's size


def test_the_plans_quoted_run_is_the_committed_one():
    """docs/benchmarks.md quotes the default run's first worker and its wall time: the committed run's schedule."""
    doc = json.loads((ROTATION / "default-2" / "benchmark.json").read_text())
    schedule = doc["mlp_bench_schedule"]
    docs = " ".join((ROOT / "docs" / "benchmarks.md").read_text(encoding="utf-8").split())
    first = schedule[0]
    assert f"process 1, B={first['batch_size']}: ... ok in {first['seconds']:.1f} s" in docs
    assert 15 * 60 < sum(s["seconds"] for s in schedule) < 15 * 60 + 50  # the workers, within the 15 min 50 s


COUNTS = ROOT / "results" / "reference" / "counts"


def test_the_counts_a_a_and_the_real_change_quoted_in_the_docs_are_the_committed_runs():
    """docs/counts.md: the A/A's count of `same` and each metric's largest difference, and every row of the real
    change's table (counts verdict, instructions and estimated cycles B/A, wall time B/A), from the runs."""
    from bench.counts.model import METRICS
    from bench.counts.verdicts import compare_counts
    from bench.results import load_run

    page = (ROOT / "docs" / "counts.md").read_text(encoding="utf-8")
    text = " ".join(page.split())
    (doc_a, frame_a), (doc_b, _), (doc_c, frame_c) = (load_run(COUNTS / n) for n in
                                                      ("matrix-quick", "matrix-timed", "change"))
    table, reason = compare_counts(doc_a, doc_b)
    assert reason is None and f"**{(table['counts_verdict'] == 'same').sum()} of {len(table)} cases `same`**" in text
    cases_a, cases_b = (json.loads((COUNTS / n / "counts.json").read_text())["cases"]
                        for n in ("matrix-quick", "matrix-timed"))
    for metric, label in (("instructions", "instructions"), ("data_reads", "data reads"),
                          ("data_writes", "data writes"), ("est_cycles", "estimated cycles")):
        largest = max(abs(cases_b[c][metric] / cases_a[c][metric] - 1) for c in cases_a)
        shown = f"{largest:.3%}" if largest < 0.001 else f"{largest:.2%}"
        assert f"| {label} | {shown.replace('%', ' %')} |" in page, (metric, shown)
    assert set(METRICS) >= {"instructions", "est_cycles"}
    change, _ = compare_counts(doc_a, doc_c)
    change = change.set_index("case")
    times_a = {(r.phase, r.batch_size): r.process_median_s for r in frame_a.itertuples() if r.impl == "numpy-tuned"}
    rows = [line for line in page.splitlines() if line.startswith("| numpy-tuned-B")]
    assert len(rows) == len(change) == 10
    for row in rows:
        case, verdict, ir, cycles, wall, time_verdict = (c.strip() for c in row.strip("|").split("|"))
        phase, batch = case.split("-B")[1].split("-", 1)[1], int(case.split("-B")[1].split("-")[0])
        got = change.loc[case]
        assert (verdict, ir, cycles) == (got["counts_verdict"], f"{got['instructions_ratio']:.4f}",
                                         f"{got['est_cycles_ratio']:.4f}"), row
        time_c = frame_c[(frame_c["phase"] == phase) & (frame_c["batch_size"] == batch)]["process_median_s"].iloc[0]
        assert wall == f"{time_c / times_a[(phase, batch)]:.3f}" and time_verdict == "cannot resolve", row
