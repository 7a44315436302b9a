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
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from bench.change import base_label, change_over_base, render_change
from bench.counts.views import COLUMNS as COUNT_COLUMNS
from bench.counts.views import TimeRatio, against_time_text, counts_table
from bench.counts.views import columns_of as counts_columns
from bench.noise import noise_flags
from bench.runs import RUN_FILE, atomic_write_text, brief_error, read_run, update_run_record, write_json
from bench.schema import BenchmarkDocument, check
from bench.stats import Case, Covariate, PairedPool, Pool, compare_cases, level_interval
from bench.tables import SYMBOL, in_unit, markdown, pick_unit, wrap
from bench.windows import split, window_log
from impl.config import SEED_LAYERS, layer_text
from impl.errors import MLPBenchError
from impl.registry import all_implementations
from impl.workloads import WORKLOADS

BENCHMARK_FILE = "benchmark.json"
BASELINE = "numpy-v0-naive"
NOISY = 0.10  # IQR/median above this is flagged: rerun on a quieter machine or with more rounds
UNSTABLE = 1.20  # per-process medians further apart than this factor are flagged
STALL = 3.0  # a round above this multiple of the case median is a stall (kept, counted, flagged)
ALPHA = 0.01  # confidence of the intervals in a run's own tables: 99 %
THRESHOLD = 0.05  # differences below this are "same" in "which is fastest"
KEY = ["impl", "backend", "workload", "phase", "batch_size"]
COLUMNS = ["impl", "workload", "layers", "phase", "batch_size", "dtype", "threads", "device", "backend", "dataset",
           "quick",
           "processes", "rounds", "min_s", "median_s", "process_median_s", "process_spread", "mean_s", "iqr_s",
           "stddev_s", "samples_per_s", "train_accuracy", "test_accuracy", "first_call_s", "first_epoch_s", "epochs",
           "lr", "jit_compile", "peak_step_mb", "peak_run_mb", "mem_method", "stalls", "flags", "name", "damage"]
COLUMNS += COUNT_COLUMNS  # counts under Valgrind, where the run has them (bench/counts/)
#: a round longer than this (a day) is no measurement of this suite: the record is damaged
ABSURD_S = 86400.0


def damage_of(bench: dict[str, Any]) -> str:
    """Why a case's times cannot be used ("" when they can): missing, NaN or infinite, zero or negative,
    absurd, rounds that disagree with their process tags, or one yardstick reading per process with some unusable
    (readings that do not match the processes in number are ignored, as they always were). A damaged case is
    listed as such and kept out of every pooled quantity, so that it moves no other case's interval or verdict."""
    data = raw_samples(bench)
    if not data:
        return "no times recorded"
    try:
        values = np.array(data, dtype=float)
    except (TypeError, ValueError, OverflowError):
        return "times that are not finite numbers"
    if not np.all(np.isfinite(values)):
        return "NaN or infinite times"
    data = values.tolist()
    if min(data) <= 0:
        return "zero or negative times"
    if max(data) > ABSURD_S:
        return f"absurd times (above {ABSURD_S:g} s)"
    try:
        processes = len(process_windows(bench))
    except (MLPBenchError, ValueError, TypeError):
        return "rounds and their process or window tags disagree"
    yard = (bench.get("extra_info") or {}).get("yardstick_by_process")
    if yard is not None and len(yard) == processes:  # one reading a process, some unusable: it would take the
        readings = np.array([np.nan if v is None else v for v in yard], dtype=float)  # yardstick from every case
        if not np.all(np.isfinite(readings)) or np.any(readings <= 0):
            return "unusable yardstick readings (missing, zero or negative)"
    return ""


#: the flag of every case of a run whose MNIST files are not the official ones
OTHER_DATA = "other-data"


def data_record(doc: dict[str, Any]) -> dict[str, Any] | None:
    """What the run recorded of its data (impl.data.provenance): source, checksums, genuine; None before."""
    return ((doc.get("machine_info") or {}).get("mlp_bench") or {}).get("data")


def other_data(doc: dict[str, Any]) -> bool:
    """Whether the run's MNIST files are known not to be the official ones (their checksums differ)."""
    record = data_record(doc)
    return bool(record) and record.get("kind") == "real" and record.get("genuine") is False


def measured(frame: pd.DataFrame) -> pd.DataFrame:
    """The cases whose times can be used (damaged ones left out of every statistic)."""
    return frame[frame["damage"].fillna("") == ""] if "damage" in frame else frame


def case_id(label: str, batch_size: int, phase: str) -> str:
    """A case's id as in pytest's test ids: ``numpy-tuned-B500-forward``."""
    return f"{label}-B{batch_size}-{phase}"


def raw_samples(bench: dict[str, Any]) -> list[float]:
    """Every round's time (seconds per step, or per whole run for full runs)."""
    return list(bench.get("stats", {}).get("data") or [])


def process_of_round(bench: dict[str, Any]) -> list[int]:
    """The worker process of every round: run-length coded since schema 3 (``process_ids`` with
    ``rounds_per_process``), one entry per round before; a run from one process has neither."""
    info, count = bench.get("extra_info", {}), len(raw_samples(bench))
    if info.get("rounds_per_process"):
        owners = [p for p, n in zip(info["process_ids"], info["rounds_per_process"], strict=True) for _ in range(n)]
    else:
        owners = info.get("process_of_round") or [1] * count
    if len(owners) != count:
        raise MLPBenchError(f"{bench.get('name')}: {count} rounds but {len(owners)} process tags")
    return owners


def process_samples(bench: dict[str, Any]) -> list[list[float]]:
    """Rounds grouped by the worker process that measured them (a run from one process: one group)."""
    data = raw_samples(bench)
    owners = process_of_round(bench)
    groups: dict[int, list[float]] = defaultdict(list)
    for owner, value in zip(owners, data, strict=False):
        groups[owner].append(value)
    return [groups[k] for k in sorted(groups)]


def process_windows(bench: dict[str, Any]) -> list[list[list[float]]]:
    """Rounds grouped by process, then by measurement window (bench/windows.py); a run from before windows, or
    measured in one process: one window per process."""
    per_process = process_samples(bench)
    info = bench.get("extra_info", {})
    counts, sizes = info.get("windows_per_process"), info.get("rounds_per_window")
    if not counts or not sizes or len(counts) != len(per_process):
        return [[samples] for samples in per_process]
    edges = np.cumsum([0, *counts]).tolist()
    return [split(samples, sizes[a:b]) for samples, a, b in zip(per_process, edges[:-1], edges[1:], strict=True)]


def process_logs(bench: dict[str, Any]) -> np.ndarray:
    """Each process's log time: the mean of its windows' log locations (medians, unless the case records another
    statistic: rotated cases, bench/windows.py)."""
    info = bench.get("extra_info", {})
    location = info.get("location", "median")
    windows = process_windows(bench)
    runs = process_epoch_runs(bench) if location == "epoch-median" else [None] * len(windows)
    return np.array([window_log(w, location, r) for w, r in zip(windows, runs, strict=True) if any(w)], dtype=float)


def process_epoch_runs(bench: dict[str, Any]) -> list[list[list[float]] | None]:
    """Each process's full runs as their per-epoch seconds (rounds in process order), or None where the
    record does not hold one epoch list per round."""
    info, per_process = bench.get("extra_info", {}), process_samples(bench)
    runs = info.get("epoch_seconds") or []
    if len(runs) != sum(len(p) for p in per_process):
        return [None] * len(per_process)
    edges = np.cumsum([0, *[len(p) for p in per_process]]).tolist()
    return [runs[a:b] for a, b in zip(edges[:-1], edges[1:], strict=True)]


def case_flags(bench: dict[str, Any]) -> tuple[int, str]:
    """(stalls, flags): stalled rounds, and ``noisy`` / ``unstable`` / ``stalls`` markers for the tables."""
    data = np.array(raw_samples(bench), dtype=float)
    if not len(data):
        return 0, ""
    median = float(np.median(data))
    stalls = int(np.sum(data > STALL * median))
    q1, q3 = np.percentile(data, [25, 75])
    medians = np.exp(process_logs(bench)).tolist()
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
    unofficial = other_data(doc)
    for bench in doc.get("benchmarks", []):
        info, stats = bench.get("extra_info", {}), bench.get("stats", {})
        damage = damage_of(bench)
        logs = np.array([]) if damage else process_logs(bench)
        stalls, flags = (0, "") if damage else case_flags(bench)
        if unofficial and not damage and info.get("dataset") == "real":
            flags = ",".join(filter(None, [flags, OTHER_DATA]))
        rows.append({**{k: info.get(k) for k in COLUMNS}, "rounds": stats.get("rounds"), "min_s": stats.get("min"),
                     "median_s": stats.get("median"), "mean_s": stats.get("mean"), "iqr_s": stats.get("iqr"),
                     "stddev_s": stats.get("stddev"), "name": bench.get("name"), "processes": len(logs),
                     "process_median_s": float(np.exp(logs.mean())) if len(logs) else None,
                     "process_spread": float(np.std(logs, ddof=1)) if len(logs) > 1 else None,
                     "peak_step_mb": info.get("peak_step_mb"), "peak_run_mb": info.get("peak_run_mb"),
                     "mem_method": info.get("mem_method") or ("rss-high-water" if "peak_rss_mb" in info else None),
                     "stalls": stalls, "flags": flags, "damage": damage, **counts_columns(info)})
    frame = pd.DataFrame(rows, columns=COLUMNS)
    frame["backend"] = frame["backend"].fillna("")
    frame["layers"] = [model_of(w, layers) for w, layers in zip(frame["workload"], frame["layers"], strict=True)]
    frame["damage"] = frame["damage"].fillna("")
    frame["noise"] = frame["iqr_s"] / frame["median_s"]
    return frame.sort_values(["workload", "phase", "batch_size", "process_median_s"],
                             kind="stable").reset_index(drop=True)


def model_of(workload: str | None, layers: str | None) -> str:
    """A case's model (``784-70-30-10``; "" for a fixed one): records from before --layers measured the seed's."""
    if layers is not None and not (isinstance(layers, float) and np.isnan(layers)):
        return str(layers)
    return layer_text(SEED_LAYERS) if workload in WORKLOADS and WORKLOADS[workload].sized else ""


def workload_title(workload: str, layers: str) -> str:
    """``mlp 784-70-30-10``: the workload and, where it has one, its model."""
    return f"{workload} {layers}" if layers else workload


def member_of(key: tuple) -> tuple:
    """A case's member for paired spreads (bench/stats.py's PairedPool): an implementation at one batch size, its
    step phases together and its full runs apart (the ratio's spread grows with the batch size, 0.006-0.012 at
    B=500 against 0.010-0.026 at 20000, and an epoch's stalls are not a step's: docs/noise.md)."""
    impl, backend, workload, phase, batch_size = key
    return impl, backend, workload, batch_size, "full_run" if phase == "full_run" else "steps"


def case_data(doc: dict[str, Any]) -> dict[tuple, Case]:
    """Every case's log per-process medians and log yardsticks, keyed like the frame (impl, backend, workload,
    phase, B)."""
    out = {}
    for bench in doc.get("benchmarks", []):
        info = bench.get("extra_info", {})
        if damage_of(bench):
            continue  # listed as damaged; in no pool
        key = (info.get("impl"), info.get("backend") or "", info.get("workload"), info.get("phase"),
               info.get("batch_size"))
        logs = process_logs(bench)
        yard = info.get("yardstick_by_process") or ([info["yardstick_s"]] if info.get("yardstick_s") else None)
        yard_logs = (np.log(np.array(yard, dtype=float)) if yard and len(yard) == len(logs)
                     and all(isinstance(v, int | float) and v > 0 for v in yard) else None)
        workers = info.get("worker_by_process")
        out[key] = Case(logs, yard_logs, tuple(workers) if workers and len(workers) == len(logs) else None,
                        member=member_of(key))
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
    mark = " !" if flags else ""
    return f"{in_unit(seconds, unit)} ({speedup:.2f}x){mark}"


def _labelled(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.assign(label=[label_of(r) for r in frame.itertuples()])


def step_pivots(frame: pd.DataFrame, unit: str = "auto") -> dict[str, pd.DataFrame]:
    """One table per workload and phase: implementation x batch size, time per step (geometric mean of the
    per-process medians, in one unit per table) and speed-up vs the baseline; ``!`` marks a flagged case."""
    tables = {}
    frame = measured(frame)
    steps = _labelled(frame[frame["phase"] != "full_run"])
    for (workload, layers, phase), group in steps.groupby(["workload", "layers", "phase"], sort=False):
        cells: dict[tuple[str, int], str] = {}
        baseline = ""
        shown_unit = pick_unit(group["process_median_s"], unit)
        for batch_size, sub in group.groupby("batch_size"):
            baseline, speedups = _baseline(sub)
            for row in sub.itertuples():
                cells[(row.label, batch_size)] = _cell(row.process_median_s, speedups[row.label], row.flags,
                                                       shown_unit)
        table = pd.Series(cells).unstack()
        table.index.name, table.columns.name = "impl", "batch size"
        tables[f"{workload_title(workload, layers)} / {phase}: {SYMBOL[shown_unit]} per step, geometric mean of "
               "per-process medians "
               f"(speed-up vs {baseline})"] = table.fillna("")
    return tables


def full_run_intervals(doc: dict[str, Any], alpha: float = ALPHA) -> dict[tuple[str, int], tuple[float, float]]:
    """(impl, B) of every MLP full run: the factors of its time's interval, from the run's pooled spread of raw
    times (the roofline's multiples of the floor carry them)."""
    cases = case_data(doc)
    pool = Pool.of([case.logs for case in cases.values()])
    return {(impl, int(size)): level_interval(case.logs, pool, run_alpha(doc, alpha))
            for (impl, _backend, workload, phase, size), case in cases.items()
            if phase == "full_run" and (workload or "mlp") == "mlp"}


def full_run_floor_multiples(doc: dict[str, Any],
                             alpha: float = ALPHA) -> dict[tuple[str, int], tuple[float, float, float]]:
    """(impl, B) of every MLP full run whose processes each measured the products+gather floor beside it: the
    run time as a multiple of that floor, process by process, summarised as the geometric mean with its
    interval: (multiple, low, high). The spread is the per-process log multiples', moderated toward their pool
    over every such run (not the raw times' pool: what a process shares with its floor has cancelled)."""
    multiples = {}
    for bench in doc.get("benchmarks", []):
        info = bench.get("extra_info", {})
        if info.get("phase") != "full_run" or (info.get("workload") or "mlp") != "mlp":
            continue
        floors = info.get("floor_epoch_s_by_process") or ([info["floor_epoch_s"]] if info.get("floor_epoch_s") else [])
        logs = process_logs(bench)
        if floors and len(floors) == len(logs) and info.get("epochs"):
            multiples[(info["impl"], int(info["batch_size"]))] = logs - np.log(np.array(floors, float) * info["epochs"])
    pool = Pool.of(list(multiples.values()))
    out = {}
    for key, logs in multiples.items():
        low, high = level_interval(logs, pool, run_alpha(doc, alpha))
        centre = float(np.exp(logs.mean()))
        out[key] = (centre, centre * low, centre * high)
    return out


def run_covariate(doc: dict[str, Any]) -> Covariate:
    """The run's between-process spread, pooled over all its cases (log space), through the yardstick where
    it cuts that spread."""
    return Covariate.fit(list(case_data(doc).values()))


def run_paired_pool(cases: dict[tuple, Case], covariate: Covariate) -> PairedPool:
    """The run's pooled variance of per-worker differences, for the cases that shared worker processes."""
    return PairedPool.of(list(cases.values()), covariate.adjust)


def base_changes(frame: pd.DataFrame, doc: dict[str, Any], alpha: float = ALPHA,
                 threshold: float = THRESHOLD) -> pd.DataFrame:
    """A --baseline run's change over its base, per case (bench/change.py)."""
    cases, covariate = case_data(doc), run_covariate(doc)
    return change_over_base(measured(frame), doc, cases, covariate, run_paired_pool(cases, covariate),
                            run_alpha(doc, alpha), threshold)


def time_ratio_of(doc: dict[str, Any], alpha: float = ALPHA) -> TimeRatio:
    """The wall-time comparison of two rows of a run, as every table of the run compares them (paired per worker
    where they shared workers); None where either side has fewer than two processes."""
    cases, covariate = case_data(doc), run_covariate(doc)
    paired, alpha = run_paired_pool(cases, covariate), run_alpha(doc, alpha)

    def ratio(a: Any, b: Any) -> tuple[float, float, float] | None:
        if any(_key(r) not in cases or len(cases[_key(r)].logs) < 2 for r in (a, b)):
            return None
        result = compare_cases(cases[_key(a)], cases[_key(b)], covariate, alpha, THRESHOLD, paired=paired)
        return result.ratio, result.low, result.high

    return ratio


def against_fastest(frame: pd.DataFrame, doc: dict[str, Any], alpha: float = ALPHA,
                    threshold: float = THRESHOLD) -> pd.DataFrame:
    """Per workload, phase and batch size: every implementation against the fastest, a ratio of per-process
    medians with its interval and verdict (``slower`` = resolved slower than the fastest); paired per worker
    where the two shared worker processes."""
    cases, covariate, rows = case_data(doc), run_covariate(doc), []
    paired = run_paired_pool(cases, covariate)
    alpha = run_alpha(doc, alpha)
    for _, group in _labelled(measured(frame)).groupby(["workload", "phase", "batch_size"], sort=False):
        # ranked as the verdicts compare them: through the yardstick where the run uses it
        speed = [float(covariate.adjust(cases[_key(r)]).mean()) for r in group.itertuples()]
        group = group.assign(_speed=speed).sort_values("_speed")
        best = group.iloc[0]
        for row in group.itertuples():
            result = compare_cases(cases[_key(best)], cases[_key(row)], covariate, alpha, threshold, paired=paired)
            rows.append({"workload": row.workload, "layers": row.layers, "phase": row.phase,
                         "batch_size": row.batch_size, "impl": row.label, "impl_name": row.impl, "backend": row.backend,
                         "x_fastest": result.ratio, "low": result.low, "high": result.high,
                         "verdict": "fastest" if row.Index == best.name else result.verdict,
                         "paired": row.Index != best.name and result.paired,
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
        # a tie proven within the threshold answers the question as much as a resolved lead does
        resolved = {"slower": "yes", "same": f"yes: a tie within {threshold:.0%}"}.get(
            second["verdict"], "no: more processes")
        rows.append({"workload": workload, "layers": best["layers"], "phase": phase, "batch": size,
                     "fastest": best["impl"],
                     "runner-up": second["impl"], "runner-up / fastest": _interval(second),
                     "paired": "yes" if second["paired"] else "no", "resolved": resolved})
    return pd.DataFrame(rows)


def _interval(row: Any) -> str:
    if not np.isfinite(row["low"]):
        return f"{row['x_fastest']:.3f} (one process: no interval)"
    return f"{row['x_fastest']:.3f} [{row['low']:.3f}, {row['high']:.3f}]"


def full_run_table(frame: pd.DataFrame, doc: dict[str, Any] | None = None) -> pd.DataFrame:
    """Full runs, one row per implementation and batch size, fastest first within each batch size; with the
    document, each row's ratio to the fastest carries its interval and verdict. Times in seconds."""
    full = _labelled(measured(frame)[measured(frame)["phase"] == "full_run"])
    if full.empty:
        return full
    fastest_column = f"x fastest [{interval_label(run_alpha(doc) if doc is not None else ALPHA).split()[0]}]"
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
    columns = ["workload", "layers", "batch_size", "label", "epochs", "processes", "rounds", "process_median_s",
               "min_s",
               "speedup", "vs", fastest_column, *(["vs fastest"] if doc is not None else []),
               "first_epoch_s", "first_call_s", "train_accuracy", "test_accuracy", "peak_run_mb", "flags"]
    full = full.assign(epochs=full["epochs"].astype("Int64"))  # 35, not 35.0
    return full[columns].rename(columns={"label": "impl", "process_median_s": "seconds", "speedup": "speed-up",
                                         "vs": "speed-up vs", "batch_size": "batch"})


#: the full-run table's columns behind --wide (in the CSV and the JSON always)
FULL_RUN_WIDE = ["min_s", "first_epoch_s", "first_call_s", "peak_run_mb", "rounds"]
FULL_RUN_WIDE_SHOWN = ["min (s)", "first epoch (s)", "first call (s)", "peak MB", "rounds"]


def _full_run_text(full: pd.DataFrame, wide: bool) -> str:
    """The full-run table as text; unless ``wide``: accuracies in one column, flags left to the warnings (which
    name every flagged case), so that it fits 120 columns."""
    shown = full.rename(columns={"seconds": "time (s)", "vs fastest": "verdict", "min_s": "min (s)",
                                 "train_accuracy": "train acc", "test_accuracy": "test acc",
                                 "first_epoch_s": "first epoch (s)", "first_call_s": "first call (s)",
                                 "peak_run_mb": "peak MB"})
    if not wide:
        accuracy = [f"{a:.4f}/{b:.4f}" if pd.notna(a) and pd.notna(b) else "" for a, b in
                    zip(shown["train acc"], shown["test acc"], strict=True)]
        shown = shown.drop(columns=[*FULL_RUN_WIDE_SHOWN, "train acc", "test acc", "flags"]).assign(
            **{"acc train/test": accuracy})
    return markdown(shown, wide=wide, keep=["impl", "batch"], floatfmt=".4g")


def _pick(pivot: pd.DataFrame, title: str, selected: Callable[[str], bool]) -> pd.DataFrame:
    """A step pivot's cells whose case id is selected (rows and columns left empty dropped)."""
    phase = title.split(" / ")[1].split(":")[0]
    kept = pivot.copy()
    for label in kept.index:
        for size in kept.columns:
            if not selected(case_id(label, size, phase)):
                kept.loc[label, size] = ""
    kept = kept.loc[(kept != "").any(axis=1), (kept != "").any(axis=0)]
    return kept


def render(frame: pd.DataFrame, doc: dict[str, Any], wide: bool = False, unit: str = "auto",
           selected: Callable[[str], bool] | None = None) -> str:
    """All tables as Markdown text, with the warnings a reader must see next to them; 120 columns unless
    ``wide``. ``selected`` (a case id -> shown) picks rows after every statistic was computed over the whole
    run, so that a filter never changes a speed-up, an interval or which case is fastest."""
    keep = selected or (lambda _id: True)
    parts = []
    if base_label(doc) is not None:  # a run measured with --baseline leads with its answer
        parts.append(render_change(base_changes(frame, doc), frame, doc, run_alpha(doc), THRESHOLD))
    for title, table in step_pivots(frame, unit).items():
        table = _pick(table, title, keep) if selected else table
        if not table.empty:
            parts += [f"### {title}", table.to_markdown(), ""]
    full = full_run_table(frame, doc)
    if not full.empty and selected:
        full = full[[keep(case_id(r.impl, r.batch, "full_run")) for r in full.itertuples()]]
    if not full.empty:
        parts += ["### full runs: time of the whole run (geometric mean of per-process medians), whole-set "
                  "accuracy after training", _full_run_text(full, wide), ""]
    fastest = which_is_fastest(frame, doc)
    if not fastest.empty and selected:
        fastest = fastest[[any(keep(case_id(impl, size, phase)) for impl in pair) for pair, size, phase in
                           zip(zip(fastest["fastest"], fastest["runner-up"], strict=True), fastest["batch"],
                               fastest["phase"], strict=True)]]
    if not fastest.empty:
        parts += [wrap(f"### which is fastest: the runner-up's time over the fastest's, "
                       f"{interval_label(run_alpha(doc))} from per-process medians, paired per worker where the two "
                       f"shared their workers (resolved: the interval excludes 1 and the gap exceeds {THRESHOLD:.0%})"),
                  markdown(fastest, wide=wide, keep=["phase", "batch"]), ""]
    good = measured(frame)
    if selected:
        good = good[[keep(case_id(label_of(r), r.batch_size, r.phase)) for r in good.itertuples()]]
    parts += [memory_table(good), ""] if good["peak_step_mb"].notna().any() else []
    counts = counts_table(good)
    parts += [counts, ""] if counts else []
    timed = against_time_text(good, time_ratio_of(doc)) if counts else ""
    parts += [timed, ""] if timed else []
    parts += [wrap(w) for w in warnings_for(frame, doc)]
    if doc.get("mlp_bench_roofline"):
        from bench.roofline import machine_from_json, render_roofline, roofline_table

        machine = machine_from_json(doc["mlp_bench_roofline"])
        table = roofline_table(measured(frame), machine, intervals=full_run_intervals(doc),
                               in_process=full_run_floor_multiples(doc))
        parts += ["", render_roofline(machine, table)]
    return "\n".join(parts)


def memory_table(frame: pd.DataFrame) -> str:
    """Peak memory of one train step and of one epoch per implementation and batch size (outside timed rounds):
    two tables, batch sizes across."""
    mem = _labelled(frame).dropna(subset=["peak_step_mb"]).drop_duplicates(["label", "batch_size"])
    parts = []
    for column, what in (("peak_step_mb", "one steady-state train step"), ("peak_run_mb", "one epoch")):
        table = mem.pivot_table(index=["label", "mem_method"], columns="batch_size", values=column, aggfunc="first")
        table.columns = [f"B={size}" for size in table.columns]
        table = table.reset_index().rename(columns={"label": "impl", "mem_method": "method"})
        parts.append(wrap(f"### memory: peak MB above the start of {what} (tracemalloc for NumPy, sampled RSS "
                          "for frameworks)") + "\n" + table.to_markdown(index=False, floatfmt=".3g"))
    return "\n\n".join(parts)


def warnings_for(frame: pd.DataFrame, doc: dict[str, Any]) -> list[str]:
    notes = []
    damaged = frame[frame["damage"].fillna("") != ""] if "damage" in frame else frame.iloc[:0]
    if not damaged.empty:
        notes.append(f"DAMAGED: {len(damaged)} case(s) with unusable times, left out of every table and pooled "
                     "quantity: " + ", ".join(f"{n} ({d})" for n, d in zip(damaged["name"], damaged["damage"],
                                                                          strict=True)))
    frame = measured(frame)
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
    if other_data(doc):
        sums = ", ".join(f"{name} {digest[:12]}" for name, digest in (data_record(doc).get("checksums") or {}).items())
        notes.append(f"data: the MNIST files' checksums differ from the official ones ({sums}): flagged "
                     f"{OTHER_DATA}; accuracies and times may not compare with runs on the real MNIST")
    if (frame["dataset"] == "synthetic").any():
        notes.append("dataset: SYNTHETIC (timing only; accuracies not measured)")
    if frame["quick"].fillna(False).astype(bool).any():
        notes.append("profile: QUICK (tiny epochs and rounds; for smoke tests, not conclusions)")
    return [f"WARNING: {note}" for note in notes]


def ladder_rows(frame: pd.DataFrame, doc: dict[str, Any], alpha: float = ALPHA) -> pd.DataFrame:
    """Full runs: every implementation's speed-up against the baseline of its batch size, with the interval of
    that speed-up (from the same per-process medians and pooled spread as the verdicts; NaN for one process)."""
    full = _labelled(measured(frame)[measured(frame)["phase"] == "full_run"])
    cases, covariate, rows = case_data(doc), run_covariate(doc), []
    paired = run_paired_pool(cases, covariate)
    for (workload, size), group in full.groupby(["workload", "batch_size"], sort=True):
        baseline, _ = _baseline(group)
        base = group.loc[group["process_median_s"].idxmax()] if baseline == "slowest" else \
            group[group["label"] == baseline].iloc[0]
        for row in group.itertuples():
            result = compare_cases(cases[_key(row)], cases[_key(base)], covariate, run_alpha(doc, alpha), THRESHOLD,
                                   paired=paired)
            rows.append({"workload": workload, "batch_size": size, "label": row.label, "baseline": baseline,
                         "speedup": result.ratio, "low": result.low, "high": result.high})
    return pd.DataFrame(rows)


def fastest_rows(frame: pd.DataFrame, doc: dict[str, Any]) -> pd.DataFrame:
    """The forest of "which is fastest": per workload, phase and batch size, the runner-up over the fastest."""
    table = against_fastest(frame, doc)
    rows = []
    for (workload, phase, size), group in table.groupby(["workload", "phase", "batch_size"], sort=False):
        if len(group) >= 2:
            best, second = group.iloc[0], group.iloc[1]
            rows.append({"workload": workload, "label": f"{phase} B={size}: {second['impl']} / {best['impl']}",
                         "ratio": second["x_fastest"], "low": second["low"], "high": second["high"],
                         "verdict": second["verdict"]})
    return pd.DataFrame(rows)


def plot(frame: pd.DataFrame, doc: dict[str, Any], run_dir: Path) -> list[Path]:
    """The run's figures (bench/figures.py), per workload: time per step against batch size, the full-run
    ladder with its intervals, the "which is fastest" forest and memory against batch size."""
    from bench import figures

    written = []
    frame = measured(frame)
    labelled = _labelled(frame)
    alpha_text = interval_label(run_alpha(doc))
    ladder = ladder_rows(frame, doc)
    fastest = fastest_rows(frame, doc)
    for workload, group in labelled.groupby("workload"):
        title = workload_title(workload, str(group["layers"].iloc[0]))
        steps = group[group["phase"] != "full_run"]
        if not steps.empty:
            written.append(figures.steps_figure(steps, title, run_dir / f"{workload}-steps.png"))
        rungs = ladder[ladder["workload"] == workload] if not ladder.empty else ladder
        if not rungs.empty:
            epochs = int(group.loc[group["phase"] == "full_run", "epochs"].iloc[0])
            written.append(figures.ladder_figure(rungs, title, epochs, rungs["baseline"].iloc[0], alpha_text,
                                                 run_dir / f"{workload}-ladder.png"))
        forest = fastest[fastest["workload"] == workload] if not fastest.empty else fastest
        if not forest.empty:
            written.append(figures.forest_figure(
                forest, f"{title}: which is fastest (runner-up / fastest, {alpha_text})",
                "runner-up's time / fastest's", run_dir / f"{workload}-fastest.png", THRESHOLD))
        if workload == "mlp" and doc.get("mlp_bench_roofline") and not rungs.empty:
            from bench.roofline import machine_from_json, roofline_table

            machine = machine_from_json(doc["mlp_bench_roofline"])
            table = roofline_table(group.drop(columns="label").assign(impl=group["label"]), machine)
            if not table.empty:
                written.append(figures.roofline_figure(table, machine, run_dir / f"{workload}-roofline.png"))
        memory = group.dropna(subset=["peak_step_mb"]).drop_duplicates(["label", "batch_size"])
        if memory["batch_size"].nunique() > 1:
            written.append(figures.memory_figure(memory, title, run_dir / f"{workload}-memory.png"))
    return written


def save_run(doc: dict[str, Any], run_dir: Path, complete: bool, **record: Any) -> str:
    """Fill the run folder: the JSON, the tidy frame (CSV + Markdown), the rendered tables and the plots; then
    record in run.json whether the run is complete (and ``record``: the signal that stopped it). Returns the
    tables' text."""
    write_json(run_dir / BENCHMARK_FILE, doc, indent=None)
    frame = tidy_frame(doc)
    if frame.empty:
        text = "no benchmark finished"
    else:
        text = render(frame, doc)
        atomic_write_text(run_dir / "benchmarks.csv", frame.to_csv(index=False))
        atomic_write_text(run_dir / "benchmarks.md", frame.drop(columns=["noise"]).to_markdown(index=False))
        atomic_write_text(run_dir / "tables.md", text + "\n")
        plot(frame, doc, run_dir)
    update_run_record(run_dir, complete=complete, benchmarks=len(frame),
                      machine=doc.get("machine_info", {}).get("mlp_bench", {}), **record)
    if not frame.empty:  # last: the page shows the record as it now stands (complete or not)
        from bench.html import write_run_page

        write_run_page(run_dir / "index.html", run_dir, doc, frame)
    return text


def load_run(path: Path) -> tuple[dict[str, Any], pd.DataFrame]:
    """A saved benchmark run's JSON and frame: a run folder, or a plain pytest-benchmark JSON file of this suite
    (``--benchmark-json``/``--benchmark-save``; one process per case unless its rounds are tagged). One-line
    errors for profiles, missing, corrupt or foreign files."""
    if path.is_dir():
        info = read_run(path)
        if info.kind != "benchmark":
            raise MLPBenchError(f"{path}: a {info.kind} run, not a benchmark run")
        file = path / BENCHMARK_FILE
        if not file.is_file() and (path / f"{BENCHMARK_FILE}.gz").is_file():
            file = path / f"{BENCHMARK_FILE}.gz"  # schema 2 stored committed runs compressed
    else:
        file = path
    try:
        text = gzip.decompress(file.read_bytes()).decode() if file.suffix == ".gz" else file.read_text()
        doc = json.loads(text)
    except FileNotFoundError:
        raise MLPBenchError(f"{file}: missing") from None
    except IsADirectoryError:
        raise MLPBenchError(f"{file}: a folder without {RUN_FILE}, not a run") from None
    except (json.JSONDecodeError, OSError, EOFError, UnicodeDecodeError, RecursionError, ValueError) as err:
        raise MLPBenchError(f"{file}: corrupt benchmark JSON ({brief_error(err)})") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("benchmarks"), list):
        raise MLPBenchError(f"{file}: not a pytest-benchmark JSON (no list of benchmarks)")
    if doc["benchmarks"] and not any(isinstance(b, dict) and isinstance(b.get("extra_info"), dict)
                                     and b["extra_info"].get("impl") for b in doc["benchmarks"]):
        raise MLPBenchError(f"{file}: holds no mlp-bench benchmarks (no extra_info.impl: not written by "
                            "`pytest bench/`)")
    check(BenchmarkDocument, doc, file, "benchmark JSON")
    _check_unique(doc, file)
    frame = tidy_frame(doc)
    if frame.empty:
        raise MLPBenchError(f"{file}: holds no benchmark results")
    return doc, frame


def _check_unique(doc: dict[str, Any], file: Path) -> None:
    """One result per case: two would make every table ambiguous."""
    seen = set()
    for bench in doc["benchmarks"]:
        info = bench["extra_info"]
        key = (info["impl"], info.get("backend") or "", info["workload"], info["phase"], info["batch_size"])
        if key in seen:
            raise MLPBenchError(f"{file}: corrupt benchmark JSON: two results for {bench['name']}")
        seen.add(key)


def is_complete(path: Path) -> bool:
    """A run folder says whether it ended normally; a plain JSON file is whatever pytest-benchmark wrote."""
    return read_run(path).complete if path.is_dir() else True


def why_incomplete(path: Path) -> str:
    """How an incomplete run ended, as its record says: ``stopped by SIGTERM`` or ``interrupted or failed``."""
    stopped = read_run(path).record.get("stopped_by") if path.is_dir() else None
    return f"stopped by {stopped}" if stopped else "interrupted or failed"
