"""What a typical Keras user runs, and what the seed compared against (``keras-fit-cpu`` / ``keras-fit-gpu``):
``model.fit`` on NumPy arrays with the stock SGD (momentum) and binary cross-entropy. The mapping to the seed's
units is in its description; it is a reference point, never tuned. The seed's exact mathematics in Keras is
:mod:`impl.keras.mlp`.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from impl.data import Dataset
from impl.keras.base import seed_to_keras
from impl.keras.fit import KerasFitTrainer
from impl.keras.mlp import mlp_layers

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

    loss_scale: ClassVar[float] = FIT_LOSS_SCALE

    def build_model(self) -> Any:
        keras, c = self.keras, self.config
        if c.lambda1 > 0:
            regularizer = keras.regularizers.L1L2(l1=c.lambda1 / FIT_LOSS_SCALE, l2=c.lambda2 / (2 * FIT_LOSS_SCALE))
        else:
            regularizer = keras.regularizers.L2(c.lambda2 / (2 * FIT_LOSS_SCALE))
        model = mlp_layers(keras, c.layers, "sigmoid", kernel_regularizer=regularizer)
        model.compile(optimizer=keras.optimizers.SGD(learning_rate=FIT_LOSS_SCALE * c.learn_rate,
                                                     momentum=float(c.mom_rate)),
                      loss=keras.losses.BinaryCrossentropy(reduction="sum"), jit_compile=self.jit_compile)
        return model

    def model_inputs(self, data: Dataset) -> tuple[np.ndarray, np.ndarray]:
        return data.x_train.astype(np.float32), data.x_test.astype(np.float32)

    def initial_model_weights(self) -> list[np.ndarray]:
        return seed_to_keras(self.initial_weights)

    def load_weights(self, weights: list[np.ndarray]) -> None:
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
