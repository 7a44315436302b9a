"""The benchmark suite's options: one place for their names, defaults, help and validation.

Defaults come from the workload (``impl/workloads.py``: MLP steps at B=500,5000,20000, full runs at
B=500,20000, 35 epochs) unless overridden on the command line or by the ini keys registered here
(``mlpbench_*`` under ``[tool.pytest.ini_options]``). Nothing goes into ``addopts``, so ``pytest tests`` never
sees these options.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

import pytest

from bench import options
from bench.baseline import Baseline
from bench.counts.callgrind import DEFAULT_KERNEL
from bench.counts.session import COUNTS, COUNTS_KERNEL
from bench.options import Option
from bench.runs import check_results_dir, check_tag
from impl.config import SEED_LAYERS, layer_text
from impl.contract import PHASES, Trainer
from impl.errors import MLPBenchError
from impl.phases import PHASE_TABLE
from impl.registry import all_implementations, get_implementation
from impl.workloads import WORKLOADS, Workload, get_workload

DEFAULT_ROUNDS = 3  # full-run rounds in one process: the seed reported the best of three
DEFAULT_STEP_ROUNDS = 30  # rounds of the phases that need per-round setup (backward), over all processes
DEFAULT_PROCESSES = 2  # worker processes per case: the between-process spread needs at least two
#: with --baseline: each process's change-over-base ratio moves by 0.012-0.018 (sd, A/A runs, docs/noise.md),
#: and 4 processes put a 99 % interval within the 5 % of `same` where 2 leave a third of the cases open
DEFAULT_BASELINE_PROCESSES = 4
PROCESS_ROUNDS = 1  # full-run rounds per worker when processes > 1: rounds become processes
DEFAULT_WINDOWS = 3  # measurement windows per step case and worker (bench/windows.py)
WINDOW_MAX_TIME = 0.25  # pytest-benchmark's max_time per window when processes > 1 (its default: 1.0 s)
DEFAULT_WORKER_TIMEOUT = 3600.0  # seconds one worker process may take before its cases fail
MAX_LOOKS = 10  # --until-resolved: verdicts are looked at most this often (alpha is spent over them)
DEFAULT_BUDGET_MIN = 10.0
#: Implementations a run that names no batch sizes times at the sizes the seed timed them at only (full runs and
#: step cases): numpy-v0-naive's 35-epoch runs took 40-110 s at either size and its B=5000 and 20000 steps a
#: fifth of the default run, and the seed timed the naive code at B=500 only (Step III's "over 6.5x" against
#: 7.3 s). Benchmark policy, so it lives here, not on the implementation.
SEED_BATCH_SIZES: dict[str, tuple[int, ...]] = {"numpy-v0-naive": (500,)}
DEFAULT_GRAIN = "block:64"  # blocks of up to 64 calls (64 ms) alternate: the bias study's grain (docs/noise.md)
QUICK = {"epochs": 1, "rounds": 1, "step_rounds": 5, "max_time": 0.05, "min_rounds": 3, "processes": 1}

#: the plugin's default thread count, as --help states it (default_threads computes it)
THREADS_DEFAULT = ("one core fewer than the machine has, at least 1: the spare core keeps the controller and the "
                   "OS off the measurement; see docs/noise.md")

# The plugin's options: the shared ones from bench/options.py (with the plugin's own default where it differs),
# the rest defined here, where they are used. Every value is checked by Option.read in BenchSettings.from_config.
IMPLS = options.IMPLS.but(default_help="every implementation of the workloads")
WORKLOAD = Option("--workload", "comma-separated workloads", default_help="mlp; --full: all")
BATCH_SIZES = options.BATCH_SIZES.but(help="batch sizes of the per-step phases", ini="mlpbench_batch_sizes",
                                      default_help="the workload's; MLP 500,5000,20000")
FULL_RUN_BATCH_SIZES = options.BATCH_SIZES.but(flag="--full-run-batch-sizes", help="batch sizes of full training runs",
                                               default_help="the workload's; MLP 500,20000",
                                               ini="mlpbench_full_run_batch_sizes")
EPOCHS = options.EPOCHS.but(default_help="the workload's; MLP 35")
ROUNDS = options.ROUNDS.but(default_help=f"{DEFAULT_ROUNDS} with one process, {PROCESS_ROUNDS} with several; 1 "
                            "for numpy-v0-naive", ini="mlpbench_rounds")
PROCESSES = options.PROCESSES.but(default_help=f"{DEFAULT_PROCESSES}; with --baseline {DEFAULT_BASELINE_PROCESSES}; "
                                  "--quick: 1, measured in this process",
                                  ini="mlpbench_processes")
WINDOWS = Option("--windows", "measurement windows per step case in each worker process, spread over its life in "
                 f"passes ({WINDOW_MAX_TIME:g} s each); a process's time is the geometric mean of its window medians",
                 options.positive_int, default=DEFAULT_WINDOWS, default_help=f"{DEFAULT_WINDOWS}", metavar="N",
                 ini="mlpbench_windows")
WORKER_TIMEOUT = Option("--worker-timeout", "seconds one worker process may run, for each implementation it "
                        "measures, before its cases fail",
                        options.positive_float, default=DEFAULT_WORKER_TIMEOUT,
                        default_help=f"{DEFAULT_WORKER_TIMEOUT:g}", metavar="S", ini="mlpbench_worker_timeout")
PHASES_OPTION = Option("--phases", f"comma-separated phases: {','.join(PHASES)}", default_help="all")
BACKENDS = Option("--backends", "comma-separated backends for implementations that run on several (Keras: "
                  "tensorflow,jax,torch), each measured in worker processes of its own; 'all' = every installed one",
                  default_help="the configured backend")
THREADS = options.THREADS.but(default_help=THREADS_DEFAULT)
LAYERS = options.LAYERS.but(help=options.LAYERS.help + "; the mlp workload's model (the CNN's is fixed)",
                            ini="mlpbench_layers")
MNIST = options.MNIST.but(default_help=options.MNIST.default_help + ", else synthetic data for timing only")
RESULTS_DIR = options.RESULTS_DIR.but(ini="mlpbench_results_dir",
                                      default_help="results, or the ini value mlpbench_results_dir")
TAG = Option("--tag", "short tag in the run folder's name", default_help="quick, default or full")
LINE_PROFILE = Option("--line-profile", "after the benchmarks (never inside timed rounds), line-profile this "
                      "transition (fw:N or bw:N) of every selected line-profilable implementation at its first step "
                      "batch size; tables printed, .lprof files saved in the run folder", metavar="TRANSITION")
QUICK_OPTION = Option("--quick", "tiny profile for CI and a first look: 1 epoch, 1 round, the workload's quick batch "
                      "sizes; results tagged quick", switch=True)
FULL = Option("--full", "the whole matrix: every workload, more batch sizes", switch=True)
NO_PIN = Option("--no-pin", "leave worker processes unpinned (default: with fewer BLAS threads than cores, each "
                "worker is pinned to cores apart from this one)", switch=True)
NO_PAIR = Option("--no-pair", "give every implementation worker processes of its own (default: the implementations of "
                 "one batch size that can share a process share each worker, their windows interleaved, and the run's "
                 "own comparisons pair them per worker; see docs/noise.md)", switch=True)
NO_ROOFLINE = Option("--no-roofline", "skip the roofline: the sgemm peak and products+gather floors the controller "
                     "measures after the cases, and the floor each worker measures beside its MLP full runs (seconds "
                     "per batch size at the seed's size, minutes for wide models; `mlp-bench map` passes it)",
                     switch=True)
NO_YARDSTICK = Option("--no-yardstick", "skip the reference workload timed beside every case (default: timed, and "
                      "used in verdicts where it cuts the spread; see docs/noise.md)", switch=True)
UNTIL_RESOLVED = Option("--until-resolved", "after the first --processes rounds, add process rounds for the cases "
                        "still 'cannot resolve' until each resolves, --budget is spent or "
                        f"{MAX_LOOKS} looks were taken (alpha spent over the looks)", switch=True)
BUDGET = Option("--budget", "with --until-resolved: minutes of worker time in all", options.positive_float,
                default_help=f"{DEFAULT_BUDGET_MIN:g}", metavar="MIN")
BASELINE_OPTION = Option("--baseline", "time every selected implementation against its own base: a git revision "
                         "(e.g. HEAD, main, a commit) or the path of another checkout; its impl/ is imported beside "
                         "the working tree's as NAME@REV and alternated with NAME call by call in the same workers "
                         "(docs/comparing.md)", metavar="REV")
GRAIN = Option("--grain", "how the implementations of one phase and batch size alternate inside a worker: call "
               "(one call each in turn, in a fresh order each cycle), block:N (one untimed call, then up to N timed "
               "calls of one, at most 64 ms of them, before the next) or window (each in a window of its own, as "
               "before the rotation; docs/noise.md)", default=DEFAULT_GRAIN, default_help=DEFAULT_GRAIN,
               metavar="G", ini="mlpbench_grain")
YES = Option("--yes", "run a plan longer than an hour (the estimate is printed before any work; without --yes such a "
             "run stops there)", switch=True)
AGAINST = Option("--against", "with --until-resolved: keep measuring until every case's comparison with this saved "
                 "run (a folder or run id) resolves", metavar="RUN")
OPTIONS: list[Option] = [IMPLS, WORKLOAD, BATCH_SIZES, FULL_RUN_BATCH_SIZES, EPOCHS, ROUNDS, PROCESSES, WINDOWS,
                         WORKER_TIMEOUT,
                         PHASES_OPTION, BACKENDS, THREADS, LAYERS, options.SEED, MNIST, RESULTS_DIR, TAG, LINE_PROFILE,
                         QUICK_OPTION, FULL, NO_PIN, NO_PAIR, NO_YARDSTICK, NO_ROOFLINE, UNTIL_RESOLVED, BUDGET,
                         AGAINST, BASELINE_OPTION, GRAIN, COUNTS, COUNTS_KERNEL, YES]
WORKER_SPEC_ENV = "MLPBENCH_WORKER_SPEC"  # set by the controller: this pytest is a worker; its spec file
INI_KEYS = {o.ini: f"default of {o.flag}" for o in OPTIONS if o.ini}


def add_options(parser: pytest.Parser) -> None:
    group = parser.getgroup("mlp-bench", "mlp-bench benchmark selection and profile")
    for option in OPTIONS:
        option.add_to_pytest(group)
    for key, help_text in INI_KEYS.items():
        parser.addini(key, help_text, default="")


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
    layers: tuple[int, ...]  # the mlp workload's model, input to output (part of a case's identity)
    seed: int
    mnist: str | None
    results_dir: Path
    tag: str
    quick: bool
    full: bool
    line_profile: str | None = None
    processes: int = 1
    windows: int = 1  # measurement windows per step case in each worker (bench/windows.py)
    worker_timeout: float = DEFAULT_WORKER_TIMEOUT
    worker: bool = False  # this process measures for a controller (bench/workers.py), in-process
    backends: tuple[str, ...] = ()  # requested backends of multi-backend implementations; () = the current one
    pin: bool = True  # pin workers to cores apart from the controller where there are spare cores
    yardstick: bool = True  # time the reference workload beside every case (bench/yardstick.py)
    pair: bool = True  # implementations of one batch size share worker processes (bench/workers.py)
    roofline: bool = True  # measure the roofline: the controller's sgemm and floors, each worker's floor
    until_resolved: bool = False
    budget_min: float = DEFAULT_BUDGET_MIN
    against: Path | None = None  # a saved run the verdicts of --until-resolved are taken against
    threads_why: str = ""  # why this thread count (the system report prints it)
    full_run_sizes_given: bool = False  # --full-run-batch-sizes (or its ini key) named them
    step_sizes_given: bool = False  # --batch-sizes (or its ini key) named them
    baseline: Baseline | None = None  # --baseline: the base revision whose implementations join as NAME@REV
    yes: bool = False  # --yes: a plan longer than an hour runs without asking
    grain: str = DEFAULT_GRAIN  # how a worker alternates the implementations of a phase and B (bench/rotation.py)
    counts_kernel: str = DEFAULT_KERNEL  # --counts-kernel: the OpenBLAS kernel counts run under Valgrind

    @property
    def rotates(self) -> bool:
        """Whether workers time the implementations of a phase and batch size call by call in rotation."""
        return self.grain != "window"

    def full_run_sizes(self, cls: type[Trainer]) -> tuple[int, ...]:
        """The batch sizes of ``cls``'s full runs: the run's, or where the run did not name them and this is the
        default profile, those of them the implementation keeps to (:data:`SEED_BATCH_SIZES`)."""
        return self._kept(cls, self.full_run_batch_sizes[cls.workload], self.full_run_sizes_given)

    def step_sizes(self, cls: type[Trainer]) -> tuple[int, ...]:
        """The batch sizes of ``cls``'s step cases, kept as :meth:`full_run_sizes` keeps its full runs."""
        return self._kept(cls, self.step_batch_sizes[cls.workload], self.step_sizes_given)

    def _kept(self, cls: type[Trainer], sizes: tuple[int, ...], given: bool) -> tuple[int, ...]:
        keep = SEED_BATCH_SIZES.get(cls.name.split("@")[0])
        if given or self.quick or self.full or not keep:
            return sizes
        return tuple(s for s in sizes if s in keep) or sizes

    def to_spec(self) -> dict[str, Any]:
        """Plain JSON for the worker protocol (bench/workers.py): classes by name, paths as text."""
        out = {f.name: getattr(self, f.name) for f in fields(self)}
        out["impls"] = [c.name for c in self.impls]
        out["workloads"] = [w.name for w in self.workloads]
        for name in ("results_dir", "against"):
            out[name] = None if out[name] is None else str(out[name])
        out["baseline"] = None if self.baseline is None else {**asdict(self.baseline), "root": str(self.baseline.root)}
        return out

    @classmethod
    def from_spec(cls, spec: dict[str, Any]) -> BenchSettings:
        """The controller's settings, as a worker reads them from its spec file (never from argv)."""
        values = dict(spec)
        if values.get("baseline"):  # the base's implementations must be known before they are named
            values["baseline"] = Baseline(**{**values["baseline"], "root": Path(values["baseline"]["root"])})
            join_baseline(values["baseline"])
        values["impls"] = tuple(get_implementation(n, require_available=False) for n in values["impls"])
        values["workloads"] = tuple(get_workload(n) for n in values["workloads"])
        for name in ("step_batch_sizes", "full_run_batch_sizes"):
            values[name] = {k: tuple(v) for k, v in values[name].items()}
        for name in ("phases", "backends", "layers"):
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

    def backward_rounds(self, windows: int = 1) -> int:
        """Rounds of the per-round-setup phases in one window: the total is split over processes and the
        windows each process times."""
        return max(3, -(-self.step_rounds // (self.processes * windows)))

    @classmethod
    def from_config(cls, config: pytest.Config) -> BenchSettings:
        """Read and validate the options; any problem is one MLPBenchError message."""
        spec = worker_spec()
        if spec is not None:
            return cls.from_spec(spec["settings"])
        quick, full = QUICK_OPTION.read(config), FULL.read(config)
        if quick and full:
            raise MLPBenchError("--quick and --full exclude each other")
        workload_text, impl_names = WORKLOAD.read(config), IMPLS.read(config)
        workload_names = _names(workload_text or (",".join(WORKLOADS) if full else ""))
        for name in workload_names:
            get_workload(name)
        if impl_names:
            impls = tuple(get_implementation(name, require_available=False) for name in impl_names)
            impls = tuple(c for c in impls if not workload_names or c.workload in workload_names)
            if not impls:
                raise MLPBenchError(f"none of --impl {','.join(impl_names)} belongs to --workload {workload_text}")
        else:
            workload_names = workload_names or ["mlp"]
            impls = tuple(c for c in all_implementations().values()
                          if c.workload in workload_names and (c.in_default_run or full or quick))
        grain = GRAIN.read(config)
        grain = DEFAULT_GRAIN if grain is None else grain
        if grain != "window":
            from bench.rotation import Grain

            Grain.parse(grain)
        rev = BASELINE_OPTION.read(config)
        base = None
        if rev is not None and not rev.strip():
            raise MLPBenchError("--baseline needs a git revision or the path of another checkout, got an empty value")
        if rev:
            if AGAINST.read(config):
                raise MLPBenchError("--baseline and --against exclude each other: the base is measured in this run")
            if grain == "window":
                raise MLPBenchError("--baseline alternates each implementation with its base: it needs --grain call "
                                    "or block:N")
            base = prepare_baseline(rev, getattr(config, "rootpath", Path.cwd()))
            try:
                twins = join_baseline(base)
            except MLPBenchError:
                base.remove()
                raise
            impls = tuple(c for pair in ((c, twins.get(base.name_of(c.name))) for c in impls) for c in pair if c)
        workloads = tuple(get_workload(name) for name in dict.fromkeys(c.workload for c in impls))
        known = tuple(PHASE_TABLE)  # read now: a phase added to the table is known without another edit
        phases = tuple(_names(PHASES_OPTION.read(config) or ",".join(known)))
        for phase in phases:
            if phase not in known:
                raise MLPBenchError(f"unknown phase {phase!r}; choose from: {', '.join(known)}")
        line_profile = LINE_PROFILE.read(config)
        if line_profile:
            from bench.profile import parse_transition

            parse_transition(line_profile)
        given_epochs, rounds, layers = EPOCHS.read(config), ROUNDS.read(config), LAYERS.read(config)
        threads = THREADS.read(config)
        threads, threads_why = (threads, THREADS.flag) if threads is not None else default_threads()
        processes = PROCESSES.read(config)
        if processes is None:
            processes = (QUICK["processes"] if quick else DEFAULT_BASELINE_PROCESSES if BASELINE_OPTION.read(config)
                         else DEFAULT_PROCESSES)
        timeout = WORKER_TIMEOUT.read(config)
        until_resolved, budget, against = UNTIL_RESOLVED.read(config), BUDGET.read(config), AGAINST.read(config)
        if budget is not None and not until_resolved:
            raise MLPBenchError("--budget goes with --until-resolved")
        if against is not None and not until_resolved:
            raise MLPBenchError("--against goes with --until-resolved (`mlp-bench compare` compares saved runs)")
        if until_resolved and quick:
            raise MLPBenchError("--until-resolved needs real rounds: it does not go with --quick")
        if until_resolved and processes < 2:
            raise MLPBenchError("--until-resolved adds worker processes: it needs --processes 2 or more")
        backends = tuple(_names(BACKENDS.read(config) or ""))
        known = {b for c in impls for b in c.backend_choices()} | {c.current_backend() for c in impls} | {"all"}
        for backend in backends:
            if backend not in known:
                raise MLPBenchError(f"unknown or uninstalled backend {backend!r} for the selected implementations; "
                                    f"choose from: {', '.join(sorted(known))}")

        def sizes(option: Option, default) -> dict[str, tuple[int, ...]]:
            given = option.read(config)
            return {w.name: tuple(given) if given else default(w) for w in workloads}

        step_default = (lambda w: w.quick_batch_sizes) if quick else (
            (lambda w: w.full_matrix_batch_sizes or w.step_batch_sizes or (w.batch_size,)) if full else
            (lambda w: w.step_batch_sizes or (w.batch_size,)))
        full_default = (lambda w: w.quick_batch_sizes) if quick else (
            lambda w: w.full_run_batch_sizes or (w.batch_size,))
        results_dir = RESULTS_DIR.read(config)
        check_results_dir(results_dir)
        if TAG.read(config):
            check_tag(TAG.read(config))
        full_run_sizes_given = FULL_RUN_BATCH_SIZES.read(config) is not None
        step_sizes_given = BATCH_SIZES.read(config) is not None
        epochs = {w.name: given_epochs or (w.quick_epochs if quick else w.epochs) for w in workloads}
        return cls(
            impls=impls, workloads=workloads,
            step_batch_sizes=sizes(BATCH_SIZES, step_default),
            full_run_batch_sizes=sizes(FULL_RUN_BATCH_SIZES, full_default),
            epochs=epochs, rounds=rounds if rounds is not None else (QUICK["rounds"] if quick else None),
            step_rounds=QUICK["step_rounds"] if quick else DEFAULT_STEP_ROUNDS, phases=phases,
            threads=threads, threads_why=threads_why, layers=layers, seed=options.SEED.read(config),
            mnist=MNIST.read(config),
            results_dir=results_dir, tag=TAG.read(config) or _default_tag(quick, full, layers),
            quick=quick, full=full, line_profile=line_profile, processes=processes, windows=WINDOWS.read(config),
            worker_timeout=timeout,
            worker=False, backends=backends, pin=not NO_PIN.read(config), yardstick=not NO_YARDSTICK.read(config),
            pair=not NO_PAIR.read(config), roofline=not quick and not NO_ROOFLINE.read(config),
            until_resolved=until_resolved, budget_min=budget if budget is not None else DEFAULT_BUDGET_MIN,
            against=_against_run(against, results_dir) if against else None,
            full_run_sizes_given=full_run_sizes_given, step_sizes_given=step_sizes_given, baseline=base, grain=grain,
            yes=YES.read(config), counts_kernel=COUNTS_KERNEL.read(config))


def prepare_baseline(rev: str, repo: Path) -> Baseline:
    from bench.baseline import prepare

    return prepare(rev, repo)


def join_baseline(base: Baseline) -> dict[str, type[Trainer]]:
    """Import the base's implementations and make them known by their names in this run (``NAME@REV``)."""
    from bench.baseline import load
    from impl.registry import add

    twins = load(base)
    add(twins)
    return twins


def _default_tag(quick: bool, full: bool, layers: tuple[int, ...]) -> str:
    """The run folder's tag: the profile, and the model where it is not the seed's (``default-784-280-120-10``)."""
    profile = "quick" if quick else "full" if full else "default"
    return profile if layers == SEED_LAYERS else f"{profile}-{layer_text(layers)}"


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


def _against_run(name: str, results_dir: Path) -> Path:
    """The folder --against names (a one-line error if there is none); :func:`check_against` reads it."""
    from bench.compare import resolve_run

    return resolve_run(name, results_dir)


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
