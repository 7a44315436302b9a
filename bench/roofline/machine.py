"""This machine's roofline, measured in the process that reports it: the sgemm-peak bound and the floors of a
run (matrix products, gather, products + gather), per batch size; and the same dict back from a run's JSON."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

import numpy as np

from bench.environment import blas_threads, current_blas_threads
from bench.roofline.flops import EPOCHS, LAYERS, flops_per_sample, layer_flops
from bench.roofline.kernels import (
    _F32,
    FUSE_ROWS,
    LAYOUTS,
    SQUARE_N,
    _median_seconds,
    fused_gather_products,
    measure_gather,
    measure_square_sgemm,
    measure_step_products,
)
from impl.config import N_TRAIN


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
        targets = one_hot_targets(x.shape[0], layers[-1])
        sizes: dict[int, dict[str, Any]] = {}
        for B in batch_sizes:
            if log:
                log(f"roofline: B={B} products and gather ...")
            sizes[B] = measure_floor(B, layers, n_train, epochs, x, targets, budget)
    epoch_flops = per["total"] * n_train
    return {"threads": threads_used, "layers": tuple(layers), "n_train": n_train, "epochs": epochs,
            "flops_per_sample": per, "layer_flops": layer_flops(layers), "epoch_flops": epoch_flops,
            "run_flops": epoch_flops * epochs, "square_n": square_n, "square_gflops": square,
            "peak_bound_epoch_s": epoch_flops / (square * 1e9), "peak_bound_s": epoch_flops * epochs / (square * 1e9),
            "batch_sizes": sizes}


def measure_floor(B: int, layers: Sequence[int], n_train: int, epochs: int, x: np.ndarray, targets: np.ndarray,
                  budget: float = 1.0) -> dict[str, Any]:
    """The floors of one batch size (per step, per epoch and for ``epochs``): the products alone in the fastest
    layout, the gather alone, and both chunk-fused above ``FUSE_ROWS`` rows; ``x`` (n, 784) float32 inputs to
    gather from and ``targets`` their one-hot rows. About 1-1.5 s at ``budget`` 1 for the seed's model; each
    layout is called at least seven times, so wide models take minutes at B=20000."""
    per = flops_per_sample(layers)
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
    floor_epoch = min(product_epoch + gather_epoch, fused_epoch) if B > FUSE_ROWS else product_epoch + gather_epoch
    return {
        "batch_size": B, "steps_per_epoch": full + (1 if rest else 0), "remainder": rest,
        "step_flops": per["total"] * B, "step_products_s": prod["best_s"],
        **{f"step_products_{layout}_s": prod[f"{layout}_s"] for layout in LAYOUTS},
        "best_layout": prod["best_layout"], "mlp_shape_gflops": per["total"] * B / prod["best_s"] / 1e9,
        "gather_s": gather, "fused_step_s": fused, "product_floor_epoch_s": product_epoch,
        "gather_floor_epoch_s": gather_epoch, "fused_floor_epoch_s": fused_epoch,
        "floor_epoch_s": floor_epoch, "product_floor_s": product_epoch * epochs,
        "gather_floor_s": gather_epoch * epochs, "fused_floor_s": fused_epoch * epochs,
        "floor_s": floor_epoch * epochs}


def one_hot_targets(n: int, classes: int) -> np.ndarray:
    """One-hot float32 rows cycling over the classes: the gather's speed does not depend on which."""
    return np.eye(classes, dtype=_F32)[np.arange(n) % classes]


def machine_from_json(machine: dict[str, Any]) -> dict[str, Any]:
    """A :func:`measure_machine` dict back from JSON (batch sizes become int keys again, layers a tuple)."""
    out = dict(machine)
    # strict JSON stores what was not measured as null: NaN again here, as measure_machine made it
    out["batch_sizes"] = {int(k): {name: float("nan") if value is None else value for name, value in v.items()}
                          for k, v in machine.get("batch_sizes", {}).items()}
    out["layers"] = tuple(machine.get("layers", LAYERS))
    return out
