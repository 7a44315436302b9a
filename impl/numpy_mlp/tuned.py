"""numpy-tuned: the seed's mathematics with what plain NumPy offers to make one train step cheap.

Every choice below was measured on the 2-core benchmark machine (OpenBLAS 0.3.31, AVX-512, one BLAS
thread unless said otherwise), and re-measured where marked on the 2-vCPU AMD EPYC VM (Zen 5, 1 MB L2 per
core; its environment sets OPENBLAS_CORETYPE=Haswell, so OpenBLAS runs its AVX2 kernels there). At these
skinny shapes the matrix products are the floor (see bench/roofline/); everything else is kept to a few
cheap passes.

* Layout: samples-major (rows = samples), float32, every array C-contiguous. The training set is stored once
  as (n, 784); a mini-batch is one row gather ``np.take(X, idx, axis=0, out=buf, mode="clip")`` into a
  preallocated buffer. ``mode="clip"`` matters: with the default ``mode="raise"`` NumPy gathers into a hidden
  temporary and copies that into ``out`` (2-3x slower here); the shuffled indices are always in range, so
  clipping never changes a value. The one-hot targets are rows of ``eye(10)`` picked by label
  (``np.take(eye, labels[idx])``) instead of rows of a (n, 10) one-hot matrix: on the EPYC VM that 2.4 MB
  matrix does not stay in cache between steps, and its 500 random rows took ~10 us per step in the training
  loop (2 us in isolation); the label lookup takes ~8 us, and the one-hot matrix is gone.
* Weights and biases kept apart, all in one flat float32 parameter vector ``[W_0 | W_1 | W_2 | b_0 | b_1 |
  b_2]`` (W_N and b_N are views into it). Products write into preallocated buffers
  (``np.dot(A, W.T, out=Z)``), the bias is one broadcast add, the bias gradient one matrix-vector product
  with a vector of ones (``np.dot(ones, delta, out=g_b)``). No bias row or column is ever inserted or sliced
  away: every elementwise pass runs on contiguous memory, and the first product has K = 784, not the seed's
  785 (an odd K costs OpenBLAS ~10% here, ~3% on the EPYC VM). The flat layout makes the regulariser and the
  momentum update a handful of ufunc calls over the whole vector; ``get_weights``/``set_weights`` and
  ``gradients_as_arrays`` convert to and from the seed's layout (bias in column 0) exactly.
* Hidden layers stored 72 and 32 units wide (``pad_to``): the sgemm products with a 72-wide first layer run
  ~10% faster than with 70 (0.85 instead of 0.93 ms for forward + gradient product at B=500); on the EPYC
  VM ~6% (0.93 instead of 0.99 ms; widths 76, 80 and 96 are slower than 72, and 32 beats 30 for the second
  layer there too). The extra units are dead and stay exactly zero (``_widths`` says why), so the
  mathematics is the 784-70-30-10 net's.
* Sigmoid in whichever of two exact forms this machine's NumPy computes faster, ``0.5 + 0.5 * tanh(z / 2)``
  or ``1 / (1 + exp(-z))``, timed once at import (:mod:`impl.numpy_mlp.sigmoid`; recorded in every run): with
  AVX-512 NumPy's float32 ``tanh`` is SIMD-vectorised (6 us for 500 x 72 on the 2026-12-04 EPYC VM) and the
  tanh form wins; on an AVX2-only CPU neither is, and the exp form is ~35 % cheaper (71 against 111 us).
  Either way in place, no scipy: its ``expit`` is a scalar loop (90 us for 500 x 72 on the EPYC VM). The two
  forms' float32 rounding differs by at most one unit in the last place of 1, and a saturated output is
  exactly 0 or 1. (Subnormals do not occur in this training: |Z| stays below 50 through 35 epochs.)
* sigma' from the stored outputs, ``A * (1 - A)``, in place (the idiom of scikit-learn's
  ``neural_network/_base.py``); the output delta is ``A_E - y`` (the seed's unused recomputation of
  sigma'(Z_E) is not repeated).
* The batch loss is computed every step, stably, with SIMD ufuncs only: ``sum(max(z, 0) - log(max(a,
  1 - a))) - <Z_E, y>`` with z = Z_E and a = A_E = sigma(z), since ``max(a, 1 - a) = sigma(|z|)`` and
  ``-log(sigma(|z|)) = log(1 + exp(-|z|))`` (``1 - a`` is exact for a >= 1/2, so the absolute error per
  element stays below ~1.2e-7, like ``log(1 + exp(-|z|))`` computed directly; a saturated output gives
  exactly 0). Reusing A_E takes 5 passes and one sum instead of the 6 passes and two sums of the direct
  form (11 -> 8.5 us per step on the EPYC VM; ``np.logaddexp`` and ``np.log1p`` are scalar loops, ~20x and
  ~5x slower). Plus ``lambda2/2 * <W, W>`` as one BLAS dot product over all weights (biases excluded).
* Scalars are float32 (``np.float32``): a Python float next to a non-contiguous operand sends NumPy 2 down
  a buffered casting path that is ~20x slower at B=500 here.
* Momentum update on the flat vectors with two buffers that swap roles: ``dW = lr * grad`` goes into the
  spare buffer, ``M <- mom * M + dW; P -= M``, then the spare becomes the momentum (four calls, no copies).
  Until the update, the spare buffer is the regulariser's scratch (``lambda2 * W``): no extra 230 kB array.
* Batches above ``chunk_rows`` rows: the train step runs chunk-fused (see :meth:`NumpyTuned.train_step`):
  each chunk is gathered into a cache-sized buffer and goes through forward, loss and backward while it is
  in cache; the gradient products are summed over the chunks. At B=20000 this saves ~10 ms of a ~65 ms
  step (the 63 MB batch is no longer written out and read back twice). The phase methods (``forward``,
  ``backward``) work on the whole batch, row-chunked inside each layer for the same reason. ``chunk_rows``
  is read off the machine's L2 cache when the module is imported, one row per KiB (:mod:`impl.numpy_mlp.cache`):
  1024 on the EPYC VM's 1 MB L2, where full epochs at B=20000 run 4-5% faster than with 2048 (768 to 1280
  all alike, 3072 3% slower), and 2048 on the 2 MB-L2 Intel machine, where 2048 was the best; B=2000 is
  unchanged by it, and B=500 stays unchunked (two fused chunks of 250 rows are 3.5% slower there). Every run
  records the rows, the L2 size and where it was read (``run_facts``).

Buffer reuse is safe for any call pattern: batches, forward states and gradients come from pools that hand a
buffer set out again only when nothing outside the pool refers to any of its arrays (checked by reference
count), so the harness can keep 8 prepared batches and interleave forward/backward calls, while a plain
training loop reuses one set of buffers throughout. ``train_step`` takes its sets from the pools once per
row count and keeps them, with the batch, state and gradient objects built over them: a step does no
reference-count check and builds no views or objects (together with the one-chunk transitions, which skip
the chunk loop, ~1% of a step at B=500 on the EPYC VM).

BLAS threads are whatever the caller set (the harness's ``--threads``, threadpoolctl, OPENBLAS_NUM_THREADS);
the elementwise work is single-threaded NumPy. numba and numexpr were tried for the elementwise parts: without
SVML/VML (not available here) their exp/tanh are scalar, 3-16x slower than NumPy's for the sigmoid, and the
passes numba does win (sigma', update) are worth ~2% of a step, not a separate implementation.

Tried on the EPYC VM and left out: the training set copied to 64-byte-aligned rows (the gather alone 5%
faster, nothing measurable in a step); the weights stored transposed (same product times); a bias add over a
row-tiled bias (~2.5 us per step); scipy's BLAS ``saxpy`` to fuse ``g += lambda2 * W`` and the momentum sum
(~3 us per pass saved, but a second OpenBLAS with its own threads, and FMA rounding). At B=500 what is left
above the products + gather floor is the elementwise work of a step's ~50 NumPy calls (sigmoids, sigma',
loss, regulariser, update: ~100 us of ~1.3 ms) and the products and gather running slower in the loop than
alone (each ~2-4%, cache). With the environment's
OPENBLAS_CORETYPE=SkylakeX instead of Haswell, OpenBLAS's AVX-512 kernels run the first layer's forward and
gradient products ~1.7x faster on this VM (0.54 instead of 0.93 ms at B=500): a setting of the machine, not
of this implementation, and it moves the floor with it.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from impl.config import TrainConfig
from impl.contract import Trainer, Transition
from impl.data import Dataset
from impl.errors import ConfigError
from impl.numpy_mlp.cache import ChunkChoice, chunk_choice
from impl.numpy_mlp.sigmoid import SigmoidChoice, calibrate

_ONE = np.float32(1.0)
_ZERO = np.float32(0.0)


# -- buffer pools -----------------------------------------------------------------------------------------
def _ref_counts(arrays: tuple[np.ndarray, ...]) -> tuple[int, ...]:
    return tuple(sys.getrefcount(a) for a in arrays)


class BufferPool:
    """Sets of preallocated arrays, handed out again only when nothing outside the pool refers to them.

    When a set is made, the reference count of each of its arrays is recorded (the pool's own references,
    views among the set's arrays included). A set is free again when every count is back at that value:
    whoever keeps one of its arrays, or a view of one (a view references its base), keeps the set busy, and
    the pool makes another set instead (at most ``cap`` per key are kept; beyond that new sets are not
    pooled). So nothing is ever overwritten while still in use, whatever the caller keeps."""

    def __init__(self, make: Callable[[Hashable], tuple[np.ndarray, ...]], cap: int = 12) -> None:
        self._make = make
        self._cap = cap
        self._sets: dict[Hashable, list[tuple[tuple[np.ndarray, ...], tuple[int, ...]]]] = {}

    def get(self, key: Hashable) -> list[np.ndarray]:
        """A free set for ``key`` (made if none is), as a new list: holding the list holds the arrays."""
        sets = self._sets.setdefault(key, [])
        for arrays, free in sets:
            if _ref_counts(arrays) == free:
                return list(arrays)
        arrays = self._make(key)
        if len(sets) < self._cap:
            sets.append((arrays, _ref_counts(arrays)))
        return list(arrays)

    def sizes(self) -> dict[Hashable, int]:
        return {key: len(sets) for key, sets in self._sets.items()}


# -- what the phases hand each other ----------------------------------------------------------------------
@dataclass
class TunedBatch:
    """x: (rows, 784) inputs; y: (rows, 10) one-hot targets (None for evaluation)."""

    x: np.ndarray
    y: np.ndarray | None

    @property
    def rows(self) -> int:
        return int(self.x.shape[0])


@dataclass
class TunedState:
    """Forward results and the backward workspace of one batch, all (rows, n_N).

    a[N]: output of layer N (a[0] is the batch's x); z[N]: layer N's net input, then the sigmoid's scratch (after
    forward only z[E] = Z_E is kept, for the loss); delta[N]: delta of layer N (N >= 1); tmp:
    flat sigma' scratch for one chunk; loss_t, loss_u: loss scratch; ones: a vector of ones for the bias gradients."""

    a: list[np.ndarray]
    z: list[np.ndarray | None]
    delta: list[np.ndarray | None]
    tmp: np.ndarray
    loss_t: np.ndarray
    loss_u: np.ndarray
    ones: np.ndarray
    rows: int


@dataclass
class TunedGrads:
    """Gradients as views into one flat buffer (the parameter layout): w[N] (n_{N+1}, n_N), b[N] (n_{N+1},)."""

    w: tuple[np.ndarray, ...]
    b: tuple[np.ndarray, ...]

    @property
    def flat(self) -> np.ndarray:
        return self.w[0].base  # every view's base is the flat buffer


def _chunks(rows: int, size: int) -> list[tuple[int, int]]:
    return [(s, min(s + size, rows)) for s in range(0, rows, size)]


class NumpyTuned(Trainer):
    name = "numpy-tuned"
    #: the sigmoid form and chunk rows are picked at run time (timed, or read from the cache size): other work
    identity_facts = ("sigmoid_form", "chunk_rows")
    description = ("tuned NumPy: samples-major float32, clip-mode gather into reused buffers, W and b apart in "
                   "one flat vector, hidden layers padded to 72/32 for sgemm, out= products, the sigmoid in the "
                   "machine's faster form, in-place sigma' and momentum, stable ufunc-only loss, chunk-fused steps "
                   "for large batches")
    dtype = "float32"
    backend = "numpy"
    #: Rows per chunk inside a layer and per fused chunk of a large train step: the elementwise passes after
    #: each product stay in cache. From this machine's L2 (1024 rows for 1 MB); see the module docstring.
    chunk: ClassVar[ChunkChoice] = chunk_choice()
    chunk_rows: ClassVar[int] = chunk.rows
    #: Hidden layers are stored this many units wide at least (70 -> 72, 30 -> 32): OpenBLAS's sgemm is ~10%
    #: faster at B=500 with the 72-wide first layer than with 70 (~6% on the AMD EPYC VM). The extra units are
    #: dead (see ``_widths``). Not a cache constant: 8 float32 (32 bytes) won on OpenBLAS's AVX2 (Haswell) and
    #: AVX-512 (SkylakeX) kernels alike, and wider pads (76, 80, 96) were slower, so it is kept as measured.
    pad_to: ClassVar[int] = 8
    #: The sigmoid's form, the faster of two exact ones on this machine's NumPy, timed at import.
    sigmoid: ClassVar[SigmoidChoice] = calibrate()

    def __init__(self, config: TrainConfig, data: Dataset) -> None:
        super().__init__(config, data)
        if len(config.layers) < 2:
            raise ConfigError(f"{self.name}: needs at least an input and an output layer, got {config.layers}")
        self._dt = np.dtype(np.float32)
        self._layers = tuple(config.layers)
        self._n_w = len(self._layers) - 1
        self._x = {"train": np.ascontiguousarray(data.x_train, dtype=self._dt),
                   "test": np.ascontiguousarray(data.x_test, dtype=self._dt)}
        self._eye = np.eye(self._layers[-1], dtype=self._dt)  # one-hot rows, picked by label
        self._y_train = np.ascontiguousarray(data.y_train, dtype=np.intp)
        self._labels = {"train": data.y_train, "test": data.y_test}
        self._width = self._widths()
        pairs = list(zip(self._width[:-1], self._width[1:], strict=True))
        self._w_shapes = [(n_out, n_in) for n_in, n_out in pairs]
        self._n_weights = sum(n_out * n_in for n_in, n_out in pairs)  # the W part, biases excluded
        self._n_params = self._n_weights + sum(n_out for _, n_out in pairs)
        self._params = np.zeros(self._n_params, self._dt)
        self._w, self._b = self._views(self._params)
        self._w_T = tuple(W.T for W in self._w)  # views: the forward products' right operands
        self._mom = np.zeros(self._n_params, self._dt)
        self._spare = np.zeros(self._n_params, self._dt)
        self._partial = self._grads(self._new_grad_buffers(None))  # a chunk's gradients (fused train step)
        self._batch_pool = BufferPool(self._new_batch_buffers)
        self._state_pool = BufferPool(self._new_state_buffers)
        self._grad_pool = BufferPool(self._new_grad_buffers)
        self._step_sets: dict[int, tuple[TunedBatch, TunedState]] = {}  # train_step's own buffers, by rows
        self._step_grads: TunedGrads | None = None
        self._sigmoid = self.sigmoid.compute
        self.set_weights(self.initial_weights)

    def _widths(self) -> tuple[int, ...]:
        """Stored width of every layer: input and output as they are, hidden layers rounded up to a multiple
        of ``pad_to``. A padding unit of hidden layer N has zero weights in (its row of W_{N-1} and b_{N-1})
        and out (its column of W_N), so its net input is 0, its output a constant 0.5 that W_N ignores, and
        its delta exactly 0; the only non-zero gradient it would get, its column of grad W_N (0.5 times the
        sum of delta_{N+1}), is zeroed in the backward transition, so the padding stays zero and the
        mathematics is the unpadded network's. Weights, gradients and loss are reported unpadded."""
        return self.padded_widths(self._layers)

    @classmethod
    def padded_widths(cls, layers: Sequence[int]) -> tuple[int, ...]:
        """``layers`` with the hidden widths rounded up to a multiple of ``pad_to`` (the roofline reads it)."""
        pad = max(1, cls.pad_to)
        return (layers[0], *(-(-n // pad) * pad for n in layers[1:-1]), layers[-1])

    def _views(self, flat: np.ndarray) -> tuple[tuple[np.ndarray, ...], tuple[np.ndarray, ...]]:
        """W_N and b_N as views into a flat parameter-layout vector: [W_0 | W_1 | ... | b_0 | b_1 | ...]."""
        w, b, at = [], [], 0
        for shape in self._w_shapes:
            w.append(flat[at:at + shape[0] * shape[1]].reshape(shape))
            at += shape[0] * shape[1]
        for n_out, _ in self._w_shapes:
            b.append(flat[at:at + n_out])
            at += n_out
        return tuple(w), tuple(b)

    # -- buffers ------------------------------------------------------------------------------------------
    def _new_batch_buffers(self, rows: Hashable) -> tuple[np.ndarray, ...]:
        return (np.empty((rows, self._layers[0]), self._dt), np.empty((rows, self._layers[-1]), self._dt))

    def _new_state_buffers(self, rows: Hashable) -> tuple[np.ndarray, ...]:
        """Per layer N = 1..E: z_N, a_N, delta_N (rows, n_N); then tmp, loss_t, loss_u, ones."""
        arrays = []
        for n in self._width[1:]:
            arrays += [np.empty((rows, n), self._dt) for _ in range(3)]
        n_e = self._width[-1]
        chunk = min(int(rows), self.chunk_rows)  # sigma' scratch: one chunk of the widest hidden layer
        arrays += [np.empty(chunk * max(self._width[1:]), self._dt), np.empty((rows, n_e), self._dt),
                   np.empty((rows, n_e), self._dt), np.ones(rows, self._dt)]
        return tuple(arrays)

    def _new_grad_buffers(self, _key: Hashable) -> tuple[np.ndarray, ...]:
        w, b = self._views(np.empty(self._n_params, self._dt))
        return w + b  # the flat buffer is referenced by these views only

    def _state(self, x: np.ndarray, arrays: Sequence[np.ndarray]) -> TunedState:
        """A state over the first ``len(x)`` rows of a buffer set (buffers may be larger: fused chunks)."""
        rows = int(x.shape[0])
        z: list[np.ndarray | None] = [None]
        a = [x]
        delta: list[np.ndarray | None] = [None]
        for N in range(self._n_w):
            z.append(arrays[3 * N][:rows])
            a.append(arrays[3 * N + 1][:rows])
            delta.append(arrays[3 * N + 2][:rows])
        tmp, loss_t, loss_u, ones = arrays[3 * self._n_w:]
        return TunedState(a=a, z=z, delta=delta, tmp=tmp, loss_t=loss_t[:rows], loss_u=loss_u[:rows],
                          ones=ones[:rows], rows=rows)

    def _grads(self, arrays: Sequence[np.ndarray]) -> TunedGrads:
        return TunedGrads(w=tuple(arrays[:self._n_w]), b=tuple(arrays[self._n_w:]))

    # -- phases -------------------------------------------------------------------------------------------
    def prepare_batch(self, idx: np.ndarray) -> TunedBatch:
        x, y = self._batch_pool.get(len(idx))
        self._gather(idx, x, y)
        return TunedBatch(x, y)

    def _gather(self, idx: np.ndarray, x: np.ndarray, y: np.ndarray) -> None:
        """The shuffled rows ``idx`` of the inputs and one-hot targets into the buffers ``x`` and ``y``."""
        np.take(self._x["train"], idx, axis=0, out=x, mode="clip")  # clip: no hidden temporary (see above)
        np.take(self._eye, np.take(self._y_train, idx), axis=0, out=y, mode="clip")  # cheaper than one-hot rows

    def forward(self, batch: TunedBatch) -> TunedState:
        st = self._state(batch.x, self._state_pool.get(batch.rows))
        for N in range(1, self._n_w + 1):
            self._fw_prop_Nm1_to_N(N, st)
        return st

    def _fw_prop_Nm1_to_N(self, N: int, st: TunedState) -> None:
        """Forward transition from layer N-1 into layer N, chunk by chunk: Z = A_{N-1} W^T + b, then
        A = sigma(Z) in place while the chunk is in cache (the machine's faster form, see
        :mod:`impl.numpy_mlp.sigmoid`). One chunk takes no slices."""
        W_T, b = self._w_T[N - 1], self._b[N - 1]
        A_prev, Z, A = st.a[N - 1], st.z[N], st.a[N]
        output = N == self._n_w
        blocks = ((A_prev, Z, A),) if st.rows <= self.chunk_rows else \
            [(A_prev[s:e], Z[s:e], A[s:e]) for s, e in _chunks(st.rows, self.chunk_rows)]
        for a_prev, z, a in blocks:
            np.dot(a_prev, W_T, out=z)
            np.add(z, b, out=z)
            self._sigmoid(z, a if output else z, a)  # scratch: hidden layers' Z; Z_E stays for the loss

    def batch_loss(self, state: TunedState, batch: TunedBatch) -> float:
        """Log loss summed over the batch plus L2/L1 without the bias weights."""
        return self._log_loss(state, batch) + self._regulariser()

    def _log_loss(self, state: TunedState, batch: TunedBatch) -> float:
        """Summed log loss, stably: softplus(z) - y z with softplus(z) = max(z, 0) - log(max(a, 1 - a)), where
        a = sigma(z) = A_E (max(a, 1 - a) = sigma(|z|), and log(sigma(|z|)) = -log(1 + exp(-|z|)))."""
        z, a, t, u = state.z[-1], state.a[-1], state.loss_t, state.loss_u
        np.subtract(_ONE, a, out=t)
        np.maximum(a, t, out=t)
        np.log(t, out=t)
        np.maximum(z, _ZERO, out=u)
        np.subtract(u, t, out=u)
        return float(u.sum()) - float(np.vdot(z, batch.y))

    def _regulariser(self) -> float:
        weights = self._params[:self._n_weights]
        reg = 0.0
        if self.config.lambda2 > 0:
            reg += 0.5 * self.config.lambda2 * float(np.dot(weights, weights))
        if self.config.lambda1 > 0:
            reg += self.config.lambda1 * float(np.abs(weights).sum())
        return reg

    def backward(self, state: TunedState, batch: TunedBatch) -> TunedGrads:
        grads = self._grads(self._grad_pool.get(None))
        self._back_propagate(state, batch, grads)
        self._add_regulariser(grads)
        return grads

    def _back_propagate(self, state: TunedState, batch: TunedBatch, grads: TunedGrads) -> None:
        """Gradients of the summed log loss (no regulariser) into ``grads``."""
        np.subtract(state.a[-1], batch.y, out=state.delta[-1])  # delta_E = A_E - y (log loss, sigmoid out)
        for N in reversed(range(self._n_w)):
            self._bw_prop_Np1_to_N(N, state, grads)

    def _add_regulariser(self, grads: TunedGrads) -> None:
        """The seed's t6 for every layer at once: the weight part of the flat gradient, biases excluded."""
        g_weights = grads.flat[:self._n_weights]
        weights = self._params[:self._n_weights]
        tmp = self._spare[:self._n_weights]  # free until update writes dW there
        if self.config.lambda2 > 0:
            np.multiply(weights, np.float32(self.config.lambda2), out=tmp)
            np.add(g_weights, tmp, out=g_weights)
        if self.config.lambda1 > 0:
            np.sign(weights, out=tmp)
            np.multiply(tmp, np.float32(self.config.lambda1), out=tmp)
            np.add(g_weights, tmp, out=g_weights)

    def _bw_prop_Np1_to_N(self, N: int, st: TunedState, grads: TunedGrads) -> None:
        """Backward transition from layer N+1 to layer N: grad W_N = delta_{N+1}^T A_N, grad b_N = sum of
        delta_{N+1} over the batch; for N > 0 also delta_N = (delta_{N+1} W_N) * A_N * (1 - A_N), chunk by
        chunk, in place. (The regulariser is added for all layers at once in ``backward``.)"""
        delta_next = st.delta[N + 1]
        np.dot(delta_next.T, st.a[N], out=grads.w[N])
        np.dot(st.ones, delta_next, out=grads.b[N])
        if N == 0:
            return  # no delta for the input layer
        if self._width[N] > self._layers[N]:
            grads.w[N][:, self._layers[N]:] = _ZERO  # padding units feed nothing (see _widths)
        W = self._w[N]
        delta, A, tmp = st.delta[N], st.a[N], st.tmp
        width = delta.shape[1]
        blocks = ((delta_next, delta, A, tmp[:st.rows * width].reshape(st.rows, width)),) \
            if st.rows <= self.chunk_rows else \
            [(delta_next[s:e], delta[s:e], A[s:e], tmp[:(e - s) * width].reshape(e - s, width))  # contiguous
             for s, e in _chunks(st.rows, self.chunk_rows)]
        for d_next, d, a, t in blocks:  # delta = (delta_next W) * A * (1 - A), in place
            np.dot(d_next, W, out=d)
            np.subtract(_ONE, a, out=t)
            np.multiply(t, a, out=t)
            np.multiply(d, t, out=d)

    def train_step(self, idx: np.ndarray) -> float:
        """One mini-batch: gather, forward, loss, backward, update; returns the batch loss.

        Up to ``chunk_rows`` rows it is the contract's phases one after the other. A larger batch runs
        chunk-fused: chunk by chunk (equal chunks of at most ``chunk_rows`` rows), the rows are gathered into
        a cache-sized buffer, pushed forward, their log loss summed and their deltas pushed back while they
        are still in cache, and their gradient products added to the batch's; the regulariser (in the loss
        and the gradient) and the update follow once per batch. The same work and the same sums as the
        plain phases, in another order: the batch's inputs come from memory once instead of three times
        (gather, forward product, gradient product). The per-phase benchmarks time the plain phases."""
        rows = len(idx)
        grads = self._step_grads or self._take_step_grads()
        if rows <= self.chunk_rows:
            batch, state = self._step_sets.get(rows) or self._take_step_set(rows)
            self._gather(idx, batch.x, batch.y)
            for N in range(1, self._n_w + 1):
                self._fw_prop_Nm1_to_N(N, state)
            loss = self._log_loss(state, batch)
            self._back_propagate(state, batch, grads)
        else:
            size = -(-rows // -(-rows // self.chunk_rows))  # equal chunks (the last one may be smaller)
            full_batch, full_state = self._step_sets.get(size) or self._take_step_set(size)
            loss = 0.0
            for s in range(0, rows, size):
                part = idx[s:s + size]
                batch, state = (full_batch, full_state) if len(part) == size else self._part_of(full_state, len(part))
                self._gather(part, batch.x, batch.y)
                for N in range(1, self._n_w + 1):
                    self._fw_prop_Nm1_to_N(N, state)
                loss += self._log_loss(state, batch)
                if s == 0:
                    self._back_propagate(state, batch, grads)
                else:
                    self._back_propagate(state, batch, self._partial)
                    np.add(grads.flat, self._partial.flat, out=grads.flat)
        self._add_regulariser(grads)
        loss += self._regulariser()
        self.update(grads)
        return loss

    def _take_step_set(self, rows: int) -> tuple[TunedBatch, TunedState]:
        """train_step's own batch and state buffers for ``rows`` rows: taken from the pools once and kept, so
        the pools count them as in use (a phase call never gets them) and a step builds no views or objects."""
        x, y = self._batch_pool.get(rows)
        self._step_sets[rows] = (TunedBatch(x, y), self._state(x, self._state_pool.get(rows)))
        return self._step_sets[rows]

    def _take_step_grads(self) -> TunedGrads:
        """train_step's own gradient buffers, taken from the gradient pool once and kept."""
        self._step_grads = self._grads(self._grad_pool.get(None))
        return self._step_grads

    def _part_of(self, state: TunedState, rows: int) -> tuple[TunedBatch, TunedState]:
        """The first ``rows`` rows of a kept step set (a fused step's smaller last chunk)."""
        batch = self._step_sets[state.rows][0]
        arrays = [a for N in range(1, self._n_w + 1) for a in (state.z[N], state.a[N], state.delta[N])]
        arrays += [state.tmp, state.loss_t, state.loss_u, state.ones]
        return TunedBatch(batch.x[:rows], batch.y[:rows]), self._state(batch.x[:rows], arrays)

    def update(self, grads: TunedGrads) -> None:
        """The seed's rule on the flat vectors: dW = lr * grad; P -= dW + mom_rate * dW_previous; the momentum
        keeps only dW. dW goes into the spare buffer, which then becomes the momentum."""
        dW, M = self._spare, self._mom
        np.multiply(grads.flat, np.float32(self.learn_rate), out=dW)
        np.multiply(M, np.float32(self.config.mom_rate), out=M)
        np.add(M, dW, out=M)
        np.subtract(self._params, M, out=self._params)
        self._mom, self._spare = dW, M

    # -- evaluation, weights, profiling -------------------------------------------------------------------
    def accuracy(self, split: str) -> float:
        if split not in self._x:
            raise ConfigError(f"unknown split {split!r}; choose train or test")
        x = self._x[split]
        rows = min(len(x), 10_000)
        arrays = self._new_state_buffers(rows)  # not pooled: evaluation buffers are not kept
        correct = 0
        for s, e in _chunks(len(x), rows):
            st = self._state(x[s:e], arrays)
            for N in range(1, self._n_w + 1):
                self._fw_prop_Nm1_to_N(N, st)
            correct += int(np.count_nonzero(np.argmax(st.a[-1], axis=1) == self._labels[split][s:e]))
        return correct / len(x)

    def _seed_layout(self, w: tuple[np.ndarray, ...], b: tuple[np.ndarray, ...]) -> list[np.ndarray]:
        """float64 (n_{N+1}, n_N + 1) arrays, bias in column 0, padding units dropped."""
        out = []
        for N, (w_N, b_N) in enumerate(zip(w, b, strict=True)):
            n_in, n_out = self._layers[N], self._layers[N + 1]
            out.append(np.hstack([b_N[:n_out, None], w_N[:n_out, :n_in]]).astype(np.float64))
        return out

    def get_weights(self) -> list[np.ndarray]:
        return self._seed_layout(self._w, self._b)

    def set_weights(self, weights: list[np.ndarray]) -> None:
        self.check_layout(weights)
        self._params.fill(0.0)  # the padding stays zero
        for W, b, new in zip(self._w, self._b, weights, strict=True):
            n_out, n_in = new.shape[0], new.shape[1] - 1
            b[:n_out] = new[:, 0]
            W[:n_out, :n_in] = new[:, 1:]
        self._mom.fill(0.0)

    def gradients_as_arrays(self, grads: TunedGrads) -> list[np.ndarray]:
        return self._seed_layout(grads.w, grads.b)

    def transitions(self) -> dict[str, Transition]:
        cls = type(self)
        fw = {f"fw:{N}": Transition(cls._fw_prop_Nm1_to_N, N) for N in range(1, self._n_w + 1)}
        bw = {f"bw:{N}": Transition(cls._bw_prop_Np1_to_N, N) for N in range(self._n_w)}
        return fw | bw

    def run_facts(self) -> dict[str, Any]:
        """Recorded with every benchmark result (bench.harness.record)."""
        return {"chunk_rows": self.chunk_rows, "chunk_rows_source": self.chunk.source,
                "l2_bytes": self.chunk.l2_bytes, "stored_widths": list(self._width),
                "sigmoid_form": self.sigmoid.form, "sigmoid_seconds": self.sigmoid.seconds}
