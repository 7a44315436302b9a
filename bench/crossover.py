"""`mlp-bench map`: who is fastest where. Every CPU implementation's train step and full epoch, per sample,
over model widths, depths and batch sizes, read into one map: which implementation is fastest in each cell
(with the runner-up's ratio, its interval and whether that resolves), where the fastest changes (the crossover
lines), and each cell's FLOP rate against this machine's sgemm peak (where an implementation turns
compute-bound).

Each model is one run of the benchmark suite (``bench/runner.py``: its worker processes, yardstick and
intervals, pytest-benchmark's storage), saved under the map's folder in ``runs/``; the map only reads them.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path
from typing import Any

import pandas as pd

from bench import options
from bench import settings as suite
from bench.environment import blas_threads, current_blas_threads, machine_record, numpy_blas_kernel
from bench.figures import crossover_figure, flop_rate_figure
from bench.options import Option
from bench.results import against_fastest, load_run
from bench.roofline.flops import flops_per_sample
from bench.roofline.kernels import measure_square_sgemm
from bench.runner import run_suite
from bench.runs import atomic_write_text, list_runs, new_run_dir, update_run_record
from bench.tables import markdown, wrap
from impl.config import N_CLASSES, N_INPUTS, N_TRAIN, layer_text, validate_layers
from impl.data import load_dataset
from impl.errors import ConfigError, MLPBenchError
from impl.registry import get_implementation
from impl.workloads import get_workload

KIND = "map"
SEED_HIDDEN = (70, 30)  # the seed's hidden widths: width x1, and the ends of a deeper stack
PHASES = ("train_step", "full_run")  # full_run with one epoch: the "full epoch" column of the map
#: the CPU implementations of the map: the fastest of each family. The NumPy ladder's rungs V0-V3 are the seed's
#: mathematics with overheads numpy-tuned removes (slower than it in every case of the reference run), and
#: torch-compile-cpu was the fastest in no cell of the reference map (1.39x-2.40x behind) while its Inductor
#: compilation took a third of that map's worker time (15 of 45 min); --impl adds any of them
DEFAULT_IMPLS = ("numpy-tuned", "torch-cpu", "jax-cpu", "keras-cpu")


@dataclass(frozen=True)
class Grid:
    """The cells of a map: width multipliers of the seed's hidden layers, hidden-layer counts, batch sizes of
    the train step and of the full epoch."""

    widths: tuple[int, ...]
    depths: tuple[int, ...]
    step_batch_sizes: tuple[int, ...]
    epoch_batch_sizes: tuple[int, ...]
    left_out: tuple[tuple[int, int], ...] = ()  # (width, depth) models of the product not run

    def models(self) -> list[tuple[int, int, tuple[int, ...]]]:
        """(width multiplier, depth, layers) of every model, narrowest and shallowest first."""
        return [(w, d, (N_INPUTS, *hidden_widths(w, d), N_CLASSES)) for d in self.depths for w in self.widths
                if (w, d) not in self.left_out]


#: Each batch size is one worker process per model and process round, shared by the implementations, and the
#: cost of a model grows with its FLOPs: on the 2-vCPU EPYC VMs (2026-12-06, AVX2 only) the x1 and x4 models
#: took 3.7-6.3 min of wall time each, x16 at depth 2 (8.5 MFLOP per sample) 16.3 min, and x16 at depth 4
#: (1120-912-688-480, 17.2 MFLOP per sample) was still running after 16 min with 30 to go (its B=20000
#: worker alone 12.8 min). So the default leaves that one model out (``--widths 1,4,16 --depths 2,4`` runs the
#: whole product) and B=5000 (``--batch-sizes 64,500,5000,20000`` adds it), which keeps the default map near
#: 35 minutes there; the suite's roofline is skipped too (``--no-roofline``: the map measures its own peak).
FULL = Grid(widths=(1, 4, 16), depths=(2, 4), step_batch_sizes=(64, 500, 20000), epoch_batch_sizes=(500, 20000),
            left_out=((16, 4),))
QUICK = Grid(widths=(1, 4), depths=(2,), step_batch_sizes=(500,), epoch_batch_sizes=(500,))
QUICK_IMPLS = ("numpy-tuned", "numpy-v3-sliced")


def hidden_widths(width: int, depth: int) -> tuple[int, ...]:
    """``depth`` hidden layers from the seed's first width down to its last, times ``width``: x1 depth 2 is the
    seed's 70-30, depth 4 is 70-57-43-30."""
    first, last = SEED_HIDDEN
    if depth == 1:
        return (first * width,)
    return tuple(width * round(first + (last - first) * i / (depth - 1)) for i in range(depth))


def _ints(text: str, low: int, high: int, what: str) -> tuple[int, ...]:
    try:
        values = tuple(dict.fromkeys(int(p) for p in text.split(",")))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {text!r}") from None
    for value in values:
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"{what} must be between {low} and {high}, got {value}")
    return values


WIDTHS = Option("--widths", "comma-separated multipliers of the seed's hidden widths (70, 30)",
                lambda t: _ints(t, 1, 64, "a width multiplier"),
                default_help="1,4,16, x16 at depth 2 only (naming --widths or --depths runs every pair); --quick: 1,4")
DEPTHS = Option("--depths", "comma-separated numbers of hidden layers", lambda t: _ints(t, 1, 8, "a depth"),
                default_help="2,4; --quick: 2")
EPOCH_BATCH_SIZES = options.BATCH_SIZES.but(flag="--epoch-batch-sizes", help="batch sizes of the full epoch",
                                            default_help="500,20000; --quick: 500")


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("map", help="who is fastest where: implementations across model widths, depths "
                                   "and batch sizes (a heat map, a table, FLOP rates)", description=__doc__,
                                   formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="a tiny grid in one process each (CI, a first look): "
                        "widths 1,4, depth 2, B=500, numpy-tuned and numpy-v3-sliced; no intervals")
    options.IMPLS.but(default_help=f"{','.join(DEFAULT_IMPLS)} (those installed)").add_to(parser)
    WIDTHS.add_to(parser)
    DEPTHS.add_to(parser)
    options.BATCH_SIZES.but(help="batch sizes of the train step", default_help="64,500,20000; --quick: 500"
                            ).add_to(parser)
    EPOCH_BATCH_SIZES.add_to(parser)
    options.PROCESSES.but(default_help="2; --quick: 1").add_to(parser)
    options.THREADS.but(default_help="the suite's: one fewer than the CPUs").add_to(parser)
    options.MNIST.add_to(parser)
    options.RESULTS_DIR.add_to(parser)
    parser.set_defaults(run=run)


def grid_of(args: argparse.Namespace) -> Grid:
    base = QUICK if args.quick else FULL
    return Grid(args.widths or base.widths, args.depths or base.depths,
                tuple(args.batch_sizes or base.step_batch_sizes),
                tuple(args.epoch_batch_sizes or base.epoch_batch_sizes),
                left_out=() if args.widths or args.depths else base.left_out)  # named models all run


def run(args: argparse.Namespace) -> int:
    grid = grid_of(args)
    for _, _, layers in grid.models():
        validate_layers(layers)
    impls = tuple(args.impl or (QUICK_IMPLS if args.quick else DEFAULT_IMPLS))
    fixed = [name for name in impls
             if not get_workload(get_implementation(name, require_available=False).workload).sized]
    if fixed:
        raise ConfigError(f"--impl {','.join(fixed)}: a fixed model (not an MLP of --layers widths) has no place on "
                          "the map")
    if args.mnist is not None:
        load_dataset(args.mnist)  # a wrong path is one line now, before any folder is written
    if args.processes == 1 and not args.quick:
        raise ConfigError("--processes 1 gives no intervals, so no cell could resolve; use 2 or more (or --quick)")
    folder = new_run_dir(args.results_dir, "map-quick" if args.quick else "map", KIND,
                         {"grid": grid.__dict__, "impls": list(impls), "machine": machine_record()})
    print(f"map: {folder} ({len(grid.models())} models x {len(impls)} implementations)", file=sys.stderr)
    for n, (_, _, layers) in enumerate(grid.models(), 1):
        print(f"map: model {n}/{len(grid.models())}: {layer_text(layers)}", file=sys.stderr)
        status = run_suite({suite.IMPLS: list(impls), suite.PHASES_OPTION: list(PHASES),
                            suite.BATCH_SIZES: grid.step_batch_sizes,
                            suite.FULL_RUN_BATCH_SIZES: grid.epoch_batch_sizes,
                            suite.EPOCHS: 1, suite.LAYERS: layers, suite.RESULTS_DIR: folder / "runs",
                            suite.TAG: f"map-{layer_text(layers)}", suite.QUICK_OPTION: args.quick,
                            suite.PROCESSES: args.processes, suite.THREADS: args.threads, suite.MNIST: args.mnist,
                            suite.NO_ROOFLINE: True})  # the map measures its own sgemm peak, below
        if status != 0:
            raise MLPBenchError(f"map: the benchmark run of {layer_text(layers)} failed (exit {status}); its output "
                                f"is above; the map folder {folder} stays incomplete")
    with blas_threads(args.threads or suite.default_threads()[0]):
        peak = measure_square_sgemm()
        threads = current_blas_threads()
        kernel = numpy_blas_kernel()
    cells = read_cells(folder / "runs", peak)
    write_map(folder, cells, peak, threads, kernel)
    update_run_record(folder, complete=True, sgemm_gflops=peak, threads=threads, sgemm_kernel=kernel)
    print((folder / "map.md").read_text())
    print(f"map: {folder}", file=sys.stderr)
    return 0


def read_cells(runs: Path, peak_gflops: float) -> pd.DataFrame:
    """One row per model, phase, batch size and implementation: time per sample, the ratio to the cell's
    fastest with its interval and verdict, and the FLOP rate (matrix products only) against the sgemm peak."""
    rows = []
    for info in list_runs(runs, kind="benchmark"):
        doc, frame = load_run(info.path)
        versus = against_fastest(frame, doc)
        for row, case in zip(versus.itertuples(), _cases(frame, versus), strict=True):
            layers = tuple(int(w) for w in row.layers.split("-"))
            per_sample = case.process_median_s / (row.batch_size if row.phase == "train_step" else N_TRAIN)
            gflops = flops_per_sample(layers)["total"] / per_sample / 1e9
            rows.append({"layers": row.layers, "depth": len(layers) - 2, "phase": row.phase,
                         "batch_size": int(row.batch_size), "impl": row.impl, "us_per_sample": per_sample * 1e6,
                         "x_fastest": row.x_fastest, "low": row.low, "high": row.high, "verdict": row.verdict,
                         "processes": int(row.processes), "gflops": gflops, "peak_share": gflops / peak_gflops})
    return pd.DataFrame(rows)


def _cases(frame: pd.DataFrame, versus: pd.DataFrame) -> list[Any]:
    """The frame's row of each row of ``versus`` (same implementation, phase and batch size)."""
    index = {(r.impl, r.phase, int(r.batch_size)): r for r in frame.itertuples()}
    return [index[(r.impl_name, r.phase, int(r.batch_size))] for r in versus.itertuples()]


def fastest_cells(cells: pd.DataFrame) -> pd.DataFrame:
    """Per model, phase and batch size: the fastest, the runner-up's ratio with its interval, and whether the
    order is resolved (the runner-up resolved slower than the threshold)."""
    rows = []
    for (layers, phase, size), group in cells.groupby(["layers", "phase", "batch_size"], sort=False):
        ranked = group.sort_values("x_fastest")
        best = ranked.iloc[0]
        second = ranked.iloc[1] if len(ranked) > 1 else None
        rows.append({"layers": layers, "depth": best["depth"], "phase": phase, "batch_size": size,
                     "fastest": best["impl"], "runner_up": None if second is None else second["impl"],
                     "ratio": None if second is None else second["x_fastest"],
                     "low": None if second is None else second["low"],
                     "high": None if second is None else second["high"],
                     "resolved": second is not None and second["verdict"] == "slower",
                     "gflops": best["gflops"], "peak_share": best["peak_share"]})
    return pd.DataFrame(rows)


def _cell_text(row: Any) -> str:
    if row.runner_up is None:
        return f"{row.fastest} (alone)"
    interval = f" [{row.low:.2f}, {row.high:.2f}]" if pd.notna(row.low) else ""
    return f"{row.fastest}, next {row.ratio:.2f}x{interval}{'' if row.resolved else ' (unresolved)'}"


def crossovers(best: pd.DataFrame) -> list[str]:
    """Where the fastest changes, in words: per phase and model along the batch sizes, and per phase and batch
    size from one width to the next at the same depth. A change between two cells of which either is
    unresolved is a point estimate, and says so."""
    lines = []
    for phase, group in best.groupby("phase", sort=False):
        what = "train step" if phase == "train_step" else "full epoch"
        models = list(dict.fromkeys(group["layers"]))
        sizes = sorted(set(group["batch_size"]))
        cell = {(r.layers, r.batch_size): r for r in group.itertuples()}
        pairs = [((m, a), (m, b), f"{m}, B={a} -> {b}") for m in models for a, b in pairwise(sizes)]
        wider = [(m, n) for m, n in pairwise(models) if m.count("-") == n.count("-")]  # same depth, next width
        pairs += [((m, b), (n, b), f"B={b}, {m} -> {n}") for b in sizes for m, n in wider]
        for left, right, where in pairs:
            one, two = cell.get(left), cell.get(right)
            if one is None or two is None or one.fastest == two.fastest:
                continue
            sure = "" if one.resolved and two.resolved else " (unresolved: a point estimate)"
            lines.append(f"- {what}, {where}: {one.fastest} -> {two.fastest}{sure}")
    return lines or ["- none: the same implementation is the fastest in every cell"]


def write_map(folder: Path, cells: pd.DataFrame, peak: float, threads: int, kernel: str) -> None:
    """cells.csv (every implementation in every cell), map.md (the fastest per cell, one table per phase) and
    the two figures. ``peak`` is NumPy's sgemm rate on ``kernel`` (its BLAS and kernel set): a framework with
    kernels of its own can run above it."""
    cells = cells.sort_values("phase", key=lambda p: p.map(PHASES.index), kind="stable")
    best = fastest_cells(cells)
    atomic_write_text(folder / "cells.csv", cells.to_csv(index=False))
    atomic_write_text(folder / "fastest.csv", best.to_csv(index=False))
    parts = [wrap(f"# Who is fastest where ({threads} BLAS thread(s); NumPy's sgemm peak {peak:.1f} GFLOP/s, "
                  f"{kernel} kernels)"), ""]
    for phase, group in best.groupby("phase", sort=False):
        what = "train step" if phase == "train_step" else "full epoch"
        table = group.assign(cell=[_cell_text(r) for r in group.itertuples()]).pivot(
            index="layers", columns="batch_size", values="cell")
        table = table.reindex(list(dict.fromkeys(group["layers"])))
        table.columns = [f"B={c}" for c in table.columns]
        parts += [wrap(f"## {what}: the fastest, and the runner-up's time over it with its 99 % interval "
                       "(unresolved: the interval reaches 1 or the gap is under 5 %)"), "",
                  markdown(table.reset_index(), wide=True), ""]
        share = group.pivot(index="layers", columns="batch_size", values="peak_share")
        share = share.reindex(list(dict.fromkeys(group["layers"])))
        share.columns = [f"B={c}" for c in share.columns]
        parts += [wrap(f"the fastest's FLOP rate as a share of NumPy's sgemm peak ({what}, matrix products only; "
                       "over 100 %: the implementation's own kernels outrun NumPy's BLAS):"), "",
                  markdown(share.reset_index(), wide=True, floatfmt=".0%"), ""]
    parts += ["## crossovers: where the fastest changes between neighbouring cells", "", *crossovers(best), ""]
    atomic_write_text(folder / "map.md", "\n".join(parts))
    crossover_figure(best, folder / "map-fastest.png")
    flop_rate_figure(cells, peak, kernel, folder / "map-flops.png")
