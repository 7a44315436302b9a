"""The seed's MLP in PyTorch eager mode (``torch-cpu`` / ``torch-gpu``), as a PyTorch user writes it:

* float32 parameters W_N (n_{N+1}, n_N) and b_N apart (the seed layout's column 0) with ``requires_grad``;
  samples-major batches; one Python method per forward transition (``torch.addmm`` + ``torch.sigmoid``), so
  ``mlp-bench profile --transition fw:N`` times real lines;
* the batch loss from Z_E as ``binary_cross_entropy_with_logits(reduction="sum")`` (= softplus(Z_E) - y Z_E
  summed over outputs and batch: the seed's log loss, computed stably) plus lambda2/2 sum(W^2) and
  lambda1 sum|W| on the weights only, never the biases;
* gradients by autograd (``torch.autograd.grad``: no ``.grad`` accumulation to zero), so the backward
  transitions run inside autograd's C++ engine and cannot be line-profiled;
* the seed's update under ``torch.no_grad()``: dW = lr * grad; W -= dW + mom_rate * dW_previous; the learning
  rate decays per epoch as everywhere (a Python float: eager mode never retraces);
* the shared initial weights and batch order; the whole data set lives on the device, a batch is an
  ``index_select`` there (``prepare``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from impl.config import TrainConfig
from impl.contract import Trainer, Transition
from impl.data import Dataset
from impl.errors import UnavailableError
from impl.frameworks import check_layout, seed_layout
from impl.torch_mlp import runtime

_EVAL_CHUNK = 10_000  # samples per forward call when measuring whole-set accuracy


@dataclass
class TorchBatch:
    """A mini-batch on the trainer's device: x (B, 784) float32, y one-hot (B, 10) float32 (None to evaluate)."""

    x: Any
    y: Any


@dataclass
class TorchState:
    """Net inputs Z_N and outputs A_N of every layer (autograd's graph hangs on them) and, once computed, the
    batch loss as a tensor (the backward pass starts from it)."""

    li_Z: list[Any]
    li_A: list[Any]
    loss: Any = None


class TorchMLP(Trainer):
    """Shared by the PyTorch trainers: availability, the data and parameters on the device, weights in the seed
    layout, evaluation, run facts. This class itself is the eager trainer."""

    in_default_run = False  # a framework peer: named with --impl (the default run must fit 15 min)

    backend: ClassVar[str] = "torch"
    dtype: ClassVar[str] = "float32"
    backward_profile_refusal: ClassVar[str | None] = (
        "the backward transitions run inside PyTorch's autograd engine (C++), not in Python lines; time them "
        "with the backward phase: pytest bench/ --benchmark-only --impl {name}")
    #: Whether the parameters carry ``requires_grad`` (eager autograd); torch.func needs none.
    autograd_parameters: ClassVar[bool] = True

    @classmethod
    def unavailable_reason(cls) -> str | None:
        if cls.device == "gpu":
            return runtime.torch_gpu_unavailable_reason()
        return runtime.torch_unavailable_reason()

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if cls.__dict__.get("name") and cls.backward_profile_refusal:
            cls.backward_profile_refusal = cls.backward_profile_refusal.format(name=cls.name)

    def __init__(self, config: TrainConfig, data: Dataset) -> None:
        super().__init__(config, data)
        reason = type(self).unavailable_reason()
        if reason:
            raise UnavailableError(f"{self.name} is not available here: {reason}")
        self.torch = runtime.load()
        self.dev = runtime.device_of(self.device)
        self._n_layers = len(config.layers)
        self._x = {"train": self._to_device(data.x_train), "test": self._to_device(data.x_test)}
        self._y = self._to_device(data.onehot_train())
        self._labels = {"train": np.asarray(data.y_train), "test": np.asarray(data.y_test)}
        self._params: list[Any] = []  # W_0, b_0, W_1, b_1, ...
        self._moms: list[Any] = []  # the previous step dW of each parameter (the seed's momentum)
        self.set_weights(self.initial_weights)
        self.placement = self._verify_placement()

    # -- device ----------------------------------------------------------------------------------------------
    def _verify_placement(self) -> str:
        """Every parameter and the data set on the variant's device, else an error; returns the placement."""
        tensors = [*self._params, *self._moms, *self._x.values(), self._y]
        kinds = {"cuda": "gpu", "cpu": "cpu"}
        placements = sorted({str(t.device) for t in tensors})
        wrong = [p for p in placements if kinds.get(p.split(":")[0]) != self.device]
        if wrong:
            raise UnavailableError(f"{self.name}: expected everything on the {self.device.upper()}, "
                                   f"found {', '.join(wrong)}")
        return ", ".join(placements)

    def _to_device(self, array: np.ndarray) -> Any:
        """A float32 copy on the device (the data set's arrays are read-only; torch wants writable memory)."""
        return self.torch.from_numpy(np.array(array, dtype=np.float32)).to(self.dev)

    def sync(self) -> None:
        runtime.synchronize(self.device)

    # -- phases ----------------------------------------------------------------------------------------------
    def prepare_batch(self, idx: np.ndarray) -> TorchBatch:
        """The batch gathered on the device (the indices are copied there)."""
        rows = self.torch.as_tensor(idx, dtype=self.torch.int64, device=self.dev)
        batch = TorchBatch(self._x["train"].index_select(0, rows), self._y.index_select(0, rows))
        self.sync()
        return batch

    def forward(self, batch: TorchBatch) -> TorchState:
        """Eager forward pass, recording autograd's graph (that is part of eager PyTorch's forward cost)."""
        li_Z: list[Any] = [None] * self._n_layers
        li_A: list[Any] = [None] * self._n_layers
        li_Z[0] = li_A[0] = batch.x
        for N in range(1, self._n_layers):
            self._fw_prop_Nm1_to_N(N, li_Z, li_A)
        self.sync()
        return TorchState(li_Z, li_A)

    def _fw_prop_Nm1_to_N(self, N: int, li_Z: list[Any], li_A: list[Any]) -> None:
        """Forward transition from layer N-1 into layer N: Z_N = b + A_{N-1} W^T in one addmm, A_N = sigma."""
        torch = self.torch
        W_N, b_N = self._params[2 * N - 2], self._params[2 * N - 1]
        li_Z[N] = torch.addmm(b_N, li_A[N - 1], W_N.t())
        li_A[N] = torch.sigmoid(li_Z[N])

    def objective(self, Z_E: Any, y: Any, weights: list[Any]) -> Any:
        """The seed's batch loss as a tensor: summed log loss from Z_E plus L2 (and L1) on the weights only."""
        torch = self.torch
        loss = torch.nn.functional.binary_cross_entropy_with_logits(Z_E, y, reduction="sum")
        for W in weights:
            if self.config.lambda2 > 0:
                loss = loss + 0.5 * self.config.lambda2 * torch.sum(W * W)
            if self.config.lambda1 > 0:
                loss = loss + self.config.lambda1 * torch.sum(torch.abs(W))
        return loss

    def batch_loss(self, state: TorchState, batch: TorchBatch) -> float:
        state.loss = self.objective(state.li_Z[-1], batch.y, self._params[0::2])
        return float(state.loss.detach())

    def backward(self, state: TorchState, batch: TorchBatch) -> list[Any]:
        """Autograd from the forward state (the loss is computed first when the caller has not asked for it)."""
        if state.loss is None:
            state.loss = self.objective(state.li_Z[-1], batch.y, self._params[0::2])
        grads = self.torch.autograd.grad(state.loss, self._params)
        self.sync()
        return list(grads)

    def update(self, grads: list[Any]) -> None:
        """The seed's rule: dW = lr * grad; W -= dW + mom_rate * dW_previous; the momentum keeps only dW."""
        with self.torch.no_grad():
            for i, (p, g) in enumerate(zip(self._params, grads, strict=True)):
                step = g * self.learn_rate
                p.sub_(step + self.config.mom_rate * self._moms[i])
                self._moms[i] = step
        self.sync()

    def train_step(self, idx: np.ndarray) -> float:
        """Gather, forward, loss, autograd, update; the loss is read (a device sync) only at the end."""
        batch = self.prepare_batch(idx)
        state = self.forward(batch)
        state.loss = self.objective(state.li_Z[-1], batch.y, self._params[0::2])
        self.update(self.backward(state, batch))
        return float(state.loss.detach())

    # -- evaluation, weights, profiling ----------------------------------------------------------------------
    def _logits(self, x: Any) -> Any:
        """Z_E of a whole chunk, without autograd (evaluation only)."""
        a = x
        for N in range(self._n_layers - 1):
            z = self.torch.addmm(self._params[2 * N + 1], a, self._params[2 * N].t())
            a = self.torch.sigmoid(z)
        return z

    def accuracy(self, split: str) -> float:
        x, hits = self._x[split], 0
        with self.torch.no_grad():
            for start in range(0, x.shape[0], _EVAL_CHUNK):
                predicted = self._logits(x[start:start + _EVAL_CHUNK]).argmax(dim=1).cpu().numpy()
                hits += int(np.sum(predicted == self._labels[split][start:start + _EVAL_CHUNK]))
        return hits / x.shape[0]

    def get_weights(self) -> list[np.ndarray]:
        arrays = [p.detach().cpu().numpy() for p in self._params]
        return seed_layout(list(zip(arrays[0::2], arrays[1::2], strict=True)))

    def set_weights(self, weights: list[np.ndarray]) -> None:
        """Fresh parameter tensors from the seed layout (W = columns 1.., b = column 0), momentum zero."""
        check_layout(self.name, self.config.layers, weights)
        torch = self.torch
        params = []
        for W in weights:
            W = np.asarray(W, dtype=np.float32)
            params += [torch.tensor(W[:, 1:], device=self.dev), torch.tensor(W[:, 0], device=self.dev)]
        for p in params:
            p.requires_grad_(self.autograd_parameters)
        self._params = params
        self._moms = [torch.zeros_like(p, requires_grad=False) for p in params]

    def gradients_as_arrays(self, grads: list[Any]) -> list[np.ndarray]:
        arrays = [g.detach().cpu().numpy() for g in grads]
        return seed_layout(list(zip(arrays[0::2], arrays[1::2], strict=True)))

    def transitions(self) -> dict[str, Transition]:
        """Forward transitions only: the backward ones are autograd's (``backward_profile_refusal``)."""
        return {f"fw:{N}": Transition(type(self)._fw_prop_Nm1_to_N, N) for N in range(1, self._n_layers)}

    def run_facts(self) -> dict[str, Any]:
        """Backend, verified placement, threads and denormal handling in force, version; flat."""
        return {"backend": "torch", "device": self.device, "placement": self.placement, "jit_compile": False,
                **runtime.runtime_facts()}


class TorchEagerCPU(TorchMLP):
    name = "torch-cpu"
    device = "cpu"
    description = ("the seed's mathematics in PyTorch eager (CPU): float32, addmm + sigmoid per layer, summed "
                   "BCE-with-logits from Z_E + L2 on weights, autograd, the seed's momentum rule under no_grad; "
                   "shared weights and batches")


class TorchEagerGPU(TorchMLP):
    name = "torch-gpu"
    device = "gpu"
    description = TorchEagerCPU.description.replace("(CPU)", "(GPU)")
