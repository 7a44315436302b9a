"""The seed's MLP as one ``jax.jit`` step (``jax-cpu`` / ``jax-gpu``).

* parameters (W_N (n_{N+1}, n_N), b_N) float32 in a tuple, the momentum (the previous step dW) likewise, all
  placed on the variant's device with ``jax.device_put`` and verified there (``placement`` in ``run_facts``);
* the loss: summed log loss from Z_E as softplus(Z_E) - y Z_E (stable) plus lambda2/2 sum W^2 [+ lambda1
  sum|W|] on the weights only; gradients by ``jax.grad`` (``value_and_grad``);
* ``train_step``: one jitted function: forward, loss, gradients and the seed's update dW = lr * grad;
  W - (dW + mom_rate * dW_previous), with the parameter and momentum buffers donated (updated in place); the
  learning rate is an argument (the per-epoch decay never retraces);
* the whole data set on the device, a batch gathered there by a jitted ``take`` (``prepare``);
* every phase waits for its results (``block_until_ready``) before returning, so a clock never stops early.

A remainder batch (60,000 % B != 0) is a second input shape: a second compilation, done in ``warm_up``.
"""

from __future__ import annotations

import functools
from typing import Any, ClassVar

import numpy as np

from impl.config import TrainConfig
from impl.data import Dataset
from impl.frameworks import CompiledTrainer, DeviceBatch
from impl.jax_mlp import runtime


@functools.cache
def _functions(lambda2: float, lambda1: float, mom_rate: float) -> dict[str, Any]:
    """The jitted pure functions for one set of regularisation and momentum constants (cached per process)."""
    jax = runtime.load()
    jnp = jax.numpy

    def logits(params: tuple[Any, ...], x: Any) -> Any:
        a = x
        for N in range(len(params) // 2):
            z = a @ params[2 * N].T + params[2 * N + 1]
            a = jax.nn.sigmoid(z)
        return z

    def objective(params: tuple[Any, ...], x: Any, y: Any) -> Any:
        z = logits(params, x)
        loss = jnp.sum(jax.nn.softplus(z) - y * z)
        for W in params[0::2]:
            if lambda2 > 0:
                loss = loss + 0.5 * lambda2 * jnp.sum(W * W)
            if lambda1 > 0:
                loss = loss + lambda1 * jnp.sum(jnp.abs(W))
        return loss

    value_and_grad = jax.value_and_grad(objective)

    def forward(params: tuple[Any, ...], x: Any) -> tuple[Any, Any]:
        z = logits(params, x)
        return z, jax.nn.sigmoid(z)

    def apply(params: tuple[Any, ...], moms: tuple[Any, ...], grads: tuple[Any, ...],
              lr: Any) -> tuple[tuple[Any, ...], tuple[Any, ...]]:
        steps = tuple(lr * g for g in grads)
        new = tuple(p - (s + mom_rate * m) for p, s, m in zip(params, steps, moms, strict=True))
        return new, steps

    def train(params: tuple[Any, ...], moms: tuple[Any, ...], x: Any, y: Any,
              lr: Any) -> tuple[Any, tuple[Any, ...], tuple[Any, ...]]:
        loss, grads = value_and_grad(params, x, y)
        new, steps = apply(params, moms, grads, lr)
        return loss, new, steps

    def gather(x: Any, y: Any, idx: Any) -> tuple[Any, Any]:
        return jnp.take(x, idx, axis=0), jnp.take(y, idx, axis=0)

    return {"prepare": jax.jit(gather), "forward": jax.jit(forward),
            "forward_backward": jax.jit(value_and_grad), "update": jax.jit(apply, donate_argnums=(0, 1)),
            "train_step": jax.jit(train, donate_argnums=(0, 1)), "objective": jax.jit(objective)}


class JaxMLP(CompiledTrainer):
    """The seed's training step as jitted JAX functions; see the module docstring."""

    backend: ClassVar[str] = "jax"
    compiled_as = "one XLA program (jax.jit)"

    @classmethod
    def unavailable_reason(cls) -> str | None:
        return runtime.jax_gpu_unavailable_reason() if cls.device == "gpu" else runtime.jax_unavailable_reason()

    def __init__(self, config: TrainConfig, data: Dataset) -> None:
        super().__init__(config, data)
        self.jax = jax = runtime.load()
        self.dev = jax.devices(self.device)[0]
        self._fns = _functions(float(config.lambda2), float(config.lambda1), float(config.mom_rate))
        self._cache_at_start = self._cache_sizes()
        self.inputs = {"train": self._put(data.x_train), "test": self._put(data.x_test)}
        self._y = self._put(data.onehot_train())
        self._params: tuple[Any, ...] = ()
        self._moms: tuple[Any, ...] = ()
        self.set_weights(self.initial_weights)
        arrays = [*self._params, *self._moms, *self.inputs.values(), self._y]
        self.verify_placement([f"{d.platform}:{d.id}" for a in arrays for d in a.devices()])

    def _put(self, array: np.ndarray, dtype: Any = np.float32) -> Any:
        return self.jax.device_put(np.asarray(array, dtype=dtype), self.dev)

    def _ready(self, tree: Any) -> Any:
        return self.jax.block_until_ready(tree)

    # -- phases ----------------------------------------------------------------------------------------------
    def prepare_batch(self, idx: np.ndarray) -> DeviceBatch:
        """Indices to the device, the batch gathered there (one jitted take)."""
        x, y = self._fns["prepare"](self.inputs["train"], self._y, self._put(idx, np.int32))
        return DeviceBatch(*self._ready((x, y)))

    def forward(self, batch: DeviceBatch) -> tuple[Any, Any]:
        return self._ready(self._fns["forward"](self._params, batch.x))

    def batch_loss(self, state: tuple[Any, Any], batch: DeviceBatch) -> float:
        """Un-timed helper (the jitted step computes its own loss): the batch loss at the current weights."""
        return float(self._fns["objective"](self._params, batch.x, batch.y))

    def forward_backward(self, batch: DeviceBatch) -> tuple[Any, ...]:
        loss, grads = self._ready(self._fns["forward_backward"](self._params, batch.x, batch.y))
        return grads

    def update(self, grads: tuple[Any, ...]) -> None:
        self._params, self._moms = self._ready(
            self._fns["update"](self._params, self._moms, grads, np.float32(self.learn_rate)))

    def train_step(self, idx: np.ndarray) -> float:
        """Gather on the device, then the one jitted step; converting the loss to a float waits for it and
        the parameters are waited for too (the next step would anyway)."""
        batch = self.prepare_batch(idx)
        loss, self._params, self._moms = self._fns["train_step"](self._params, self._moms, batch.x, batch.y,
                                                                 np.float32(self.learn_rate))
        self._ready(self._params)
        return float(loss)

    # -- FrameworkTrainer's hooks, facts ---------------------------------------------------------------------
    def evaluation_logits(self, x: Any) -> Any:
        return self._fns["forward"](self._params, x)[0]

    def parameter_values(self) -> list[Any]:
        return list(self._params)

    def load_weights(self, weights: list[np.ndarray]) -> None:
        """Fresh device arrays (W = columns 1.., b = column 0), momentum zero."""
        params = []
        for W in weights:
            params += [self._put(W[:, 1:]), self._put(W[:, 0])]
        self._params = tuple(params)
        self._moms = tuple(self.jax.numpy.zeros_like(p) for p in params)

    def _cache_sizes(self) -> dict[str, int]:
        return {name: fn._cache_size() for name, fn in self._fns.items() if hasattr(fn, "_cache_size")}

    def run_facts(self) -> dict[str, Any]:
        """Backend, verified placement, XLA thread flags, versions, compile time, and the versions each function
        compiled for this trainer (one per new input shape; the jitted functions are shared per process and
        hyperparameters, so shapes an earlier trainer compiled count 0; a count beyond the batch shapes would
        be a retrace)."""
        start = self._cache_at_start
        return {"backend": "jax", "device": self.device, "placement": self.placement, "jit_compile": True,
                "compile_s": self.compile_seconds, "donated_buffers": True,
                "tracing_counts": {name: n - start.get(name, 0) for name, n in self._cache_sizes().items()},
                **runtime.runtime_facts()}


class JaxCPU(JaxMLP):
    name = "jax-cpu"
    device = "cpu"
    description = ("the seed's mathematics as one jax.jit step (CPU): forward, summed log loss from Z_E + L2 on "
                   "weights, jax.grad, the seed's momentum rule, parameter buffers donated; shared weights and "
                   "batches, gathered on the device")


class JaxGPU(JaxMLP):
    name = "jax-gpu"
    device = "gpu"
    description = JaxCPU.description.replace("(CPU)", "(GPU)")
