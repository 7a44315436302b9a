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

Availability, placement checks, accuracy and the seed layout come from :class:`impl.frameworks.FrameworkTrainer`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from impl.config import TrainConfig
from impl.contract import Transition
from impl.data import Dataset
from impl.frameworks import DeviceBatch, FrameworkTrainer
from impl.torch_mlp import runtime


@dataclass
class TorchState:
    """Net inputs Z_N and outputs A_N of every layer (autograd's graph hangs on them) and, once computed, the
    batch loss as a tensor (the backward pass starts from it)."""

    li_Z: list[Any]
    li_A: list[Any]
    loss: Any = None


class TorchMLP(FrameworkTrainer):
    """Shared by the PyTorch trainers: the data and parameters on the device, the objective, run facts. This
    class itself is the eager trainer."""

    backend: ClassVar[str] = "torch"
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
        self.torch = runtime.load()
        self.dev = runtime.device_of(self.device)
        self._n_layers = len(config.layers)
        self.inputs = {"train": self._to_device(data.x_train), "test": self._to_device(data.x_test)}
        self._y = self._to_device(data.onehot_train())
        self._params: list[Any] = []  # W_0, b_0, W_1, b_1, ...
        self._moms: list[Any] = []  # the previous step dW of each parameter (the seed's momentum)
        self.set_weights(self.initial_weights)
        tensors = [*self._params, *self._moms, *self.inputs.values(), self._y]
        self.verify_placement([str(t.device) for t in tensors])

    def _to_device(self, array: np.ndarray) -> Any:
        """A float32 copy on the device (the data set's arrays are read-only; torch wants writable memory)."""
        return self.torch.from_numpy(np.array(array, dtype=np.float32)).to(self.dev)

    def sync(self) -> None:
        runtime.synchronize(self.device)

    # -- phases ----------------------------------------------------------------------------------------------
    def prepare_batch(self, idx: np.ndarray) -> DeviceBatch:
        """The batch gathered on the device (the indices are copied there)."""
        rows = self.torch.as_tensor(idx, dtype=self.torch.int64, device=self.dev)
        batch = DeviceBatch(self.inputs["train"].index_select(0, rows), self._y.index_select(0, rows))
        self.sync()
        return batch

    def forward(self, batch: DeviceBatch) -> TorchState:
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

    def batch_loss(self, state: TorchState, batch: DeviceBatch) -> float:
        state.loss = self.objective(state.li_Z[-1], batch.y, self._params[0::2])
        return float(state.loss.detach())

    def backward(self, state: TorchState, batch: DeviceBatch) -> list[Any]:
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

    # -- FrameworkTrainer's hooks, profiling, facts ----------------------------------------------------------
    def evaluation_logits(self, x: Any) -> Any:
        """Z_E of a whole chunk, without autograd (evaluation only)."""
        with self.torch.no_grad():
            a = x
            for N in range(self._n_layers - 1):
                z = self.torch.addmm(self._params[2 * N + 1], a, self._params[2 * N].t())
                a = self.torch.sigmoid(z)
            return z

    def to_numpy(self, tensor: Any) -> np.ndarray:
        return tensor.detach().cpu().numpy()

    def parameter_values(self) -> list[Any]:
        return self._params

    def load_weights(self, weights: list[np.ndarray]) -> None:
        """Fresh parameter tensors (W = columns 1.., b = column 0), momentum zero."""
        torch = self.torch
        params = []
        for W in weights:
            params += [torch.tensor(W[:, 1:], device=self.dev), torch.tensor(W[:, 0], device=self.dev)]
        for p in params:
            p.requires_grad_(self.autograd_parameters)
        self._params = params
        self._moms = [torch.zeros_like(p, requires_grad=False) for p in params]

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
