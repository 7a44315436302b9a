"""The harness's session state and what every result records; used by the benchmark modules in bench/."""

from __future__ import annotations

import gc
import random
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from bench.baseline import own_module
from bench.environment import current_blas_threads
from bench.memory import MemoryUse, measure
from bench.noise import Counters
from bench.settings import BenchSettings
from bench.windows import PassClock
from bench.yardstick import Yardstick, combined
from impl.config import TrainConfig, layer_text
from impl.contract import Trainer
from impl.data import Dataset
from impl.workloads import get_workload

LAYOUT_PADDING_BYTES = 4 << 20  # up to 4 MiB before each rotated trainer: past a 2 MiB huge page's alignment


@dataclass
class Bench:
    """Session state: the data, the live trainers, first-call times. Measuring alone, one trainer lives at a
    time (rebuilt when impl or batch size changes); a worker's passes come back to every case, so it keeps each
    of its trainers (and their warm state) for its whole life."""

    settings: BenchSettings
    data: Dataset
    _trainers: dict[tuple, Trainer] = field(default_factory=dict)
    first_call_s: dict[tuple, float] = field(default_factory=dict)
    memory_use: dict[tuple, MemoryUse] = field(default_factory=dict)
    process: int = 1  # the worker's process round (1 when this process measures alone)
    _yardstick: Yardstick | None = None
    _case_start: tuple[Counters, dict[str, float] | None] | None = None
    passes: PassClock | None = None  # a worker's passes (bench/windows.py): they read the yardstick
    clock: Callable[[], float] = time.perf_counter  # the benchmark's timer, which the yardstick reads too
    windows_done: dict[tuple, int] = field(default_factory=dict)  # windows measured per (impl, B, phase)
    _floors: dict[tuple, float] = field(default_factory=dict)  # products+gather floor per epoch, by (B, layers)
    #: (phase, B) -> the implementations this process alternates call by call (bench/rotation.py); a phase and
    #: batch size with one implementation is timed as before
    rotation_sets: dict[tuple[str, int], tuple[str, ...]] = field(default_factory=dict)
    window_s: float = 0.25  # a window's time per implementation (pytest-benchmark's max_time)
    _rotated: dict[tuple, Any] = field(default_factory=dict)  # (phase, B, window) -> that window's calls
    _padding: list[np.ndarray] = field(default_factory=list)  # kept alive: they shift the trainers' layout

    def start_case(self) -> None:
        """Read the noise counters and, measuring alone, time the yardstick right before a case's rounds
        (outside them); a worker reads the yardstick at its pass boundaries instead."""
        before = self.yardstick().measure() if self.settings.yardstick and self.passes is None else None
        self._case_start = (Counters.now(), before)

    def end_case(self) -> dict[str, Any]:
        """The case's noise counters and yardstick, read right after its rounds (``record`` stores them)."""
        if self._case_start is None:
            return {}
        counters, before = self._case_start
        self._case_start = None
        out = Counters.now().since(counters)
        if before is not None:
            after = self.yardstick().measure()
            out.update(yardstick_s=combined(before, after), yardstick_before=before, yardstick_after=after)
        if self.passes is not None:
            out["pass"] = self.passes.current
        return out

    def backward_rounds(self) -> int:
        """Rounds of a per-round-setup phase in one window of this process."""
        return self.settings.backward_rounds(self.passes.windows if self.passes is not None else 1)

    def window(self, key: tuple) -> int:
        """This case's window number in this process (0, 1, ...), counted as its rounds are recorded."""
        self.windows_done[key] = self.windows_done.get(key, -1) + 1
        return self.windows_done[key]

    def yardstick(self) -> Yardstick:
        if self._yardstick is None:
            self._yardstick = Yardstick(self.clock)
        return self._yardstick

    def trainer(self, cls: type[Trainer], batch_size: int) -> Trainer:
        """The live trainer of ``cls`` at ``batch_size``, reset, with the case's counters started."""
        trainer = self.live_trainer(cls, batch_size)
        trainer.reset()
        self.start_case()
        return trainer

    def live_trainer(self, cls: type[Trainer], batch_size: int) -> Trainer:
        """The trainer of ``cls`` at ``batch_size`` as it stands (built and warmed up on first use)."""
        key = (cls.name, batch_size)
        trainer = self._trainers.get(key)
        if trainer is None:
            if self.passes is None and self._trainers and not self.rotation_sets:
                self._trainers.clear()
                gc.collect()  # free the previous implementation's copies of the data first
            # the configuration class of the trainer's own package (a --baseline revision brings its own)
            config = own_module(cls, "config").TrainConfig.make(
                batch_size=batch_size, epochs=self.settings.epochs[cls.workload], seed=self.settings.seed,
                n_train=self.data.n_train, layers=get_workload(cls.workload).layers_of(self.settings.layers))
            trainer = self._trainers[key] = cls(config, self.data)
            start = time.perf_counter()
            trainer.warm_up()  # first train step: tracing/compilation, first touches; timed by hand
            self.first_call_s[key] = time.perf_counter() - start
        return trainer

    def rotates(self, phase: str, batch_size: int) -> bool:
        return len(self.rotation_sets.get((phase, batch_size), ())) > 1

    def rotated(self, impl: str, batch_size: int, phase: str) -> tuple[Any, dict[str, Any]]:
        """This window's calls of ``impl`` (or full runs, for ``full_run``) and what the whole rotation shares
        (noise counters, yardstick, pass, grain, members): the first implementation of a set to ask in a window
        measures every member (bench/rotation.py)."""
        window = self.passes.current if self.passes is not None else self.windows_done.get((impl, batch_size, phase),
                                                                                            -1) + 1
        key = (phase, batch_size, window)
        if key not in self._rotated:
            self._rotated[key] = self._rotate(phase, batch_size, window)
        measured, shared = self._rotated[key]
        return measured[impl], shared

    def _build_shuffled(self, names: tuple[str, ...], batch_size: int) -> None:
        """Build the trainers not yet built in an order, and after a padding allocation, drawn for this process:
        every worker makes the same allocations in the same order, so two identical implementations would get
        the same memory layout, and any advantage it gives one of them, in every process (a systematic bias the
        processes cannot average away; Mytkowicz et al. 2009). Drawn per process, it becomes spread instead."""
        from impl.registry import get_implementation

        rng = random.Random(f"{self.settings.seed}-{self.process}-layout-{batch_size}")
        for name in rng.sample(list(names), len(names)):
            cls = get_implementation(name, require_available=False)
            if (cls.name, batch_size) not in self._trainers:
                self._padding.append(np.empty(rng.randrange(1, LAYOUT_PADDING_BYTES), dtype=np.uint8))
                self.live_trainer(cls, batch_size)

    def _rotate(self, phase: str, batch_size: int, window: int) -> tuple[dict[str, Any], dict[str, Any]]:
        from bench.rotation import Grain, Member, alternate_epochs, rotate
        from impl.registry import get_implementation

        names = self.rotation_sets[(phase, batch_size)]
        self._build_shuffled(names, batch_size)
        trainers = {n: self.live_trainer(get_implementation(n, require_available=False), batch_size) for n in names}
        seed = f"{self.settings.seed}-{self.process}-{phase}-{batch_size}-{window}"
        grain = Grain.parse(self.settings.grain)
        before = self.yardstick().measure() if self.settings.yardstick and self.passes is None else None
        counters = Counters.now()
        if phase == "full_run":
            measured: dict[str, Any] = {n: [] for n in names}
            # one round count for the set: the fewest any member asks for (numpy-v0-naive keeps to one)
            rounds = min(self.settings.full_run_rounds(type(t)) for t in trainers.values())
            for round_index in range(rounds):
                for trainer in trainers.values():
                    trainer.reset()
                runs = alternate_epochs(trainers, self.settings.epochs[type(trainers[names[0]]).workload],
                                        f"{seed}-{round_index}")
                for name in names:
                    measured[name].append(runs[name])
        else:
            members = []
            for name, trainer in trainers.items():
                trainer.reset()
                timed = own_module(type(trainer), "phases").PHASE_TABLE[phase].build(trainer,
                                                                                      self.step_batches(trainer))
                members.append(Member(name, timed.target, timed.setup))
            measured = rotate(members, self.window_s * len(members), seed, self.clock, grain)
        shared: dict[str, Any] = {**Counters.now().since(counters), "grain": grain.text, "rotation": list(names)}
        if before is not None:
            after = self.yardstick().measure()
            shared.update(yardstick_s=combined(before, after), yardstick_before=before, yardstick_after=after)
        if self.passes is not None:
            shared["pass"] = self.passes.current
        return measured, shared

    def memory(self, trainer: Trainer) -> MemoryUse:
        """Peak memory of a step and of an epoch, measured once per implementation and batch size, outside the
        timed rounds (it trains, then resets the trainer)."""
        key = (type(trainer).name, trainer.config.batch_size)
        if key not in self.memory_use:
            self.memory_use[key] = measure(trainer)
        return self.memory_use[key]

    def floor_epoch_s(self, trainer: Trainer) -> float:
        """The products+gather floor of one epoch at this trainer's batch size and model, measured in this
        process once, right after the first full run that needs it (about 1.5 s at the seed's model, minutes at
        x16 widths: ``--no-roofline`` skips it): a full run's multiple of the
        floor is then a ratio of two times from one process, and what moves a process (its core, its placement,
        the host meanwhile) moves both (bench/roofline/machine.py)."""
        config = trainer.config
        key = (config.batch_size, tuple(config.layers))
        if key not in self._floors:
            from bench.roofline.machine import measure_floor, one_hot_targets

            x = np.ascontiguousarray(self.data.x_train, dtype=np.float32)
            floor = measure_floor(config.batch_size, config.layers, trainer.n_train, 1, x,
                                  one_hot_targets(len(x), config.layers[-1]))
            self._floors[key] = floor["floor_epoch_s"]
        return self._floors[key]

    def step_batches(self, trainer: Trainer, limit: int = 8) -> list:
        """Index arrays of real shuffled full-size batches (the remainder batch is left out)."""
        idx = [b for b in trainer.batches(0) if len(b) == trainer.config.batch_size]
        return idx[:limit] or trainer.batches(0)[:1]


def model_text(cls: type[Trainer], config: TrainConfig) -> str:
    """A case's model as its identity carries it: ``784-70-30-10``, or "" where the workload's model is fixed."""
    return layer_text(config.layers) if get_workload(cls.workload).sized else ""


def record(benchmark: Any, bench: Bench, trainer: Trainer, phase: str, samples_per_round: int,
           **extra: Any) -> None:
    """What every result carries in extra_info (the environment goes to machine_info)."""
    noise = bench.end_case()  # first: the counters and yardstick belong right after the rounds
    median = benchmark.stats.stats.median if benchmark.stats else float("nan")
    cls = type(trainer)
    # memory is no timing: measured once, by the first process (an epoch under tracemalloc costs seconds)
    memory = asdict(bench.memory(trainer)) if bench.process == 1 else {}
    facts = trainer.run_facts() if hasattr(trainer, "run_facts") else {}
    benchmark.extra_info.update({
        "impl": cls.name, "workload": cls.workload, "phase": phase, "batch_size": trainer.config.batch_size,
        "layers": model_text(cls, trainer.config),
        "lr": trainer.config.learn_rate, "dtype": cls.dtype, "threads": current_blas_threads(),
        "device": cls.device, "backend": cls.current_backend(), "dataset": bench.data.kind,
        "quick": bench.settings.quick,
        "seed": trainer.config.seed, "samples_per_s": samples_per_round / median if median else None,
        "samples_per_round": samples_per_round, "process": bench.process,
        "processes": 1, "window": bench.window((cls.name, trainer.config.batch_size, phase)),
        "first_call_s": bench.first_call_s.get((cls.name, trainer.config.batch_size)),
        **memory, **facts, **noise, **extra})
