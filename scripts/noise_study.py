"""The noise study behind docs/noise.md: where the between-process spread of saved runs comes from.

    python scripts/noise_study.py RUN [RUN ...]

For each run (a folder or a run id under results/): its BLAS threads and pinning, then per phase and batch
size the median over implementations of the between-process spread (sd of log per-process times), raw and
through the yardstick (the within-case ANCOVA of bench/stats.py), and the spread of a case's windows inside
one process (what averaging them removes); the share of steal time and the involuntary
context switches per second its workers saw; and how strongly cases of the same process round move together
(the correlation of their residuals), which is what pairing by round could use."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.compare import resolve_run  # noqa: E402
from bench.results import case_data, load_run, process_windows  # noqa: E402
from bench.runs import DEFAULT_RESULTS_DIR  # noqa: E402
from bench.stats import Covariate  # noqa: E402


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
        print()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
