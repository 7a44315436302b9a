"""The roofline of the MLP benchmark: the FLOP model (:mod:`~bench.roofline.flops`), microbenchmarks of this
machine (:mod:`~bench.roofline.kernels`), the machine's bound and floors (:mod:`~bench.roofline.machine`),
results against them and the report section (:mod:`~bench.roofline.report`), and ``mlp-bench roofline``
(:mod:`~bench.roofline.command`). The benchmark run measures the machine after its cases (``bench/conftest.py``),
each worker process the floor beside its full runs (``bench/harness.py``), and the report renders both.

Names are imported on first use (PEP 562): a worker process measuring a floor imports the kernels, not the
report's pandas."""

from __future__ import annotations

import importlib
from typing import Any

_HOME = {
    "EPOCHS": "flops", "LAYERS": "flops", "flops_per_sample": "flops", "layer_flops": "flops",
    "phase_flops": "flops", "run_flops": "flops",
    "FUSE_ROWS": "kernels", "LAYOUTS": "kernels", "padded_layers": "kernels",
    "machine_from_json": "machine", "measure_floor": "machine", "measure_machine": "machine",
    "one_hot_targets": "machine",
    "TABLE_COLUMNS": "report", "render_roofline": "report", "roofline_table": "report",
}
__all__ = sorted(_HOME)


def __getattr__(name: str) -> Any:
    if name not in _HOME:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{_HOME[name]}"), name)
