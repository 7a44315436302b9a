"""`mlp-bench compare` and `mlp-bench table`: saved benchmark runs side by side, with verdicts that hold on a
noisy machine.

Each case (implementation, backend, workload, phase, batch size) is compared as a ratio B/A of per-process
medians with an interval that accounts for the between-process spread, pooled over every case of the two
runs (bench/stats.py). Verdicts as asv: ``slower``/``faster`` only when the interval excludes 1 and the ratio
is beyond the threshold; ``same`` when it is resolved within the threshold; otherwise ``cannot resolve``,
with the processes per side that would resolve it at the measured spread. Incomplete runs are never picked
by default.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from bench import options
from bench.counts.verdicts import THRESHOLD as COUNTS_THRESHOLD
from bench.counts.verdicts import compare_counts, counts_gate, counts_records, render_counts
from bench.identity import describe, differences, identities
from bench.results import (
    KEY,
    case_data,
    case_id,
    interval_label,
    is_complete,
    label_of,
    load_run,
    render,
    run_alpha,
    why_incomplete,
    workload_title,
)
from bench.runs import check_writable, list_runs, to_json
from bench.stats import MIN_CASES_BETWEEN_RUNS, Covariate, compare_runs
from bench.tables import SYMBOL, UNIT_CHOICES, in_unit, markdown, pick_unit, wrap
from impl.errors import ConfigError, MLPBenchError


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    cmp = subparsers.add_parser("compare", help="compare two saved benchmark runs (ratios with intervals, verdicts)",
                                description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    cmp.add_argument("runs", nargs="*", metavar="RUN",
                     help="run folders, run ids under --results-dir or pytest-benchmark JSON files (default: the two "
                          "newest complete benchmark runs; one RUN: compared against the newest other complete run)")
    options.RESULTS_DIR.add_to(cmp)
    cmp.add_argument("--alpha", type=options.alpha, default=0.01,
                     help="1 - confidence of the intervals, in (0, 0.5] (default 0.01: 99%% intervals)")
    cmp.add_argument("--threshold", metavar="PCT", type=options.positive_percent, default=0.05,
                     help="changes smaller than this are 'same' (default 5%%)")
    cmp.add_argument("--fail-above", metavar="PCT", type=options.percent,
                     help="exit 1 when a case is 'slower' by more than this, e.g. 10%%")
    cmp.add_argument("--counts-threshold", metavar="PCT", type=options.positive_percent, default=COUNTS_THRESHOLD,
                     help="where both runs have counts (--counts): changes of a count smaller than this are 'same' "
                          f"(default {COUNTS_THRESHOLD:.0%}; docs/counts.md)")
    cmp.add_argument("--fail-on-unresolved", action="store_true",
                     help="exit 1 when any case is 'cannot resolve' (with or without --fail-above)")
    cmp.add_argument("--only-changed", action="store_true", help="show only the cases called slower or faster")
    cmp.add_argument("--sort", choices=SORTS, default="case",
                     help="case: workload, phase, batch size (default); ratio: largest B/A first; verdict: slower, "
                          "faster, cannot resolve, same")
    _add_view_options(cmp)
    cmp.set_defaults(run=run_compare)
    table = subparsers.add_parser("table", help="re-print the tables of a saved benchmark run",
                                  description="Re-print the tables of a saved benchmark run.")
    table.add_argument("run_name", nargs="?", metavar="RUN",
                       help="run folder, run id or pytest-benchmark JSON file (default: the newest complete "
                            "benchmark run)")
    options.RESULTS_DIR.add_to(table)
    _add_view_options(table)
    table.set_defaults(run=run_table)


SORTS = ["case", "ratio", "verdict"]
VERDICT_ORDER = {"slower": 0, "faster": 1, "cannot resolve": 2, "same": 3}


def _add_view_options(parser: argparse.ArgumentParser) -> None:
    """What compare and table share: which cases, in which unit, how wide, in which form."""
    parser.add_argument("-k", "--filter", metavar="REGEX", type=_regex,
                        help="only cases whose id (impl-B<batch>-<phase>, as in the test ids) matches")
    parser.add_argument("--time-unit", choices=UNIT_CHOICES, default="auto",
                        help="unit of the times (default auto: per table, the largest that keeps them above 1)")
    parser.add_argument("--wide", action="store_true",
                        help="every column (default: fit 120 columns, constant columns on a line above)")
    form = parser.add_mutually_exclusive_group()
    form.add_argument("--json", action="store_true", help="print strict JSON on stdout, for scripts")
    form.add_argument("--csv", action="store_true", help="print CSV on stdout, one row per case")
    parser.add_argument("--html", metavar="FILE", type=Path,
                        help="also write a self-contained HTML page (tables sortable and filterable, figures)")


def _regex(text: str) -> re.Pattern[str]:
    try:
        return re.compile(text)
    except re.error as err:
        raise argparse.ArgumentTypeError(f"not a regular expression: {text!r} ({err})") from None


def resolve_run(name: str, results_dir: Path) -> Path:
    """A run folder, a pytest-benchmark JSON file, or a run id under ``results_dir``."""
    path = Path(name)
    if path.is_dir() or path.is_file():
        return path
    if (results_dir / name).is_dir():
        return results_dir / name
    raise MLPBenchError(f"no run {name!r} (neither a folder, a JSON file nor a run id under {results_dir})")


Loaded = tuple[dict[str, Any], pd.DataFrame]


def _default_runs(results_dir: Path, count: int, exclude: list[Path]) -> list[tuple[Path, Loaded]]:
    """The newest complete benchmark runs that can be read, loaded; incomplete ones are named as skipped, and
    a damaged one is skipped with a one-line warning, so that one bad folder does not stop the default forms."""
    if count == 0:
        return []
    every = [r for r in list_runs(results_dir, kind="benchmark", include_incomplete=True)
             if r.path.resolve() not in exclude]
    skipped = [r.path.name for r in every if not r.complete]
    if skipped:
        print(f"mlp-bench: skipped incomplete run(s): {', '.join(skipped)} (name one to use it)")
    picked: list[tuple[Path, Loaded]] = []
    for run in reversed([r for r in every if r.complete]):
        try:
            picked.insert(0, (run.path, load_run(run.path)))
        except MLPBenchError as err:
            print(f"mlp-bench: warning: skipped {run.path.name}: {err}", file=sys.stderr)
            continue
        if len(picked) == count:
            return picked
    raise MLPBenchError(f"need {count} more complete benchmark run(s) under {results_dir}, found {len(picked)}; "
                        "run `pytest bench/ --benchmark-only` first or name the runs")


def machine_warnings(doc_a: dict[str, Any], doc_b: dict[str, Any], fa: pd.DataFrame, fb: pd.DataFrame) -> list[str]:
    keep = ("CPU model", "host", "BLAS")
    fa_, fb_ = ({k: v for k, v in run_facts(doc).items() if k in keep} for doc in (doc_a, doc_b))
    notes = [f"different {k}: {fa_[k]} vs {fb_[k]}" for k in fa_ if fa_[k] != fb_[k]]
    for column, what in (("dataset", "datasets"), ("quick", "profiles (quick vs full)")):
        if set(fa[column].astype(str)) != set(fb[column].astype(str)):
            notes.append(f"different {what}: {sorted(set(fa[column].astype(str)))} vs "
                         f"{sorted(set(fb[column].astype(str)))}")
    return [f"WARNING: runs come from {note}; ratios may not mean what they seem" for note in notes]


def software_differences(doc_a: dict[str, Any], doc_b: dict[str, Any]) -> list[str]:
    """What differs between the runs' software (BLAS kernels and versions, libraries, variables): where anything
    does, the yardstick could have moved with the change itself, so it is not used to cancel drift."""
    fa, fb = run_facts(doc_a), run_facts(doc_b)
    return [k for k in ("BLAS", "versions", "variables", "CPU model") if fa[k] != fb[k]]


def run_facts(doc: dict[str, Any]) -> dict[str, Any]:
    """What a run recorded of its machine and software, in the form the warnings compare."""
    info = doc.get("machine_info", {}).get("mlp_bench", {})
    blas = sorted({"/".join(str(p.get(k)) for k in ("internal_api", "version", "architecture"))
                   for p in info.get("blas", [])})
    return {"CPU model": info.get("cpu_model"), "host": info.get("host"), "BLAS": blas,
            "versions": info.get("versions"), "variables": info.get("env")}


#: what a row of a comparison is when it has no verdict
NOT_COMPARABLE, ONLY_A, ONLY_B, DAMAGED = "not comparable", "only in A", "only in B", "damaged"
UNCOMPARED = (NOT_COMPARABLE, ONLY_A, ONLY_B, DAMAGED)


def _status(key: tuple, a: Any, b: Any, ids_a: dict, ids_b: dict) -> tuple[str, list[tuple[str, str, str]], str]:
    """(status, what differs, why) of one case: status "" when it is compared, else one of UNCOMPARED."""
    if a is None:
        return ONLY_B, [], ""
    if b is None:
        return ONLY_A, [], ""
    if a.damage or b.damage:
        return DAMAGED, [], "; ".join(f"{side}: {d}" for side, d in (("A", a.damage), ("B", b.damage)) if d)
    differ = differences(ids_a.get(key, {}), ids_b.get(key, {}))
    return (NOT_COMPARABLE, differ, describe(differ)) if differ else ("", [], "")


def _no_comparable_case(differ: list[tuple[str, str, str]], reason: str) -> MLPBenchError:
    """Why two runs that share no comparable case cannot be compared, in one line: the first difference of the
    first common case (none: no case in common)."""
    if not differ:
        return MLPBenchError("the two runs have no benchmark in common (same impl, backend, workload and batch "
                             "size, measured alike)")
    key, a, b = differ[0]
    if key == "threads":
        return MLPBenchError(f"the runs were measured with different BLAS threads ({a} vs {b}): a case's thread "
                             "count is part of what it measures; rerun one side with --threads N")
    if key == "model":
        return MLPBenchError(f"the runs measured different models ({a} vs {b}): the layer widths are part of what a "
                             "case measures; rerun one side with --layers")
    if key == "timer":
        return MLPBenchError(f"the runs were timed with different clocks ({a} vs {b}): CPU seconds and wall seconds "
                             "are not the same quantity; rerun one side with the other's --benchmark-timer")
    return MLPBenchError(f"the two runs have no comparable case: every common case differs ({reason})")


def compare_frames(doc_a: dict, fa: pd.DataFrame, doc_b: dict, fb: pd.DataFrame, alpha: float = 0.01,
                   threshold: float = 0.05) -> pd.DataFrame:
    """One row per case of either run: for a case both measured alike (bench/identity.py), the ratio B/A, its
    interval, verdict, processes and what would resolve it; every other case is listed with no verdict as
    ``not comparable`` (with what differs), ``only in A``, ``only in B`` or ``damaged``. Only compared cases
    enter the pooled quantities."""
    data_a, data_b = case_data(doc_a), case_data(doc_b)
    ids_a, ids_b = identities(doc_a), identities(doc_b)
    rows_a = {tuple(getattr(r, k) for k in KEY): r for r in fa.itertuples()}
    rows_b = {tuple(getattr(r, k) for k in KEY): r for r in fb.itertuples()}
    rows, keys, first = [], [], ([], "")
    for key in [*rows_a, *(k for k in rows_b if k not in rows_a)]:
        a, b = rows_a.get(key), rows_b.get(key)
        base = a if a is not None else b
        status, differ, why = _status(key, a, b, ids_a, ids_b)
        if differ and not first[0]:
            first = differ, why
        flags = sorted({f for r in (a, b) if r is not None for f in str(r.flags or "").split(",") if f})
        rows.append({**dict(zip(KEY, key, strict=True)), "layers": base.layers,
                     "threads": 0 if pd.isna(base.threads) else base.threads,
                     "process_median_s_a": a.process_median_s if a is not None else None,
                     "process_median_s_b": b.process_median_s if b is not None else None,
                     "processes_a": int(a.processes) if a is not None else 0,
                     "processes_b": int(b.processes) if b is not None else 0,
                     "ratio_b_over_a": np.nan, "raw_ratio": np.nan, "b_can_resolve": False, "low": np.nan,
                     "high": np.nan, "verdict": status, "processes_needed": None, "note": why,
                     "flags": ",".join(flags)})
        if not status:
            keys.append((len(rows) - 1, key))
    if not keys:
        raise _no_comparable_case(*first)
    differences_ = software_differences(doc_a, doc_b)
    covariate = Covariate.fit([data_a[k] for _, k in keys] + [data_b[k] for _, k in keys],
                              allowed=not differences_,
                              why_not=f"raw: the runs differ in {', '.join(differences_)}, which can move the "
                                      "yardstick itself")
    alpha = min(run_alpha(doc_a, alpha), run_alpha(doc_b, alpha))
    results, between = compare_runs([(data_a[k], data_b[k]) for _, k in keys], covariate, alpha, threshold)
    for (i, _), r in zip(keys, results, strict=True):
        rows[i].update(ratio_b_over_a=r.ratio, raw_ratio=r.raw_ratio if r.raw_ratio is not None else r.ratio,
                       b_can_resolve=r.b_can_resolve, low=r.low, high=r.high, verdict=r.verdict,
                       processes_needed=r.processes_needed, note=r.note)
    merged = pd.DataFrame(rows)
    merged.attrs["pool"] = covariate.pool
    merged.attrs["covariate"] = covariate
    merged.attrs["alpha"] = alpha
    merged.attrs["between_runs"] = between
    return merged


def _between_text(table: pd.DataFrame) -> str:
    between = table.attrs.get("between_runs")
    if between is None:
        return ""
    if int(_compared(table).sum()) < MIN_CASES_BETWEEN_RUNS:
        return (f"; between-run component not estimated (fewer than {MIN_CASES_BETWEEN_RUNS} cases): "
                "intervals hold within a run's conditions only")
    return f"; between-run component (sd of log times, in every interval) {np.sqrt(between):.3f}"


def _to_resolve(needed: Any) -> str:
    return f"~{int(needed)} a side" if needed is not None and not pd.isna(needed) else ""


def _compared(table: pd.DataFrame) -> pd.Series:
    """Which rows carry a verdict (both runs measured the case alike, and neither's times are damaged)."""
    return ~table["verdict"].isin(UNCOMPARED)


def _summary(table: pd.DataFrame, threshold: float) -> str:
    pool = table.attrs.get("pool")
    covariate: Covariate | None = table.attrs.get("covariate")
    counts = table["verdict"].value_counts()
    spread = f"{np.sqrt(pool.variance):.3f}" if pool is not None and np.isfinite(pool.variance) else "not measured"
    others = ", ".join(f"{counts[v]} {v}" for v in UNCOMPARED if counts.get(v, 0))
    return (f"{int(_compared(table).sum())} cases: " + ", ".join(f"{counts.get(v, 0)} {v}" for v in VERDICT_ORDER)
            + f"; pooled between-process spread (sd of log times) {spread}, threshold {threshold:.0%}"
            + (f"\nno verdict, not in the count: {others}" if others else "")
            + (f"\nverdicts: {covariate.reason}" if covariate is not None else "") + _between_text(table))


def select(table: pd.DataFrame, pattern: re.Pattern[str] | None = None, only_changed: bool = False,
           sort: str = "case") -> pd.DataFrame:
    """The cases a user asked to see (the statistics were computed over all of them first), in their order."""
    ids = [case_id(label_of(r), r.batch_size, r.phase) for r in table.itertuples()]
    keep = [pattern is None or bool(pattern.search(i)) for i in ids]
    if only_changed:
        keep = [k and v in ("slower", "faster") for k, v in zip(keep, table["verdict"], strict=True)]
    shown = table[keep]
    if sort == "ratio":
        shown = shown.sort_values("ratio_b_over_a", ascending=False, kind="stable")
    elif sort == "verdict":
        shown = shown.sort_values("verdict", key=lambda v: v.map(VERDICT_ORDER).fillna(len(VERDICT_ORDER)),
                                  kind="stable")
    shown.attrs = table.attrs
    return shown


def render_comparison(table: pd.DataFrame, alpha: float, threshold: float, unit: str = "auto",
                      wide: bool = False, shown: pd.DataFrame | None = None) -> str:
    """One table per workload and phase (times in one unit each, named in the header), then the summary over
    every case; ``shown``: the rows to print (default all). Fits 120 columns unless ``wide``."""
    shown = table if shown is None else shown
    covariate: Covariate | None = table.attrs.get("covariate")
    alpha = table.attrs.get("alpha", alpha)
    parts, notes, flagged, unpaired, noted = [], [], defaultdict(list), defaultdict(list), defaultdict(list)
    for (workload, layers, phase), group in shown.groupby(["workload", "layers", "phase"], sort=False):
        shown_unit = pick_unit([*group["process_median_s_a"], *group["process_median_s_b"]], unit)
        columns = {
            "impl": [label_of(r) for r in group.itertuples()], "batch": group["batch_size"],
            f"A ({SYMBOL[shown_unit]})": [in_unit(v, shown_unit) for v in group["process_median_s_a"]],
            f"B ({SYMBOL[shown_unit]})": [in_unit(v, shown_unit) for v in group["process_median_s_b"]],
            "B/A": group["ratio_b_over_a"].map(_ratio),
            **({"raw B/A": group["raw_ratio"].map(_ratio)} if wide and covariate is not None
               and covariate.used else {}),
            interval_label(alpha): [f"[{lo:.3f}, {hi:.3f}]" if np.isfinite(lo) else "" if v in UNCOMPARED else "n/a"
                                    for lo, hi, v in zip(group["low"], group["high"], group["verdict"], strict=True)],
            "processes": [f"{a or '-'}+{b or '-'}" for a, b in zip(group["processes_a"], group["processes_b"],
                                                                   strict=True)],
            "verdict": group["verdict"], "to resolve": group["processes_needed"].map(_to_resolve)}
        if wide:
            columns |= {"flags": group["flags"], "note": group["note"]}
        else:
            for row in group.itertuples():
                name = case_id(label_of(row), row.batch_size, row.phase)
                if row.verdict in UNCOMPARED:
                    unpaired[(row.verdict, row.note)].append(name)
                elif row.note:
                    noted[row.note].append(name)
                for flag in filter(None, row.flags.split(",")):
                    flagged[flag].append(name)
        frame = pd.DataFrame(columns)
        if not frame["to resolve"].any():
            frame = frame.drop(columns="to resolve")
        parts += [f"### {workload_title(workload, layers)} / {phase}",
                  markdown(frame, wide=wide, keep=["impl", "batch", "B/A", "verdict"],
                                                        disable_numparse=True), ""]
    if shown.empty:
        parts += ["(no case matches the selection)", ""]
    if len(shown) < len(table):
        parts.append(f"showing {len(shown)} of {len(table)} cases")
    parts.append(wrap(_summary(table, threshold)))
    # a note that several cases share is printed once, with its count and the cases
    notes += [f"{names[0]}: {note}" if len(names) == 1 else f"{note} ({len(names)}): {', '.join(names)}"
              for note, names in noted.items()]
    notes += [f"{verdict}{': ' + why if why else ''} ({len(names)}): {', '.join(names)}"
              for (verdict, why), names in unpaired.items()]
    notes += [f"flagged {flag} ({len(names)}): {', '.join(names)}" for flag, names in flagged.items()]
    if notes:
        parts += ["notes (--wide: as columns):", *(wrap(f"- {n}") for n in notes)]
    return "\n".join(parts)


def _ratio(value: float) -> str:
    return f"{value:.3f}" if pd.notna(value) else ""


def comparison_records(table: pd.DataFrame, threshold: float, paths: list[Path]) -> dict[str, Any]:
    """The comparison as data: every shown case with its times in seconds, ratio, interval and verdict."""
    pool = table.attrs.get("pool")
    cases = [{"id": case_id(label_of(r), r.batch_size, r.phase), "impl": r.impl, "backend": r.backend,
              "workload": r.workload, "layers": r.layers, "phase": r.phase, "batch_size": int(r.batch_size),
              "threads": int(r.threads) or None, "time_a_s": r.process_median_s_a, "time_b_s": r.process_median_s_b,
              "ratio_b_over_a": r.ratio_b_over_a, "raw_ratio": r.raw_ratio, "low": r.low, "high": r.high,
              "processes_a": int(r.processes_a), "processes_b": int(r.processes_b), "verdict": r.verdict,
              "processes_needed": None if pd.isna(r.processes_needed) else int(r.processes_needed),
              "note": r.note, "flags": r.flags} for r in table.itertuples()]
    return {"a": str(paths[0]), "b": str(paths[1]), "alpha": table.attrs.get("alpha"), "threshold": threshold,
            "pooled_spread": float(np.sqrt(pool.variance)) if pool is not None else None, "cases": cases}


def _gate(table: pd.DataFrame, args: argparse.Namespace, say: Any) -> int:
    """--fail-above / --fail-on-unresolved over every case (not only the shown ones): 1 when tripped."""
    if args.fail_above is None and not args.fail_on_unresolved:
        return 0
    limit = args.fail_above if args.fail_above is not None else float("inf")
    slower = table[(table["verdict"] == "slower") & (table["ratio_b_over_a"] > 1 + limit)]
    unresolved = table[table["verdict"] == "cannot resolve"]
    if len(unresolved):
        say(f"unresolved ({len(unresolved)}): "
            + ", ".join(case_id(label_of(r), r.batch_size, r.phase) for r in unresolved.itertuples()))
    failed = len(slower) + (len(unresolved) if args.fail_on_unresolved else 0)
    if failed:
        say(f"FAILED: {len(slower)} slowdown(s) above {limit:.0%}"
            + (f", {len(unresolved)} unresolved case(s)" if args.fail_on_unresolved else ""))
        return 1
    return 0


def run_compare(args: argparse.Namespace) -> int:
    if len(args.runs) > 2:
        raise ConfigError("compare takes at most two runs")
    check_writable(args.html)
    named = [resolve_run(name, args.results_dir) for name in args.runs]
    loaded = [(p, load_run(p)) for p in named]
    loaded += _default_runs(args.results_dir, 2 - len(named), [p.resolve() for p in named])
    paths = [p for p, _ in loaded]
    (doc_a, fa), (doc_b, fb) = loaded[0][1], loaded[1][1]
    try:
        table = compare_frames(doc_a, fa, doc_b, fb, args.alpha, args.threshold)
    except MLPBenchError as err:  # no time verdict; counts (measured alike whatever the timing profile) may have one
        counts, counts_reason = compare_counts(doc_a, doc_b, args.counts_threshold)
        if counts.empty or args.json or args.csv or args.html:
            raise
        return _counts_only(counts, counts_reason, args, paths, f"time: no verdict: {err}")
    shown = select(table, args.filter, args.only_changed, args.sort)
    if args.filter is not None and shown.empty and not args.only_changed:
        first = next(table.itertuples())
        raise ConfigError(f"no case matches -k {args.filter.pattern!r}; case ids look like "
                          f"{case_id(label_of(first), first.batch_size, first.phase)}")
    notes = machine_warnings(doc_a, doc_b, fa, fb)
    notes += [f"WARNING: run {p} is marked incomplete ({why_incomplete(p)}): some cases may be missing"
              for p in paths if not is_complete(p)]
    notes += [f"NOTE: {p} is a plain pytest-benchmark JSON: one process per case unless its rounds are tagged"
              for p in paths if p.is_file()]
    compared = table[_compared(table)]
    if (compared["processes_a"] == 1).all() or (compared["processes_b"] == 1).all():
        notes.append("NOTE: one run was measured in a single process: its between-process spread is borrowed "
                     "from the other run, or unknown")
    counts, counts_reason = compare_counts(doc_a, doc_b, args.counts_threshold)
    machine_readable = args.json or args.csv
    if args.json:
        print(to_json(comparison_records(shown, args.threshold, paths) | {"warnings": notes}
                      | ({"counts": counts_records(counts), "counts_note": counts_reason} if not counts.empty else {})))
    elif args.csv:
        print(pd.DataFrame(comparison_records(shown, args.threshold, paths)["cases"]).to_csv(index=False), end="")
    else:
        print(f"A: {paths[0]}\nB: {paths[1]}\n")
        print(render_comparison(table, args.alpha, args.threshold, args.time_unit, args.wide, shown))
        if not counts.empty:
            print("\n" + render_counts(counts, counts_reason, args.counts_threshold))
    say = (lambda line: print(line, file=sys.stderr)) if machine_readable else print
    for note in notes:
        say(wrap(note))
    if args.html:
        from bench import html

        html.write_comparison_page(args.html, table, shown, paths, notes, args.threshold)
        say(f"page: {args.html}")
    failed = _gate(table, args, say)
    more = counts_gate(counts, args.fail_above) if args.fail_above is not None else []
    if more:
        say(f"FAILED: {len(more)} case(s) with counts above {args.fail_above:.0%} more work: {', '.join(more)}")
    return 1 if more else failed


def _counts_only(counts: pd.DataFrame, reason: str | None, args: argparse.Namespace, paths: list[Path],
                 why: str) -> int:
    """Two runs whose timings cannot compare (a --quick run against a full one) but whose counts can: the counts
    comparison alone, after one line saying why there is no time verdict."""
    print(f"A: {paths[0]}\nB: {paths[1]}\n\n{wrap(why)}\n")
    print(render_counts(counts, reason, args.counts_threshold, beside_time=False))
    more = counts_gate(counts, args.fail_above) if args.fail_above is not None else []
    if more:
        print(f"FAILED: {len(more)} case(s) with counts above {args.fail_above:.0%} more work: {', '.join(more)}")
    return 1 if more else 0


def run_table(args: argparse.Namespace) -> int:
    check_writable(args.html)
    if args.run_name:
        path = resolve_run(args.run_name, args.results_dir)
        doc, frame = load_run(path)
    else:
        path, (doc, frame) = _default_runs(args.results_dir, 1, [])[0]
    selected = None
    if args.filter is not None:
        pattern = args.filter
        ids = [case_id(label_of(r), r.batch_size, r.phase) for r in frame.itertuples()]
        if not any(pattern.search(i) for i in ids):
            raise ConfigError(f"no case matches -k {pattern.pattern!r}")

        def selected(case: str) -> bool:
            return bool(pattern.search(case))
    rows = frame if selected is None else frame[[selected(case_id(label_of(r), r.batch_size, r.phase))
                                                 for r in frame.itertuples()]]
    if args.json:
        print(to_json({"run": str(path), "cases": rows.drop(columns=["noise"]).to_dict(orient="records")}))
    elif args.csv:
        print(rows.drop(columns=["noise"]).to_csv(index=False), end="")
    else:
        print(f"run: {path}" + ("" if is_complete(path) else f"  (INCOMPLETE: {why_incomplete(path)})") + "\n")
        print(render(frame, doc, wide=args.wide, unit=args.time_unit, selected=selected))
    if args.html:
        from bench import html

        html.write_run_page(args.html, path, doc, frame)
        print(f"page: {args.html}", file=sys.stderr if args.json or args.csv else sys.stdout)
    return 0
