"""The backend-specific glue of ``keras-cpu`` / ``keras-gpu`` (:mod:`impl.keras.mlp`): the seed's loss and
momentum rule as Keras pieces, and per backend how the four steps (forward, forward+backward, train step,
update) are differentiated and compiled: on TensorFlow a ``tf.GradientTape`` inside
``tf.function(jit_compile=...)``; on JAX ``jax.value_and_grad`` of the model's ``stateless_call`` inside
``jax.jit`` with the optimizer's ``stateless_apply``; on PyTorch eager autograd (``torch.autograd.grad``) on the
Keras variables, which are ``torch.nn.Parameter``s, and ``optimizer.apply`` under ``torch.no_grad()``, as Keras'
own torch trainer steps.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from impl.keras.mlp import KerasMLP


def summed_log_loss(keras: Any) -> Any:
    """The seed's log loss as a Keras loss: per sample the sum over the outputs of softplus(z) - y z (z: the
    output net input), summed over the batch by the ``"sum"`` reduction."""
    ops = keras.ops

    class SummedLogLoss(keras.losses.Loss):
        def __init__(self) -> None:
            super().__init__(name="summed_log_loss", reduction="sum")

        def call(self, y_true: Any, y_pred: Any) -> Any:
            return ops.sum(ops.softplus(y_pred) - y_true * y_pred, axis=-1)

    return SummedLogLoss()


def seed_momentum(keras: Any, learn_rate: float, mom_rate: float) -> Any:
    """The seed's update as a Keras optimizer: dW = lr * grad; W -= dW + mom_rate * dW_previous."""
    ops = keras.ops

    class SeedMomentum(keras.optimizers.Optimizer):
        def __init__(self, learning_rate: float, mom_rate: float, **kwargs: Any) -> None:
            super().__init__(learning_rate=learning_rate, name="seed_momentum", **kwargs)
            self.mom_rate = mom_rate

        def build(self, variables: list) -> None:
            if self.built:
                return
            super().build(variables)
            self.previous_steps = self.add_optimizer_variables(variables, "previous_step")

        def update_step(self, gradient: Any, variable: Any, learning_rate: Any) -> None:
            step = ops.multiply(ops.cast(gradient, variable.dtype), ops.cast(learning_rate, variable.dtype))
            previous = self.previous_steps[self._get_variable_index(variable)]
            self.assign_sub(variable, ops.add(step, ops.multiply(previous, ops.cast(self.mom_rate, variable.dtype))))
            self.assign(previous, step)

        def get_config(self) -> dict:
            return {**super().get_config(), "mom_rate": self.mom_rate}

    return SeedMomentum(learn_rate, mom_rate)


class _VariableSteps:
    """What the backends that keep the state in the Keras variables (TensorFlow, PyTorch) share: the values,
    the weights in and out, the learning rate; the subclass defines the four steps."""

    t: KerasMLP

    def values(self) -> list[Any]:
        return [v.value for v in self.t.model.trainable_variables]

    def get_values(self) -> list[np.ndarray]:
        return [self.t.keras.ops.convert_to_numpy(v) for v in self.values()]

    def set_values(self, arrays: list[np.ndarray]) -> None:
        with self.t.scope():  # as every assignment: on the variant's device (see KerasFitTrainer.set_model_weights)
            for v, a in zip(self.t.model.trainable_variables, arrays, strict=True):
                v.assign(a)
            for v in self.t.optimizer.previous_steps:
                v.assign(np.zeros(v.shape, dtype=np.float32))
            self.t.optimizer.iterations.assign(0)

    def set_learning_rate(self, value: float) -> None:
        self.t.optimizer.learning_rate.assign(value)

    def sync_model(self) -> None:
        """The Keras variables hold the state already."""


class _TensorFlowSteps(_VariableSteps):
    """The compiled functions on TensorFlow: state lives in the Keras variables."""

    def __init__(self, t: KerasMLP) -> None:
        import tensorflow as tf

        self.t = t
        model, optimizer = t.model, t.optimizer
        trainable = model.trainable_variables

        def forward(x: Any) -> Any:
            with t.scope():
                logits = model(x, training=False)
                return logits, t.keras.ops.sigmoid(logits)

        def loss_and_grads(x: Any, y: Any) -> tuple[Any, list]:
            with t.scope():
                with tf.GradientTape() as tape:
                    loss = t.objective(model(x, training=True), y, trainable[0::2])
                return loss, tape.gradient(loss, trainable)

        def train(x: Any, y: Any) -> Any:
            loss, grads = loss_and_grads(x, y)
            with t.scope():
                optimizer.apply(grads, trainable)
            return loss

        def apply(grads: list) -> None:
            with t.scope():
                optimizer.apply(grads, trainable)

        self.functions = {name: tf.function(fn, jit_compile=t.jit_compile) for name, fn in
                          (("forward", forward), ("forward_backward", loss_and_grads), ("train_step", train),
                           ("update", apply))}
        self.forward = self.functions["forward"]
        self.loss_and_grads = self.functions["forward_backward"]
        self.train = self.functions["train_step"]
        self.apply = self.functions["update"]

    def tracing_counts(self) -> dict[str, int]:
        return {name: fn.experimental_get_tracing_count() for name, fn in self.functions.items()}


class _JaxSteps:
    """The compiled functions on JAX: pure functions of (values, optimizer values), jitted; the state lives
    in arrays held here and is written back to the Keras variables only for evaluation."""

    def __init__(self, t: KerasMLP) -> None:
        import jax

        self.t = t
        model, optimizer = t.model, t.optimizer
        ops = t.keras.ops

        def objective(values: list, x: Any, y: Any) -> Any:
            logits, _ = model.stateless_call(values, [], x, training=True)
            return t.objective(logits, y, values[0::2])

        def forward(values: list, x: Any) -> Any:
            logits, _ = model.stateless_call(values, [], x, training=False)
            return logits, ops.sigmoid(logits)

        value_and_grad = jax.value_and_grad(objective)

        def train(values: list, opt_values: list, x: Any, y: Any) -> tuple[Any, list, list]:
            loss, grads = value_and_grad(values, x, y)
            new_values, new_opt_values = optimizer.stateless_apply(opt_values, grads, values)
            return loss, new_values, new_opt_values

        def apply(values: list, opt_values: list, grads: list) -> tuple[list, list]:
            return optimizer.stateless_apply(opt_values, grads, values)

        self._forward, self._loss_and_grads = jax.jit(forward), jax.jit(value_and_grad)
        self._train, self._apply = jax.jit(train), jax.jit(apply)
        self._values = [v.value for v in model.trainable_variables]
        self._opt_values = [v.value for v in optimizer.variables]
        self._lr_index = next(i for i, v in enumerate(optimizer.variables) if v is optimizer._learning_rate)

    def forward(self, x: Any) -> Any:
        return self._forward(self._values, x)

    def loss_and_grads(self, x: Any, y: Any) -> Any:
        return self._loss_and_grads(self._values, x, y)

    def train(self, x: Any, y: Any) -> Any:
        loss, self._values, self._opt_values = self._train(self._values, self._opt_values, x, y)
        return loss

    def apply(self, grads: list) -> None:
        self._values, self._opt_values = self._apply(self._values, self._opt_values, grads)

    def values(self) -> list[Any]:
        return self._values

    def get_values(self) -> list[np.ndarray]:
        return [np.asarray(v) for v in self._values]

    def set_values(self, arrays: list[np.ndarray]) -> None:
        import jax.numpy as jnp

        with self.t.scope():
            self._values = [jnp.asarray(a) for a in arrays]
            opt = self.t.optimizer
            self._opt_values = [v.value if v is opt._learning_rate else jnp.zeros(v.shape, v.dtype)
                                for v in opt.variables]

    def set_learning_rate(self, value: float) -> None:
        import jax.numpy as jnp

        old = self._opt_values[self._lr_index]
        self._opt_values[self._lr_index] = jnp.asarray(value, dtype=old.dtype)

    def tracing_counts(self) -> dict[str, int]:
        """Compiled versions held by each jitted function (one per input shape)."""
        functions = {"forward": self._forward, "forward_backward": self._loss_and_grads,
                     "train_step": self._train, "update": self._apply}
        return {name: fn._cache_size() for name, fn in functions.items() if hasattr(fn, "_cache_size")}

    def sync_model(self) -> None:
        for v, a in zip(self.t.model.trainable_variables, self._values, strict=True):
            v.assign(a)


class _TorchSteps(_VariableSteps):
    """The steps on PyTorch, eager by default: autograd on the Keras variables (``torch.nn.Parameter``s), then
    ``optimizer.apply`` under ``torch.no_grad()``, as Keras' torch trainer runs its train step. Gradients come
    from ``torch.autograd.grad`` rather than ``loss.backward()``: the same numbers, without ``.grad`` buffers
    to zero between calls. State lives in the Keras variables, as on TensorFlow."""

    def __init__(self, t: KerasMLP) -> None:
        import torch

        self.t = t
        model, optimizer = t.model, t.optimizer
        trainable = model.trainable_variables
        ops = t.keras.ops

        def forward(x: Any) -> Any:
            with torch.no_grad():
                logits = model(x, training=False)
                return logits, ops.sigmoid(logits)

        def loss_and_grads(x: Any, y: Any) -> tuple[Any, list]:
            params = [v.value for v in trainable]
            loss = t.objective(model(x, training=True), y, params[0::2])
            return loss.detach(), list(torch.autograd.grad(loss, params))

        def train(x: Any, y: Any) -> Any:
            loss, grads = loss_and_grads(x, y)
            with torch.no_grad():
                optimizer.apply(grads, trainable)
            return loss

        def apply(grads: list) -> None:
            with torch.no_grad():
                optimizer.apply(grads, trainable)

        functions = {"forward": forward, "forward_backward": loss_and_grads, "train_step": train, "update": apply}
        if t.jit_compile:  # torch.compile (TorchDynamo + Inductor): opt-in, see KerasMLP.torch_compile
            functions = {name: torch.compile(fn) for name, fn in functions.items()}
        self.forward, self.loss_and_grads = functions["forward"], functions["forward_backward"]
        self.train, self.apply = functions["train_step"], functions["update"]

    def tracing_counts(self) -> dict[str, int]:
        """Eager PyTorch traces nothing; torch.compile keeps no per-function count to report."""
        return {}


#: The compiled steps of each backend keras-cpu/-gpu is written for.
STEPS = {"tensorflow": _TensorFlowSteps, "jax": _JaxSteps, "torch": _TorchSteps}
