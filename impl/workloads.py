"""Workloads: what is trained. Each brings its own defaults, so the harness and the CLI follow the workload."""

from __future__ import annotations

from dataclasses import dataclass

from impl.errors import ConfigError


@dataclass(frozen=True)
class Workload:
    name: str
    description: str
    epochs: int  # default epochs of a full run
    batch_size: int  # default batch size of `mlp-bench train`
    quick_epochs: int  # epochs of a full run in the quick profile (CI, first look)
    quick_batch_sizes: tuple[int, ...]  # batch sizes of the quick profile
    step_batch_sizes: tuple[int, ...] = ()  # default batch sizes of the per-step benchmarks (else batch_size)
    full_run_batch_sizes: tuple[int, ...] = ()  # default batch sizes of the full-run benchmarks (else batch_size)
    full_matrix_batch_sizes: tuple[int, ...] = ()  # step batch sizes of `--full` (else step_batch_sizes)
    sized: bool = False  # its model's layer widths are a setting (--layers); else the model is fixed

    def layers_of(self, layers: tuple[int, ...]) -> tuple[int, ...] | None:
        """The layer widths this workload trains with for the requested ``layers``; None for a fixed model."""
        return layers if self.sized else None


WORKLOADS: dict[str, Workload] = {
    "mlp": Workload("mlp", "sigmoid MLP (the seed's 784-70-30-10 unless --layers), log loss summed over the "
                    "batch, SGD with the seed's "
                    "momentum and L2", epochs=35, batch_size=500, quick_epochs=1, quick_batch_sizes=(500, 20000),
                    step_batch_sizes=(500, 5000, 20000), full_run_batch_sizes=(500, 20000),
                    full_matrix_batch_sizes=(100, 500, 1000, 2000, 5000, 10000, 20000), sized=True),
    "cnn": Workload("cnn", "seed article II's CNN (3 conv, 2 max-pool, Dense 70, softmax; 96,844 parameters), "
                    "rmsprop, categorical cross-entropy, stock model.fit", epochs=5, batch_size=128,
                    quick_epochs=1, quick_batch_sizes=(128,)),
}


def get_workload(name: str) -> Workload:
    try:
        return WORKLOADS[name]
    except KeyError:
        raise ConfigError(f"unknown workload {name!r}; choose one of: {', '.join(WORKLOADS)}") from None
