"""Stock Keras training as a user writes it: ``model.compile`` once, then ``model.fit`` on NumPy arrays. The
base of ``keras-fit-*`` (the MLP) and ``keras-cnn-*`` (the seed's CNN)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, ClassVar

import numpy as np

from impl.config import TrainConfig
from impl.contract import FitResult
from impl.data import Dataset
from impl.errors import ConfigError
from impl.keras.base import KerasTrainer


class KerasFitTrainer(KerasTrainer):
    """``model.compile`` once, then ``model.fit`` (``shuffle=True``, ``verbose=0``, explicit ``jit_compile``).
    Subclasses provide :meth:`build_model` (built and compiled) and :meth:`model_inputs`; ``loss_scale``
    converts Keras' loss to the workload's units.

    Phases: ``prepare`` gathers a batch in NumPy (as ``train_on_batch`` takes it), ``forward`` is
    ``model.predict_on_batch``, ``train_step`` is ``model.train_on_batch``, ``full_run`` one ``model.fit``
    call whose epochs a callback times. Keras' train step has no separate backward pass to call, so none is
    listed (keras-cpu times forward+backward)."""

    phases: ClassVar[tuple[str, ...]] = ("prepare", "forward", "train_step", "full_run")
    shared_batch_order: ClassVar[bool] = False
    loss_scale: ClassVar[float] = 1.0

    def __init__(self, config: TrainConfig, data: Dataset) -> None:
        super().__init__(config, data)
        self.keras.utils.set_random_seed(config.seed)  # the initial weights (where not given), Keras' shuffling
        x_train, x_test = self.model_inputs(data)
        self.inputs = {"train": x_train, "test": x_test}
        self._y = data.onehot_train().astype(np.float32)
        self.fit_overhead_seconds: float | None = None
        with self.scope():
            self.model = self.build_model()
            self.model.optimizer.build(self.model.trainable_variables)
        self._optimizer_lr = float(np.asarray(self.model.optimizer.learning_rate))
        self._initial_model = self.initial_model_weights()
        self.set_model_weights(self._initial_model)
        self.verify(*self.model.trainable_variables)

    # -- what subclasses define ---------------------------------------------------------------------------
    def build_model(self) -> Any:
        """The compiled Keras model (called inside the device scope)."""
        raise NotImplementedError

    def model_inputs(self, data: Dataset) -> tuple[np.ndarray, np.ndarray]:
        """float32 train and test inputs in the model's input shape."""
        raise NotImplementedError

    def initial_model_weights(self) -> list[np.ndarray]:
        """The weights every run starts from (default: Keras' seeded initialisation)."""
        return [np.array(w) for w in self.model.get_weights()]

    # -- weights ------------------------------------------------------------------------------------------
    def set_model_weights(self, arrays: list[np.ndarray]) -> None:
        """Load Keras-layout weights and reset the optimizer (slots and step count zero, initial lr). Inside the
        device scope: on JAX an assignment makes a new array on the default device, which on a GPU machine is
        the GPU (the CPU twin's placement check caught its weights there)."""
        with self.scope():
            self.model.set_weights([np.asarray(a, dtype=np.float32) for a in arrays])
            optimizer = self.model.optimizer
            for v in optimizer.variables:
                if v is getattr(optimizer, "_learning_rate", None):
                    v.assign(self._optimizer_lr)
                else:
                    v.assign(np.zeros(v.shape, dtype=v.dtype))

    def parameter_values(self) -> list[Any]:
        return self.model.get_weights()

    def reset(self) -> None:
        self.set_model_weights(self._initial_model)
        self.learn_rate = self.config.learn_rate
        self.epoch = 0

    # -- phases -------------------------------------------------------------------------------------------
    def prepare_batch(self, idx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return self.inputs["train"][idx], self._y[idx]

    def forward(self, batch: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
        with self.scope():
            return self.model.predict_on_batch(batch[0])

    def batch_loss(self, state: np.ndarray, batch: tuple[np.ndarray, np.ndarray]) -> float:
        """Un-timed helper: Keras' compiled loss (plus regularisers) of the predictions, in workload units."""
        with self.scope():
            loss = self.model.compute_loss(batch[0], self.keras.ops.convert_to_tensor(batch[1]),
                                           self.keras.ops.convert_to_tensor(state), training=False)
        return self.loss_scale * float(self.to_numpy(loss))

    def train_step(self, idx: np.ndarray) -> float:
        """``model.train_on_batch`` on the gathered NumPy batch; returns the batch loss (it waits for it)."""
        x, y = self.prepare_batch(idx)
        with self.scope():
            logs = self.model.train_on_batch(x, y, return_dict=True)
        return self.loss_scale * float(logs["loss"])

    def run_epoch(self, before_step: Callable[[np.ndarray], None] | None = None) -> float:
        return self.fit(1, before_step=before_step).epoch_losses[0]

    def fit(self, epochs: int | None = None, on_epoch: Callable[[int, float, float], None] | None = None,
            before_step: Callable[[np.ndarray], None] | None = None) -> FitResult:
        """One ``model.fit`` call for all the epochs, as a user runs it; a callback records each epoch's wall
        time (epoch begin to end). Set-up outside the epochs (data adapter) is kept in
        ``fit_overhead_seconds``. ``fit`` draws its own batches, so no ``before_step`` can see them."""
        if before_step is not None:
            raise ConfigError(f"{self.name}: model.fit draws its own batches; no bookkeeping step can see them")
        epochs = self.config.epochs if epochs is None else epochs
        result = FitResult()
        trainer = self

        class EpochClock(self.keras.callbacks.Callback):
            def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
                self.start = time.perf_counter()

            def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
                seconds = time.perf_counter() - self.start
                loss = trainer.loss_scale * float((logs or {}).get("loss", float("nan")))
                result.per_epoch_seconds.append(seconds)
                result.epoch_losses.append(loss)
                if logs and "accuracy" in logs:
                    result.epoch_accuracies.append(float(logs["accuracy"]))
                trainer.epoch += 1
                if on_epoch is not None:
                    on_epoch(trainer.epoch, seconds, loss)

        start = time.perf_counter()
        with self.scope():
            self.model.fit(self.inputs["train"], self._y, batch_size=self.config.batch_size,
                           epochs=self.epoch + epochs, initial_epoch=self.epoch, shuffle=True, verbose=0,
                           callbacks=[EpochClock()])
        self.fit_overhead_seconds = time.perf_counter() - start - result.seconds
        result.final_learn_rate = self.learn_rate
        return result

    def warm_up(self) -> None:
        """Untimed: one short ``fit`` (every batch shape of an epoch), one ``train_on_batch`` and one
        ``predict_on_batch``, so tracing and compilation never fall into a timed region; then reset.
        ``compile_s`` records how long it took."""
        start = time.perf_counter()
        b = self.config.batch_size
        n = min(self.n_train, b + self.n_train % b)
        with self.scope():
            self.model.fit(self.inputs["train"][:n], self._y[:n], batch_size=b, epochs=1, shuffle=True, verbose=0)
        idx = self.batches(0)[0]
        self.train_step(idx)
        self.forward(self.prepare_batch(idx))
        self.reset()
        self.compile_seconds = time.perf_counter() - start

    def run_facts(self) -> dict[str, Any]:
        return {**super().run_facts(), "fit_overhead_s": self.fit_overhead_seconds}
