"""ladder (Steps I-III): the 35-epoch times of the optimisation ladder at B=500 and B=20000, from one benchmark
run with worker processes (so every ratio has its interval), beside the articles' figures."""

from __future__ import annotations

from collections.abc import Callable
from itertools import permutations
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from bench import settings as suite
from bench.figures import colour_of, pyplot, save
from bench.options import Option
from bench.reproduce.claims import Measure, articles_times
from bench.reproduce.common import Context, Summary, markdown_table
from bench.results import case_data, label_of, load_run, measured, run_covariate
from bench.runner import option_args, run_suite
from bench.runs import list_runs, read_run
from bench.stats import compare_cases
from impl.config import layer_text
from impl.errors import MLPBenchError

NAME = "ladder"
TITLE = "The optimisation ladder (Steps I-III): 35-epoch times"
IMPLS = ("numpy-v0-naive", "numpy-v1-float32", "numpy-v2-c", "numpy-v2-f", "numpy-v3-sliced", "numpy-tuned",
         "keras-cpu", "keras-fit-cpu")
SIZES = (500, 20000)
#: Per-step phases timed beside the full runs, at the same batch sizes: Step II's claim is about the forward pass
#: of big batches, Step III's profile compares the forward and the backward pass per batch.
STEP_PHASES = ("forward", "backward")
BENCHMARK_DIR = "benchmark"


def full_runs(path: Path, phase: str = "full_run") -> tuple[dict[str, Any], pd.DataFrame]:
    """The MLP full runs (or another phase's cases) of a saved benchmark run, labelled as in its tables (default
    backends only); a damaged case is none of them."""
    doc, frame = load_run(path)
    frame = measured(frame)
    frame = frame[(frame["workload"] == "mlp") & (frame["phase"] == phase)]
    frame = frame.assign(label=[label_of(r) for r in frame.itertuples()])
    return doc, frame[frame["label"] == frame["impl"]]


def check_source(path: Path, layers: tuple[int, ...]) -> None:
    """``--from RUN`` must be a benchmark run of this model holding the ladder's full runs at both batch sizes."""
    _, frame = full_runs(path)
    models = sorted({m for m in frame["layers"] if m} - {layer_text(layers)})
    if models:
        raise MLPBenchError(f"{path}: measured the model {', '.join(models)}, this reproduction trains "
                            f"{layer_text(layers)}; pass --layers to match, or another run")
    have = {(r.impl, int(r.batch_size)) for r in frame.itertuples()}
    missing = [f"{impl}@{size}" for impl in IMPLS for size in SIZES if (impl, size) not in have]
    if len(missing) == len(IMPLS) * len(SIZES):
        raise MLPBenchError(f"{path}: holds no MLP full runs at B={SIZES}; the ladder needs a benchmark run "
                            "with --phases full_run (or the default run)")
    # the NumPy rungs are the ladder; a framework's (Keras: an extra) may be missing, its claims then say so
    required = [m for m in missing if m.startswith("numpy-")]
    if required:
        raise MLPBenchError(f"{path}: lacks the ladder's full runs {', '.join(required)}; rerun with --impl "
                            f"{','.join(IMPLS)} --full-run-batch-sizes {','.join(map(str, SIZES))}")


def source_run(folder: Path, record: dict[str, Any]) -> Path | None:
    """The benchmark run the ladder reads: ``--from RUN``, else the latest complete one it measured itself."""
    if record.get("ladder_from"):
        return Path(record["ladder_from"])
    runs = list_runs(folder / NAME / BENCHMARK_DIR, kind="benchmark")
    return runs[-1].path if runs else None


def benchmark_options(ctx: Context) -> dict[Option, Any]:
    """The benchmark run the ladder needs: its implementations' full runs at its batch sizes, in this folder."""
    return {suite.IMPLS: IMPLS, suite.PHASES_OPTION: [*STEP_PHASES, "full_run"], suite.FULL_RUN_BATCH_SIZES: SIZES,
            suite.BATCH_SIZES: SIZES,
            suite.RESULTS_DIR: ctx.folder / NAME / BENCHMARK_DIR, suite.TAG: "ladder",
            suite.QUICK_OPTION: ctx.profile.name == "quick", suite.THREADS: ctx.threads, suite.MNIST: ctx.mnist,
            suite.LAYERS: ctx.layers, suite.PROCESSES: ctx.processes}


def run(ctx: Context) -> None:
    ctx.experiment_dir(NAME)
    if ctx.ladder_from is not None:
        ctx.log(f"ladder: times from {ctx.ladder_from}")
        return
    if source_run(ctx.folder, {}) is not None:
        ctx.log("ladder: its benchmark run is complete (resumed)")
        return
    values = benchmark_options(ctx)
    ctx.log("ladder: one benchmark run, every case in its own worker processes: pytest bench/ --benchmark-only "
            + " ".join(option_args(values)))
    status = run_suite(values)
    if status != 0 or source_run(ctx.folder, {}) is None:
        raise MLPBenchError(f"ladder: the benchmark run failed (exit {status}); its output is above")


BASE = "numpy-v3-sliced"  # the rung every ratio of the articles is taken over


def _ratio(logs: dict, pool: Any, a: tuple, b: tuple) -> Measure:
    result = compare_cases(logs[b], logs[a], pool)  # B over A: here a's time over b's
    return Measure(result.ratio, result.low, result.high, f"{result.verdict}, {result.n_a}+{result.n_b} processes")


def summarise(folder: Path, record: dict[str, Any], link: Callable[[Path], str]) -> Summary:
    summary = Summary(NAME)
    source = source_run(folder, record) if record.get("kind") == "reproduction" else folder
    if source is None:
        summary.missing.append("the ladder's benchmark run")
        summary.not_run_reason = "ladder not measured"
        return summary
    doc, frame = full_runs(source)
    logs, pool = case_data(doc), run_covariate(doc)
    keys = {(r.impl, int(r.batch_size)): (r.impl, r.backend, r.workload, r.phase, r.batch_size)
            for r in frame.itertuples()}
    for size in SIZES:
        for a, b in permutations([impl for impl, s in keys if s == size], 2):
            summary.measures[f"ladder.ratio.{a}/{b}@{size}"] = _ratio(logs, pool, keys[(a, size)], keys[(b, size)])
    for impl in {impl for impl, _ in keys}:
        if (impl, 500) in keys and (impl, 20000) in keys:
            summary.measures[f"ladder.size_ratio.{impl}@500/20000"] = _ratio(logs, pool, keys[(impl, 500)],
                                                                             keys[(impl, 20000)])
    _step_measures(summary, source, logs, pool)
    figure = folder / NAME / "ladder.png"
    summary.section = _section(source, frame, link, bool(frame["quick"].fillna(False).any()),
                               figure if figure.is_file() else None, _both_statistics(frame, logs, pool))
    return summary


def _step_measures(summary: Summary, source: Path, logs: dict, pool: Any) -> None:
    """Per-step ratios: ``ladder.<phase>.ratio.A/B@size`` between implementations and
    ``ladder.phase_ratio.A.<phase>/<phase>@size`` between the phases of one implementation (a ladder measured
    before the step phases were part of it has neither; their claims say not measured)."""
    keys = {}
    for phase in STEP_PHASES:
        _, frame = full_runs(source, phase)
        keys.update({(r.impl, phase, int(r.batch_size)): (r.impl, r.backend, r.workload, r.phase, r.batch_size)
                     for r in frame.itertuples()})
    for (a, phase, size), case in keys.items():
        for (b, other, other_size), other_case in keys.items():
            if size != other_size or (a, phase) == (b, other):
                continue
            if phase == other:
                summary.measures[f"ladder.{phase}.ratio.{a}/{b}@{size}"] = _ratio(logs, pool, case, other_case)
            elif a == b:
                summary.measures[f"ladder.phase_ratio.{a}.{phase}/{other}@{size}"] = _ratio(logs, pool, case,
                                                                                            other_case)


def _both_statistics(frame: pd.DataFrame, logs: dict, pool: Any) -> str:
    """Every rung over V3 in the two statistics: ours (the ratio of geometric means of per-process medians, with
    its interval; the claims use it) and the articles' (the best run of each side over the other's best)."""
    keys = {(r.impl, int(r.batch_size)): (r.impl, r.backend, r.workload, r.phase, r.batch_size)
            for r in frame.itertuples()}
    sizes = sorted({size for _, size in keys})
    rows = []
    for impl in [i for i in IMPLS if i != BASE] + sorted({i for i, _ in keys} - set(IMPLS)):
        row = [impl]
        for size in sizes:
            if (impl, size) not in keys or (BASE, size) not in keys:
                row += ["", ""]
                continue
            median = _ratio(logs, pool, keys[(impl, size)], keys[(BASE, size)])
            best = float(np.exp(logs[keys[(impl, size)]].logs.min() - logs[keys[(BASE, size)]].logs.min()))
            row += [Measure(median.value, median.low, median.high).text("ratio"), f"{best:.3f}"]
        rows.append(row)
    head = ["over V3"] + [h for size in sizes for h in (f"B={size}: median of processes", f"B={size}: best run")]
    return markdown_table(head, rows)


def _section(source: Path, frame: pd.DataFrame, link: Callable[[Path], str], quick: bool,
             figure: Path | None, both: str) -> str:
    articles = articles_times()
    table = frame.pivot_table(index="impl", columns="batch_size", values="process_median_s")
    v3 = table.loc["numpy-v3-sliced"] if "numpy-v3-sliced" in table.index else None
    rows = []
    for impl in [i for i in IMPLS if i in table.index] + [i for i in table.index if i not in IMPLS]:
        row = [impl]
        for size in table.columns:
            ours = table.loc[impl, size]
            theirs = articles.get((impl, int(size)))
            rel = f" ({ours / v3[size]:.2f}x V3)" if v3 is not None else ""
            row += [f"{ours:.2f} s{rel}", f"{theirs:g} s" if theirs else ""]
        rows.append(row)
    head = ["implementation"] + [h for size in table.columns for h in (f"ours B={size}", f"articles B={size}")]
    record = read_run(source).record
    text = [f"Source: benchmark run `{source.name}` ({record.get('machine', {}).get('cpu_model', '?')}), "
            f"geometric mean of per-process medians, {int(frame['processes'].max())} process(es) per case"
            + (", QUICK profile (1 epoch)" if quick else "") + ". The articles' seconds come from a 2020 "
            "i7-6700K: compare the ratios, not the seconds.", "", markdown_table(head, rows), "",
            "Each rung over V3 in both statistics: the claims use the ratio of per-process medians (with its 99 % "
            "interval); the articles reported the best of three runs, here the best process of each side (one run "
            "each), which has no interval and moves more with one lucky or unlucky run.", "", both]
    if figure is not None:
        text += ["", f"![ladder]({link(figure)})"]
    return "\n".join(text)


def draw(folder: Path, record: dict[str, Any]) -> Path | None:
    """Our times per implementation and batch size, the articles' as markers."""
    source = source_run(folder, record)
    if source is None:
        return None
    plt = pyplot()
    _, frame = full_runs(source)
    table = frame.pivot_table(index="impl", columns="batch_size", values="process_median_s")
    order = [i for i in IMPLS if i in table.index]
    fig, axes = plt.subplots(1, len(table.columns), figsize=(5 * len(table.columns), 0.45 * len(order) + 1.8),
                             squeeze=False, sharey=True)
    articles = articles_times()
    for ax, size in zip(axes[0], table.columns, strict=True):
        y = range(len(order))
        ax.barh(list(y), [table.loc[i, size] for i in order], color=[colour_of(i) for i in order], label="ours")
        marks = [(n, articles[(i, int(size))]) for n, i in enumerate(order) if (i, int(size)) in articles]
        if marks:
            ax.scatter([s for _, s in marks], [n for n, _ in marks], color="black", marker="D", zorder=3,
                       label="articles (i7-6700K, 2020)")
        ax.set(title=f"B={size}", xlabel="seconds for the run")
        ax.set_yticks(list(y), order)
        ax.invert_yaxis()
        ax.grid(True, axis="x", alpha=0.3)
    axes[0][0].legend(fontsize="small")
    fig.tight_layout()
    return save(fig, folder / NAME / "ladder.png")
