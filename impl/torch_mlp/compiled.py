"""The seed's training step through ``torch.compile`` (``torch-compile-cpu`` / ``torch-compile-gpu``).

One pure function per phase, compiled with Inductor (``mode="default"``, ``dynamic=False``):

* ``train_step``: loss and gradients by ``torch.func.grad_and_value`` of the same objective as torch eager
  (summed BCE-with-logits from Z_E + lambda2/2 sum W^2 [+ lambda1 sum|W|], weights only) and the seed's update
  dW = lr * grad; W - (dW + mom_rate * dW_previous), returning the new parameters and momentum: forward,
  backward and update in one graph;
* ``forward_backward`` (loss and gradients) and ``forward`` (Z_E, A_E) as their own graphs, for those phases
  and the equivalence tests.

The learning rate and the regularisation factors are 0-d tensors (the per-epoch decay never recompiles); only
whether L1 is on is a Python constant. ``dynamic=False``: a static graph per batch shape, so a remainder batch
(60,000 % B != 0) compiles a second graph, in ``warm_up``, never inside a timed region. Compilation is timed by
the harness around ``warm_up`` (``first_call_s``) and by the trainer (``compile_s``: the calls that compiled,
also where no warm-up ran, as in ``mlp-bench train``); graphs compiled during warm-up and afterwards
(recompilations in steady state: should stay 0) are recorded in ``run_facts``.
The functions are built once per process, so every trainer shares dynamo's cache of compiled graphs.
"""

from __future__ import annotations

import functools
import time
from typing import Any, ClassVar

import numpy as np

from impl.config import TrainConfig
from impl.data import Dataset
from impl.frameworks import CompiledTrainer, DeviceBatch
from impl.torch_mlp import runtime
from impl.torch_mlp.eager import TorchMLP

COMPILE_MODE = "default"  # "max-autotune" benchmarks GEMM kernels at compile time: minutes on 2 cores


@functools.cache
def compiled_functions(mode: str = COMPILE_MODE) -> dict[str, Any]:
    """The pure step functions, compiled lazily (on their first call per input shape); one set per process."""
    torch = runtime.load()
    F = torch.nn.functional

    def logits(params: list[Any], x: Any) -> Any:
        a = x
        for N in range(len(params) // 2):
            z = torch.addmm(params[2 * N + 1], a, params[2 * N].t())
            a = torch.sigmoid(z)
        return z

    def objective(params: list[Any], x: Any, y: Any, hyper: dict[str, Any], use_l1: bool) -> Any:
        loss = F.binary_cross_entropy_with_logits(logits(params, x), y, reduction="sum")
        weights = params[0::2]
        loss = loss + 0.5 * hyper["lambda2"] * sum(torch.sum(W * W) for W in weights)
        if use_l1:
            loss = loss + hyper["lambda1"] * sum(torch.sum(torch.abs(W)) for W in weights)
        return loss

    grad_and_value = torch.func.grad_and_value(objective)

    def forward(params: list[Any], x: Any) -> tuple[Any, Any]:
        z = logits(params, x)
        return z, torch.sigmoid(z)

    def loss_and_grads(params: list[Any], x: Any, y: Any, hyper: dict[str, Any], use_l1: bool) -> tuple[Any, Any]:
        grads, loss = grad_and_value(params, x, y, hyper, use_l1)
        return loss, grads

    def train(params: list[Any], moms: list[Any], x: Any, y: Any, hyper: dict[str, Any],
              use_l1: bool) -> tuple[Any, list[Any], list[Any]]:
        grads, loss = grad_and_value(params, x, y, hyper, use_l1)
        steps = [g * hyper["lr"] for g in grads]
        new_params = [p - (s + hyper["mom_rate"] * m) for p, s, m in zip(params, steps, moms, strict=True)]
        return loss, new_params, steps

    def compile_(fn: Any) -> Any:
        return torch.compile(fn, mode=mode, dynamic=False, fullgraph=True)

    return {"forward": compile_(forward), "forward_backward": compile_(loss_and_grads), "train_step": compile_(train)}


def compiled_graph_count() -> int:
    """Graphs dynamo has compiled in this process so far (every function, every shape)."""
    from torch._dynamo.utils import counters
    return int(counters["stats"]["unique_graphs"])


class TorchCompiledMLP(CompiledTrainer, TorchMLP):
    """torch eager's mathematics as compiled pure functions; see the module docstring."""

    autograd_parameters: ClassVar[bool] = False  # torch.func differentiates plain tensors
    backward_profile_refusal: ClassVar[str | None] = None
    compile_mode: ClassVar[str] = COMPILE_MODE
    compiled_as = f"one torch.compile (Inductor, mode={COMPILE_MODE!r}) graph of generated kernels"

    def __init__(self, config: TrainConfig, data: Dataset) -> None:
        self._hyper: dict[str, Any] = {}
        super().__init__(config, data)
        torch = self.torch
        self._fns = compiled_functions(self.compile_mode)
        self._use_l1 = config.lambda1 > 0

        def scalar(value: float) -> Any:
            return torch.tensor(value, dtype=torch.float32, device=self.dev)

        self._hyper = {"lr": scalar(self.learn_rate), "mom_rate": scalar(config.mom_rate),
                       "lambda2": scalar(config.lambda2), "lambda1": scalar(config.lambda1)}
        self.compile_seconds = 0.0  # wall time of the calls that compiled a graph (warm-up or not)
        self.graphs_compiled = 0
        self._graphs_after_warm_up: int | None = None

    def _call(self, phase: str, *args: Any) -> Any:
        """Call a compiled function; a call that compiled a graph (a new shape) is counted and timed."""
        before = compiled_graph_count()
        start = time.perf_counter()
        out = self._fns[phase](*args)
        new = compiled_graph_count() - before
        if new:
            self.sync()
            self.graphs_compiled += new
            self.compile_seconds += time.perf_counter() - start
        return out

    def learn_rate_changed(self, value: float) -> None:
        """A 0-d tensor the compiled step reads: the per-epoch decay changes a value, never the graph."""
        if self._hyper:
            self._hyper["lr"].fill_(value)

    # -- phases ----------------------------------------------------------------------------------------------
    def forward(self, batch: DeviceBatch) -> tuple[Any, Any]:  # type: ignore[override]
        """Compiled forward pass; returns (Z_E, A_E) once the device has finished."""
        out = self._call("forward", self._params, batch.x)
        self.sync()
        return out

    def batch_loss(self, state: tuple[Any, Any], batch: DeviceBatch) -> float:  # type: ignore[override]
        """Un-timed helper (the compiled steps compute the loss themselves): the loss from the forward state."""
        return float(self.objective(state[0], batch.y, self._params[0::2]))

    def forward_backward(self, batch: DeviceBatch) -> list[Any]:
        loss, grads = self._call("forward_backward", self._params, batch.x, batch.y, self._hyper, self._use_l1)
        self.sync()
        return list(grads)

    def train_step(self, idx: np.ndarray) -> float:
        """Gather on the device, then one compiled call: forward, loss, gradients, the seed's update."""
        batch = self.prepare_batch(idx)
        loss, self._params, self._moms = self._call("train_step", self._params, self._moms, batch.x, batch.y,
                                                    self._hyper, self._use_l1)
        return float(loss)  # reading the loss waits for the device

    def record_warm_up(self, seconds: float) -> None:
        """``compile_s`` stays the time of the calls that compiled (:meth:`_call`); what warm-up compiled is
        the baseline for counting recompilations in steady state."""
        self._graphs_after_warm_up = self.graphs_compiled

    def run_facts(self) -> dict[str, Any]:
        """Besides torch eager's facts: compile mode, graphs this trainer compiled (one per function and batch
        shape; 0 where an earlier trainer in the process compiled them) and the time those calls took, and the
        graphs compiled after warm-up (recompilations in steady state; None without a warm-up)."""
        after = self._graphs_after_warm_up
        return {**super().run_facts(), "jit_compile": True, "compile_mode": self.compile_mode,
                "compile_s": self.compile_seconds, "graphs_compiled": self.graphs_compiled,
                "recompilations_after_warm_up": None if after is None else self.graphs_compiled - after}


class TorchCompiledCPU(TorchCompiledMLP):
    name = "torch-compile-cpu"
    device = "cpu"
    description = ("torch eager's mathematics through torch.compile (CPU, Inductor C++ kernels, mode=default, "
                   "dynamic=False): forward, torch.func.grad_and_value and the seed's update in one graph per "
                   "batch shape; lr a tensor (no recompiles); compile time reported apart")


class TorchCompiledGPU(TorchCompiledMLP):
    name = "torch-compile-gpu"
    device = "gpu"
    description = TorchCompiledCPU.description.replace("(CPU, Inductor C++ kernels", "(GPU, Inductor Triton kernels")
