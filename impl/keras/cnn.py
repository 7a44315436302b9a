"""The CNN of seed article II ("A simple CNN for the MNIST datasets - II") as the ``cnn`` workload.

Conv2D(32, 3x3, relu) -> MaxPool 2x2 -> Conv2D(64, 3x3, relu) -> MaxPool 2x2 -> Conv2D(64, 3x3, relu) ->
Flatten -> Dense(70, relu) -> Dense(10, softmax): 96,844 parameters. Compiled as the seed did
(``optimizer='rmsprop'``, ``loss='categorical_crossentropy'``, ``metrics=['accuracy']``) and trained with
stock ``model.fit`` (``shuffle=True``, ``verbose=0``), on the standardised images reshaped to (28, 28, 1).

The MLP's hyperparameters (learning rate, momentum, L2, decay) do not apply: RMSprop runs with Keras' defaults
(learning rate 1e-3). Initial weights come from Keras' initialisers seeded with the run's seed and are
restored by ``reset()`` (the seed reloaded ``cnn_weights.h5`` for the same purpose). Weights and gradients
are in Keras' layout (kernels and biases per layer), not the MLP seed layout.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from impl.config import TrainConfig
from impl.data import Dataset
from impl.errors import ConfigError
from impl.keras.fit import KerasFitTrainer


def build_cnn(keras: Any) -> Any:
    """The seed's CNN, uncompiled."""
    layers = keras.layers
    return keras.Sequential([
        keras.Input((28, 28, 1)),
        layers.Conv2D(32, (3, 3), activation="relu"),
        layers.MaxPooling2D((2, 2)),
        layers.Conv2D(64, (3, 3), activation="relu"),
        layers.MaxPooling2D((2, 2)),
        layers.Conv2D(64, (3, 3), activation="relu"),
        layers.Flatten(),
        layers.Dense(70, activation="relu"),
        layers.Dense(10, activation="softmax"),
    ])


_DESCRIPTION = ("seed article II's CNN ({device}): Conv32-pool-Conv64-pool-Conv64-Dense70-Dense10, 96,844 "
                "parameters; stock model.fit, rmsprop (Keras defaults), categorical cross-entropy, "
                "jit_compile={jit}")


class KerasCNN(KerasFitTrainer):
    """The seed's CNN trained with stock ``model.fit``; see the module docstring."""
    description_template = _DESCRIPTION

    workload = "cnn"

    def __init__(self, config: TrainConfig, data: Dataset) -> None:
        super().__init__(config, data)
        self.initial_weights = [np.asarray(w, dtype=np.float64) for w in self._initial_model]

    def build_model(self) -> Any:
        model = build_cnn(self.keras)
        model.compile(optimizer="rmsprop", loss="categorical_crossentropy", metrics=["accuracy"],
                      jit_compile=self.jit_compile)
        return model

    def model_inputs(self, data: Dataset) -> tuple[np.ndarray, np.ndarray]:
        return (data.x_train.reshape(-1, 28, 28, 1).astype(np.float32),
                data.x_test.reshape(-1, 28, 28, 1).astype(np.float32))

    def get_weights(self) -> list[np.ndarray]:
        """Keras' weights (kernel, bias per layer) as float64 copies."""
        return [np.asarray(w, dtype=np.float64) for w in self.model.get_weights()]

    def set_weights(self, weights: list[np.ndarray]) -> None:
        expected = [tuple(v.shape) for v in self.model.weights]
        got = [np.shape(w) for w in weights]
        if got != expected:
            raise ConfigError(f"{self.name}: weight shapes {got} do not match the model's {expected}")
        self.set_model_weights(weights)

class KerasCNNCPU(KerasCNN):
    name = "keras-cnn-cpu"
    device = "cpu"
    #: XLA off, as TF's "auto" picks on a CPU-only host; XLA measured 2.5x slower per step on a 2-core CPU.
    jit_compile = False


class KerasCNNGPU(KerasCNN):
    name = "keras-cnn-gpu"
    device = "gpu"
    #: XLA on, as TF's "auto" picks on a GPU host.
    jit_compile = True
