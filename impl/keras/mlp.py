"""The seed's 784-70-30-10 sigmoid MLP in Keras 3, two ways.

``keras-cpu`` / ``keras-gpu`` (:class:`KerasMLP`): the seed's exact mathematics, written with Keras pieces
that are backend-agnostic (layers, ``keras.ops``, a ``keras.losses.Loss``, a ``keras.optimizers.Optimizer``):

* model: Dense(70, sigmoid) -> Dense(30, sigmoid) -> Dense(10) returning the output layer's net input Z_E;
  the output sigmoid is applied in :meth:`KerasMLP.forward` and inside the loss (the same model: the seed
  also computes its loss from Z_E);
* loss :class:`summed log loss <_summed_log_loss>`: softplus(Z_E) - y * Z_E summed over outputs and batch,
  plus lambda2/2 * sum(kernel^2) + lambda1 * sum(|kernel|) on the kernels only (Keras keeps biases apart);
* optimizer ``SeedMomentum``: dW = lr * grad; W -= dW + mom_rate * previous dW (the previous step, not a
  velocity); its learning rate is a variable, so the per-epoch decay never retraces;
* shared initial weights (converted from the seed layout) and the shared batch order.

Only the differentiation and compilation glue is backend-specific, and small: on TensorFlow a
``tf.GradientTape`` inside ``tf.function(jit_compile=...)``; on JAX ``jax.value_and_grad`` of the model's
``stateless_call`` inside ``jax.jit`` with the optimizer's ``stateless_apply``; on PyTorch eager autograd
(``torch.autograd.grad``) on the Keras variables, which are ``torch.nn.Parameter``s, and ``optimizer.apply``
under ``torch.no_grad()``, as Keras' own torch trainer steps. ``torch.compile`` is off by default (opt in with
``torch_compile = True`` on a subclass); the run records ``jit_compile`` as in force.

``keras-fit-cpu`` / ``keras-fit-gpu`` (:class:`KerasFitMLP`): what a typical Keras user runs, and what the
seed compared against: ``model.fit`` on NumPy arrays with the stock SGD (momentum) and binary cross-entropy.
The mapping to the seed's units is in its description; it is a reference point, never tuned.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from impl.config import TrainConfig
from impl.data import Dataset
from impl.errors import ConfigError
from impl.keras.runtime import (
    KerasFitTrainer,
    KerasTrainer,
    configured_backend,
    keras_to_seed,
    seed_to_keras,
)

_EVAL_CHUNK = 10_000  # samples per call when measuring whole-set accuracy


@dataclass
class KerasBatch:
    """A mini-batch as tensors on the trainer's device (the host-to-device copy is in ``prepare``)."""

    x: Any
    y: Any


def _summed_log_loss(keras: Any) -> Any:
    """The seed's log loss as a Keras loss: per sample the sum over the outputs of softplus(z) - y z (z: the
    output net input), summed over the batch by the ``"sum"`` reduction."""
    ops = keras.ops

    class SummedLogLoss(keras.losses.Loss):
        def __init__(self) -> None:
            super().__init__(name="summed_log_loss", reduction="sum")

        def call(self, y_true: Any, y_pred: Any) -> Any:
            return ops.sum(ops.softplus(y_pred) - y_true * y_pred, axis=-1)

    return SummedLogLoss()


def _seed_momentum(keras: Any, learn_rate: float, mom_rate: float) -> Any:
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


def _check_layout(name: str, layers: tuple[int, ...], weights: list[np.ndarray]) -> None:
    expected = [(n_out, n_in + 1) for n_in, n_out in zip(layers[:-1], layers[1:], strict=True)]
    got = [np.shape(W) for W in weights]
    if got != expected:
        raise ConfigError(f"{name}: weight shapes {got} do not match the layout {expected}")


def _mlp_layers(keras: Any, layers: tuple[int, ...], last_activation: str | None, **dense: Any) -> Any:
    hidden = [keras.layers.Dense(n, activation="sigmoid", **dense) for n in layers[1:-1]]
    return keras.Sequential([keras.Input((layers[0],)), *hidden,
                             keras.layers.Dense(layers[-1], activation=last_activation, **dense)])


# ---------------------------------------------------------------- the seed's mathematics in Keras

class _VariableSteps:
    """What the backends that keep the state in the Keras variables (TensorFlow, PyTorch) share: the values,
    the weights in and out, the learning rate; the subclass defines the four steps."""

    t: KerasMLP

    def values(self) -> list[Any]:
        return [v.value for v in self.t.model.trainable_variables]

    def get_values(self) -> list[np.ndarray]:
        return [self.t.keras.ops.convert_to_numpy(v) for v in self.values()]

    def set_values(self, arrays: list[np.ndarray]) -> None:
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


_STEPS = {"tensorflow": _TensorFlowSteps, "jax": _JaxSteps, "torch": _TorchSteps}


_MLP_DESCRIPTION = ("the seed's mathematics in Keras 3 ({device}): Dense 70-30-10 sigmoid, summed log loss, L2 "
                    "on kernels, the seed's momentum rule as a Keras optimizer, shared weights and batches; "
                    "one step per call (TF: GradientTape in tf.function, JAX: jax.jit, PyTorch: eager autograd, "
                    "no torch.compile), jit_compile={jit}")


class KerasMLP(KerasTrainer):
    """The seed's MLP and training step in Keras, compiled; see the module docstring."""
    description_template = _MLP_DESCRIPTION
    compiled_as = "Keras (tf.function / jax.jit; eager torch autograd)"
    #: On KERAS_BACKEND=torch: wrap the steps in torch.compile (then recorded as jit_compile=True). Off: the
    #: eager step is what Keras' torch trainer runs by default, and compiling costs minutes on 2 cores.
    torch_compile: ClassVar[bool] = False

    workload = "mlp"
    phases: ClassVar[tuple[str, ...]] = ("prepare", "forward", "forward_backward", "train_step", "full_run")
    shared_batch_order: ClassVar[bool] = True

    @classmethod
    def unavailable_reason(cls) -> str | None:
        reason = super().unavailable_reason()
        backend = configured_backend()
        if reason is None and backend not in _STEPS:
            reason = (f"KERAS_BACKEND={backend}: the step of {cls.name} is written for {', '.join(_STEPS)} only "
                      "(the keras-fit and keras-cnn variants run on any backend Keras supports)")
        return reason

    def __init__(self, config: TrainConfig, data: Dataset) -> None:
        self._steps: Any = None
        super().__init__(config, data)
        keras = self._start_runtime()
        if self.backend_name == "torch":
            self.jit_compile = self.torch_compile  # the class value is TensorFlow's XLA switch
        self._x = {"train": data.x_train.astype(np.float32), "test": data.x_test.astype(np.float32)}
        self._onehot = data.onehot_train().astype(np.float32)
        self._labels = {"train": data.y_train, "test": data.y_test}
        self._loss = _summed_log_loss(keras)
        with self.scope():
            self.model = _mlp_layers(keras, config.layers, None)
            self.optimizer = _seed_momentum(keras, config.learn_rate, config.mom_rate)
            self.optimizer.build(self.model.trainable_variables)
            self._steps = _STEPS[self.backend_name](self)
        self.set_weights(self.initial_weights)
        self.learn_rate = self._learn_rate  # into the optimizer
        probe = self.prepare_batch(np.arange(2))
        self._verify(*self._steps.values(), probe.x)

    # -- the mathematics in keras.ops (the same on every backend) -----------------------------------------
    def objective(self, logits: Any, y: Any, kernels: list) -> Any:
        """The seed's batch loss: summed log loss from Z_E plus L2 (and L1) on the kernels only."""
        ops, total = self.keras.ops, self._loss(y, logits)
        for kernel in kernels:
            if self.config.lambda2 > 0:
                total = total + 0.5 * self.config.lambda2 * ops.sum(ops.square(kernel))
            if self.config.lambda1 > 0:
                total = total + self.config.lambda1 * ops.sum(ops.abs(kernel))
        return total

    @property
    def learn_rate(self) -> float:
        return self._learn_rate

    @learn_rate.setter
    def learn_rate(self, value: float) -> None:
        """A variable of the optimizer: the per-epoch decay changes a value, never the compiled step."""
        self._learn_rate = float(value)
        if self._steps is not None:
            self._steps.set_learning_rate(self._learn_rate)

    # -- phases -------------------------------------------------------------------------------------------
    def prepare_batch(self, idx: np.ndarray) -> KerasBatch:
        """Gather the batch in NumPy and copy it onto the device (the host-to-device step)."""
        x, y = self._x["train"][idx], self._onehot[idx]
        with self.scope():
            return KerasBatch(self.keras.ops.convert_to_tensor(x), self.keras.ops.convert_to_tensor(y))

    def forward(self, batch: KerasBatch) -> tuple[Any, Any]:
        """Compiled forward pass; returns (Z_E, A_E) once the device has finished."""
        out = self._steps.forward(batch.x)
        self.sync(*out)
        return out

    def batch_loss(self, state: tuple[Any, Any], batch: KerasBatch) -> float:
        """Un-timed helper (the compiled steps compute the loss themselves): the loss from the forward state."""
        with self.scope():
            return float(self.keras.ops.convert_to_numpy(self.objective(state[0], batch.y, self._steps.values()[0::2])))

    def backward(self, state: tuple[Any, Any], batch: KerasBatch) -> list[Any]:
        """Gradients of the batch loss. A compiled function differentiates the whole batch loss, so this
        runs the forward pass again: time the pair as ``forward_backward``, never ``backward`` alone."""
        return self.forward_backward(batch)

    def forward_backward(self, batch: KerasBatch) -> list[Any]:
        loss, grads = self._steps.loss_and_grads(batch.x, batch.y)
        self.sync(loss, *grads)
        return list(grads)

    def update(self, grads: list[Any]) -> None:
        self._steps.apply(grads)
        self.sync(*self._steps.values())

    def train_step(self, idx: np.ndarray) -> float:
        """Gather and copy the batch, then one compiled call: forward, loss, gradients, the seed's update."""
        batch = self.prepare_batch(idx)
        loss = self._steps.train(batch.x, batch.y)
        self.sync(loss, *self._steps.values())
        return float(loss)

    def warm_up(self) -> None:
        """Trace and compile every compiled function for every batch shape of an epoch (a smaller last batch
        is a second shape), untimed, then reset. ``compile_seconds`` records how long it took."""
        def warm() -> None:
            batches = self.batches(0)
            for idx in {len(b): b for b in batches}.values():
                batch = self.prepare_batch(idx)
                self.update(self.backward(self.forward(batch), batch))
                self.train_step(idx)
            self.reset()
        self._timed_warm_up(warm)

    # -- evaluation and weights ---------------------------------------------------------------------------
    def accuracy(self, split: str) -> float:
        self._steps.sync_model()
        x, hits = self._x[split], 0
        with self.scope():
            for start in range(0, len(x), _EVAL_CHUNK):
                logits = self.model(self.keras.ops.convert_to_tensor(x[start:start + _EVAL_CHUNK]))
                hits += int(np.sum(np.argmax(self.keras.ops.convert_to_numpy(logits), axis=1)
                                   == self._labels[split][start:start + _EVAL_CHUNK]))
        return hits / len(x)

    def get_weights(self) -> list[np.ndarray]:
        return keras_to_seed(self._steps.get_values())

    def set_weights(self, weights: list[np.ndarray]) -> None:
        _check_layout(self.name, self.config.layers, weights)
        self._steps.set_values(seed_to_keras(weights))

    def gradients_as_arrays(self, grads: list[Any]) -> list[np.ndarray]:
        return keras_to_seed([self.keras.ops.convert_to_numpy(g) for g in grads])

    def tracing_counts(self) -> dict[str, int]:
        return self._steps.tracing_counts() if self._steps is not None else {}




class KerasMLPCPU(KerasMLP):
    name = "keras-cpu"
    device = "cpu"
    #: XLA off: on a 2-core CPU the XLA step was ~15-20 % slower at B=500 and B=20000 (TF "auto" is off too).
    jit_compile = False


class KerasMLPGPU(KerasMLP):
    name = "keras-gpu"
    device = "gpu"
    #: XLA on, as TF's "auto" resolves it on a GPU host (not measured here: no GPU).
    jit_compile = True


# ---------------------------------------------------------------- what a typical Keras user runs

#: Keras' binary cross-entropy averages over the 10 outputs; with reduction="sum" it sums over the batch, so
#: Keras' loss is the seed's log loss / 10. Scaling the learning rate by 10 and taking L2 = lambda2 / 20
#: (Keras' L2 is l2 * sum(w^2)) makes Keras' loss exactly the seed's loss / 10 and, with momentum 0, one
#: Keras step exactly the seed's step. This holds for any batch size, the smaller last batch included.
FIT_LOSS_SCALE = 10.0


_FIT_DESCRIPTION = ("stock Keras model.fit ({device}, reference point): Dense 70-30-10 sigmoid, BinaryCrossentropy("
                    "reduction='sum') = seed loss/10, SGD(lr=10*lr, momentum=mom_rate: a velocity, not the seed's "
                    "rule), L2(lambda2/20) = the seed's step at momentum 0; no lr decay; Keras' shuffling; "
                    "verbose=0, jit_compile={jit}")


class KerasFitMLP(KerasFitTrainer):
    """Stock Keras: ``model.fit`` with SGD(momentum) and binary cross-entropy on NumPy arrays.

    * loss ``BinaryCrossentropy(reduction="sum")``, model Dense 70-30-10 sigmoid, ``kernel_regularizer=L2``;
    * ``SGD(learning_rate=10 * lr, momentum=mom_rate)``: Keras' momentum keeps a velocity
      (v = m v - lr g; w += v), the seed adds m times only the previous step; with m = 5e-5 the two differ
      by O(m^2) per step. With momentum 0 one step equals the seed's step (tested);
    * no learning-rate decay (stock SGD; the seed's 1e-6 decay changes lr by < 0.1 % over 35 epochs);
    * Keras' own shuffling (``shuffle=True``), ``verbose=0``, explicit ``jit_compile``, no metrics.

    Phases: ``forward`` is ``model.predict_on_batch``, ``train_step`` is ``model.train_on_batch`` (both
    Keras' compiled functions, both return NumPy so they wait for the result), ``full_run`` is one
    ``model.fit`` call. Keras has no forward+backward call of its own: see keras-cpu for that phase."""
    description_template = _FIT_DESCRIPTION

    workload = "mlp"
    loss_scale: ClassVar[float] = FIT_LOSS_SCALE

    def build_model(self) -> Any:
        keras, c = self.keras, self.config
        if c.lambda1 > 0:
            regularizer = keras.regularizers.L1L2(l1=c.lambda1 / FIT_LOSS_SCALE, l2=c.lambda2 / (2 * FIT_LOSS_SCALE))
        else:
            regularizer = keras.regularizers.L2(c.lambda2 / (2 * FIT_LOSS_SCALE))
        model = _mlp_layers(keras, c.layers, "sigmoid", kernel_regularizer=regularizer)
        model.compile(optimizer=keras.optimizers.SGD(learning_rate=FIT_LOSS_SCALE * c.learn_rate,
                                                     momentum=float(c.mom_rate)),
                      loss=keras.losses.BinaryCrossentropy(reduction="sum"), jit_compile=self.jit_compile)
        return model

    def inputs(self, data: Dataset) -> tuple[np.ndarray, np.ndarray]:
        return data.x_train.astype(np.float32), data.x_test.astype(np.float32)

    def initial_model_weights(self) -> list[np.ndarray]:
        return seed_to_keras(self.initial_weights)

    def get_weights(self) -> list[np.ndarray]:
        return keras_to_seed(self.model.get_weights())

    def set_weights(self, weights: list[np.ndarray]) -> None:
        _check_layout(self.name, self.config.layers, weights)
        self.set_model_weights(seed_to_keras(weights))




class KerasFitMLPCPU(KerasFitMLP):
    name = "keras-fit-cpu"
    device = "cpu"
    #: What TF's "auto" picks on a CPU-only host; the XLA step was also ~15 % slower here.
    jit_compile = False


class KerasFitMLPGPU(KerasFitMLP):
    name = "keras-fit-gpu"
    device = "gpu"
    #: What TF's "auto" picks on a GPU host.
    jit_compile = True
