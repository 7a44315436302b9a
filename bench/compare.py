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
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from bench.results import KEY, case_data, interval_label, label_of, load_run, render, run_alpha
from bench.runs import DEFAULT_RESULTS_DIR, list_runs, read_run
from bench.stats import MIN_CASES_BETWEEN_RUNS, Covariate, compare_runs
from impl.errors import MLPBenchError


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    cmp = subparsers.add_parser("compare", help="compare two saved benchmark runs (ratios with intervals, verdicts)",
                                description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    cmp.add_argument("runs", nargs="*", metavar="RUN",
                     help="run folders or run ids under --results-dir (default: the two newest complete benchmark "
                          "runs; one RUN: compared against the newest other complete run)")
    cmp.add_argument("--results-dir", type=Path, default=DEFAULT_RESULTS_DIR, help="default: results")
    cmp.add_argument("--alpha", type=float, default=0.01,
                     help="1 - confidence of the intervals (default 0.01: 99%% intervals)")
    cmp.add_argument("--threshold", metavar="PCT", type=_percent, default=0.05,
                     help="changes smaller than this are 'same' (default 5%%)")
    cmp.add_argument("--fail-above", metavar="PCT", type=_percent,
                     help="exit 1 when a case is 'slower' by more than this, e.g. 10%%")
    cmp.add_argument("--fail-on-unresolved", action="store_true",
                     help="exit 1 when any case is 'cannot resolve' (with or without --fail-above)")
    cmp.set_defaults(run=run_compare)
    table = subparsers.add_parser("table", help="re-print the tables of a saved benchmark run",
                                  description="Re-print the tables of a saved benchmark run.")
    table.add_argument("run_name", nargs="?", metavar="RUN",
                       help="run folder or id (default: the newest complete benchmark run)")
    table.add_argument("--results-dir", type=Path, default=DEFAULT_RESULTS_DIR, help="default: results")
    table.set_defaults(run=run_table)


def _percent(text: str) -> float:
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*%?\s*", text)
    if not match:
        raise argparse.ArgumentTypeError(f"expected a percentage such as 10%, got {text!r}")
    return float(match.group(1)) / 100


def resolve_run(name: str, results_dir: Path) -> Path:
    path = Path(name)
    if path.is_dir():
        return path
    if (results_dir / name).is_dir():
        return results_dir / name
    raise MLPBenchError(f"no run {name!r} (neither a folder nor a run id under {results_dir})")


def _default_runs(results_dir: Path, count: int, exclude: list[Path]) -> list[Path]:
    """The newest complete benchmark runs; incomplete ones are named as skipped."""
    if count == 0:
        return []
    every = [r for r in list_runs(results_dir, kind="benchmark", include_incomplete=True)
             if r.path.resolve() not in exclude]
    skipped = [r.path.name for r in every if not r.complete]
    if skipped:
        print(f"mlp-bench: skipped incomplete run(s): {', '.join(skipped)} (name one to use it)")
    runs = [r.path for r in every if r.complete]
    if len(runs) < count:
        raise MLPBenchError(f"need {count} more complete benchmark run(s) under {results_dir}, found {len(runs)}; "
                            "run `pytest bench/ --benchmark-only` first or name the runs")
    return runs[-count:]


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


def compare_frames(doc_a: dict, fa: pd.DataFrame, doc_b: dict, fb: pd.DataFrame, alpha: float = 0.01,
                   threshold: float = 0.05) -> pd.DataFrame:
    """One row per case common to both runs (the BLAS threads part of a case's identity): ratio B/A, interval,
    verdict, processes, what would resolve it."""
    data_a, data_b = case_data(doc_a), case_data(doc_b)
    keep = KEY + ["threads", "process_median_s", "processes", "flags"]
    fa, fb = fa.assign(threads=fa["threads"].fillna(0)), fb.assign(threads=fb["threads"].fillna(0))
    merged = fa[keep].merge(fb[keep], on=KEY + ["threads"], suffixes=("_a", "_b"))
    if merged.empty:
        ignoring_threads = fa[KEY].merge(fb[KEY], on=KEY)
        if not ignoring_threads.empty:
            raise MLPBenchError(f"the runs were measured with different BLAS threads ({_threads(fa)} vs "
                                f"{_threads(fb)}): a case's thread count is part of what it measures; rerun one "
                                "side with --threads N")
        raise MLPBenchError("the two runs have no benchmark in common (same impl, backend, workload, phase, "
                            "batch size and BLAS threads)")
    keys = [tuple(row[k] for k in KEY) for _, row in merged.iterrows()]
    differences = software_differences(doc_a, doc_b)
    covariate = Covariate.fit([data_a[k] for k in keys] + [data_b[k] for k in keys], allowed=not differences,
                              why_not=f"raw: the runs differ in {', '.join(differences)}, which can move the "
                                      "yardstick itself")
    alpha = min(run_alpha(doc_a, alpha), run_alpha(doc_b, alpha))
    results, between = compare_runs([(data_a[k], data_b[k]) for k in keys], covariate, alpha, threshold)
    merged["ratio_b_over_a"] = [r.ratio for r in results]
    merged["raw_ratio"] = [r.raw_ratio if r.raw_ratio is not None else r.ratio for r in results]
    merged["b_can_resolve"] = [r.b_can_resolve for r in results]
    merged["low"] = [r.low for r in results]
    merged["high"] = [r.high for r in results]
    merged["verdict"] = [r.verdict for r in results]
    merged["processes_needed"] = [r.processes_needed for r in results]
    merged["note"] = [r.note for r in results]
    merged["flags"] = [",".join(sorted({f for flags in (fa_, fb_) for f in flags.split(",") if f})) for fa_, fb_ in
                       zip(merged["flags_a"].fillna(""), merged["flags_b"].fillna(""), strict=True)]
    merged.attrs["pool"] = covariate.pool
    merged.attrs["covariate"] = covariate
    merged.attrs["alpha"] = alpha
    merged.attrs["between_runs"] = between
    return merged.drop(columns=["flags_a", "flags_b"])


def _between_text(table: pd.DataFrame) -> str:
    between = table.attrs.get("between_runs")
    if between is None:
        return ""
    if len(table) < MIN_CASES_BETWEEN_RUNS:
        return (f"; between-run component not estimated (fewer than {MIN_CASES_BETWEEN_RUNS} cases): "
                "intervals hold within a run's conditions only")
    return f"; between-run component (sd of log times, in every interval) {np.sqrt(between):.3f}"


def _threads(frame: pd.DataFrame) -> str:
    return ",".join(str(int(t)) if t else "unknown" for t in sorted(set(frame["threads"])))


def _verdict_text(verdict: str, needed: Any, note: str) -> str:
    if needed is not None and not pd.isna(needed):
        verdict = f"{verdict} (needs ~{int(needed)} processes a side)"
    return f"{verdict} ({note})" if note else verdict


def render_comparison(table: pd.DataFrame, alpha: float, threshold: float) -> str:
    pool = table.attrs.get("pool")
    covariate: Covariate | None = table.attrs.get("covariate")
    alpha = table.attrs.get("alpha", alpha)
    shown = pd.DataFrame({
        "impl": [label_of(r) for r in table.itertuples()], "phase": table["phase"], "B": table["batch_size"],
        "A s": table["process_median_s_a"].map("{:.4g}".format),
        "B s": table["process_median_s_b"].map("{:.4g}".format),
        "B/A": table["ratio_b_over_a"].map("{:.3f}".format),
        **({"raw B/A": table["raw_ratio"].map("{:.3f}".format)} if covariate is not None and covariate.used else {}),
        interval_label(alpha): [f"[{lo:.3f}, {hi:.3f}]" if np.isfinite(lo) else "n/a"
                                      for lo, hi in zip(table["low"], table["high"], strict=True)],
        "processes": [f"{a}+{b}" for a, b in zip(table["processes_a"], table["processes_b"], strict=True)],
        "verdict": [_verdict_text(v, n, note) for v, n, note in
                    zip(table["verdict"], table["processes_needed"], table["note"], strict=True)],
        "flags": table["flags"]})
    counts = table["verdict"].value_counts()
    spread = f"{np.sqrt(pool.variance):.3f}" if pool is not None and np.isfinite(pool.variance) else "not measured"
    summary = (f"{len(table)} cases: " + ", ".join(f"{counts.get(v, 0)} {v}" for v in
                                                   ("slower", "faster", "same", "cannot resolve"))
               + f"; pooled between-process spread (sd of log times) {spread}, threshold {threshold:.0%}"
               + (f"\nverdicts: {covariate.reason}" if covariate is not None else "")
               + _between_text(table))
    return "\n".join([shown.to_markdown(index=False), "", summary])


def run_compare(args: argparse.Namespace) -> int:
    if len(args.runs) > 2:
        raise MLPBenchError("compare takes at most two runs")
    named = [resolve_run(name, args.results_dir) for name in args.runs]
    paths = named + _default_runs(args.results_dir, 2 - len(named), [p.resolve() for p in named])
    (doc_a, fa), (doc_b, fb) = load_run(paths[0]), load_run(paths[1])
    table = compare_frames(doc_a, fa, doc_b, fb, args.alpha, args.threshold)
    print(f"A: {paths[0]}\nB: {paths[1]}\n")
    print(render_comparison(table, args.alpha, args.threshold))
    notes = machine_warnings(doc_a, doc_b, fa, fb)
    notes += [f"WARNING: run {p} is marked incomplete (interrupted or failed): some cases may be missing"
              for p in paths if not read_run(p).complete]
    if (table["processes_a"] == 1).all() or (table["processes_b"] == 1).all():
        notes.append("NOTE: one run was measured in a single process: its between-process spread is borrowed "
                     "from the other run, or unknown")
    print("\n".join(notes))
    if args.fail_above is not None or args.fail_on_unresolved:
        limit = args.fail_above if args.fail_above is not None else float("inf")
        slower = table[(table["verdict"] == "slower") & (table["ratio_b_over_a"] > 1 + limit)]
        unresolved = table[table["verdict"] == "cannot resolve"]
        if len(unresolved):
            names = ", ".join(f"{label_of(r)}/{r.phase}/B{r.batch_size}" for r in unresolved.itertuples())
            print(f"unresolved ({len(unresolved)}): {names}")
        failed = len(slower) + (len(unresolved) if args.fail_on_unresolved else 0)
        if failed:
            print(f"FAILED: {len(slower)} slowdown(s) above {limit:.0%}"
                  + (f", {len(unresolved)} unresolved case(s)" if args.fail_on_unresolved else ""))
            return 1
    return 0


def run_table(args: argparse.Namespace) -> int:
    path = resolve_run(args.run_name, args.results_dir) if args.run_name else _default_runs(args.results_dir, 1, [])[0]
    doc, frame = load_run(path)
    print(f"run: {path}" + ("" if read_run(path).complete else "  (INCOMPLETE: interrupted or failed)") + "\n")
    print(render(frame, doc))
    return 0
