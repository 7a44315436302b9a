"""The types of a saved run's files, checked on reading (pydantic), so that a damaged or hand-edited file is one
line naming the file and the field, not a traceback deep in the statistics.

Only what mlp-bench reads is typed; every other field is allowed and kept. Numbers that are wrong in value
rather than type (NaN, zero, negative or absurd times) are not refused here: they damage one case, which the
tables list as damaged and leave out of every pooled quantity (bench/results.py ``damage_of``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictFloat, StrictInt, StrictStr, ValidationError

from impl.errors import MLPBenchError

Number = StrictFloat | StrictInt
Count = Annotated[StrictInt, Field(ge=0)]
Positive = Annotated[Number, Field(gt=0)]


class _Open(BaseModel):
    model_config = ConfigDict(extra="allow")


class RunRecord(_Open):
    """run.json: what every run folder says of itself."""

    schema_version: Annotated[StrictInt, Field(ge=1)] = 1
    kind: StrictStr
    created: StrictStr
    complete: StrictBool = True
    tag: StrictStr | None = None
    run_id: StrictStr | None = None
    benchmarks: Count | None = None
    machine: dict[str, Any] | None = None
    stopped_by: StrictStr | None = None  # the signal that interrupted the run (SIGINT, SIGTERM)


class Options(_Open):
    timer: StrictStr = "perf_counter"


class Stats(_Open):
    data: list[Number | None] | None = None
    rounds: Count | None = None
    min: Number | None = None
    median: Number | None = None
    mean: Number | None = None
    iqr: Number | None = None
    stddev: Number | None = None


class ExtraInfo(_Open):
    """A result's own facts (bench/harness.py ``record``), as far as the tables read them."""

    impl: StrictStr
    workload: StrictStr
    phase: StrictStr
    batch_size: Annotated[StrictInt, Field(gt=0)]
    backend: StrictStr | None = None
    layers: StrictStr | None = None
    dtype: StrictStr | None = None
    device: StrictStr | None = None
    dataset: StrictStr | None = None
    threads: Count | None = None
    epochs: Annotated[StrictInt, Field(gt=0)] | None = None
    quick: StrictBool | None = None
    process_ids: list[StrictInt] | None = None
    rounds_per_process: list[Count] | None = None
    process_of_round: list[StrictInt] | None = None
    windows_per_process: list[Count] | None = None
    rounds_per_window: list[Count] | None = None
    yardstick_s: Number | None = None
    yardstick_by_process: list[Number | None] | None = None
    worker_by_process: list[StrictStr] | None = None
    floor_epoch_s: Positive | None = None
    floor_epoch_s_by_process: list[Positive] | None = None
    train_accuracy: Number | None = None
    test_accuracy: Number | None = None
    first_call_s: Number | None = None
    first_epoch_s: Number | None = None
    peak_step_mb: Number | None = None
    peak_run_mb: Number | None = None
    mem_method: StrictStr | None = None
    noise_by_process: list[dict[str, Any]] | None = None


class Benchmark(_Open):
    name: StrictStr
    group: StrictStr | None = None
    options: Options = Options()
    stats: Stats = Stats()
    extra_info: ExtraInfo


class Sequential(_Open):
    max_looks: Annotated[StrictInt, Field(ge=1)]


class DataRecord(_Open):
    """The data a run trained on (impl.data.provenance)."""

    source: StrictStr | None = None
    kind: StrictStr | None = None
    genuine: StrictBool | None = None
    checksums: dict[str, StrictStr] = {}


class MachineRecord(_Open):
    data: DataRecord | None = None


class MachineInfo(_Open):
    mlp_bench: MachineRecord = MachineRecord()


class BenchmarkDocument(_Open):
    """benchmark.json: pytest-benchmark's document with this suite's extra_info in every result."""

    benchmarks: list[Benchmark]
    machine_info: MachineInfo = MachineInfo()
    mlp_bench_sequential: Sequential | None = None
    mlp_bench_roofline: dict[str, Any] | None = None


def check(model: type[BaseModel], value: Any, file: Path, what: str) -> None:
    """Refuse ``value`` unless it has ``model``'s types: one line naming the file, the field and the fault."""
    try:
        model.model_validate(value)
    except ValidationError as err:
        first = err.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "top level"
        more = f" (and {err.error_count() - 1} more)" if err.error_count() > 1 else ""
        raise MLPBenchError(f"{file}: corrupt {what}: {where}: {first['msg']}{more}") from None
