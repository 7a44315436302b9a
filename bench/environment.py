"""Facts about where a measurement ran: BLAS and its threads, library versions, relevant variables, CPU."""

from __future__ import annotations

import contextlib
import os
import platform
from collections.abc import Iterator
from importlib import metadata
from typing import Any

from threadpoolctl import threadpool_info, threadpool_limits

ENV_PREFIXES = ("OPENBLAS_", "OMP_", "MKL_", "TF_ENABLE_ONEDNN_OPTS", "KERAS_BACKEND", "CUDA_VISIBLE_DEVICES")
LIBRARIES = ("numpy", "scipy", "scikit-learn", "pandas", "pytest-benchmark", "line_profiler", "tensorflow",
             "tensorflow-cpu", "keras", "jax", "torch")


@contextlib.contextmanager
def blas_threads(threads: int | None) -> Iterator[None]:
    """Limit BLAS (and OpenMP) threads for the block; None leaves the library's default."""
    if threads is None:
        yield
        return
    with threadpool_limits(limits=threads):
        yield


def blas_summary() -> list[dict[str, Any]]:
    """BLAS/OpenMP pools as threadpoolctl sees them now: library, version, kernel, threads."""
    keys = ("internal_api", "version", "architecture", "num_threads", "threading_layer")
    return [{k: pool.get(k) for k in keys} for pool in threadpool_info()]


def numpy_blas_kernel() -> str:
    """NumPy's own BLAS and the kernels it runs (``openblas Haswell``): what a NumPy sgemm rate is a rate of."""
    pools = [p for p in threadpool_info() if p.get("user_api") == "blas"]
    mine = [p for p in pools if "numpy" in str(p.get("filepath", ""))] or pools
    return f"{mine[0].get('internal_api')} {mine[0].get('architecture')}" if mine else "unknown BLAS"


def current_blas_threads() -> int | None:
    pools = [p for p in threadpool_info() if p.get("user_api") == "blas"]
    return pools[0]["num_threads"] if pools else None


def library_versions() -> dict[str, str]:
    """Installed versions (from package metadata, so nothing heavy is imported)."""
    versions = {}
    for name in LIBRARIES:
        with contextlib.suppress(metadata.PackageNotFoundError):
            versions[name] = metadata.version(name)
    return versions


def relevant_env() -> dict[str, str]:
    return {k: v for k, v in sorted(os.environ.items()) if k.startswith(ENV_PREFIXES)}


def cpu_model() -> str:
    with contextlib.suppress(OSError):
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def machine_facts() -> dict[str, Any]:
    return {"cpu_model": cpu_model(), "cpu_count": os.cpu_count(), "host": platform.node(),
            "python": platform.python_version(), "blas": blas_summary(), "env": relevant_env(),
            "versions": library_versions()}


def machine_record() -> dict[str, Any]:
    """What a run folder records of its machine: :func:`machine_facts` plus the GPUs, and the data this process
    loaded (its source, its files' checksums and whether they are the official MNIST's: impl.data.provenance)."""
    from impl.data import provenance

    return {**machine_facts(), "gpus": gpu_summary(), "data": provenance()}


def gpu_summary() -> list[str]:
    """GPUs named by nvidia-smi, without starting any framework (empty when there is none)."""
    import shutil
    import subprocess

    if not shutil.which("nvidia-smi"):
        return []
    try:
        out = subprocess.run(["nvidia-smi", "--query-gpu=name,driver_version,memory.total", "--format=csv,noheader"],
                             capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return []
    return [line.strip() for line in out.stdout.splitlines() if line.strip()]
