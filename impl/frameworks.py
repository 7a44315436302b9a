"""What the framework peers (PyTorch, JAX, Keras) share, none of it importing a framework: whether a
distribution is installed (package metadata), the thread count a run asked for and how each framework is told,
the GPU probe (cheap checks first, the framework only ever started in a short subprocess, answers cached), and
:class:`FrameworkTrainer` / :class:`CompiledTrainer`, the base classes a peer derives from. ``mlp-bench list``
and the registry use only this, so listing never starts a framework.
"""

from __future__ import annotations

import contextlib
import functools
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from impl.config import TrainConfig
from impl.contract import Trainer, no_gpu
from impl.errors import ConfigError, UnavailableError

if TYPE_CHECKING:
    from impl.data import Dataset

THREADS_ENV = "MLPBENCH_THREADS"
_GPU_PROBE_TIMEOUT_S = 120


def installed_version(distribution: str) -> str | None:
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return None


def positive_int_env(env: str) -> int | None:
    """The value of an optional positive-integer variable; a bad value is a one-line error."""
    text = os.environ.get(env, "").strip()
    if not text:
        return None
    if not text.isdigit() or int(text) < 1:
        raise ConfigError(f"{env} must be a positive integer, got {text!r}")
    return int(text)


def bool_env(env: str, default: bool) -> bool:
    """An optional 0/1 switch; anything else is a one-line error."""
    text = os.environ.get(env, "").strip()
    if not text:
        return default
    if text not in ("0", "1"):
        raise ConfigError(f"{env} must be 0 or 1, got {text!r}")
    return text == "1"


def requested_threads() -> tuple[int, str]:
    """The thread count a framework should use and where it came from: $MLPBENCH_THREADS (set by
    ``--threads``), else the BLAS thread count in force now (so a run matches the NumPy runs), else the CPU
    count."""
    n = positive_int_env(THREADS_ENV)
    if n:
        return n, THREADS_ENV
    from threadpoolctl import threadpool_info
    pools = [p for p in threadpool_info() if p.get("user_api") == "blas"]
    if pools:
        return int(pools[0]["num_threads"]), "blas"
    return os.cpu_count() or 1, "cpu_count"


def gpu_unavailable_reason(framework: str, probe: str, *, env: dict[str, str] | None = None,
                           none_visible: str = " (a CPU-only build, or no CUDA driver)") -> str | None:
    """None when ``framework`` sees a GPU, else why not (short form ``no GPU`` in ``mlp-bench list``). ``probe``
    is Python code printing the GPU count as its last line; it runs in a subprocess (with ``env`` added to the
    environment), never here. ``none_visible`` explains a count of 0. Answers are cached per process."""
    reason = _gpu_probe(framework, probe, tuple(sorted((env or {}).items())), none_visible,
                        os.environ.get("CUDA_VISIBLE_DEVICES"))
    return no_gpu(reason) if reason else None


@functools.cache
def _gpu_probe(framework: str, probe: str, env: tuple[tuple[str, str], ...], none_visible: str,
               cuda_visible: str | None) -> str | None:
    if cuda_visible is not None and cuda_visible.strip() in ("", "-1"):
        return f"no GPU: hidden by CUDA_VISIBLE_DEVICES={cuda_visible!r}"
    if shutil.which("nvidia-smi") is None and not any(Path("/dev").glob("nvidia[0-9]*")):
        return "no GPU found (no nvidia-smi and no /dev/nvidia* on this machine)"
    try:
        done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                              timeout=_GPU_PROBE_TIMEOUT_S, env={**os.environ, **dict(env)})
    except subprocess.TimeoutExpired:
        return f"no GPU: the {framework} GPU probe did not answer within {_GPU_PROBE_TIMEOUT_S} s"
    lines = done.stdout.strip().splitlines()
    if done.returncode != 0 or not lines or not lines[-1].isdigit():
        last = (done.stderr.strip().splitlines() or ["no output"])[-1]
        return f"no GPU: the {framework} GPU probe failed ({last})"
    if int(lines[-1]) == 0:
        return f"no GPU visible to {framework}{none_visible}"
    return None


# -- thread setup: before the framework starts, the one place each framework's knob is turned ---------------
XLA_SINGLE_THREAD_FLAGS = "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"


def apply_xla_threads(n: int) -> tuple[bool, str | None]:
    """XLA:CPU's thread setting for ``n`` threads (it must be in ``XLA_FLAGS`` before jax is imported): only 1
    can be forced, by switching Eigen's pool off. Returns (applied, why not)."""
    if "jax" in sys.modules:
        return False, "jax was already imported"
    if n != 1:
        return False, "XLA:CPU uses one thread per core; only 1 can be forced"
    os.environ["XLA_FLAGS"] = f"{os.environ.get('XLA_FLAGS', '')} {XLA_SINGLE_THREAD_FLAGS}".strip()
    return True, None


def apply_torch_threads(n: int) -> Any:
    """Import torch with ``n`` intra-op and (where still possible) inter-op threads; returns ``torch``."""
    import torch

    torch.set_num_threads(n)
    # the inter-op pool serves only parallel graph branches (none in MLP code); it can be set only once
    with contextlib.suppress(RuntimeError):
        torch.set_num_interop_threads(n)
    return torch


# -- what every framework peer shares ------------------------------------------------------------------------
def placement_kind(placement: str) -> str:
    """cpu, gpu or unknown, from a device string as a framework prints it (``cuda:0``, ``TFRT_CPU_0``, ...)."""
    low = placement.lower()
    if "gpu" in low or "cuda" in low:
        return "gpu"
    if "cpu" in low:
        return "cpu"
    return "unknown"


def seed_layout(arrays: list[Any]) -> list[np.ndarray]:
    """[W_0 (n_out, n_in), b_0 (n_out,), W_1, b_1, ...] as arrays -> float64 seed layout, bias in column 0."""
    out = []
    for W, b in zip(arrays[0::2], arrays[1::2], strict=True):
        W64, b64 = np.asarray(W, dtype=np.float64), np.asarray(b, dtype=np.float64)
        out.append(np.hstack([b64[:, None], W64]))
    return out


@dataclass
class DeviceBatch:
    """A mini-batch on the trainer's device: x (B, 784) float32, y one-hot (B, 10) float32."""

    x: Any
    y: Any


class FrameworkTrainer(Trainer):
    """What the framework peers (PyTorch, JAX, Keras) share, so a peer module holds only its framework's code:
    availability checked when built, the data and labels on the device, placement verified, whole-set accuracy
    in chunks, weights in the seed layout (checked on the way in), gradients back to it.

    A subclass starts its runtime and sets ``self.inputs`` (train/test inputs on the device), then calls
    :meth:`load_weights` via :meth:`set_weights`; it defines the hooks below the line."""

    in_default_run = False  # a framework peer: named with --impl (the default run must fit 15 min)
    dtype: ClassVar[str] = "float32"
    #: Samples per forward call when measuring whole-set accuracy (never inside a timed region).
    eval_chunk: ClassVar[int] = 10_000
    #: Where the layer transitions run when not in Python lines ("one XLA program (jax.jit)", ...): the line
    #: profiler then refuses with it. Empty for eager code the profiler can time.
    compiled_as: ClassVar[str] = ""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if cls.__dict__.get("name") and cls.compiled_as:
            cls.line_profile_refusal = (f"its layer transitions run inside {cls.compiled_as}; time its phases "
                                        f"with pytest bench/ --benchmark-only --impl {cls.name}")

    def __init__(self, config: TrainConfig, data: Dataset) -> None:
        super().__init__(config, data)
        type(self).require_available()
        self.labels = {"train": np.asarray(data.y_train), "test": np.asarray(data.y_test)}
        self.inputs: dict[str, Any] = {}
        self.placement = "not verified yet"
        self.compile_seconds: float | None = None

    def verify_placement(self, placements: list[str]) -> str:
        """Every placement (device strings of the parameters and data) on the variant's device, else an
        error; returns them joined, as ``run_facts`` records them."""
        found = sorted(set(placements))
        wrong = [p for p in found if placement_kind(p) != self.device]
        if wrong:
            raise UnavailableError(f"{self.name}: expected everything on the {self.device.upper()}, "
                                   f"found {', '.join(wrong)}")
        self.placement = ", ".join(found)
        return self.placement

    def accuracy(self, split: str) -> float:
        x, hits = self.inputs[split], 0
        for start in range(0, len(x), self.eval_chunk):
            logits = self.to_numpy(self.evaluation_logits(x[start:start + self.eval_chunk]))
            hits += int(np.sum(np.argmax(logits, axis=1) == self.labels[split][start:start + self.eval_chunk]))
        return hits / len(x)

    def get_weights(self) -> list[np.ndarray]:
        return self.to_seed_layout([self.to_numpy(v) for v in self.parameter_values()])

    def set_weights(self, weights: list[np.ndarray]) -> None:
        """Check the seed layout, then load copies in the trainer's dtype; the momentum restarts at zero."""
        self.check_layout(weights)
        self.load_weights([np.asarray(W, dtype=self.dtype) for W in weights])

    def gradients_as_arrays(self, grads: Any) -> list[np.ndarray]:
        return self.to_seed_layout([self.to_numpy(g) for g in grads])

    # -- hooks: the framework-specific part ------------------------------------------------------------------
    def to_seed_layout(self, arrays: list[np.ndarray]) -> list[np.ndarray]:
        """The framework's parameter order (default: W_N (n_out, n_in), b_N, ...) -> the seed layout."""
        return seed_layout(arrays)

    def parameter_values(self) -> list[Any]:
        """The current parameters (or the framework's values of them) in the framework's order."""
        raise NotImplementedError

    def load_weights(self, weights: list[np.ndarray]) -> None:
        """Weights in the seed layout (already in the trainer's dtype) onto the device; momentum zero."""
        raise NotImplementedError

    def to_numpy(self, tensor: Any) -> np.ndarray:
        """A device tensor as a NumPy array (a copy to the host where needed)."""
        return np.asarray(tensor)

    def evaluation_logits(self, x: Any) -> Any:
        """Z_E of a chunk of inputs, outside any autograd tape."""
        raise NotImplementedError


#: What a compiled peer times: a compiled function differentiates the whole batch loss, so there is no
#: backward pass apart from its forward pass to time.
COMPILED_PHASES = ("prepare", "forward", "forward_backward", "train_step", "full_run")


class CompiledTrainer(FrameworkTrainer):
    """A framework peer whose step is compiled (jax.jit, torch.compile, tf.function): the line profiler cannot
    see its layer transitions, ``backward`` alone does not exist, every batch shape is compiled in
    :meth:`warm_up` (never in a timed region) and the time that took is recorded as ``compile_s``."""

    phases: ClassVar[tuple[str, ...]] = COMPILED_PHASES

    @property
    def learn_rate(self) -> float:
        return self._learn_rate

    @learn_rate.setter
    def learn_rate(self, value: float) -> None:
        self._learn_rate = float(value)
        self.learn_rate_changed(self._learn_rate)

    def learn_rate_changed(self, value: float) -> None:
        """Hook: write the new rate where the compiled step reads it (a 0-d tensor, an optimizer variable), so
        the per-epoch decay changes a value, never the graph. Default: the step takes it as an argument."""

    def backward(self, state: Any, batch: Any) -> Any:
        raise NotImplementedError(f"{self.name} differentiates the whole batch loss in one compiled call, so "
                                  "it has no backward pass apart from its forward pass: time forward_backward")

    def warm_up(self) -> None:
        """Compile every function for every batch shape of an epoch, untimed, then reset."""
        start = time.perf_counter()
        for idx in self.batch_shapes():
            self.warm_up_shape(idx)
        self.reset()
        self.record_warm_up(time.perf_counter() - start)

    def warm_up_shape(self, idx: np.ndarray) -> None:
        """Every compiled function once, on the batch ``idx``."""
        batch = self.prepare_batch(idx)
        self.forward(batch)
        self.update(self.forward_backward(batch))
        self.train_step(idx)

    def record_warm_up(self, seconds: float) -> None:
        """Keep what warm-up took as the compile time (a peer that times its compiling calls itself keeps its own)."""
        self.compile_seconds = seconds
