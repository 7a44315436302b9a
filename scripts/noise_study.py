"""The noise study behind docs/noise.md: where the between-process spread of saved runs comes from.

    python scripts/noise_study.py RUN [RUN ...]

For each run (a folder or a run id under results/): its BLAS threads and pinning, then per phase and batch
size the median over implementations of the between-process spread (sd of log per-process times), raw and
through the yardstick (the within-case ANCOVA of bench/stats.py), and the spread of a case's windows inside
one process (what averaging them removes); the share of steal time and the involuntary
context switches per second its workers saw; how strongly cases of the same process round move together
(the correlation of their residuals), which is what pairing by round could use; and, for runs whose
implementations shared their workers, what pairing per worker leaves of a difference between two cases against
what unpaired comparisons leave, raw and through the yardstick, per batch size."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.compare import resolve_run  # noqa: E402
from bench.results import case_data, load_run, process_windows  # noqa: E402
from bench.runs import DEFAULT_RESULTS_DIR  # noqa: E402
from bench.stats import Case, Covariate, PairedPool, Pool  # noqa: E402


def window_spread(bench: dict) -> float:
    """sd of log window medians around their process's mean, pooled over the case's processes (NaN for a
    case timed in one window per process): how much averaging windows inside a worker removes."""
    squares, df = 0.0, 0
    for windows in process_windows(bench):
        logs = np.log([float(np.median(w)) for w in windows if len(w)])
        squares, df = squares + float(np.sum((logs - logs.mean()) ** 2)), df + len(logs) - 1
    return float(np.sqrt(squares / df)) if df else float("nan")


def spreads(doc: dict) -> pd.DataFrame:
    """Per case: raw and yardstick-adjusted sd of log per-process times, and the spread of its windows."""
    cases = case_data(doc)
    covariate = Covariate.fit(list(cases.values()))
    windows = {(b["extra_info"].get("impl"), b["extra_info"].get("phase"), b["extra_info"].get("batch_size")):
               window_spread(b) for b in doc.get("benchmarks", [])}
    rows = []
    for (impl, _backend, _workload, phase, size), case in cases.items():
        if len(case.logs) < 2:
            continue
        adjusted = case.logs - covariate.slope * (case.yard - covariate.centre) if case.has_yardstick else case.logs
        rows.append({"impl": impl, "phase": phase, "B": size, "raw": float(np.std(case.logs, ddof=1)),
                     "yardstick": float(np.std(adjusted, ddof=1)), "windows": windows.get((impl, phase, size))})
    frame = pd.DataFrame(rows)
    frame.attrs["covariate"] = covariate
    return frame


def noise_counters(doc: dict) -> dict[str, float]:
    steal, switches = [], []
    for bench in doc.get("benchmarks", []):
        for noise in bench.get("extra_info", {}).get("noise_by_process") or []:
            if noise.get("noise_seconds"):
                steal.append(noise.get("noise_steal_share") or 0.0)
                switches.append((noise.get("noise_involuntary_switches") or 0) / noise["noise_seconds"])
    return {"steal share (max)": max(steal, default=float("nan")),
            "involuntary switches / s (median)": float(np.median(switches)) if switches else float("nan")}


def round_correlation(doc: dict) -> float:
    """Mean correlation, across pairs of cases, of their per-round residuals (log time minus case mean)."""
    residuals = []
    for bench in doc.get("benchmarks", []):
        info = bench.get("extra_info", {})
        medians, ids = info.get("process_medians_s"), info.get("process_ids")
        if medians and ids and len(medians) >= 3:
            logs = np.log(medians)
            residuals.append(dict(zip(ids, logs - logs.mean(), strict=True)))
    if len(residuals) < 2:
        return float("nan")
    rounds = sorted(set.intersection(*(set(r) for r in residuals)))
    if len(rounds) < 3:
        return float("nan")
    matrix = np.array([[r[p] for p in rounds] for r in residuals])
    corr = np.corrcoef(matrix)
    return float(np.mean(corr[np.triu_indices_from(corr, k=1)]))


def pairing_gain(doc: dict) -> pd.DataFrame:
    """Per batch size and overall: the sd of a per-worker difference of log times between two cases, unpaired
    (sqrt(2) x the pooled between-process spread) and paired (the pooled paired variance), raw and through the
    yardstick. Empty for a run whose cases did not share workers."""
    cases = case_data(doc)
    covariate = Covariate.fit(list(cases.values()))
    rows = []
    for size in [*sorted({k[4] for k in cases}), "all"]:
        chosen = [c for k, c in cases.items() if size == "all" or k[4] == size]
        paired_raw, paired_yard = PairedPool.of(chosen).difference, PairedPool.of(chosen, covariate.adjust).difference
        if not paired_raw.df:
            continue
        raw, yard = Pool.of([c.logs for c in chosen]), Pool.of([covariate.adjust(c) for c in chosen])
        rows.append({"B": size, "unpaired raw": np.sqrt(2 * raw.variance), "unpaired yardstick":
                     np.sqrt(2 * yard.variance), "paired raw": np.sqrt(paired_raw.variance),
                     "paired yardstick": np.sqrt(paired_yard.variance)})
    return pd.DataFrame(rows)


WINDOW_STATISTICS = {"median": np.median, "p25": lambda w: np.percentile(w, 25),
                     "p10": lambda w: np.percentile(w, 10), "min": np.min, "mean": np.mean}


def window_statistic_gain(doc: dict) -> dict[str, float]:
    """The paired sd of a per-worker difference (raw, all batch sizes) if each window were summarised by another
    statistic than its median; empty for a run whose cases did not share workers."""
    out = {}
    for name, statistic in WINDOW_STATISTICS.items():
        cases = []
        for bench in doc.get("benchmarks", []):
            info = bench.get("extra_info", {})
            logs = np.array([np.mean([np.log(statistic(w)) for w in windows if len(w)])
                             for windows in process_windows(bench)])
            workers = info.get("worker_by_process")
            cases.append(Case(logs, None, tuple(workers) if workers and len(workers) == len(logs) else None))
        pool = PairedPool.of(cases).difference
        if pool.df:
            out[name] = float(np.sqrt(pool.variance))
    return out


def main(names: list[str]) -> int:
    for name in names:
        path = resolve_run(name, DEFAULT_RESULTS_DIR)
        doc, frame = load_run(path)
        table = spreads(doc)
        covariate = table.attrs["covariate"]
        cpus = doc.get("mlp_bench_cpus", {}).get("why", "not recorded")
        print(f"## {path.name}: BLAS threads {sorted(set(frame['threads'].dropna().astype(int)))}, {cpus}")
        print(f"yardstick: {covariate.reason}")
        print(", ".join(f"{k} {v:.3g}" for k, v in noise_counters(doc).items())
              + f", round correlation {round_correlation(doc):.2f}")
        pivot = table.pivot_table(index="phase", columns="B", values=["raw", "yardstick", "windows"], aggfunc="median")
        print(pivot.round(3).to_markdown())
        gain = pairing_gain(doc)
        if not gain.empty:
            print("\nsd of a per-worker difference between two cases:")
            print(gain.round(3).to_markdown(index=False))
            print("the same, paired raw, all batch sizes, each window summarised by another statistic: " + ", ".join(
                f"{k} {v:.3f}" for k, v in window_statistic_gain(doc).items()))
        print()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
