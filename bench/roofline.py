"""Roofline of the MLP benchmark: FLOP counts, this machine's sgemm rates, and the floors a run is measured
against, all measured in the process that reports them.

FLOP convention (:func:`flops_per_sample`): only the matrix products count, 2 FLOP per multiply-add, in the
seed's augmented form where the bias is one more input of value 1. Per sample and weight matrix W_N
(n_{N+1} x (n_N + 1)):

* forward ``Z_{N+1} = W_N [1; A_N]``: 2 (n_N + 1) n_{N+1}, every layer;
* backward, gradient ``delta_{N+1} [1; A_N]^T``: 2 (n_N + 1) n_{N+1}, every layer;
* backward, delta ``W_N[:, 1:]^T delta_{N+1}``: 2 n_N n_{N+1}, only for N >= 1 (no bias row, no delta for the
  input layer).

For 784-70-30-10 that is 114,780 (forward) + 119,580 (backward) = 234,360 FLOP per sample, 14.06 GFLOP per
epoch of 60,000 samples and 492.2 GFLOP for 35 epochs. Elementwise work (sigmoid, sigma', loss, update) and
the batch gather are not FLOPs here: the gather has its own floor.

Two limits (:func:`measure_machine`):

* sgemm-peak bound: every FLOP at this machine's large-square sgemm rate (``np.dot`` of two 2048 x 2048
  float32 matrices into a reused output).
* matrix-product floor: the products of one train step at the MLP's own shapes, alone, into reused output
  buffers, timed in four layouts and the fastest kept, times the steps of the run (the remainder batch
  measured at its own size). Layouts (:func:`step_products`): ``samples`` (samples x features, bias as a
  column of ones: K = 785 for the first layer), ``features`` (features x samples, bias row), ``split``
  (samples x features, bias apart: K = 784, bias gradient as a product with a vector of ones) and ``padded``
  (split, hidden layers stored 72 and 32 wide with dead units, as numpy-tuned does). On the 2-core
  AVX-512 machine this was written on, an odd K = 785 costs OpenBLAS ~10% at B=500 and a 72-wide first
  layer is ~10% faster than a 70-wide one, so ``padded`` is the floor there. The gather floor is the
  shuffled batch gather alone (``np.take(..., mode="clip")`` of the inputs and one-hot targets
  into reused buffers). The floor of the unavoidable work is products + gather, done either one after the
  other for the whole batch, or chunk-fused for batches above ``FUSE_ROWS`` rows (each chunk of at most
  1024 rows gathered into a cache-sized buffer and its products run at once, as numpy-tuned's train step
  does), whichever is faster: at B=20000 the fused order saves the write and re-read of the 63 MB batch.

:func:`roofline_table` turns full-run results into achieved GFLOP/s, percent of the sgemm-peak bound and the
ratios to both floors; :func:`render_roofline` writes the Markdown section. ``python -m bench.roofline``
measures the machine and, with ``--impl``, full runs of the given implementations interleaved round by
round in the same process, and prints that section.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import numpy as np
import pandas as pd

from bench.environment import blas_threads, current_blas_threads
from impl.config import N_TRAIN
from impl.phases import PHASE_TABLE

LAYERS: tuple[int, ...] = (784, 70, 30, 10)
EPOCHS = 35
SQUARE_N = 2048
FUSE_ROWS = 1024  # chunk of the fused floor (numpy-tuned's chunk_rows)
_F32 = np.float32


# -- FLOP counts ------------------------------------------------------------------------------------------
def layer_flops(layers: Sequence[int] = LAYERS) -> dict[str, int]:
    """FLOP per sample of each layer transition: ``fw:N`` (layer N-1 into N) and ``bw:N`` (layer N+1 to N:
    its gradient product, plus the delta product for N >= 1)."""
    out: dict[str, int] = {}
    for N, (n_in, n_out) in enumerate(zip(layers[:-1], layers[1:], strict=True)):
        out[f"fw:{N + 1}"] = 2 * (n_in + 1) * n_out
    for N, (n_in, n_out) in enumerate(zip(layers[:-1], layers[1:], strict=True)):
        out[f"bw:{N}"] = 2 * (n_in + 1) * n_out + (2 * n_in * n_out if N > 0 else 0)
    return out


def flops_per_sample(layers: Sequence[int] = LAYERS) -> dict[str, int]:
    """Forward, backward and total FLOP per sample (convention in the module docstring)."""
    per_layer = layer_flops(layers)
    forward = sum(v for k, v in per_layer.items() if k.startswith("fw:"))
    backward = sum(v for k, v in per_layer.items() if k.startswith("bw:"))
    return {"forward": forward, "backward": backward, "total": forward + backward}


def phase_flops(batch_size: int, layers: Sequence[int] = LAYERS, n_train: int = N_TRAIN,
                epochs: int = EPOCHS) -> dict[str, int]:
    """FLOP of each benchmark phase at one batch size (gather and update: 0, they are not matrix products)."""
    per = flops_per_sample(layers)
    flops = {name: phase.flops_of(per, n_train * epochs if phase.mode == "full_run" else batch_size)
             for name, phase in PHASE_TABLE.items()}
    return {**flops, "update": 0, "epoch": per["total"] * n_train}


def run_flops(epochs: int = EPOCHS, layers: Sequence[int] = LAYERS, n_train: int = N_TRAIN) -> int:
    return flops_per_sample(layers)["total"] * n_train * epochs


# -- timing helpers ---------------------------------------------------------------------------------------
def _median_seconds(fn: Callable[[], Any], budget_s: float, repeats: int = 5, min_calls: int = 1) -> float:
    """Median time of one call of ``fn`` over ``repeats`` timed batches of calls (about ``budget_s`` in all)."""
    fn()  # warm: first touches, BLAS thread start
    start = time.perf_counter()
    fn()
    one = max(time.perf_counter() - start, 1e-7)
    calls = max(min_calls, int(budget_s / repeats / one))
    samples = []
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(calls):
            fn()
        samples.append((time.perf_counter() - start) / calls)
    return float(np.median(samples))


def measure_square_sgemm(n: int = SQUARE_N, budget_s: float = 1.0) -> float:
    """GFLOP/s of a float32 n x n x n product into a reused output (the machine's large-square sgemm rate)."""
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((n, n), dtype=_F32), rng.standard_normal((n, n), dtype=_F32)
    c = np.empty((n, n), _F32)
    seconds = _median_seconds(lambda: np.dot(a, b, out=c), budget_s, repeats=3)
    return 2 * n**3 / seconds / 1e9


LAYOUTS = ("samples", "features", "split", "padded")
PAD_TO = 8  # the padded layout's hidden widths: multiples of 8 (numpy-tuned's pad_to)


def padded_layers(layers: Sequence[int], pad_to: int = PAD_TO) -> tuple[int, ...]:
    """Hidden widths rounded up to a multiple of ``pad_to`` (input and output as they are)."""
    return (layers[0], *(-(-n // pad_to) * pad_to for n in layers[1:-1]), layers[-1])


def step_products(batch_size: int, layers: Sequence[int] = LAYERS,
                  layout: str = "samples") -> Callable[[], None]:
    """One train step's matrix products at the MLP's shapes, into reused buffers (all C-contiguous float32).

    ``"samples"``: activations (B, n + 1) with the bias column, ``Z = A @ W.T``, ``grad = delta.T @ A``,
    ``delta_N = delta_{N+1} @ W[:, 1:]``. ``"features"``: activations (n + 1, B), ``Z = W @ A``,
    ``grad = delta @ A.T``, ``delta_N = W[:, 1:].T @ delta_{N+1}``. ``"split"``: activations (B, n), weights
    (n_out, n) and the bias apart: ``Z = A @ W.T`` (the bias add is elementwise work, not timed),
    ``grad_W = delta.T @ A``, ``grad_b = ones @ delta``, ``delta_N = delta_{N+1} @ W``. ``"padded"``: the
    split layout with the hidden layers stored wider (:func:`padded_layers`: 72 and 32 units), as numpy-tuned
    does because OpenBLAS runs the wider products faster; FLOP rates still count the model's own FLOPs."""
    if layout not in LAYOUTS:
        raise ValueError(f"layout must be one of {', '.join(LAYOUTS)}, got {layout!r}")
    rng = np.random.default_rng(1)
    B = batch_size
    if layout == "padded":
        layers, layout = padded_layers(layers), "split"
    pairs = list(zip(layers[:-1], layers[1:], strict=True))
    bias = 0 if layout == "split" else 1
    W = [rng.uniform(-0.1, 0.1, (n_out, n_in + bias)).astype(_F32) for n_in, n_out in pairs]
    G = [np.empty_like(w) for w in W]
    if layout == "split":
        A = [rng.standard_normal((B, n_in), dtype=_F32) for n_in, _ in pairs]
        Z = [np.empty((B, n_out), _F32) for _, n_out in pairs]
        D = [rng.standard_normal((B, n_out), dtype=_F32) for _, n_out in pairs]
        Dn = [np.empty((B, n_in), _F32) for n_in, _ in pairs]
        gb = [np.empty(n_out, _F32) for _, n_out in pairs]
        ones = np.ones(B, _F32)

        def run() -> None:
            _split_products(A, W, Z, D, Dn, G, gb, ones)
    elif layout == "samples":
        A = [rng.standard_normal((B, n_in + 1), dtype=_F32) for n_in, _ in pairs]
        Z = [np.empty((B, n_out), _F32) for _, n_out in pairs]
        D = [rng.standard_normal((B, n_out), dtype=_F32) for _, n_out in pairs]
        Dn = [np.empty((B, n_in), _F32) for n_in, _ in pairs]

        def run() -> None:
            for N in range(len(W)):
                np.dot(A[N], W[N].T, out=Z[N])
            for N in reversed(range(len(W))):
                np.dot(D[N].T, A[N], out=G[N])
                if N > 0:
                    np.dot(D[N], W[N][:, 1:], out=Dn[N])
    else:
        A = [rng.standard_normal((n_in + 1, B), dtype=_F32) for n_in, _ in pairs]
        Z = [np.empty((n_out, B), _F32) for _, n_out in pairs]
        D = [rng.standard_normal((n_out, B), dtype=_F32) for _, n_out in pairs]
        Dn = [np.empty((n_in, B), _F32) for n_in, _ in pairs]

        def run() -> None:
            for N in range(len(W)):
                np.dot(W[N], A[N], out=Z[N])
            for N in reversed(range(len(W))):
                np.dot(D[N], A[N].T, out=G[N])
                if N > 0:
                    np.dot(W[N][:, 1:].T, D[N], out=Dn[N])
    return run


def measure_step_products(batch_size: int, layers: Sequence[int] = LAYERS,
                          budget_s: float = 0.8) -> dict[str, Any]:
    """Seconds per train step of the products alone in each layout (``<layout>_s``), and the fastest."""
    times = {layout: _median_seconds(step_products(batch_size, layers, layout), budget_s / len(LAYOUTS))
             for layout in LAYOUTS}
    best = min(times, key=times.get)
    return {**{f"{layout}_s": t for layout, t in times.items()}, "best_s": times[best], "best_layout": best}


def _split_products(A: list[np.ndarray], W: list[np.ndarray], Z: list[np.ndarray], D: list[np.ndarray],
                    Dn: list[np.ndarray], G: list[np.ndarray], gb: list[np.ndarray], ones: np.ndarray) -> None:
    """The products of one step in the split layout (see :func:`step_products`)."""
    for N in range(len(W)):
        np.dot(A[N], W[N].T, out=Z[N])
    for N in reversed(range(len(W))):
        np.dot(D[N].T, A[N], out=G[N])
        np.dot(ones, D[N], out=gb[N])
        if N > 0:
            np.dot(D[N], W[N], out=Dn[N])


def fused_gather_products(batch_size: int, x: np.ndarray, targets: np.ndarray, layers: Sequence[int] = LAYERS,
                          chunk: int = FUSE_ROWS, seed: int = 0, padded: bool = False) -> Callable[[], None]:
    """One step's gather and products, chunk-fused: each chunk (equal chunks of at most ``chunk`` rows)
    is gathered into a cache-sized buffer and its products (split layout, or padded) run at once. A
    different slice of a fresh permutation each call. (The partial gradients are not summed: that is
    elementwise work.)"""
    rng = np.random.default_rng(seed)
    if padded:
        layers = padded_layers(layers)
    size = -(-batch_size // -(-batch_size // chunk))
    pairs = list(zip(layers[:-1], layers[1:], strict=True))
    W = [rng.uniform(-0.1, 0.1, (n_out, n_in)).astype(_F32) for n_in, n_out in pairs]
    G = [np.empty_like(w) for w in W]
    gb = [np.empty(n_out, _F32) for _, n_out in pairs]
    xb = np.empty((size, x.shape[1]), _F32)
    yb = np.empty((size, targets.shape[1]), targets.dtype)
    A = [xb] + [rng.standard_normal((size, n_in), dtype=_F32) for n_in, _ in pairs[1:]]
    Z = [np.empty((size, n_out), _F32) for _, n_out in pairs]
    D = [rng.standard_normal((size, n_out), dtype=_F32) for _, n_out in pairs]
    Dn = [np.empty((size, n_in), _F32) for n_in, _ in pairs]
    ones = np.ones(size, _F32)
    order = np.random.default_rng(seed).permutation(x.shape[0])
    starts = list(range(0, x.shape[0] - batch_size + 1, batch_size)) or [0]
    state = {"i": 0}

    def run() -> None:
        start = starts[state["i"] % len(starts)]
        state["i"] += 1
        idx = order[start:start + batch_size]
        for s in range(0, batch_size, size):
            part = idx[s:s + size]
            r = len(part)
            np.take(x, part, axis=0, out=xb[:r], mode="clip")
            np.take(targets, part, axis=0, out=yb[:r], mode="clip")
            _split_products([a[:r] for a in A], W, [z[:r] for z in Z], [d[:r] for d in D], [d[:r] for d in Dn],
                            G, gb, ones[:r])
    return run


def measure_gather(batch_size: int, x: np.ndarray, targets: np.ndarray, budget_s: float = 0.3,
                   seed: int = 0) -> float:
    """Seconds per batch of the shuffled gather alone: inputs and one-hot targets into reused buffers, a
    different slice of a fresh permutation each call (never one cache-warm batch)."""
    n = x.shape[0]
    order = np.random.default_rng(seed).permutation(n)
    starts = list(range(0, n - batch_size + 1, batch_size)) or [0]
    xb = np.empty((batch_size, x.shape[1]), x.dtype)
    yb = np.empty((batch_size, targets.shape[1]), targets.dtype)
    state = {"i": 0}

    def gather() -> None:
        s = starts[state["i"] % len(starts)]
        state["i"] += 1
        idx = order[s:s + batch_size]
        np.take(x, idx, axis=0, out=xb, mode="clip")
        np.take(targets, idx, axis=0, out=yb, mode="clip")

    return _median_seconds(gather, budget_s)


# -- the machine ------------------------------------------------------------------------------------------
def measure_machine(batch_sizes: Iterable[int], threads: int | None = None, *, layers: Sequence[int] = LAYERS,
                    n_train: int = N_TRAIN, epochs: int = EPOCHS, x: np.ndarray | None = None,
                    square_n: int = SQUARE_N, budget: float = 1.0,
                    log: Callable[[str], None] | None = None) -> dict[str, Any]:
    """This machine's sgemm rates and the floors of a run, measured now (about 1 s + 1-2 s per batch size).

    ``threads``: BLAS threads for the measurement (None: whatever is in force, e.g. the harness's
    ``--threads``). ``x``: the training inputs (n, 784) to gather from (default: random float32 of the
    MNIST shape; the gather's speed does not depend on the values). Per-epoch floors are stored; the
    ``*_floor_s`` for ``epochs`` are included for convenience, :func:`roofline_table` rescales to a run's
    own epochs. ``budget`` scales every measurement's time (1.0: the default, a few seconds in all)."""
    batch_sizes = sorted({int(b) for b in batch_sizes})
    per = flops_per_sample(layers)
    with blas_threads(threads):
        threads_used = current_blas_threads()
        if log:
            log(f"roofline: sgemm {square_n}^3 ...")
        square = measure_square_sgemm(square_n, budget_s=1.0 * budget)
        if x is None:
            x = np.random.default_rng(2).standard_normal((n_train, layers[0]), dtype=_F32)
        x = np.ascontiguousarray(x, dtype=_F32)
        targets = np.eye(layers[-1], dtype=_F32)[np.arange(x.shape[0]) % layers[-1]]
        sizes: dict[int, dict[str, Any]] = {}
        for B in batch_sizes:
            if log:
                log(f"roofline: B={B} products and gather ...")
            full, rest = divmod(n_train, B)
            prod = measure_step_products(B, layers, budget_s=0.8 * budget)
            rest_prod = measure_step_products(rest, layers, budget_s=0.3 * budget)["best_s"] if rest else 0.0
            gather = measure_gather(B, x, targets, budget_s=0.3 * budget)
            product_epoch = full * prod["best_s"] + rest_prod
            gather_epoch = gather / B * n_train
            padded = prod["padded_s"] < prod["split_s"]
            fused = (_median_seconds(fused_gather_products(B, x, targets, layers, padded=padded), 0.4 * budget)
                     if B > FUSE_ROWS else float("nan"))
            fused_epoch = fused / B * n_train  # the remainder batch counted pro rata
            floor_epoch = min(product_epoch + gather_epoch, fused_epoch) if B > FUSE_ROWS else (
                product_epoch + gather_epoch)
            sizes[B] = {
                "batch_size": B, "steps_per_epoch": full + (1 if rest else 0), "remainder": rest,
                "step_flops": per["total"] * B, "step_products_s": prod["best_s"],
                **{f"step_products_{layout}_s": prod[f"{layout}_s"] for layout in LAYOUTS},
                "best_layout": prod["best_layout"], "mlp_shape_gflops": per["total"] * B / prod["best_s"] / 1e9,
                "gather_s": gather, "fused_step_s": fused, "product_floor_epoch_s": product_epoch,
                "gather_floor_epoch_s": gather_epoch, "fused_floor_epoch_s": fused_epoch,
                "floor_epoch_s": floor_epoch, "product_floor_s": product_epoch * epochs,
                "gather_floor_s": gather_epoch * epochs, "fused_floor_s": fused_epoch * epochs,
                "floor_s": floor_epoch * epochs}
    epoch_flops = per["total"] * n_train
    return {"threads": threads_used, "layers": tuple(layers), "n_train": n_train, "epochs": epochs,
            "flops_per_sample": per, "layer_flops": layer_flops(layers), "epoch_flops": epoch_flops,
            "run_flops": epoch_flops * epochs, "square_n": square_n, "square_gflops": square,
            "peak_bound_epoch_s": epoch_flops / (square * 1e9), "peak_bound_s": epoch_flops * epochs / (square * 1e9),
            "batch_sizes": sizes}


def machine_from_json(machine: dict[str, Any]) -> dict[str, Any]:
    """A :func:`measure_machine` dict back from JSON (batch sizes become int keys again, layers a tuple)."""
    out = dict(machine)
    # strict JSON stores what was not measured as null: NaN again here, as measure_machine made it
    out["batch_sizes"] = {int(k): {name: float("nan") if value is None else value for name, value in v.items()}
                          for k, v in machine.get("batch_sizes", {}).items()}
    out["layers"] = tuple(machine.get("layers", LAYERS))
    return out


# -- results against the roofline ------------------------------------------------------------------------
TABLE_COLUMNS = ["impl", "batch_size", "epochs", "median_s", "gflop", "achieved_gflops", "pct_of_peak_bound",
                 "product_floor_s", "x_product_floor", "floor_s", "x_floor"]


def roofline_table(frame: pd.DataFrame, machine: dict[str, Any] | None = None,
                   threads: int | None = None) -> pd.DataFrame:
    """Full-run results (columns impl, batch_size, median_s, epochs; a tidy benchmark frame works: rows of
    other phases or workloads are ignored) against the roofline.

    Per row: the run's GFLOP, achieved GFLOP/s, percent of the sgemm-peak bound (bound time / run time),
    and the run time as a multiple of the matrix-product floor (``x_product_floor``) and of the products +
    gather floor (``x_floor``). ``machine`` comes from :func:`measure_machine`; None measures it now for the
    frame's batch sizes (pass ``threads`` to measure with a given BLAS thread count). Batch sizes the
    machine dict lacks get NaN floors."""
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
        seconds = float(row.median_s)
        flops = per_sample * n_train * epochs
        size = machine["batch_sizes"].get(B)
        product_floor = size["product_floor_epoch_s"] * epochs if size else float("nan")
        floor = size["floor_epoch_s"] * epochs if size else float("nan")
        bound = machine["peak_bound_epoch_s"] * epochs
        rows.append({"impl": row.impl, "batch_size": B, "epochs": epochs, "median_s": seconds,
                     "gflop": flops / 1e9, "achieved_gflops": flops / seconds / 1e9,
                     "pct_of_peak_bound": 100 * bound / seconds, "product_floor_s": product_floor,
                     "x_product_floor": seconds / product_floor, "floor_s": floor, "x_floor": seconds / floor})
    table = pd.DataFrame(rows, columns=TABLE_COLUMNS)
    return table.sort_values(["batch_size", "median_s"], kind="stable").reset_index(drop=True)


def render_roofline(machine: dict[str, Any], table: pd.DataFrame | None = None) -> str:
    """The roofline section of the benchmark report, as Markdown."""
    per = machine["flops_per_sample"]
    epochs = machine["epochs"]
    lines = ["## Roofline", "",
             f"Measured in this process, BLAS threads: {machine['threads']}. FLOPs count the matrix products only "
             "(2 per multiply-add, bias as an input of 1; see bench/roofline.py).", "",
             f"- sgemm, {machine['square_n']}x{machine['square_n']}x{machine['square_n']} float32: "
             f"**{machine['square_gflops']:.1f} GFLOP/s**",
             f"- FLOP per sample: forward {per['forward']:,} + backward {per['backward']:,} = {per['total']:,}; "
             f"per epoch ({machine['n_train']:,} samples) {machine['epoch_flops'] / 1e9:.2f} GFLOP; "
             f"{epochs} epochs {machine['run_flops'] / 1e9:.1f} GFLOP",
             "- FLOP per sample by transition: " + ", ".join(f"{k} {v:,}" for k, v in machine["layer_flops"].items()),
             f"- sgemm-peak bound, {epochs} epochs: {machine['peak_bound_s']:.2f} s", ""]
    speed_head = ["B", "steps/epoch", "GFLOP/step (fw + bw)", "products/step (ms)", "layout",
                  "GFLOP/s at MLP shapes", "% of square"]
    floor_head = ["B", "gather/step (ms)", "fused/step (ms)", "product floor (s)",
                  "gather floor (s)", "products + gather floor (s)"]
    speed_rows, floor_rows = [], []
    for B, m in sorted(machine["batch_sizes"].items()):
        fused = m.get("fused_step_s", float("nan"))
        speed_rows.append([B, m["steps_per_epoch"], f"{m['step_flops'] / 1e9:.4f}",
                           f"{m['step_products_s'] * 1e3:.3f}", m["best_layout"], f"{m['mlp_shape_gflops']:.1f}",
                           f"{100 * m['mlp_shape_gflops'] / machine['square_gflops']:.0f}"])
        floor_rows.append([B, f"{m['gather_s'] * 1e3:.3f}", "-" if np.isnan(fused) else f"{fused * 1e3:.3f}",
                           f"{m['product_floor_s']:.3f}", f"{m['gather_floor_s']:.3f}", f"{m['floor_s']:.3f}"])
    lines += ["Matrix products at the MLP's shapes:", "", _markdown(speed_head, speed_rows), "",
              f"Floors of a {epochs}-epoch run:", "", _markdown(floor_head, floor_rows), "",
              "Fused: the gather and the products chunk-fused. Products + gather floor: the faster of product floor + "
              f"gather floor (one after the other, whole batch) and the fused one (batches above {FUSE_ROWS} rows).",
              ""]
    phases = ["forward", "backward", "train_step"]
    flop_rows = [[B] + [f"{phase_flops(B, machine['layers'], machine['n_train'], epochs)[p] / 1e6:,.1f}"
                        for p in phases] for B in sorted(machine["batch_sizes"])]
    lines += ["MFLOP per phase call (prepare and update: no matrix products):", "",
              _markdown(["B"] + phases, flop_rows), ""]
    if table is not None and not table.empty:
        impl_rows = [[r.impl, r.batch_size, r.epochs, f"{r.median_s:.3f}", f"{r.achieved_gflops:.1f}",
                      f"{r.pct_of_peak_bound:.1f}", f"{r.x_product_floor:.2f}", f"{r.x_floor:.2f}"]
                     for r in table.itertuples(index=False)]
        lines += ["Per implementation (full runs):", "",
                  _markdown(["impl", "B", "epochs", "median (s)", "GFLOP/s", "% of sgemm-peak bound",
                             "x product floor", "x products+gather floor"], impl_rows), ""]
    from bench.tables import wrap

    return "\n".join(line if line.startswith("|") else wrap(line) for line in lines)


def _markdown(head: list[str], rows: list[list[Any]]) -> str:
    out = ["| " + " | ".join(head) + " |", "|" + "|".join("---:" for _ in head) + "|"]
    out += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(out)


# -- standalone: machine + interleaved full runs in one process -------------------------------------------
def compare_full_runs(names: Sequence[str], batch_sizes: Sequence[int], epochs: int = EPOCHS, rounds: int = 3,
                      seed: int = 0, log: Callable[[str], None] | None = None) -> pd.DataFrame:
    """Full runs of each implementation at each batch size, the implementations interleaved round by round
    (A, B, A, B, ...) so a change in machine load hits them alike; one row per run with its training time."""
    from impl.config import TrainConfig
    from impl.data import load_dataset
    from impl.registry import get_implementation

    data = load_dataset(allow_synthetic_fallback=True)
    rows = []
    for B in batch_sizes:
        config = TrainConfig.make(batch_size=B, epochs=epochs, seed=seed, n_train=data.n_train)
        trainers = {name: get_implementation(name)(config, data) for name in names}
        for trainer in trainers.values():
            trainer.warm_up()
        for r in range(rounds):
            for name, trainer in trainers.items():
                trainer.reset()
                fit = trainer.fit()
                rows.append({"impl": name, "batch_size": B, "epochs": epochs, "round": r, "seconds": fit.seconds,
                             "final_loss": fit.epoch_losses[-1]})
                if log:
                    log(f"B={B} round {r}: {name} {fit.seconds:.3f} s")
        del trainers
    return pd.DataFrame(rows)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.roofline", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batch-sizes", default="500,20000", help="comma-separated batch sizes (500,20000)")
    parser.add_argument("--threads", type=int, help="BLAS threads (default: the library's choice)")
    parser.add_argument("--impl", help="comma-separated implementations to run in full, interleaved")
    parser.add_argument("--epochs", type=int, default=EPOCHS, help=f"epochs of each full run ({EPOCHS})")
    parser.add_argument("--rounds", type=int, default=3, help="rounds of each full run (3)")
    args = parser.parse_args(argv)
    batch_sizes = [int(b) for b in args.batch_sizes.split(",") if b.strip()]

    def log(msg: str) -> None:
        print(msg, file=sys.stderr, flush=True)

    with blas_threads(args.threads):
        table = None
        machine = measure_machine(batch_sizes, epochs=args.epochs, log=log)
        if args.impl:
            runs = compare_full_runs([n.strip() for n in args.impl.split(",") if n.strip()], batch_sizes,
                                     args.epochs, args.rounds, log=log)
            frame = runs.groupby(["impl", "batch_size", "epochs"], as_index=False)["seconds"].median()
            table = roofline_table(frame.rename(columns={"seconds": "median_s"}), machine)
            names = list(dict.fromkeys(runs["impl"]))
            runs_md = runs.pivot_table(index=["batch_size", "round"], columns="impl", values="seconds")[names]
            print(render_roofline(machine, table))
            print("Rounds (s, interleaved in this order):\n")
            print(runs_md.to_markdown(floatfmt=".3f"))
            return 0
    print(render_roofline(machine, table))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
