"""The benchmark suite's options: one place for their names, defaults, help and validation.

Defaults come from the workload (``impl/workloads.py``: MLP steps at B=500,5000,20000, full runs at
B=500,20000, 35 epochs) unless overridden on the command line or by the ini keys registered here
(``mlpbench_*`` under ``[tool.pytest.ini_options]``). Nothing goes into ``addopts``, so ``pytest tests`` never
sees these options.
"""

from __future__ import annotations

import argparse
import json
import math
import os
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import pytest

from bench.options import MNIST, MNIST_DEFAULT, RESULTS_DIR, SEED, THREADS, Option, batch_sizes
from impl.contract import PHASES, Trainer
from impl.errors import MLPBenchError
from impl.phases import PHASE_TABLE
from impl.registry import all_implementations, get_implementation
from impl.workloads import WORKLOADS, Workload, get_workload

DEFAULT_ROUNDS = 3  # full-run rounds in one process: the seed reported the best of three
DEFAULT_STEP_ROUNDS = 30  # rounds of the phases that need per-round setup (backward), over all processes
DEFAULT_PROCESSES = 2  # worker processes per case: the between-process spread needs at least two
PROCESS_ROUNDS = 1  # full-run rounds per worker when processes > 1: rounds become processes
PROCESS_MAX_TIME = 0.5  # pytest-benchmark's max_time per case and worker when processes > 1 (default 1.0 s)
DEFAULT_WORKER_TIMEOUT = 3600.0  # seconds one worker process may take before its cases fail
MAX_LOOKS = 10  # --until-resolved: verdicts are looked at most this often (alpha is spent over them)
DEFAULT_BUDGET_MIN = 10.0
QUICK = {"epochs": 1, "rounds": 1, "step_rounds": 5, "max_time": 0.05, "min_rounds": 3, "processes": 1}

OPTIONS: list[tuple[str, dict]] = [
    ("--impl", {"help": "comma-separated implementations (default: every implementation of the workloads)"}),
    ("--workload", {"help": "comma-separated workloads (default: mlp; --full: all)"}),
    ("--batch-sizes", {"help": "batch sizes of the per-step phases (default: the workload's; MLP 500,5000,20000)"}),
    ("--full-run-batch-sizes", {"help": "batch sizes of full training runs (default: the workload's; MLP 500,20000)"}),
    ("--epochs", {"type": int, "help": "epochs of a full run (default: the workload's; MLP 35)"}),
    ("--rounds", {"type": int, "help": f"rounds of a full run per process (default {DEFAULT_ROUNDS} with one process, "
                                       f"{PROCESS_ROUNDS} with several; 1 for numpy-v0-naive)"}),
    ("--processes", {"type": int, "help": f"worker processes per case, run one at a time with the rounds interleaved "
                                          f"across cases (default {DEFAULT_PROCESSES}; --quick: 1, measured in this "
                                          "process)"}),
    ("--worker-timeout", {"type": float, "metavar": "S", "help": "seconds one worker process may run before its "
                                                                  f"cases fail (default {DEFAULT_WORKER_TIMEOUT:g})"}),
    ("--phases", {"help": f"comma-separated phases (default: all): {','.join(PHASES)}"}),
    ("--backends", {"help": "comma-separated backends for implementations that run on several (Keras: tensorflow,"
                            "jax,torch), each measured in worker processes of its own; 'all' = every installed "
                            "one (default: the configured backend)"}),
    ("--tag", {"help": "short tag in the run folder's name (default: quick, default or full)"}),
    ("--line-profile", {"metavar": "TRANSITION", "help": "after the benchmarks (never inside timed rounds), "
                        "line-profile this transition (fw:N or bw:N) of every selected line-profilable implementation "
                        "at its first step batch size; tables printed, .lprof files saved in the run folder"}),
    ("--quick", {"action": "store_true", "help": "tiny profile for CI and a first look: 1 epoch, 1 round, "
                                                   "the workload's quick batch sizes; results tagged quick"}),
    ("--full", {"action": "store_true", "help": "the whole matrix: every workload, more batch sizes"}),
    ("--no-pin", {"action": "store_true", "help": "leave worker processes unpinned (default: with fewer BLAS threads "
                                                  "than cores, each worker is pinned to cores apart from this one)"}),
    ("--no-yardstick", {"action": "store_true", "help": "skip the reference workload timed beside every case "
                                                        "(default: timed, and used in verdicts where it cuts the "
                                                        "spread; see docs/noise.md)"}),
    ("--until-resolved", {"action": "store_true", "help": "after the first --processes rounds, add process rounds for "
                          "the cases still 'cannot resolve' until each resolves, --budget is spent or "
                          f"{MAX_LOOKS} looks were taken (alpha spent over the looks)"}),
    ("--budget", {"type": float, "metavar": "MIN", "help": "with --until-resolved: minutes of worker time in all "
                                                           f"(default {DEFAULT_BUDGET_MIN:g})"}),
    ("--against", {"metavar": "RUN", "help": "with --until-resolved: keep measuring until every case's comparison "
                                             "with this saved run (a folder or run id) resolves"}),
]
WORKER_SPEC_ENV = "MLPBENCH_WORKER_SPEC"  # set by the controller: this pytest is a worker; its spec file
INI_KEYS = {"mlpbench_batch_sizes": "default of --batch-sizes", "mlpbench_full_run_batch_sizes":
            "default of --full-run-batch-sizes", "mlpbench_rounds": "default of --rounds",
            "mlpbench_results_dir": "default of --results-dir", "mlpbench_processes": "default of --processes",
            "mlpbench_worker_timeout": "default of --worker-timeout"}


#: The options the plugin shares with the `mlp-bench` commands (defined once in bench/options.py), and what
#: leaving each unset means here.
SHARED_OPTIONS: list[tuple[Option, dict]] = [
    (THREADS, {"default_help": "one core fewer than the machine has, at least 1: the spare core keeps the "
                               "controller and the OS off the measurement; see docs/noise.md"}),
    (SEED, {"default": 0, "default_help": "0"}),
    (MNIST, {"default_help": f"{MNIST_DEFAULT}, else synthetic data for timing only"}),
    (RESULTS_DIR, {"default_help": "results, or the ini value mlpbench_results_dir"}),
]


def _dest(flag: str) -> str:
    return "mlpbench_" + flag.lstrip("-").replace("-", "_")


def add_options(parser: pytest.Parser) -> None:
    group = parser.getgroup("mlp-bench", "mlp-bench benchmark selection and profile")
    for flag, kwargs in OPTIONS:
        group.addoption(flag, dest=_dest(flag), **kwargs)
    for option, kwargs in SHARED_OPTIONS:
        option.add_to(group, dest=_dest(option.flag), **kwargs)
    for key, help_text in INI_KEYS.items():
        parser.addini(key, help_text, default="")


def _ints(text: str, what: str) -> tuple[int, ...]:
    """Batch sizes of an option or ini key, checked as every mlp-bench command checks them."""
    try:
        return tuple(batch_sizes(text))
    except argparse.ArgumentTypeError as err:
        raise MLPBenchError(f"{what}: {err}") from None


def _names(text: str) -> list[str]:
    return [n.strip() for n in text.split(",") if n.strip()]


@dataclass(frozen=True)
class BenchSettings:
    impls: tuple[type[Trainer], ...]
    workloads: tuple[Workload, ...]
    step_batch_sizes: dict[str, tuple[int, ...]]  # per workload
    full_run_batch_sizes: dict[str, tuple[int, ...]]
    epochs: dict[str, int]
    rounds: int | None  # None: the implementation's own default, else DEFAULT_ROUNDS
    step_rounds: int
    phases: tuple[str, ...]
    threads: int | None  # BLAS threads of every case (part of its identity); None only in old records
    seed: int
    mnist: str | None
    results_dir: Path
    tag: str
    quick: bool
    full: bool
    line_profile: str | None = None
    processes: int = 1
    worker_timeout: float = DEFAULT_WORKER_TIMEOUT
    worker: bool = False  # this process measures for a controller (bench/workers.py), in-process
    backends: tuple[str, ...] = ()  # requested backends of multi-backend implementations; () = the current one
    pin: bool = True  # pin workers to cores apart from the controller where there are spare cores
    yardstick: bool = True  # time the reference workload beside every case (bench/yardstick.py)
    until_resolved: bool = False
    budget_min: float = DEFAULT_BUDGET_MIN
    against: Path | None = None  # a saved run the verdicts of --until-resolved are taken against
    threads_why: str = ""  # why this thread count (the system report prints it)

    def to_spec(self) -> dict[str, Any]:
        """Plain JSON for the worker protocol (bench/workers.py): classes by name, paths as text."""
        out = {f.name: getattr(self, f.name) for f in fields(self)}
        out["impls"] = [c.name for c in self.impls]
        out["workloads"] = [w.name for w in self.workloads]
        for name in ("results_dir", "against"):
            out[name] = None if out[name] is None else str(out[name])
        return out

    @classmethod
    def from_spec(cls, spec: dict[str, Any]) -> BenchSettings:
        """The controller's settings, as a worker reads them from its spec file (never from argv)."""
        values = dict(spec)
        values["impls"] = tuple(get_implementation(n, require_available=False) for n in values["impls"])
        values["workloads"] = tuple(get_workload(n) for n in values["workloads"])
        for name in ("step_batch_sizes", "full_run_batch_sizes"):
            values[name] = {k: tuple(v) for k, v in values[name].items()}
        for name in ("phases", "backends"):
            values[name] = tuple(values[name])
        values["results_dir"] = Path(values["results_dir"])
        values["against"] = Path(values["against"]) if values["against"] else None
        values["worker"] = True
        return cls(**values)

    def backends_of(self, cls: type[Trainer]) -> tuple[str, ...]:
        """The backends to measure ``cls`` on: the requested ones it supports, else the current one."""
        choices = cls.backend_choices()
        wanted = choices if self.backends == ("all",) else tuple(b for b in self.backends if b in choices)
        return wanted or (cls.current_backend(),)

    @property
    def spawns_workers(self) -> bool:
        """Measure in worker processes (the controller) rather than in this process."""
        return self.processes > 1 and not self.worker

    def full_run_rounds(self, cls: type[Trainer]) -> int:
        if self.rounds is not None:
            return self.rounds
        if self.processes > 1:
            return PROCESS_ROUNDS
        return cls.full_run_rounds or DEFAULT_ROUNDS

    def backward_rounds(self) -> int:
        """Rounds of the per-round-setup phases in this process: the total is split over the processes."""
        return max(3, -(-self.step_rounds // self.processes))

    @classmethod
    def from_config(cls, config: pytest.Config) -> BenchSettings:
        """Read and validate the options; any problem is one MLPBenchError message."""
        def opt(name: str):
            return config.getoption("mlpbench_" + name)

        def ini(key: str) -> str:
            return (config.getini(key) or "").strip()

        spec = worker_spec()
        if spec is not None:
            return cls.from_spec(spec["settings"])
        quick, full = bool(opt("quick")), bool(opt("full"))
        if quick and full:
            raise MLPBenchError("--quick and --full exclude each other")
        workload_names = _names(opt("workload") or (",".join(WORKLOADS) if full else ""))
        for name in workload_names:
            get_workload(name)
        if opt("impl"):
            impls = tuple(get_implementation(name, require_available=False) for name in _names(opt("impl")))
            impls = tuple(c for c in impls if not workload_names or c.workload in workload_names)
            if not impls:
                raise MLPBenchError(f"none of --impl {opt('impl')} belongs to --workload {opt('workload')}")
        else:
            workload_names = workload_names or ["mlp"]
            impls = tuple(c for c in all_implementations().values()
                          if c.workload in workload_names and (c.in_default_run or full or quick))
        workloads = tuple(get_workload(name) for name in dict.fromkeys(c.workload for c in impls))
        known = tuple(PHASE_TABLE)  # read now: a phase added to the table is known without another edit
        phases = tuple(_names(opt("phases") or ",".join(known)))
        for phase in phases:
            if phase not in known:
                raise MLPBenchError(f"unknown phase {phase!r}; choose from: {', '.join(known)}")
        if opt("line_profile"):
            from bench.profile import parse_transition

            parse_transition(opt("line_profile"))
        if opt("epochs") is not None and opt("epochs") < 1:
            raise MLPBenchError(f"--epochs must be at least 1 (got {opt('epochs')})")
        rounds = opt("rounds") or (int(ini("mlpbench_rounds")) if ini("mlpbench_rounds") else None)
        if rounds is not None and rounds < 1:
            raise MLPBenchError(f"--rounds must be at least 1 (got {rounds})")
        threads, threads_why = ((opt("threads"), "--threads") if opt("threads") is not None else default_threads())
        processes = _positive_int(opt("processes"), ini("mlpbench_processes"), "--processes",
                                  QUICK["processes"] if quick else DEFAULT_PROCESSES)
        timeout = opt("worker_timeout")
        if timeout is None:
            timeout = float(ini("mlpbench_worker_timeout") or DEFAULT_WORKER_TIMEOUT)
        if timeout <= 0:
            raise MLPBenchError(f"--worker-timeout must be positive (got {timeout:g})")
        until_resolved, budget, against = bool(opt("until_resolved")), opt("budget"), opt("against")
        if budget is not None and not until_resolved:
            raise MLPBenchError("--budget goes with --until-resolved")
        if against is not None and not until_resolved:
            raise MLPBenchError("--against goes with --until-resolved (`mlp-bench compare` compares saved runs)")
        if budget is not None and not (math.isfinite(budget) and budget > 0):
            raise MLPBenchError(f"--budget must be a positive number of minutes (got {budget:g})")
        if until_resolved and quick:
            raise MLPBenchError("--until-resolved needs real rounds: it does not go with --quick")
        if until_resolved and processes < 2:
            raise MLPBenchError("--until-resolved adds worker processes: it needs --processes 2 or more")
        backends = tuple(_names(opt("backends") or ""))
        known = {b for c in impls for b in c.backend_choices()} | {c.current_backend() for c in impls} | {"all"}
        for backend in backends:
            if backend not in known:
                raise MLPBenchError(f"unknown or uninstalled backend {backend!r} for the selected implementations; "
                                    f"choose from: {', '.join(sorted(known))}")

        def sizes(option: str, ini_key: str, default) -> dict[str, tuple[int, ...]]:
            given = opt(option) or ini(ini_key)
            return {w.name: _ints(given, "--" + option.replace("_", "-")) if given else default(w)
                    for w in workloads}

        step_default = (lambda w: w.quick_batch_sizes) if quick else (
            (lambda w: w.full_matrix_batch_sizes or w.step_batch_sizes or (w.batch_size,)) if full else
            (lambda w: w.step_batch_sizes or (w.batch_size,)))
        full_default = (lambda w: w.quick_batch_sizes) if quick else (
            lambda w: w.full_run_batch_sizes or (w.batch_size,))
        epochs = {w.name: opt("epochs") or (w.quick_epochs if quick else w.epochs) for w in workloads}
        return cls(
            impls=impls, workloads=workloads,
            step_batch_sizes=sizes("batch_sizes", "mlpbench_batch_sizes", step_default),
            full_run_batch_sizes=sizes("full_run_batch_sizes", "mlpbench_full_run_batch_sizes", full_default),
            epochs=epochs, rounds=rounds if rounds is not None else (QUICK["rounds"] if quick else None),
            step_rounds=QUICK["step_rounds"] if quick else DEFAULT_STEP_ROUNDS, phases=phases,
            threads=threads, threads_why=threads_why, seed=opt("seed"), mnist=opt("mnist"),
            results_dir=Path(opt("results_dir") or ini("mlpbench_results_dir") or "results"),
            tag=opt("tag") or ("quick" if quick else "full" if full else "default"), quick=quick, full=full,
            line_profile=opt("line_profile"), processes=processes, worker_timeout=timeout,
            worker=False, backends=backends, pin=not opt("no_pin"), yardstick=not opt("no_yardstick"),
            until_resolved=until_resolved, budget_min=budget if budget is not None else DEFAULT_BUDGET_MIN,
            against=_against_run(against, opt("results_dir") or ini("mlpbench_results_dir") or "results")
            if against else None)


def _positive_int(given: int | None, ini_value: str, flag: str, default: int) -> int:
    """An option that must be an integer >= 1, from the command line, else the ini key, else the default."""
    if given is None and ini_value:
        try:
            given = int(ini_value)
        except ValueError:
            raise MLPBenchError(f"{flag}: expected an integer, got {ini_value!r} (ini)") from None
    value = default if given is None else given
    if value < 1:
        raise MLPBenchError(f"{flag} must be at least 1 (got {value})")
    return value


def default_threads(cpus: int | None = None) -> tuple[int, str]:
    """One core fewer than this process may use, at least 1. The noise study (docs/noise.md) found the spare
    core worth more than the second BLAS thread on a 2-vCPU VM: the worker pinned apart from the controller
    and the OS, and no BLAS barrier waiting on a preempted thread."""
    if cpus is None:
        cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    threads = max(1, cpus - 1)
    return threads, f"default: {cpus} CPU(s) less one for the controller and the OS (--threads N to choose)"


def worker_spec() -> dict[str, Any] | None:
    """This worker's spec file (bench/workers.py writes it), or None in the controller / a plain run."""
    path = os.environ.get(WORKER_SPEC_ENV)
    if not path:
        return None
    return json.loads(Path(path).read_text())


def _against_run(name: str, results_dir: str) -> Path:
    """The folder --against names (a one-line error if there is none); :func:`check_against` reads it."""
    from bench.compare import resolve_run

    return resolve_run(name, Path(results_dir))


def check_against(settings: BenchSettings) -> None:
    """The saved run of --against, checked before anything is measured: a benchmark run that loads, from this
    machine (CPU model and count), in this profile. Any problem is one MLPBenchError message."""
    from bench.environment import machine_facts
    from bench.results import load_run

    if settings.against is None:
        return
    doc, frame = load_run(settings.against)
    saved = doc.get("machine_info", {}).get("mlp_bench", {})
    here = machine_facts()
    for fact in ("cpu_model", "cpu_count"):
        if saved.get(fact) != here[fact]:
            raise MLPBenchError(f"--against {settings.against}: measured on another machine ({fact} "
                                f"{saved.get(fact)!r}, here {here[fact]!r}); a comparison across machines cannot "
                                "resolve a change")
    if bool(frame["quick"].fillna(False).astype(bool).any()) != settings.quick:
        raise MLPBenchError(f"--against {settings.against}: measured in another profile (quick vs full)")
