"""What the PyTorch and JAX implementations share, none of it importing a framework: whether a distribution is
installed (package metadata), the thread count a run asked for, and the GPU probe (cheap checks first, the
framework only ever started in a short subprocess, answers cached). ``mlp-bench list`` and the registry use only
this, so listing never starts torch or jax.
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import numpy as np

from impl.contract import no_gpu
from impl.errors import ConfigError

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


def gpu_unavailable_reason(framework: str, probe: str) -> str | None:
    """None when ``framework`` sees a GPU, else why not (short form ``no GPU`` in ``mlp-bench list``). ``probe``
    is Python code printing the GPU count as its last line; it runs in a subprocess, never here."""
    reason = _gpu_probe(framework, probe, os.environ.get("CUDA_VISIBLE_DEVICES"))
    return no_gpu(reason) if reason else None


@functools.cache
def _gpu_probe(framework: str, probe: str, cuda_visible: str | None) -> str | None:
    if cuda_visible is not None and cuda_visible.strip() in ("", "-1"):
        return f"no GPU: hidden by CUDA_VISIBLE_DEVICES={cuda_visible!r}"
    if shutil.which("nvidia-smi") is None and not any(Path("/dev").glob("nvidia[0-9]*")):
        return "no GPU found (no nvidia-smi and no /dev/nvidia* on this machine)"
    try:
        done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                              timeout=_GPU_PROBE_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        return f"no GPU: the {framework} GPU probe did not answer within {_GPU_PROBE_TIMEOUT_S} s"
    lines = done.stdout.strip().splitlines()
    if done.returncode != 0 or not lines or not lines[-1].isdigit():
        last = (done.stderr.strip().splitlines() or ["no output"])[-1]
        return f"no GPU: the {framework} GPU probe failed ({last})"
    if int(lines[-1]) == 0:
        return f"no GPU visible to {framework} (a CPU-only build, or no CUDA driver)"
    return None


def seed_layout(pairs: list[tuple[object, object]]) -> list[np.ndarray]:
    """[(W (n_out, n_in), b (n_out,)), ...] as arrays -> float64 seed layout, bias in column 0."""
    out = []
    for W, b in pairs:
        W64, b64 = np.asarray(W, dtype=np.float64), np.asarray(b, dtype=np.float64)
        out.append(np.hstack([b64[:, None], W64]))
    return out


def check_layout(name: str, layers: tuple[int, ...], weights: list[np.ndarray]) -> None:
    """Weights must come in the seed layout: W_N of shape (n_{N+1}, n_N + 1)."""
    expected = [(n_out, n_in + 1) for n_in, n_out in zip(layers[:-1], layers[1:], strict=True)]
    got = [np.shape(W) for W in weights]
    if got != expected:
        raise ConfigError(f"{name}: weight shapes {got} do not match the layout {expected}")
