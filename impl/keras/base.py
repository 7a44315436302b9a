"""The base of every Keras trainer: availability and backends (Keras runs on TensorFlow, JAX or PyTorch, one
per process), the device scope, verified placement, weights between the seed layout and Keras' kernels, and
the facts a run records. What is not Keras-specific comes from :class:`impl.frameworks.FrameworkTrainer`."""

from __future__ import annotations

import os
from typing import Any, ClassVar

import numpy as np

from impl.config import TrainConfig
from impl.data import Dataset
from impl.frameworks import FrameworkTrainer
from impl.keras import runtime


def seed_to_keras(weights: list[np.ndarray]) -> list[np.ndarray]:
    """Seed layout (W_N: (n_out, n_in + 1), bias in column 0) -> Keras' [kernel (n_in, n_out), bias, ...]."""
    out = []
    for W in weights:
        W = np.asarray(W, dtype=np.float32)
        out += [np.ascontiguousarray(W[:, 1:].T), np.ascontiguousarray(W[:, 0])]
    return out


def keras_to_seed(arrays: list[Any]) -> list[np.ndarray]:
    """Keras' [kernel, bias, ...] (or their gradients) -> float64 arrays in the seed layout."""
    arrays = [np.asarray(a, dtype=np.float64) for a in arrays]
    return [np.hstack([b[:, None], k.T]) for k, b in zip(arrays[0::2], arrays[1::2], strict=True)]


class KerasTrainer(FrameworkTrainer):
    """Shared by the Keras trainers: backends, device scope, verified placement, run facts.

    Subclasses set ``device`` ("cpu"/"gpu") and ``jit_compile`` (always explicit, never "auto": on
    TensorFlow "auto" means XLA on a GPU host and none on a CPU-only host) and build their model inside
    :meth:`scope`. The class value is for TensorFlow; on JAX the instance's ``jit_compile`` is True (jax.jit);
    on torch keras-cpu/-gpu set it to their ``torch_compile`` (eager by default). :meth:`run_facts` records the
    value in force."""

    backend: ClassVar[str] = "keras"
    in_default_run = True  # the design card's Keras twins are part of the default run
    jit_compile: bool = False  # per class for TensorFlow; an instance on JAX sets it True
    #: Set once per family: the CPU and GPU twins differ only in name, device and jit_compile, and get their
    #: description ({device}, {jit} filled in) from it.
    description_template: ClassVar[str] = ""
    compiled_as = "Keras (model.fit's train function)"

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if cls.__dict__.get("name") and cls.description_template:
            cls.description = cls.description_template.format(device=cls.device.upper(), jit=cls.jit_compile)

    # -- availability and backends (package metadata only: nothing is imported) -------------------------------
    @classmethod
    def unavailable_reason(cls) -> str | None:
        return runtime.keras_unavailable_reason() if cls.device == "cpu" else runtime.gpu_unavailable_reason()

    @classmethod
    def current_backend(cls) -> str:
        return runtime.configured_backend()

    @classmethod
    def default_backend(cls) -> str:
        return "tensorflow"  # Keras' own default

    @classmethod
    def backend_choices(cls) -> tuple[str, ...]:
        """Keras' backends whose packages are installed (each is measured in a process of its own)."""
        packages = runtime.BACKEND_PACKAGES
        return tuple(b for b in packages if any(runtime.installed_version(d) for d in packages[b]))

    @classmethod
    def backend_environment(cls, backend: str) -> dict[str, str]:
        return {"KERAS_BACKEND": backend}

    @classmethod
    def unavailable_reason_on(cls, backend: str) -> str | None:
        saved = os.environ.get("KERAS_BACKEND")
        os.environ["KERAS_BACKEND"] = backend
        try:
            return cls.unavailable_reason()
        finally:
            if saved is None:
                del os.environ["KERAS_BACKEND"]
            else:
                os.environ["KERAS_BACKEND"] = saved

    @classmethod
    def summary(cls) -> dict[str, Any]:
        return {**super().summary(), "jit_compile": cls.jit_compile}

    # -- the runtime -------------------------------------------------------------------------------------------
    def __init__(self, config: TrainConfig, data: Dataset) -> None:
        super().__init__(config, data)
        self.keras = runtime.keras_runtime()
        self.backend_name = self.keras.backend.backend()
        if self.backend_name == "jax":
            self.jit_compile = True  # jax.jit (XLA): Keras' "auto" on JAX, and its only fast path

    def scope(self) -> Any:
        """The device scope every build and every compiled call runs in."""
        return self.keras.device(runtime.device_name(self.device, self.backend_name))

    def verify(self, *tensors: Any) -> None:
        self.verify_placement([runtime.placement_of(t) for t in tensors])

    def sync(self, *tensors: Any) -> None:
        runtime.synchronize(self.keras, self.device, *tensors)

    # -- FrameworkTrainer's hooks --------------------------------------------------------------------------
    def to_numpy(self, tensor: Any) -> np.ndarray:
        return self.keras.ops.convert_to_numpy(tensor)

    def to_seed_layout(self, arrays: list[np.ndarray]) -> list[np.ndarray]:
        return keras_to_seed(arrays)

    def evaluation_logits(self, x: Any) -> Any:
        with self.scope():
            return self.model(self.keras.ops.convert_to_tensor(x), training=False)

    def tracing_counts(self) -> dict[str, int]:
        """How often each compiled function was traced (a count that grows in steady state is a bug)."""
        return {}

    def run_facts(self) -> dict[str, Any]:
        """What a run must record besides its timings, flat (one column each): the backend and the verified
        device placement, XLA, the framework's thread counts in force, versions, the first-call time."""
        threads = runtime.thread_facts()
        versions = runtime.framework_versions(self.keras)
        return {"backend": self.backend_name, "device": self.device, "placement": self.placement,
                "jit_compile": self.jit_compile,
                "threads": threads.get("intra_op", threads.get("requested")),
                "inter_op_threads": threads.get("inter_op"), "threads_source": threads.get("source"),
                "threads_applied": threads.get("applied"), "threads_note": threads.get("note"),
                "keras_version": versions["keras"],
                "backend_version": next((versions[d] for d in runtime.BACKEND_PACKAGES.get(self.backend_name, ())
                                         if d in versions), None),
                "tf_enable_onednn_opts": os.environ.get("TF_ENABLE_ONEDNN_OPTS", "unset (TF default: on for x86)"),
                "compile_s": self.compile_seconds, "tracing_counts": self.tracing_counts()}
