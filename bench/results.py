"""Benchmark JSON -> one tidy pandas frame (a row per benchmark) -> pivot tables, CSV/Markdown, PNG plots.

The JSON is pytest-benchmark's own document (with raw round data) plus our ``extra_info``; everything shown
is computed from it, so `mlp-bench table` can re-print any saved run.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from bench.runs import atomic_write_text, new_run_dir, read_run
from impl.errors import MLPBenchError
from impl.registry import all_implementations

BENCHMARK_FILE = "benchmark.json"
BASELINE = "numpy-v0-naive"
NOISY = 0.10  # IQR/median above this is flagged: rerun on a quieter machine or with more rounds
COLUMNS = ["impl", "workload", "phase", "batch_size", "dtype", "threads", "device", "backend", "dataset", "quick",
           "rounds", "min_s", "median_s", "mean_s", "iqr_s", "stddev_s", "samples_per_s", "train_accuracy",
           "test_accuracy", "first_call_s", "first_epoch_s", "epochs", "lr", "jit_compile", "peak_rss_mb", "name"]


def raw_samples(bench: dict[str, Any]) -> list[float]:
    """The samples a significance test should use: per-epoch times for full runs, per-round times else."""
    epochs = bench.get("extra_info", {}).get("epoch_seconds")
    if epochs:
        return [s for run in epochs for s in run]
    return list(bench.get("stats", {}).get("data") or [])


def tidy_frame(doc: dict[str, Any]) -> pd.DataFrame:
    rows = []
    for bench in doc.get("benchmarks", []):
        info, stats = bench.get("extra_info", {}), bench.get("stats", {})
        rows.append({**{k: info.get(k) for k in COLUMNS}, "rounds": stats.get("rounds"), "min_s": stats.get("min"),
                     "median_s": stats.get("median"), "mean_s": stats.get("mean"), "iqr_s": stats.get("iqr"),
                     "stddev_s": stats.get("stddev"), "name": bench.get("name")})
    frame = pd.DataFrame(rows, columns=COLUMNS)
    frame["noise"] = frame["iqr_s"] / frame["median_s"]
    return frame.sort_values(["workload", "phase", "batch_size", "median_s"], kind="stable").reset_index(drop=True)


def _baseline(group: pd.DataFrame) -> tuple[str, pd.Series]:
    """Speed-ups are against numpy-v0-naive where it ran, else against the slowest implementation."""
    by_impl = group.set_index("impl")["median_s"]
    if BASELINE in by_impl.index:
        return BASELINE, by_impl[BASELINE] / by_impl
    return "slowest", by_impl.max() / by_impl


def _cell(seconds: float, speedup: float, noise: float, unit: str) -> str:
    scale = 1e3 if unit == "ms" else 1.0
    mark = " !" if noise > NOISY else ""
    return f"{seconds * scale:.4g} ({speedup:.2f}x){mark}"


def step_pivots(frame: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """One table per workload and phase: implementation x batch size, median ms (speed-up vs baseline)."""
    tables = {}
    steps = frame[frame["phase"] != "full_run"]
    for (workload, phase), group in steps.groupby(["workload", "phase"], sort=False):
        cells: dict[tuple[str, int], str] = {}
        baseline = ""
        for batch_size, sub in group.groupby("batch_size"):
            baseline, speedups = _baseline(sub)
            for row in sub.itertuples():
                cells[(row.impl, batch_size)] = _cell(row.median_s, speedups[row.impl], row.noise, "ms")
        table = pd.Series(cells).unstack()
        table.index.name, table.columns.name = "impl", "batch size"
        tables[f"{workload} / {phase}: median ms per step (speed-up vs {baseline})"] = table.fillna("")
    return tables


def full_run_table(frame: pd.DataFrame) -> pd.DataFrame:
    """Full runs, one row per implementation and batch size, fastest first within each batch size."""
    full = frame[frame["phase"] == "full_run"].copy()
    if full.empty:
        return full
    parts = []
    for _, group in full.groupby(["workload", "batch_size"], sort=True):
        baseline, speedups = _baseline(group)
        group = group.assign(speedup=group["impl"].map(speedups), vs=baseline,
                             vs_fastest=group["median_s"] / group["median_s"].min())
        parts.append(group.sort_values("median_s"))
    full = pd.concat(parts)
    table = full[["workload", "batch_size", "impl", "epochs", "rounds", "median_s", "min_s", "speedup", "vs",
                  "vs_fastest", "first_epoch_s", "first_call_s", "train_accuracy", "test_accuracy", "noise"]]
    return table.rename(columns={"speedup": "speed-up", "vs": "speed-up vs", "vs_fastest": "x fastest",
                                 "noise": "iqr/median"})


def render(frame: pd.DataFrame, doc: dict[str, Any]) -> str:
    """All tables as Markdown text, with the warnings a reader must see next to them."""
    parts = []
    for title, table in step_pivots(frame).items():
        parts += [f"### {title}", table.to_markdown(), ""]
    full = full_run_table(frame)
    if not full.empty:
        parts += ["### full runs: seconds for the whole run (median of rounds), whole-set accuracy after training",
                  full.to_markdown(index=False, floatfmt=".4g"), ""]
    parts += warnings_for(frame, doc)
    if doc.get("mlp_bench_roofline"):
        from bench.roofline import machine_from_json, render_roofline, roofline_table

        machine = machine_from_json(doc["mlp_bench_roofline"])
        parts += ["", render_roofline(machine, roofline_table(frame, machine))]
    return "\n".join(parts)


def warnings_for(frame: pd.DataFrame, doc: dict[str, Any]) -> list[str]:
    notes = []
    noisy = frame[frame["noise"] > NOISY]
    if not noisy.empty:
        notes.append(f"! = noisy: IQR/median above {NOISY:.0%} for {len(noisy)} result(s) "
                     f"({', '.join(noisy['name'].head(6))}{', ...' if len(noisy) > 6 else ''}); rerun on a quieter "
                     "machine or with more rounds before drawing conclusions")
    if (frame["dataset"] == "synthetic").any():
        notes.append("dataset: SYNTHETIC (timing only; accuracies not measured)")
    if frame["quick"].fillna(False).astype(bool).any():
        notes.append("profile: QUICK (tiny epochs and rounds; for smoke tests, not conclusions)")
    return [f"WARNING: {note}" for note in notes]


def plot(frame: pd.DataFrame, run_dir: Path) -> list[Path]:
    """Time vs batch size per implementation (log-log, one panel per phase) and the full-run speed-up ladder."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    written = []
    for workload, group in frame.groupby("workload"):
        steps = group[group["phase"] != "full_run"]
        if not steps.empty:
            phases = list(dict.fromkeys(steps["phase"]))
            fig, axes = plt.subplots(1, len(phases), figsize=(4 * len(phases), 3.6), squeeze=False)
            for ax, phase in zip(axes[0], phases, strict=True):
                for impl, sub in steps[steps["phase"] == phase].groupby("impl"):
                    sub = sub.sort_values("batch_size")
                    ax.plot(sub["batch_size"], sub["median_s"] * 1e3, marker="o", label=impl)
                ax.set(xscale="log", yscale="log", title=phase, xlabel="batch size", ylabel="median ms per step")
                ax.grid(True, which="both", alpha=0.3)
            axes[0][0].legend(fontsize="small")
            fig.suptitle(f"{workload}: time per step vs batch size")
            fig.tight_layout()
            written.append(_save(fig, run_dir / f"{workload}-steps.png"))
        full = full_run_table(group)
        if not full.empty:
            pivot = full.pivot_table(index="impl", columns="batch_size", values="speed-up")
            pivot = pivot.reindex([n for n in all_implementations() if n in pivot.index][::-1])  # v0 on top
            fig, ax = plt.subplots(figsize=(7, 0.5 * len(pivot) + 1.5))
            pivot.plot.barh(ax=ax)
            ax.set(xlabel=f"speed-up of the full run vs {full['speed-up vs'].iloc[0]}", ylabel="")
            ax.legend(title="batch size")
            ax.grid(True, axis="x", alpha=0.3)
            fig.suptitle(f"{workload}: the speed-up ladder ({int(full['epochs'].iloc[0])} epochs)")
            fig.tight_layout()
            written.append(_save(fig, run_dir / f"{workload}-ladder.png"))
        plt.close("all")
    return written


def _save(fig: Any, path: Path) -> Path:
    tmp = path.with_name(f".{path.name}.tmp")
    fig.savefig(tmp, dpi=110, format="png")
    tmp.replace(path)
    return path


def save_run(doc: dict[str, Any], results_dir: Path, tag: str, quick: bool) -> tuple[Path, str]:
    """A new run folder with the JSON, the tidy frame (CSV + Markdown), the rendered tables and the plots."""
    info = doc.get("machine_info", {}).get("mlp_bench", {})
    run_dir = new_run_dir(results_dir, tag, "benchmark", {"quick": quick, "machine": info})
    frame = tidy_frame(doc)
    text = render(frame, doc)
    atomic_write_text(run_dir / BENCHMARK_FILE, json.dumps(doc, indent=1, default=str))
    atomic_write_text(run_dir / "benchmarks.csv", frame.to_csv(index=False))
    atomic_write_text(run_dir / "benchmarks.md", frame.drop(columns=["noise"]).to_markdown(index=False))
    atomic_write_text(run_dir / "tables.md", text + "\n")
    plot(frame, run_dir)
    return run_dir, text


def load_run(path: Path) -> tuple[dict[str, Any], pd.DataFrame]:
    """A saved benchmark run's JSON and frame; one-line errors for profiles, missing or corrupt files."""
    info = read_run(path)
    if info.kind != "benchmark":
        raise MLPBenchError(f"{path}: a {info.kind} run, not a benchmark run")
    file = path / BENCHMARK_FILE
    try:
        doc = json.loads(file.read_text())
        frame = tidy_frame(doc)
    except FileNotFoundError:
        raise MLPBenchError(f"{file}: missing") from None
    except (json.JSONDecodeError, AttributeError, TypeError, KeyError) as err:
        raise MLPBenchError(f"{file}: corrupt benchmark JSON ({err})") from None
    if frame.empty:
        raise MLPBenchError(f"{file}: holds no benchmark results")
    return doc, frame


def geometric_mean(values: pd.Series) -> float:
    return float(np.exp(np.mean(np.log(values)))) if len(values) else float("nan")
