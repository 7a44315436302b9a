"""V2-C (Step II): the bias column is added once to the whole data set instead of to every batch.

Layout: the biased data are stored feature-major, shape (785, n), C-contiguous. The mini-batch is one
column gather (``np.take(..., axis=1)``), which copies it into a (785, B) C-contiguous array: that copy is
part of what the batch-preparation phase measures. Hidden layers still get their bias row in the forward
pass and the backward pass is V1's.
"""

from __future__ import annotations

import numpy as np

from impl.data import Dataset
from impl.numpy_mlp.base import Batch
from impl.numpy_mlp.v1_float32 import NumpyV1Float32


def with_bias_column(x: np.ndarray) -> np.ndarray:
    """Samples x (1 + features): a column of ones in front, once for the whole set."""
    return np.hstack([np.ones((x.shape[0], 1), dtype=x.dtype), x])


class NumpyV2C(NumpyV1Float32):
    name = "numpy-v2-c"
    description = "Step II: bias added once to the data set; batch reaches W0 C-contiguous (feature-major gather)"

    def _store_inputs(self, data: Dataset) -> None:
        self._inputs = {split: np.ascontiguousarray(with_bias_column(x.astype(self._dt)).T)
                        for split, x in (("train", data.x_train), ("test", data.x_test))}

    def prepare_batch(self, idx: np.ndarray) -> Batch:
        return Batch(np.take(self._inputs["train"], idx, axis=1), self._onehot[:, idx])

    def _full_set(self, split: str) -> np.ndarray:
        return self._inputs[split]

    def _input_layer_output(self, Z_0: np.ndarray) -> np.ndarray:
        return Z_0  # Step II: the bias row is already in the data
