"""Benchmark JSON -> one tidy pandas frame (a row per benchmark) -> pivot tables, CSV/Markdown, PNG plots.

The JSON is pytest-benchmark's own document (with raw round data, each round tagged with its worker process)
plus our ``extra_info``; everything shown is computed from it, so `mlp-bench table` can re-print any saved run.
Speed-ups and "which is fastest" come from per-process medians with intervals (bench/stats.py); a run measured
in one process has no between-process spread and says so.
"""

from __future__ import annotations

import gzip
import json
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from bench.noise import noise_flags
from bench.runs import atomic_write_text, read_run, update_run_record
from bench.stats import Case, Covariate, compare_cases, log_medians
from impl.errors import MLPBenchError
from impl.registry import all_implementations

BENCHMARK_FILE = "benchmark.json"
BASELINE = "numpy-v0-naive"
NOISY = 0.10  # IQR/median above this is flagged: rerun on a quieter machine or with more rounds
UNSTABLE = 1.20  # per-process medians further apart than this factor are flagged
STALL = 3.0  # a round above this multiple of the case median is a stall (kept, counted, flagged)
ALPHA = 0.01  # confidence of the intervals in a run's own tables: 99 %
THRESHOLD = 0.05  # differences below this are "same" in "which is fastest"
KEY = ["impl", "backend", "workload", "phase", "batch_size"]
COLUMNS = ["impl", "workload", "phase", "batch_size", "dtype", "threads", "device", "backend", "dataset", "quick",
           "processes", "rounds", "min_s", "median_s", "process_median_s", "process_spread", "mean_s", "iqr_s",
           "stddev_s", "samples_per_s", "train_accuracy", "test_accuracy", "first_call_s", "first_epoch_s", "epochs",
           "lr", "jit_compile", "peak_step_mb", "peak_run_mb", "mem_method", "stalls", "flags", "name"]


def raw_samples(bench: dict[str, Any]) -> list[float]:
    """Every round's time (seconds per step, or per whole run for full runs)."""
    return list(bench.get("stats", {}).get("data") or [])


def process_samples(bench: dict[str, Any]) -> list[list[float]]:
    """Rounds grouped by the worker process that measured them (a run from one process: one group)."""
    data = raw_samples(bench)
    owners = bench.get("extra_info", {}).get("process_of_round") or [1] * len(data)
    groups: dict[int, list[float]] = defaultdict(list)
    for owner, value in zip(owners, data, strict=False):
        groups[owner].append(value)
    return [groups[k] for k in sorted(groups)]


def case_flags(bench: dict[str, Any]) -> tuple[int, str]:
    """(stalls, flags): stalled rounds, and ``noisy`` / ``unstable`` / ``stalls`` markers for the tables."""
    data = np.array(raw_samples(bench), dtype=float)
    if not len(data):
        return 0, ""
    median = float(np.median(data))
    stalls = int(np.sum(data > STALL * median))
    q1, q3 = np.percentile(data, [25, 75])
    medians = [float(np.median(s)) for s in process_samples(bench)]
    flags = []
    if median and (q3 - q1) / median > NOISY:
        flags.append("noisy")
    if len(medians) > 1 and max(medians) / min(medians) > UNSTABLE:
        flags.append("unstable")
    if stalls:
        flags.append("stalls")
    info = bench.get("extra_info", {})
    for noise in info.get("noise_by_process") or [info]:
        flags += [f for f in noise_flags(noise) if f not in flags]
    return stalls, ",".join(flags)


def tidy_frame(doc: dict[str, Any]) -> pd.DataFrame:
    rows = []
    for bench in doc.get("benchmarks", []):
        info, stats = bench.get("extra_info", {}), bench.get("stats", {})
        logs = log_medians(process_samples(bench))
        stalls, flags = case_flags(bench)
        rows.append({**{k: info.get(k) for k in COLUMNS}, "rounds": stats.get("rounds"), "min_s": stats.get("min"),
                     "median_s": stats.get("median"), "mean_s": stats.get("mean"), "iqr_s": stats.get("iqr"),
                     "stddev_s": stats.get("stddev"), "name": bench.get("name"), "processes": len(logs),
                     "process_median_s": float(np.exp(logs.mean())) if len(logs) else None,
                     "process_spread": float(np.std(logs, ddof=1)) if len(logs) > 1 else None,
                     "peak_step_mb": info.get("peak_step_mb"), "peak_run_mb": info.get("peak_run_mb"),
                     "mem_method": info.get("mem_method") or ("rss-high-water" if "peak_rss_mb" in info else None),
                     "stalls": stalls, "flags": flags})
    frame = pd.DataFrame(rows, columns=COLUMNS)
    frame["backend"] = frame["backend"].fillna("")
    frame["noise"] = frame["iqr_s"] / frame["median_s"]
    return frame.sort_values(["workload", "phase", "batch_size", "process_median_s"],
                             kind="stable").reset_index(drop=True)


def case_data(doc: dict[str, Any]) -> dict[tuple, Case]:
    """Every case's log per-process medians and log yardsticks, keyed like the frame (impl, backend, workload,
    phase, B)."""
    out = {}
    for bench in doc.get("benchmarks", []):
        info = bench.get("extra_info", {})
        key = (info.get("impl"), info.get("backend") or "", info.get("workload"), info.get("phase"),
               info.get("batch_size"))
        logs = log_medians(process_samples(bench))
        yard = info.get("yardstick_by_process") or ([info["yardstick_s"]] if info.get("yardstick_s") else None)
        yard_logs = (np.log(np.array(yard, dtype=float)) if yard and len(yard) == len(logs)
                     and all(isinstance(v, int | float) and v > 0 for v in yard) else None)
        out[key] = Case(logs, yard_logs)
    return out


def interval_label(alpha: float) -> str:
    """``99% interval``; ``99.9% interval`` for the alpha of one look of a sequential run."""
    return f"{1 - alpha:.1%} interval" if alpha < 0.01 else f"{1 - alpha:.0%} interval"


def run_alpha(doc: dict[str, Any], alpha: float = ALPHA) -> float:
    """The alpha of one look: a run measured --until-resolved spent its alpha over its looks."""
    sequential = doc.get("mlp_bench_sequential")
    return alpha / sequential["max_looks"] if sequential else alpha


def _key(row: Any) -> tuple:
    return row.impl, row.backend, row.workload, row.phase, row.batch_size


def label_of(row: Any) -> str:
    """An implementation's name in tables; ``name@backend`` when it ran on another backend than its default
    (Keras measured on several backends in one run), as in the test ids."""
    cls = all_implementations().get(row.impl)
    if cls is None or not row.backend or row.backend == cls.default_backend():
        return row.impl
    return f"{row.impl}@{row.backend}"


def _baseline(group: pd.DataFrame) -> tuple[str, pd.Series]:
    """Speed-ups are against numpy-v0-naive where it ran, else against the slowest implementation."""
    by_impl = group.set_index("label")["process_median_s"]
    if BASELINE in by_impl.index:
        return BASELINE, by_impl[BASELINE] / by_impl
    return "slowest", by_impl.max() / by_impl


def _cell(seconds: float, speedup: float, flags: str, unit: str) -> str:
    scale = 1e3 if unit == "ms" else 1.0
    mark = " !" if flags else ""
    return f"{seconds * scale:.4g} ({speedup:.2f}x){mark}"


def _labelled(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.assign(label=[label_of(r) for r in frame.itertuples()])


def step_pivots(frame: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """One table per workload and phase: implementation x batch size, ms per step (geometric mean of the
    per-process medians) and speed-up vs the baseline; ``!`` marks a flagged case."""
    tables = {}
    steps = _labelled(frame[frame["phase"] != "full_run"])
    for (workload, phase), group in steps.groupby(["workload", "phase"], sort=False):
        cells: dict[tuple[str, int], str] = {}
        baseline = ""
        for batch_size, sub in group.groupby("batch_size"):
            baseline, speedups = _baseline(sub)
            for row in sub.itertuples():
                cells[(row.label, batch_size)] = _cell(row.process_median_s, speedups[row.label], row.flags,
                                                       "ms")
        table = pd.Series(cells).unstack()
        table.index.name, table.columns.name = "impl", "batch size"
        tables[f"{workload} / {phase}: ms per step, geometric mean of per-process medians (speed-up vs {baseline})"
               ] = table.fillna("")
    return tables


def run_covariate(doc: dict[str, Any]) -> Covariate:
    """The run's between-process spread, pooled over all its cases (log space), through the yardstick where
    it cuts that spread."""
    return Covariate.fit(list(case_data(doc).values()))


def against_fastest(frame: pd.DataFrame, doc: dict[str, Any], alpha: float = ALPHA,
                    threshold: float = THRESHOLD) -> pd.DataFrame:
    """Per workload, phase and batch size: every implementation against the fastest, a ratio of per-process
    medians with its interval and verdict (``slower`` = resolved slower than the fastest)."""
    cases, covariate, rows = case_data(doc), run_covariate(doc), []
    alpha = run_alpha(doc, alpha)
    for _, group in _labelled(frame).groupby(["workload", "phase", "batch_size"], sort=False):
        # ranked as the verdicts compare them: through the yardstick where the run uses it
        speed = [float(covariate.adjust(cases[_key(r)]).mean()) for r in group.itertuples()]
        group = group.assign(_speed=speed).sort_values("_speed")
        best = group.iloc[0]
        for row in group.itertuples():
            result = compare_cases(cases[_key(best)], cases[_key(row)], covariate, alpha, threshold)
            rows.append({"workload": row.workload, "phase": row.phase, "batch_size": row.batch_size,
                         "impl": row.label, "impl_name": row.impl, "backend": row.backend,
                         "x_fastest": result.ratio, "low": result.low, "high": result.high,
                         "verdict": "fastest" if row.Index == best.name else result.verdict,
                         "processes": row.processes})
    return pd.DataFrame(rows)


def which_is_fastest(frame: pd.DataFrame, doc: dict[str, Any], alpha: float = ALPHA,
                     threshold: float = THRESHOLD) -> pd.DataFrame:
    """The fastest implementation of every workload, phase and batch size, against the runner-up."""
    table = against_fastest(frame, doc, alpha, threshold)
    rows = []
    for (workload, phase, size), group in table.groupby(["workload", "phase", "batch_size"], sort=False):
        if len(group) < 2:
            continue
        best, second = group.iloc[0], group.iloc[1]
        resolved = {"slower": "yes", "same": "no: within the threshold"}.get(
            second["verdict"], "not resolved: more processes needed")
        rows.append({"workload": workload, "phase": phase, "batch_size": size, "fastest": best["impl"],
                     "runner-up": second["impl"], "runner-up / fastest": _interval(second),
                     "resolved": resolved})
    return pd.DataFrame(rows)


def _interval(row: Any) -> str:
    if not np.isfinite(row["low"]):
        return f"{row['x_fastest']:.3f} (one process: no interval)"
    return f"{row['x_fastest']:.3f} [{row['low']:.3f}, {row['high']:.3f}]"


def full_run_table(frame: pd.DataFrame, doc: dict[str, Any] | None = None) -> pd.DataFrame:
    """Full runs, one row per implementation and batch size, fastest first within each batch size; with the
    document, each row's ratio to the fastest carries its interval and verdict."""
    full = _labelled(frame[frame["phase"] == "full_run"])
    if full.empty:
        return full
    fastest_column = f"x fastest [{interval_label(run_alpha(doc) if doc is not None else ALPHA)}]"
    parts = []
    for _, group in full.groupby(["workload", "batch_size"], sort=True):
        baseline, speedups = _baseline(group)
        group = group.assign(speedup=group["label"].map(speedups), vs=baseline)
        parts.append(group.sort_values("process_median_s"))
    full = pd.concat(parts)
    if doc is not None:
        versus = against_fastest(full.drop(columns="label"), doc).set_index(["workload", "batch_size", "impl"])
        full = full.assign(_order=[versus.loc[(r.workload, r.batch_size, r.label), "x_fastest"]
                                   for r in full.itertuples()])
        full = full.sort_values(["workload", "batch_size", "_order"], kind="stable")
        full[fastest_column] = [_interval(versus.loc[(r.workload, r.batch_size, r.label)])
                                            for r in full.itertuples()]
        full["vs fastest"] = [versus.loc[(r.workload, r.batch_size, r.label), "verdict"] for r in full.itertuples()]
    else:
        full[fastest_column] = full["process_median_s"] / full.groupby(
            ["workload", "batch_size"])["process_median_s"].transform("min")
    columns = ["workload", "batch_size", "label", "epochs", "processes", "rounds", "process_median_s", "min_s",
               "speedup", "vs", fastest_column, *(["vs fastest"] if doc is not None else []),
               "first_epoch_s", "first_call_s", "train_accuracy", "test_accuracy", "peak_run_mb", "flags"]
    return full[columns].rename(columns={"label": "impl", "process_median_s": "seconds", "speedup": "speed-up",
                                         "vs": "speed-up vs"})


def render(frame: pd.DataFrame, doc: dict[str, Any]) -> str:
    """All tables as Markdown text, with the warnings a reader must see next to them."""
    parts = []
    for title, table in step_pivots(frame).items():
        parts += [f"### {title}", table.to_markdown(), ""]
    full = full_run_table(frame, doc)
    if not full.empty:
        parts += ["### full runs: seconds for the whole run (geometric mean of per-process medians), whole-set "
                  "accuracy after training", full.to_markdown(index=False, floatfmt=".4g"), ""]
    fastest = which_is_fastest(frame, doc)
    if not fastest.empty:
        parts += [f"### which is fastest: the runner-up's time over the fastest's, {interval_label(run_alpha(doc))} "
                  f"from per-process medians (resolved: the interval excludes 1 and the gap exceeds {THRESHOLD:.0%})",
                  fastest.to_markdown(index=False), ""]
    parts += [memory_table(frame), ""] if frame["peak_step_mb"].notna().any() else []
    parts += warnings_for(frame, doc)
    if doc.get("mlp_bench_roofline"):
        from bench.roofline import machine_from_json, render_roofline, roofline_table

        machine = machine_from_json(doc["mlp_bench_roofline"])
        parts += ["", render_roofline(machine, roofline_table(frame, machine))]
    return "\n".join(parts)


def memory_table(frame: pd.DataFrame) -> str:
    """Peak memory of one train step and of one epoch per implementation and batch size (outside timed rounds)."""
    mem = _labelled(frame).dropna(subset=["peak_step_mb"]).drop_duplicates(["label", "batch_size"])
    table = mem.pivot_table(index=["label", "mem_method"], columns="batch_size",
                            values=["peak_step_mb", "peak_run_mb"], aggfunc="first")
    table.columns = [f"{what} B={size}" for what, size in table.columns]
    table = table.reset_index().rename(columns={"label": "impl"})
    return ("### memory: peak MB above the start of one steady-state train step / one epoch "
            "(tracemalloc for NumPy, sampled RSS for frameworks)\n" + table.to_markdown(index=False, floatfmt=".3g"))


def warnings_for(frame: pd.DataFrame, doc: dict[str, Any]) -> list[str]:
    notes = []
    flagged = frame[frame["flags"].fillna("") != ""]
    if not flagged.empty:
        names = [f"{n} ({f})" for n, f in zip(flagged["name"], flagged["flags"], strict=True)]
        notes.append(f"! = flagged: {len(flagged)} result(s) noisy (IQR/median above {NOISY:.0%}), unstable "
                     f"(per-process medians more than {UNSTABLE - 1:.0%} apart) or with stalls (rounds above "
                     f"{STALL:g}x the median; kept, medians resist them): {', '.join(names[:6])}"
                     f"{', ...' if len(names) > 6 else ''}")
    if (frame["processes"] == 1).all():
        notes.append("one process per case: no between-process spread, so no intervals and no verdicts; "
                     "use --processes 2 or more to resolve differences")
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
                    ax.plot(sub["batch_size"], sub["process_median_s"] * 1e3, marker="o", label=impl)
                ax.set(xscale="log", yscale="log", title=phase, xlabel="batch size", ylabel="ms per step")
                ax.grid(True, which="both", alpha=0.3)
            axes[0][0].legend(fontsize="small")
            fig.suptitle(f"{workload}: time per step vs batch size")
            fig.tight_layout()
            written.append(_save(fig, run_dir / f"{workload}-steps.png"))
        full = full_run_table(group)
        if not full.empty:
            pivot = full.pivot_table(index="impl", columns="batch_size", values="speed-up")
            pivot = pivot.loc[pivot.mean(axis=1).sort_values().index]  # barh draws upwards: the fastest on top
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


def save_run(doc: dict[str, Any], run_dir: Path, complete: bool) -> str:
    """Fill the run folder: the JSON, the tidy frame (CSV + Markdown), the rendered tables and the plots; then
    record in run.json whether the run is complete. Returns the tables' text."""
    atomic_write_text(run_dir / BENCHMARK_FILE, json.dumps(doc, indent=1, default=str))
    frame = tidy_frame(doc)
    if frame.empty:
        text = "no benchmark finished"
    else:
        text = render(frame, doc)
        atomic_write_text(run_dir / "benchmarks.csv", frame.to_csv(index=False))
        atomic_write_text(run_dir / "benchmarks.md", frame.drop(columns=["noise"]).to_markdown(index=False))
        atomic_write_text(run_dir / "tables.md", text + "\n")
        plot(frame, run_dir)
    update_run_record(run_dir, complete=complete, benchmarks=len(frame),
                      machine=doc.get("machine_info", {}).get("mlp_bench", {}))
    return text


def load_run(path: Path) -> tuple[dict[str, Any], pd.DataFrame]:
    """A saved benchmark run's JSON and frame; one-line errors for profiles, missing or corrupt files."""
    info = read_run(path)
    if info.kind != "benchmark":
        raise MLPBenchError(f"{path}: a {info.kind} run, not a benchmark run")
    file = path / BENCHMARK_FILE
    if not file.is_file() and (path / f"{BENCHMARK_FILE}.gz").is_file():
        file = path / f"{BENCHMARK_FILE}.gz"  # a committed run, stored compressed (results/reference)
    try:
        text = gzip.decompress(file.read_bytes()).decode() if file.suffix == ".gz" else file.read_text()
        doc = json.loads(text)
        frame = tidy_frame(doc)
    except FileNotFoundError:
        raise MLPBenchError(f"{file}: missing") from None
    except (json.JSONDecodeError, AttributeError, TypeError, KeyError, OSError, EOFError, UnicodeDecodeError) as err:
        raise MLPBenchError(f"{file}: corrupt benchmark JSON ({err})") from None
    if frame.empty:
        raise MLPBenchError(f"{file}: holds no benchmark results")
    return doc, frame


def geometric_mean(values: pd.Series) -> float:
    return float(np.exp(np.mean(np.log(values)))) if len(values) else float("nan")
