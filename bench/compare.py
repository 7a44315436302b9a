"""`mlp-bench compare` and `mlp-bench table`: saved benchmark runs side by side, with significance.

A difference counts only when a Mann-Whitney U test on the raw samples (per-round times; per-epoch times for
full runs) rejects "same distribution" at p < alpha and the medians differ by more than a threshold, as asv
does ("faster"/"slower"; a significant but smaller difference reads "same"). With too few samples for that test to ever
reach alpha, the result says so instead of "not significant".
"""

from __future__ import annotations

import argparse
import math
import re
from pathlib import Path
from typing import Any

import pandas as pd
from scipy.stats import mannwhitneyu

from bench.results import load_run, raw_samples, render
from bench.runs import DEFAULT_RESULTS_DIR, list_runs
from impl.errors import MLPBenchError

KEY = ["impl", "workload", "phase", "batch_size"]


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    compare = subparsers.add_parser("compare", help="compare two saved benchmark runs (ratios, significance)",
                                    description=__doc__)
    compare.add_argument("runs", nargs="*", metavar="RUN",
                         help="run folders or run ids under --results-dir (default: the two newest benchmark runs; "
                              "one RUN: compared against the newest other run)")
    compare.add_argument("--results-dir", type=Path, default=DEFAULT_RESULTS_DIR, help="default: results")
    compare.add_argument("--alpha", type=float, default=0.01, help="significance level (default 0.01)")
    compare.add_argument("--threshold", metavar="PCT", type=_percent, default=0.05,
                         help="a significant difference smaller than this is reported as 'same' (default 5%%)")
    compare.add_argument("--fail-above", metavar="PCT", type=_percent,
                         help="exit 1 when a significant slowdown exceeds this, e.g. 10%%")
    compare.set_defaults(run=run_compare)
    table = subparsers.add_parser("table", help="re-print the tables of a saved benchmark run",
                                  description="Re-print the tables of a saved benchmark run.")
    table.add_argument("run_name", nargs="?", metavar="RUN",
                       help="run folder or id (default: the newest benchmark run)")
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
    runs = [r.path for r in list_runs(results_dir, kind="benchmark") if r.path.resolve() not in exclude]
    if len(runs) < count:
        raise MLPBenchError(f"need {count} more saved benchmark run(s) under {results_dir}, found {len(runs)}; "
                            "run `pytest bench/ --benchmark-only` first or name the runs")
    return runs[-count:]


def significance(a: list[float], b: list[float], alpha: float) -> tuple[float | None, str]:
    """(p, verdict). The smallest two-sided p an exact test can give is 2 / C(n_a + n_b, n_a)."""
    if len(a) < 2 or len(b) < 2 or 2 / math.comb(len(a) + len(b), len(a)) >= alpha:
        return None, f"too few samples ({len(a)} vs {len(b)}) for p<{alpha:g}"
    p = float(mannwhitneyu(a, b, alternative="two-sided").pvalue)
    return p, "significant" if p < alpha else "not significant"


def machine_warnings(doc_a: dict[str, Any], doc_b: dict[str, Any], fa: pd.DataFrame, fb: pd.DataFrame) -> list[str]:
    def facts(doc: dict[str, Any]) -> dict[str, Any]:
        info = doc.get("machine_info", {}).get("mlp_bench", {})
        blas = sorted({(str(p.get("internal_api")), str(p.get("version")), str(p.get("architecture")))
                       for p in info.get("blas", [])})
        return {"CPU model": info.get("cpu_model"), "host": info.get("host"), "BLAS": blas}

    fa_, fb_ = facts(doc_a), facts(doc_b)
    notes = [f"different {k}: {fa_[k]} vs {fb_[k]}" for k in fa_ if fa_[k] != fb_[k]]
    for column, what in (("dataset", "datasets"), ("quick", "profiles (quick vs full)")):
        if set(fa[column].astype(str)) != set(fb[column].astype(str)):
            notes.append(f"different {what}: {sorted(set(fa[column].astype(str)))} vs "
                         f"{sorted(set(fb[column].astype(str)))}")
    return [f"WARNING: runs come from {note}; ratios may not mean what they seem" for note in notes]


def verdict(ratio: float, significance_verdict: str, threshold: float) -> str:
    """As asv: a change is reported only when it is significant and larger than the threshold."""
    if significance_verdict != "significant":
        return significance_verdict
    if abs(ratio - 1) < threshold:
        return f"same (significant, within {threshold:.0%})"
    return "slower" if ratio > 1 else "faster"


def compare_frames(doc_a: dict, fa: pd.DataFrame, doc_b: dict, fb: pd.DataFrame, alpha: float,
                   threshold: float = 0.05) -> pd.DataFrame:
    samples_a = {tuple(b["extra_info"].get(k) for k in KEY): raw_samples(b) for b in doc_a["benchmarks"]}
    samples_b = {tuple(b["extra_info"].get(k) for k in KEY): raw_samples(b) for b in doc_b["benchmarks"]}
    merged = fa[KEY + ["median_s"]].merge(fb[KEY + ["median_s"]], on=KEY, suffixes=("_a", "_b"))
    if merged.empty:
        raise MLPBenchError("the two runs have no benchmark in common (same impl, workload, phase and batch size)")
    verdicts = [significance(samples_a[tuple(row[k] for k in KEY)], samples_b[tuple(row[k] for k in KEY)], alpha)
                for _, row in merged.iterrows()]
    merged["ratio_b_over_a"] = merged["median_s_b"] / merged["median_s_a"]
    merged["p"] = [p for p, _ in verdicts]
    merged["verdict"] = [verdict(r, v, threshold) for r, (_, v) in zip(merged["ratio_b_over_a"], verdicts,
                                                                          strict=True)]
    return merged


def run_compare(args: argparse.Namespace) -> int:
    if len(args.runs) > 2:
        raise MLPBenchError("compare takes at most two runs")
    named = [resolve_run(name, args.results_dir) for name in args.runs]
    paths = named + _default_runs(args.results_dir, 2 - len(named), [p.resolve() for p in named])
    (doc_a, fa), (doc_b, fb) = load_run(paths[0]), load_run(paths[1])
    table = compare_frames(doc_a, fa, doc_b, fb, args.alpha, args.threshold)
    print(f"A: {paths[0]}\nB: {paths[1]}\n")
    shown = table.assign(median_s_a=table["median_s_a"].map("{:.4g}".format),
                         median_s_b=table["median_s_b"].map("{:.4g}".format),
                         ratio_b_over_a=table["ratio_b_over_a"].map("{:.3f}".format),
                         p=table["p"].map(lambda p: "" if p is None or pd.isna(p) else f"{p:.2g}"))
    print(shown.to_markdown(index=False))
    for note in machine_warnings(doc_a, doc_b, fa, fb):
        print(note)
    if args.fail_above is not None:
        slower = table[(table["verdict"] == "slower") & (table["ratio_b_over_a"] > 1 + args.fail_above)]
        if not slower.empty:
            print(f"FAILED: {len(slower)} significant slowdown(s) above {args.fail_above:.0%}")
            return 1
    return 0


def run_table(args: argparse.Namespace) -> int:
    path = resolve_run(args.run_name, args.results_dir) if args.run_name else _default_runs(args.results_dir, 1, [])[0]
    doc, frame = load_run(path)
    print(f"run: {path}\n")
    print(render(frame, doc))
    return 0
