"""The run folder's figures: time per step against batch size, the full-run ladder with its intervals, forest
plots of ratios (a comparison, a run's "which is fastest"), memory against batch size.

One colour per implementation in every figure and panel (fixed by the registry's order, so numpy-tuned is the
same colour in every run), one legend per figure, batch sizes as plain tick labels.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from impl.registry import all_implementations

#: verdict -> colour in the forest plots (colour-blind safe: Okabe-Ito)
VERDICT_COLOURS = {"faster": "#009E73", "slower": "#D55E00", "same": "#0072B2", "cannot resolve": "#999999",
                   "fastest": "#000000"}


def pyplot() -> Any:
    """matplotlib's pyplot on the file-only Agg backend (no display on a benchmark machine)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def colour_of(label: str) -> Any:
    """An implementation's colour: the registry's order on a 20-colour map; ``impl@backend`` labels (Keras on
    another backend) and unknown names get a colour from a stable hash of the label."""
    from matplotlib import colormaps

    names = list(all_implementations())
    palette = [*colormaps["tab20"].colors, *colormaps["tab20b"].colors]
    index = names.index(label) if label in names else len(names) + zlib.crc32(label.encode()) % 20
    return palette[index % len(palette)]


def save(fig: Any, path: Path) -> Path:
    """Write a PNG atomically (a reader never sees half a file), then close the figure."""
    tmp = path.with_name(f".{path.name}.tmp")
    fig.savefig(tmp, dpi=110, format="png", bbox_inches="tight")
    tmp.replace(path)
    pyplot().close(fig)
    return path


def batch_axis(ax: Any, sizes: Sequence[int]) -> None:
    """A log axis of batch sizes labelled with the sizes measured, as plain numbers."""
    sizes = sorted({int(s) for s in sizes})
    ax.set_xscale("log")
    ax.set_xticks(sizes, [str(s) for s in sizes])
    ax.minorticks_off()
    ax.set_xlabel("batch size")


#: tick values a ratio axis may label (log scale): the ones that fall in its range, thinned to at most 8
RATIO_TICKS = [0.1, 0.2, 0.3, 0.5, 0.7, 0.8, 0.9, 1, 1.1, 1.2, 1.5, 2, 3, 4, 5, 7, 10, 15, 20, 30, 50, 100, 200,
               500, 1000]
COARSE_TICKS = [0.1, 0.2, 0.5, 1, 2, 5, 10, 20, 50, 100, 200, 500, 1000]


def ratio_axis(ax: Any) -> None:
    """A log x axis (ratios, speed-ups, GFLOP/s) labelled as plain numbers (1.5, 2, 10), never as 2x10^0."""
    from matplotlib.ticker import FixedLocator, NullFormatter, NullLocator

    ax.set_xscale("log")
    low, high = ax.get_xlim()
    ticks = [t for t in RATIO_TICKS if low <= t <= high]
    if len(ticks) > 8:
        ticks = [t for t in COARSE_TICKS if low <= t <= high]
    ax.xaxis.set_major_locator(FixedLocator(ticks))
    ax.xaxis.set_major_formatter(lambda value, _: f"{value:g}")
    ax.xaxis.set_minor_locator(NullLocator())
    ax.xaxis.set_minor_formatter(NullFormatter())


def plain_log_y(ax: Any) -> None:
    """A log y axis labelled 0.5, 1, 2, 5, 10 rather than 10^-1 ... 10^1 (ticks at 1, 2, 5 per decade, so that a
    range inside one decade is labelled too)."""
    from matplotlib.ticker import LogLocator, NullFormatter

    ax.set_yscale("log")
    ax.yaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
    ax.yaxis.set_major_formatter(lambda value, _: f"{value:g}")
    ax.yaxis.set_minor_formatter(NullFormatter())


def verdict_legend(ax: Any, colours: dict[str, Any], verdicts: Iterable[str]) -> None:
    """A legend of the verdict words that occur, in the palette's order."""
    from matplotlib.lines import Line2D

    present = set(verdicts)
    ax.legend(handles=[Line2D([], [], color=c, marker="o", ls="", label=v) for v, c in colours.items() if v in present],
              loc="best", fontsize="small", title="verdict")


def shared_legend(fig: Any, labels: Sequence[str], title: str = "implementation") -> None:
    """One legend for every panel, to the right of them, with every implementation drawn in any panel."""
    from matplotlib.lines import Line2D

    handles = [Line2D([], [], color=colour_of(label), marker="o", label=label) for label in labels]
    fig.legend(handles=handles, title=title, loc="outside right upper", fontsize="small")


def lines_over_batch_size(ax: Any, rows: pd.DataFrame, column: str, scale: float = 1.0) -> None:
    """One line per implementation label of ``column`` against batch size, on log-log axes."""
    for label, sub in rows.groupby("label", sort=False):
        sub = sub.sort_values("batch_size")
        ax.plot(sub["batch_size"], sub[column] * scale, marker="o", color=colour_of(label))
    plain_log_y(ax)
    batch_axis(ax, rows["batch_size"])
    ax.grid(True, which="both", alpha=0.3)


def steps_figure(steps: pd.DataFrame, workload: str, path: Path) -> Path:
    """Time per step against batch size, one panel per phase, log-log. ``steps``: the tidy frame's step rows
    with a ``label`` column."""
    plt = pyplot()
    phases = list(dict.fromkeys(steps["phase"]))
    fig, axes = plt.subplots(1, len(phases), figsize=(3.6 * len(phases) + 2.2, 3.6), squeeze=False,
                             layout="constrained")
    for ax, phase in zip(axes[0], phases, strict=True):
        lines_over_batch_size(ax, steps[steps["phase"] == phase], "process_median_s", scale=1e3)
        ax.set(title=phase, ylabel="ms per step")
    shared_legend(fig, _ordered(steps["label"]))
    fig.suptitle(f"{workload}: time per step against batch size (geometric mean of per-process medians)")
    return save(fig, path)


def ladder_figure(ladder: pd.DataFrame, workload: str, epochs: int, baseline: str, interval: str,
                  path: Path) -> Path:
    """The full-run speed-up ladder: speed-up against ``baseline`` per implementation, one panel per batch size,
    with its interval as an error bar. ``ladder``: label, batch_size, speedup, low, high (speed-up bounds; NaN
    where one process gave no interval)."""
    plt = pyplot()
    sizes = sorted(set(ladder["batch_size"]))
    order = ladder.groupby("label")["speedup"].mean().sort_values().index.tolist()  # fastest on top
    fig, axes = plt.subplots(1, len(sizes), figsize=(3.4 * len(sizes) + 2.5, 0.38 * len(order) + 1.6),
                             sharey=True, squeeze=False, layout="constrained")
    for ax, size in zip(axes[0], sizes, strict=True):
        rows = ladder[ladder["batch_size"] == size].set_index("label")
        for y, label in enumerate(order):
            if label not in rows.index:
                continue
            row = rows.loc[label]
            err = ([[row["speedup"] - row["low"]], [row["high"] - row["speedup"]]]
                   if np.isfinite(row["low"]) else None)
            ax.errorbar(row["speedup"], y, xerr=err, fmt="o", color=colour_of(label), capsize=3)
        ax.axvline(1, color="grey", lw=0.8)
        ax.set(xscale="log", title=f"B={size}", xlabel=f"speed-up vs {baseline}")
        ratio_axis(ax)
        ax.grid(True, axis="x", alpha=0.3)
    axes[0][0].set_yticks(range(len(order)), order)
    fig.suptitle(f"{workload}: the speed-up ladder, {epochs} epochs ({interval}s as bars)")
    return save(fig, path)


def forest_figure(rows: pd.DataFrame, title: str, xlabel: str, path: Path, threshold: float | None = None) -> Path:
    """A forest plot: one row per case, the ratio as a point with its interval, coloured by its verdict; the
    ``threshold`` band around 1 shaded. ``rows``: label, ratio, low, high, verdict."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(8, 0.28 * len(rows) + 1.6), layout="constrained")
    for y, row in enumerate(rows.itertuples()):
        colour = VERDICT_COLOURS.get(row.verdict, "#999999")
        err = [[row.ratio - row.low], [row.high - row.ratio]] if np.isfinite(row.low) else None
        ax.errorbar(row.ratio, y, xerr=err, fmt="o", color=colour, capsize=2, ms=4)
    if threshold:
        ax.axvspan(1 / (1 + threshold), 1 + threshold, color="#0072B2", alpha=0.08, lw=0)
    ax.axvline(1, color="grey", lw=0.8)
    ax.set_yticks(range(len(rows)), list(rows["label"]), fontsize="small")
    ax.invert_yaxis()
    ax.set(xscale="log", xlabel=xlabel, title=title)
    ratio_axis(ax)
    ax.grid(True, axis="x", alpha=0.3)
    verdict_legend(ax, VERDICT_COLOURS, rows["verdict"])
    return save(fig, path)


#: how each memory measurement method is drawn (bench/memory.py records the method beside every number)
METHOD_STYLES = {"tracemalloc": ("o", "-"), "rss-sampled": ("s", "--"), "rss-high-water": ("^", ":")}


def memory_figure(memory: pd.DataFrame, workload: str, path: Path) -> Path:
    """Peak memory of one train step against batch size, per implementation. ``memory``: label, batch_size,
    peak_step_mb, mem_method. The methods measure different things (Python allocations against the process's
    resident set), so each draws its own marker and line style, named in a second legend."""
    from matplotlib.lines import Line2D

    plt = pyplot()
    fig, ax = plt.subplots(figsize=(8, 3.8), layout="constrained")
    methods = memory["mem_method"].fillna("unknown") if "mem_method" in memory else pd.Series("unknown", memory.index)
    for (label, method), sub in memory.assign(mem_method=methods).groupby(["label", "mem_method"], sort=False):
        marker, style = METHOD_STYLES.get(method, ("x", "-."))
        sub = sub.sort_values("batch_size")
        ax.plot(sub["batch_size"], sub["peak_step_mb"], marker=marker, ls=style, color=colour_of(label))
    plain_log_y(ax)
    batch_axis(ax, memory["batch_size"])
    ax.grid(True, which="both", alpha=0.3)
    ax.set(ylabel="peak MB above the start of one train step")
    ax.legend(handles=[Line2D([], [], color="grey", marker=METHOD_STYLES.get(m, ("x", "-."))[0],
                              ls=METHOD_STYLES.get(m, ("x", "-."))[1], label=m) for m in dict.fromkeys(methods)],
              title="method", fontsize="small", loc="best")
    shared_legend(fig, _ordered(memory["label"]))
    fig.suptitle(f"{workload}: memory of one step against batch size")
    return save(fig, path)


def roofline_figure(table: pd.DataFrame, machine: dict[str, Any], path: Path) -> Path:
    """Achieved GFLOP/s of every full run against the machine's ceilings: sgemm at a large square size, the
    matrix products at the MLP's own shapes, and the products + gather floor, one panel per batch size.
    ``table``: :func:`bench.roofline.roofline_table`; ``machine``: what the run measured."""
    plt = pyplot()
    sizes = sorted(set(table["batch_size"]))
    order = table.groupby("impl")["achieved_gflops"].mean().sort_values().index.tolist()
    fig, axes = plt.subplots(1, len(sizes), figsize=(3.6 * len(sizes) + 2.5, 0.36 * len(order) + 1.9),
                             sharey=True, squeeze=False, layout="constrained")
    run_gflop = table["gflop"].iloc[0]
    for ax, size in zip(axes[0], sizes, strict=True):
        rows = table[table["batch_size"] == size].set_index("impl")
        for y, impl in enumerate(order):
            if impl in rows.index:
                ax.plot(rows.loc[impl, "achieved_gflops"], y, "o", color=colour_of(impl))
        at = machine["batch_sizes"].get(int(size), {})
        ceilings = [("sgemm, square", machine["square_gflops"], "-"),
                    ("products, MLP shapes", at.get("mlp_shape_gflops"), "--"),
                    ("products + gather floor", run_gflop / rows["floor_s"].iloc[0] if len(rows) else None, ":")]
        for name, value, style in ceilings:
            if value is not None and np.isfinite(value):
                ax.axvline(value, color="black", ls=style, lw=1, label=name)
        ax.set(xscale="log", title=f"B={size}", xlabel="achieved GFLOP/s (matrix products only)")
        ratio_axis(ax)
        ax.grid(True, axis="x", alpha=0.3)
    axes[0][0].set_yticks(range(len(order)), order)
    axes[0][-1].legend(fontsize="small", loc="lower right")
    fig.suptitle(f"roofline: full runs ({int(table['epochs'].iloc[0])} epochs) against this machine's ceilings")
    return save(fig, path)


#: claim verdict -> colour (the forest plots' palette)
CLAIM_COLOURS = {"reproduced": VERDICT_COLOURS["faster"], "differs": VERDICT_COLOURS["slower"],
                 "unresolved": "#e6a817",
                 "not run here": VERDICT_COLOURS["cannot resolve"], "not comparable": "#999999"}


def claims_figure(rows: pd.DataFrame, title: str, path: Path) -> Path:
    """The reproduction's claim table as a picture: per claim, our measurement over the articles' figure (1 =
    the printed number) with its interval, the region that reproduces the claim shaded, coloured by verdict.
    ``rows``: label, ours, low, high, band_low, band_high (all over the figure), verdict."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(9, 0.32 * len(rows) + 1.8), layout="constrained")
    finite = [v for v in (*rows["ours"], *rows["band_low"], *rows["band_high"]) if np.isfinite(v) and v > 0]
    left, right = (min(finite) / 1.3, max(finite) * 1.3) if finite else (0.5, 2)
    for y, row in enumerate(rows.itertuples()):
        low = row.band_low if np.isfinite(row.band_low) and row.band_low > 0 else left
        high = row.band_high if np.isfinite(row.band_high) else right
        ax.fill_betweenx([y - 0.35, y + 0.35], low, high, color="#0072B2", alpha=0.12, lw=0)
        if np.isfinite(row.ours):
            err = ([[row.ours - row.low], [row.high - row.ours]]
                   if np.isfinite(row.low) and np.isfinite(row.high) else None)
            ax.errorbar(row.ours, y, xerr=err, fmt="o", color=CLAIM_COLOURS.get(row.verdict, "#999999"), capsize=2)
    ax.axvline(1, color="grey", lw=0.8)
    ax.set_xlim(left, right)
    ax.set_yticks(range(len(rows)), list(rows["label"]), fontsize="small")
    ax.invert_yaxis()
    ax.set(xscale="log", xlabel="ours / the articles' figure (shaded: the values that reproduce the claim)",
           title=title)
    ratio_axis(ax)
    ax.grid(True, axis="x", alpha=0.3)
    verdict_legend(ax, CLAIM_COLOURS, rows["verdict"])
    return save(fig, path)


def _ordered(labels: pd.Series) -> list[str]:
    """Labels in the registry's order (the legend reads the same in every figure)."""
    names = list(all_implementations())
    unique = list(dict.fromkeys(labels))
    return sorted(unique, key=lambda label: (names.index(label.split("@")[0]) if label.split("@")[0] in names
                                             else len(names), label))


def crossover_figure(best: pd.DataFrame, path: Path) -> Path:
    """The map's "who is fastest where": per phase a grid of models (rows) x batch sizes (columns), each cell
    coloured by its fastest implementation (pale where the runner-up is not resolved slower) and labelled with
    the runner-up's ratio; black lines mark the crossovers, where the fastest changes between neighbours."""
    plt = pyplot()
    phases = list(dict.fromkeys(best["phase"]))
    models = list(dict.fromkeys(best["layers"]))
    fig, axes = plt.subplots(1, len(phases), figsize=(4.2 * len(phases) + 2, 0.6 * len(models) + 1.8),
                             squeeze=False, layout="constrained")
    for ax, phase in zip(axes[0], phases, strict=True):
        rows = best[best["phase"] == phase]
        sizes = sorted(set(rows["batch_size"]))
        grid = {(r.layers, r.batch_size): r for r in rows.itertuples()}
        for i, model in enumerate(models):
            for j, size in enumerate(sizes):
                cell = grid.get((model, size))
                if cell is None:
                    continue
                ax.add_patch(plt.Rectangle((j - 0.5, i - 0.5), 1, 1, color=colour_of(cell.fastest),
                                           alpha=1.0 if cell.resolved else 0.35, lw=0))
                ratio = "" if cell.ratio is None or pd.isna(cell.ratio) else f"\nnext {cell.ratio:.2f}x"
                ax.text(j, i, f"{cell.fastest}{ratio}", ha="center", va="center", fontsize="x-small")
                for di, dj in ((0, 1), (1, 0)):  # a crossover to the right or below
                    other = grid.get((models[i + di], sizes[j + dj])) if i + di < len(models) and \
                        j + dj < len(sizes) else None
                    if di and other is not None and other.layers.count("-") != model.count("-"):
                        ax.axhline(i + 0.5, color="grey", lw=1, ls=":")  # another depth below: no crossover line
                        continue
                    if other is not None and other.fastest != cell.fastest:
                        if dj:
                            ax.plot([j + 0.5, j + 0.5], [i - 0.5, i + 0.5], color="black", lw=2.5)
                        else:
                            ax.plot([j - 0.5, j + 0.5], [i + 0.5, i + 0.5], color="black", lw=2.5)
        ax.set(xlim=(-0.5, len(sizes) - 0.5), ylim=(len(models) - 0.5, -0.5), xlabel="batch size",
               title="train step" if phase == "train_step" else "full epoch")
        ax.set_xticks(range(len(sizes)), [str(s) for s in sizes])
        ax.set_yticks(range(len(models)), models, fontsize="small")
    fig.suptitle("who is fastest where (pale: the runner-up is not resolved slower; lines: crossovers)")
    return save(fig, path)


def flop_rate_figure(cells: pd.DataFrame, peak_gflops: float, kernel: str, path: Path) -> Path:
    """Each implementation's FLOP rate (matrix products only) in the train step against batch size, one panel
    per model, with NumPy's sgemm peak on ``kernel`` dashed: near it an implementation is compute-bound on
    NumPy's BLAS; above it, its own kernels are faster than NumPy's."""
    plt = pyplot()
    steps = cells[cells["phase"] == "train_step"]
    models = list(dict.fromkeys(steps["layers"]))
    columns = min(3, len(models))
    rows_n = -(-len(models) // columns)
    fig, axes = plt.subplots(rows_n, columns, figsize=(4.3 * columns + 2, 3.2 * rows_n), squeeze=False,
                             sharey=True, layout="constrained")
    for ax, model in zip(axes.flat, models, strict=False):
        lines_over_batch_size(ax, steps[steps["layers"] == model].assign(label=lambda f: f["impl"]), "gflops")
        ax.axhline(peak_gflops, color="black", ls="--", lw=1)
        ax.set(title=model, ylabel="GFLOP/s")
        batch_axis(ax, steps["batch_size"])
    for ax in list(axes.flat)[len(models):]:
        ax.set_visible(False)
    shared_legend(fig, list(dict.fromkeys(steps["impl"])))
    fig.suptitle(f"train step FLOP rate against NumPy's sgemm peak ({peak_gflops:.0f} GFLOP/s on {kernel}, dashed)")
    return save(fig, path)
