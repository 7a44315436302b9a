"""The roofline of the MLP benchmark: the FLOP model (:mod:`~bench.roofline.flops`), microbenchmarks of this
machine (:mod:`~bench.roofline.kernels`), the machine's bound and floors measured in the process that reports
them (:mod:`~bench.roofline.machine`), results against them and the report section
(:mod:`~bench.roofline.report`), and ``mlp-bench roofline`` (:mod:`~bench.roofline.command`). The benchmark
run measures the machine after its cases (``bench/conftest.py``) and the report renders it."""

from bench.roofline.flops import EPOCHS, LAYERS, flops_per_sample, layer_flops, phase_flops, run_flops
from bench.roofline.kernels import FUSE_ROWS, LAYOUTS, padded_layers
from bench.roofline.machine import machine_from_json, measure_machine
from bench.roofline.report import TABLE_COLUMNS, render_roofline, roofline_table

__all__ = ["EPOCHS", "FUSE_ROWS", "LAYERS", "LAYOUTS", "TABLE_COLUMNS", "flops_per_sample", "layer_flops",
           "machine_from_json", "measure_machine", "padded_layers", "phase_flops", "render_roofline",
           "roofline_table", "run_flops"]
