"""Microbenchmarks of the roofline: this machine's large-square sgemm rate, one train step's matrix products at
the MLP's shapes in four layouts, the shuffled batch gather, and gather + products chunk-fused as numpy-tuned's
train step runs them (its ``chunk_rows`` and ``pad_to`` read from the class).

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
  numpy-tuned's ``chunk_rows``, read off this machine's L2, gathered into a cache-sized buffer and its products
  run at once, as numpy-tuned's train step does), whichever is faster: at B=20000 the fused order saves the
  write and re-read of the 63 MB batch.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from bench.roofline.flops import LAYERS
from impl.numpy_mlp.tuned import NumpyTuned

SQUARE_N = 2048
FUSE_ROWS = NumpyTuned.chunk_rows  # chunk of the fused floor: numpy-tuned's own
_F32 = np.float32


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


def padded_layers(layers: Sequence[int]) -> tuple[int, ...]:
    """The widths numpy-tuned stores (hidden layers padded to its ``pad_to``): read from the class, so a retune
    moves the floor with it."""
    return NumpyTuned.padded_widths(layers)


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
