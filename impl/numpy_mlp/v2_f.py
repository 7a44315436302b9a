"""V2-F (Step II): like V2-C, but the batch reaches the first matrix product F-contiguous.

Layout: the biased data are stored sample-major, shape (n, 785), C-contiguous. The mini-batch is one row
gather ``Xb[idx]`` (a (B, 785) C-contiguous copy) and its free transpose, a (785, B) F-contiguous view.
"""

from __future__ import annotations

import numpy as np

from impl.data import Dataset
from impl.numpy_mlp.base import Batch
from impl.numpy_mlp.v2_c import NumpyV2C, with_bias_column


class NumpyV2F(NumpyV2C):
    name = "numpy-v2-f"
    description = "Step II: bias added once to the data set; batch reaches W0 F-contiguous (row gather + .T)"

    def _store_inputs(self, data: Dataset) -> None:
        self._inputs = {"train": with_bias_column(data.x_train.astype(self._dt)),
                        "test": with_bias_column(data.x_test.astype(self._dt))}

    def prepare_batch(self, idx: np.ndarray) -> Batch:
        return Batch(self._inputs["train"][idx].T, self._onehot[:, idx])

    def _full_set(self, split: str) -> np.ndarray:
        return self._inputs[split].T
