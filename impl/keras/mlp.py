"""The seed's MLP in Keras 3 with the seed's exact mathematics (``keras-cpu`` / ``keras-gpu``), written with
Keras pieces that are backend-agnostic (layers, ``keras.ops``, a ``keras.losses.Loss``, a
``keras.optimizers.Optimizer``):

* model: Dense(70, sigmoid) -> Dense(30, sigmoid) -> Dense(10) returning the output layer's net input Z_E;
  the output sigmoid is applied in :meth:`KerasMLP.forward` and inside the loss (the same model: the seed
  also computes its loss from Z_E);
* loss :func:`summed log loss <impl.keras.steps.summed_log_loss>`: softplus(Z_E) - y * Z_E summed over outputs
  and batch, plus lambda2/2 * sum(kernel^2) + lambda1 * sum(|kernel|) on the kernels only (Keras keeps biases
  apart);
* optimizer ``SeedMomentum``: dW = lr * grad; W -= dW + mom_rate * previous dW (the previous step, not a
  velocity); its learning rate is a variable, so the per-epoch decay never retraces;
* shared initial weights (converted from the seed layout) and the shared batch order.

Only the differentiation and compilation glue is backend-specific (:mod:`impl.keras.steps`). ``torch.compile``
is off by default (opt in with ``torch_compile = True`` on a subclass); the run records ``jit_compile`` as in
force. What a typical Keras user runs instead (``model.fit``) is :mod:`impl.keras.fit_mlp`.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from impl.config import TrainConfig
from impl.data import Dataset
from impl.frameworks import CompiledTrainer, DeviceBatch
from impl.keras import runtime
from impl.keras.base import KerasTrainer, seed_to_keras
from impl.keras.steps import STEPS, seed_momentum, summed_log_loss


def mlp_layers(keras: Any, layers: tuple[int, ...], last_activation: str | None, **dense: Any) -> Any:
    """The seed's sigmoid MLP as a Keras ``Sequential`` (the output activation as asked)."""
    hidden = [keras.layers.Dense(n, activation="sigmoid", **dense) for n in layers[1:-1]]
    return keras.Sequential([keras.Input((layers[0],)), *hidden,
                             keras.layers.Dense(layers[-1], activation=last_activation, **dense)])


class KerasMLP(CompiledTrainer, KerasTrainer):
    """The seed's MLP and training step in Keras, compiled; see the module docstring."""
    description_template = ("the seed's mathematics in Keras 3 ({device}): Dense 70-30-10 sigmoid, summed log "
                            "loss, L2 on kernels, the seed's momentum rule as a Keras optimizer, shared weights "
                            "and batches; one step per call (TF: GradientTape in tf.function, JAX: jax.jit, "
                            "PyTorch: eager autograd, no torch.compile), jit_compile={jit}")
    compiled_as = "Keras (tf.function / jax.jit; eager torch autograd)"
    #: On KERAS_BACKEND=torch: wrap the steps in torch.compile (then recorded as jit_compile=True). Off: the
    #: eager step is what Keras' torch trainer runs by default, and compiling costs minutes on 2 cores.
    torch_compile: ClassVar[bool] = False

    @classmethod
    def unavailable_reason(cls) -> str | None:
        reason = super().unavailable_reason()
        backend = runtime.configured_backend()
        if reason is None and backend not in STEPS:
            reason = (f"KERAS_BACKEND={backend}: the step of {cls.name} is written for {', '.join(STEPS)} only "
                      "(the keras-fit and keras-cnn variants run on any backend Keras supports)")
        return reason

    def __init__(self, config: TrainConfig, data: Dataset) -> None:
        self._steps: Any = None
        super().__init__(config, data)
        keras = self.keras
        if self.backend_name == "torch":
            self.jit_compile = self.torch_compile  # the class value is TensorFlow's XLA switch
        self.inputs = {"train": data.x_train.astype(np.float32), "test": data.x_test.astype(np.float32)}
        self._onehot = data.onehot_train().astype(np.float32)
        self._loss = summed_log_loss(keras)
        with self.scope():
            self.model = mlp_layers(keras, config.layers, None)
            self.optimizer = seed_momentum(keras, config.learn_rate, config.mom_rate)
            self.optimizer.build(self.model.trainable_variables)
            self._steps = STEPS[self.backend_name](self)
        self.set_weights(self.initial_weights)
        self.learn_rate = self._learn_rate  # into the optimizer
        self.verify(*self._steps.values(), self.prepare_batch(np.arange(2)).x)

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

    def learn_rate_changed(self, value: float) -> None:
        """A variable of the optimizer: the per-epoch decay changes a value, never the compiled step."""
        if self._steps is not None:
            self._steps.set_learning_rate(value)

    # -- phases -------------------------------------------------------------------------------------------
    def prepare_batch(self, idx: np.ndarray) -> DeviceBatch:
        """Gather the batch in NumPy and copy it onto the device (the host-to-device step)."""
        x, y = self.inputs["train"][idx], self._onehot[idx]
        with self.scope():
            return DeviceBatch(self.keras.ops.convert_to_tensor(x), self.keras.ops.convert_to_tensor(y))

    def forward(self, batch: DeviceBatch) -> tuple[Any, Any]:
        """Compiled forward pass; returns (Z_E, A_E) once the device has finished."""
        out = self._steps.forward(batch.x)
        self.sync(*out)
        return out

    def batch_loss(self, state: tuple[Any, Any], batch: DeviceBatch) -> float:
        """Un-timed helper (the compiled steps compute the loss themselves): the loss from the forward state."""
        with self.scope():
            return float(self.to_numpy(self.objective(state[0], batch.y, self._steps.values()[0::2])))

    def forward_backward(self, batch: DeviceBatch) -> list[Any]:
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

    # -- FrameworkTrainer's hooks -------------------------------------------------------------------------
    def accuracy(self, split: str) -> float:
        self._steps.sync_model()  # JAX keeps the values apart from the Keras variables the model reads
        return super().accuracy(split)

    def parameter_values(self) -> list[Any]:
        return self._steps.values()

    def load_weights(self, weights: list[np.ndarray]) -> None:
        self._steps.set_values(seed_to_keras(weights))

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
