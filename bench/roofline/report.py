"""Full-run results against the roofline (achieved GFLOP/s, percent of the sgemm-peak bound, multiples of the
floors) and the roofline section of a benchmark report, rendered with the project's table code."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from bench.roofline.flops import phase_flops
from bench.roofline.kernels import FUSE_ROWS
from bench.roofline.machine import measure_machine
from bench.tables import markdown, wrap
from impl.numpy_mlp.tuned import NumpyTuned

TABLE_COLUMNS = ["impl", "batch_size", "epochs", "median_s", "gflop", "achieved_gflops", "pct_of_peak_bound",
                 "product_floor_s", "x_product_floor", "floor_s", "x_floor", "x_floor_low", "x_floor_high",
                 "floor_measured_in"]


def roofline_table(frame: pd.DataFrame, machine: dict[str, Any] | None = None, threads: int | None = None,
                   intervals: dict[tuple[str, int], tuple[float, float]] | None = None,
                   in_process: dict[tuple[str, int], tuple[float, float, float]] | None = None) -> pd.DataFrame:
    """Full-run results (columns impl, batch_size, median_s, epochs; a tidy benchmark frame works: rows of
    other phases or workloads are ignored) against the roofline.

    Per row: the run's GFLOP, achieved GFLOP/s, percent of the sgemm-peak bound (bound time / run time),
    and the run time as a multiple of the matrix-product floor (``x_product_floor``) and of the products +
    gather floor (``x_floor``). ``machine`` comes from :func:`measure_machine`; None measures it now for the
    frame's batch sizes (pass ``threads`` to measure with a given BLAS thread count). Batch sizes the
    machine dict lacks get NaN floors. ``intervals`` maps (impl, batch size) to the factors of its time's
    interval (:func:`bench.stats.level_interval`): ``x_floor_low``/``high`` (NaN where none is given), around
    the controller's one floor measurement, taken as fixed. ``in_process`` maps (impl, batch size) to the multiple
    of the floor its worker processes measured beside the run, with its interval
    (:func:`bench.results.full_run_floor_multiples`): where given, ``x_floor`` and its interval are that, and
    ``floor_measured_in`` says ``worker`` (else ``controller``)."""
    full = frame
    if "phase" in full.columns:
        full = full[full["phase"] == "full_run"]
    if "workload" in full.columns:
        full = full[full["workload"].fillna("mlp") == "mlp"]
    if full.empty:
        return pd.DataFrame(columns=TABLE_COLUMNS)
    if machine is None:
        machine = measure_machine(full["batch_size"].astype(int).unique(), threads)
    per_sample = machine["flops_per_sample"]["total"]
    n_train = machine["n_train"]
    rows = []
    for row in full.itertuples(index=False):
        B = int(row.batch_size)
        epochs = int(row.epochs) if pd.notna(row.epochs) else machine["epochs"]
        # the time every other table gives a full run: the geometric mean of its per-process times
        seconds = float(row.process_median_s if pd.notna(getattr(row, "process_median_s", None)) else row.median_s)
        flops = per_sample * n_train * epochs
        size = machine["batch_sizes"].get(B)
        product_floor = size["product_floor_epoch_s"] * epochs if size else float("nan")
        floor = size["floor_epoch_s"] * epochs if size else float("nan")
        bound = machine["peak_bound_epoch_s"] * epochs
        low, high = (intervals or {}).get((row.impl, B), (float("nan"), float("nan")))
        multiple = (seconds / floor, seconds / floor * low, seconds / floor * high, "controller")
        if (row.impl, B) in (in_process or {}):
            multiple = (*in_process[(row.impl, B)], "worker")
        rows.append({"impl": row.impl, "batch_size": B, "epochs": epochs, "median_s": seconds,
                     "gflop": flops / 1e9, "achieved_gflops": flops / seconds / 1e9,
                     "pct_of_peak_bound": 100 * bound / seconds, "product_floor_s": product_floor,
                     "x_product_floor": seconds / product_floor, "floor_s": floor,
                     **dict(zip(["x_floor", "x_floor_low", "x_floor_high", "floor_measured_in"], multiple,
                                strict=True))})
    table = pd.DataFrame(rows, columns=TABLE_COLUMNS)
    return table.sort_values(["batch_size", "median_s"], kind="stable").reset_index(drop=True)


def render_roofline(machine: dict[str, Any], table: pd.DataFrame | None = None) -> str:
    """The roofline section of the benchmark report, as Markdown."""
    per = machine["flops_per_sample"]
    epochs = machine["epochs"]
    lines = ["## Roofline", "",
             f"Measured in this process, BLAS threads: {machine['threads']}. FLOPs count the matrix products only "
             "(2 per multiply-add, bias as an input of 1; see bench/roofline/flops.py).", "",
             f"- sgemm, {machine['square_n']}x{machine['square_n']}x{machine['square_n']} float32: "
             f"**{machine['square_gflops']:.1f} GFLOP/s**",
             f"- FLOP per sample: forward {per['forward']:,} + backward {per['backward']:,} = {per['total']:,}; "
             f"per epoch ({machine['n_train']:,} samples) {machine['epoch_flops'] / 1e9:.2f} GFLOP; "
             f"{epochs} epochs {machine['run_flops'] / 1e9:.1f} GFLOP",
             "- FLOP per sample by transition: " + ", ".join(f"{k} {v:,}" for k, v in machine["layer_flops"].items()),
             f"- sgemm-peak bound, {epochs} epochs: {machine['peak_bound_s']:.2f} s", ""]
    speed_head = ["B", "steps/epoch", "GFLOP/step", "products/step (ms)", "layout", "GFLOP/s", "% of square"]
    floor_head = ["B", "gather/step (ms)", "fused/step (ms)", "product floor (s)", "gather floor (s)",
                  "floor (s)"]
    speed_rows, floor_rows = [], []
    for B, m in sorted(machine["batch_sizes"].items()):
        fused = m.get("fused_step_s", float("nan"))
        speed_rows.append([B, m["steps_per_epoch"], f"{m['step_flops'] / 1e9:.4f}",
                           f"{m['step_products_s'] * 1e3:.3f}", m["best_layout"], f"{m['mlp_shape_gflops']:.1f}",
                           f"{100 * m['mlp_shape_gflops'] / machine['square_gflops']:.0f}"])
        floor_rows.append([B, f"{m['gather_s'] * 1e3:.3f}", "-" if np.isnan(fused) else f"{fused * 1e3:.3f}",
                           f"{m['product_floor_s']:.3f}", f"{m['gather_floor_s']:.3f}", f"{m['floor_s']:.3f}"])
    lines += ["Matrix products at the MLP's shapes (GFLOP/step: forward and backward; GFLOP/s: the products' "
              "rate at these shapes; % of square: of the sgemm rate above):", "", _table(speed_head, speed_rows), "",
              f"Floors of a {epochs}-epoch run:", "", _table(floor_head, floor_rows), "",
              "Fused: the gather and the products chunk-fused. Floor, the products + gather floor: the faster of "
              "product floor + "
              f"gather floor (one after the other, whole batch) and the fused one (batches above {FUSE_ROWS} rows, "
              f"numpy-tuned's chunk: {NumpyTuned.chunk.describe()}).",
              ""]
    phases = ["forward", "backward", "train_step"]
    flop_rows = [[B] + [f"{phase_flops(B, machine['layers'], machine['n_train'], epochs)[p] / 1e6:,.1f}"
                        for p in phases] for B in sorted(machine["batch_sizes"])]
    lines += ["MFLOP per phase call (prepare and update: no matrix products):", "",
              _table(["B"] + phases, flop_rows), ""]
    if table is not None and not table.empty:
        mixed = len(set(table["floor_measured_in"])) > 1
        impl_rows = [[r.impl, r.batch_size, r.epochs, f"{r.median_s:.3f}", f"{r.achieved_gflops:.1f}",
                      f"{r.pct_of_peak_bound:.1f}", f"{r.x_product_floor:.2f}",
                      _with_interval(r) + ("*" if mixed and r.floor_measured_in == "worker" else "")]
                     for r in table.itertuples(index=False)]
        lines += ["Per implementation (full runs; % of bound: the sgemm-peak bound over the run's time; x floor: "
                  "multiples of the products + gather floor):", "",
                  _table(["impl", "B", "epochs", "median (s)", "GFLOP/s", "% of bound", "x product floor",
                          "x floor [99%]"], impl_rows), "",
                  _floor_note(set(table["floor_measured_in"])), ""]
    return "\n".join(line if line.startswith("|") else wrap(line) for line in lines)


def _floor_note(measured_in: set[str]) -> str:
    """What the multiples of the products+gather floor divide by, and whose spread their interval is."""
    worker = ("Each worker process measured the products+gather floor right after its first full run at that "
              "size: the multiple is the geometric mean of the per-process multiples (run / floor, both from one "
              "process) and the interval their spread")
    controller = ("the interval is the full run's (its processes' spread, raw times) around the controller's one "
                  "floor measurement (the table above), taken as fixed")
    if measured_in == {"worker"}:
        return worker + "."
    if measured_in == {"controller"}:
        return controller[0].upper() + controller[1:] + "."
    return f"{worker} (rows marked *); elsewhere {controller}."


def _with_interval(row: Any) -> str:
    if np.isnan(row.x_floor_low):
        return f"{row.x_floor:.2f}"
    return f"{row.x_floor:.2f} [{row.x_floor_low:.2f}, {row.x_floor_high:.2f}]"


def _table(head: list[str], rows: list[list[Any]]) -> str:
    """Pre-formatted cells as a right-aligned Markdown table, through the project's table code (a column that
    holds one value in every row, such as the epochs, moves to a line above it; the keys stay)."""
    return markdown(pd.DataFrame(rows, columns=head), keep=["B", "impl"], stralign="right", disable_numparse=True)
