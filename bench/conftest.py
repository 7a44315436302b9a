"""pytest plugin of the benchmark suite: options, parametrisation from the registry, the trainer fixture,
pytest-benchmark hooks (machine_info), the worker processes, and the run folder with its tables.

Implementations are known only through ``impl.registry``: a new implementation appears here unchanged.

A run folder is created (marked incomplete, with a system report) before the first measurement and marked
complete only when every selected case was measured; with ``--processes N > 1`` this session measures nothing
itself: :mod:`bench.workers` runs the workers first, then each test replays their samples into its fixture.
"""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bench import pytest_benchmark_adapter as adapter
from bench.counts.session import COUNTS, counts_of_session
from bench.counts.session import attach as attach_counts
from bench.environment import blas_threads, current_blas_threads, machine_facts, machine_record
from bench.harness import Bench
from bench.options import PYTEST_DEST
from bench.plan import duration_text
from bench.runs import new_run_dir, write_json
from bench.settings import QUICK, WINDOW_MAX_TIME, BenchSettings, add_options, check_against, worker_spec
from bench.system import render_system, system_report
from bench.windows import PassClock, plan_passes
from bench.workers import ProcessRunner, case_key, check_plan, cpu_plan, pin_process, plan
from impl.config import SEED_LAYERS, layer_text
from impl.data import load_dataset, load_saved_dataset
from impl.errors import MLPBenchError
from impl.phases import step_phases
from impl.registry import get_implementation
from impl.workloads import get_workload


def pytest_addoption(parser: pytest.Parser) -> None:
    add_options(parser)


def pytest_configure(config: pytest.Config) -> None:
    try:
        settings = BenchSettings.from_config(config)
        if not settings.worker:
            check_against(settings)
    except MLPBenchError as err:
        raise pytest.UsageError(str(err)) from None
    config.mlpbench_settings = settings
    config.mlpbench_finished = set()  # node ids whose measurement ended (an interrupted run keeps only these)
    stop_on_signals()
    if settings.threads is not None:
        os.environ["MLPBENCH_THREADS"] = str(settings.threads)  # frameworks read it before they start
        config.mlpbench_threads = blas_threads(settings.threads)
        config.mlpbench_threads.__enter__()


class Stop:
    """The signal that stopped this run, if one did (recorded in run.json beside ``"complete": false``)."""

    signal: str | None = None


def stop_on_signals() -> None:
    """SIGINT and SIGTERM stop a run alike (KeyboardInterrupt, remembering which): the controller stops the worker
    in flight (which saves the cases it finished, bench/workers.py) and the run folder keeps every finished case,
    marked incomplete with the signal."""
    def interrupt(signum: int, frame: Any) -> None:
        Stop.signal = signal.Signals(signum).name
        raise KeyboardInterrupt(Stop.signal)

    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, interrupt)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo) -> Iterator[None]:
    """A case whose test passed its call is finished: an interrupted run saves these and no other (a case cut off
    mid-measurement would otherwise pass as measured, on fewer rounds)."""
    outcome = yield
    report = outcome.get_result()
    if report.when == "call" and report.passed and hasattr(item.config, "mlpbench_finished"):
        item.config.mlpbench_finished.add(report.nodeid)


def finished_only(doc: dict[str, Any], finished: set[str]) -> dict[str, Any]:
    """``doc`` with only the benchmarks of finished tests."""
    return {**doc, "benchmarks": [b for b in doc.get("benchmarks", []) if b.get("fullname") in finished]}


def with_finished_workers(doc: dict[str, Any], runner: ProcessRunner) -> dict[str, Any]:
    """``doc`` and every case the workers finished that no test replayed (a run interrupted between workers)."""
    present = {case_key_of(b) for b in doc.get("benchmarks", [])}
    extra = [b for b in runner.document()["benchmarks"] if case_key_of(b) not in present]
    return {**doc, "benchmarks": [*doc.get("benchmarks", []), *extra]}


def case_key_of(benchmark: dict[str, Any]) -> tuple:
    info = benchmark.get("extra_info", {})
    return info.get("impl"), info.get("backend"), info.get("batch_size"), info.get("phase")


def pytest_sessionstart(session: pytest.Session) -> None:
    """pytest-benchmark's session exists only now (its configure hook runs last): adjust it."""
    config = session.config
    settings: BenchSettings | None = getattr(config, "mlpbench_settings", None)
    bs = adapter.session(config)
    if bs is None or settings is None:
        return
    if settings.worker:  # the controller's timing options and CPUs; it stores nothing itself
        spec = worker_spec()
        adapter.apply_timing_options(bs, spec["benchmark_options"])
        adapter.store_nothing(bs)
        pin_process(spec["cpus"])
        return
    # pytest-benchmark hands the option back as text ("1.0"): compared as text it never matched, so before
    # this fix --quick and worker processes silently timed 1 s per case instead of their shorter budgets
    default_max_time = float(config.getoption("benchmark_max_time")) == 1.0
    if settings.quick:  # short calibrated rounds, unless the user chose otherwise
        if default_max_time:
            adapter.set_max_time(bs, QUICK["max_time"])
        if config.getoption("benchmark_min_rounds") == 5:
            adapter.set_min_rounds(bs, QUICK["min_rounds"])
    elif settings.processes > 1 and default_max_time:  # each worker times every step case in short windows
        adapter.set_max_time(bs, WINDOW_MAX_TIME)


def pytest_collection_modifyitems(session: pytest.Session, config: pytest.Config, items: list[pytest.Item]) -> None:
    """A process that measures: the implementations it alternates per phase and batch size (bench/rotation.py);
    a worker also runs its cases in passes, every step case once per window (bench/windows.py)."""
    settings: BenchSettings | None = getattr(config, "mlpbench_settings", None)
    if settings is None or settings.spawns_workers:
        return
    config.mlpbench_rotation = rotation_sets(items) if settings.rotates else {}
    if not settings.worker:
        return
    keyed = [item for item in items if case_key(item) is not None]
    def phase_of(item: pytest.Item) -> str:
        return case_key(item)[3]

    passes = plan_passes(keyed, settings.windows, f"{settings.seed}-{worker_spec()['process']}", phase_of)
    items[:] = [item for one_pass in passes for item in one_pass]
    config.mlpbench_passes = PassClock(passes, settings.yardstick, adapter.timer(adapter.session(config)), phase_of)


def rotation_sets(items: list[pytest.Item]) -> dict[tuple[str, int], tuple[str, ...]]:
    """(phase, B) -> the implementations this process measures there (skipped cases left out)."""
    sets: dict[tuple[str, int], list[str]] = {}
    for item in items:
        key = case_key(item)
        if key is not None and not item.get_closest_marker("skip"):
            members = sets.setdefault((key[3], key[2]), [])
            members += [key[0]] if key[0] not in members else []
    return {key: tuple(members) for key, members in sets.items()}


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None) -> None:
    """In a worker: a yardstick reading where a pass begins (never inside a case's rounds)."""
    clock: PassClock | None = getattr(item.config, "mlpbench_passes", None)
    if clock is not None:
        clock.next_item()


def pytest_unconfigure(config: pytest.Config) -> None:
    limiter = getattr(config, "mlpbench_threads", None)
    if limiter is not None:
        limiter.__exit__(None, None, None)
    settings: BenchSettings | None = getattr(config, "mlpbench_settings", None)
    if settings is not None and settings.baseline is not None and not settings.worker:
        settings.baseline.remove()  # the controller made it; its workers have ended


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """impl x batch size x phase, from the registry and the options; unavailable ones are skipped with why."""
    if "phase" not in metafunc.fixturenames:
        return
    settings: BenchSettings = metafunc.config.mlpbench_settings
    full_run = metafunc.function.__name__ == "test_full_run"
    phases = ["full_run"] if full_run else list(step_phases())
    cases = []
    for cls in settings.impls:
        sizes = settings.full_run_sizes(cls) if full_run else settings.step_sizes(cls)
        for backend in settings.backends_of(cls):
            reason = _backend_skip_reason(cls, backend, settings) or (
                cls.layers_refusal(settings.layers) if get_workload(cls.workload).sized else None)
            label = cls.name if backend == cls.default_backend() else f"{cls.name}@{backend}"
            if get_workload(cls.workload).sized and settings.layers != SEED_LAYERS:  # the seed's ids stay as they were
                label = f"{label}-{layer_text(settings.layers)}"
            for batch_size in sizes:
                for phase in phases:
                    if phase not in settings.phases or phase not in cls.phases:
                        continue  # a phase it cannot time on its own: report nothing under that name
                    marks = [pytest.mark.skip(reason=f"{label}: {reason}")] if reason else []
                    cases.append(pytest.param(cls.name, backend, batch_size, phase, marks=marks,
                                              id=f"{label}-B{batch_size}-{phase}"))
    metafunc.parametrize("impl,backend,batch_size,phase", cases)


def _backend_skip_reason(cls: type, backend: str, settings: BenchSettings) -> str | None:
    """Why a case cannot run: the implementation is unavailable on that backend, or the backend is not this
    process's and no worker process of its own will run it."""
    if backend == cls.current_backend():
        return cls.unavailable_reason()
    if not settings.spawns_workers:
        return (f"the {backend} backend is fixed per process and this one runs {cls.current_backend()}: use "
                "--processes 2 or more, so each backend gets worker processes of its own")
    return cls.unavailable_reason_on(backend)


@pytest.hookimpl(tryfirst=True)
def pytest_runtestloop(session: pytest.Session) -> None:
    """Before the first measurement: the run folder (incomplete until the end) and, with several processes,
    every worker. Returns None, so pytest's own loop then runs the tests."""
    config = session.config
    settings: BenchSettings | None = getattr(config, "mlpbench_settings", None)
    if (settings is None or settings.worker or config.option.collectonly or not session.items
            or session.testsfailed or adapter.session(config) is None or adapter.session(config).disabled):
        return
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    write = reporter.write_line if reporter else print
    report = system_report()
    write(render_system(report))
    threads = settings.threads or current_blas_threads() or 1
    conditions = {"threads": threads, "threads_why": settings.threads_why or "the BLAS library's own choice",
                  "pinning": cpu_plan(threads, settings.pin)["why"] if settings.spawns_workers else
                  "not pinned: measured in this process", "yardstick": settings.yardstick,
                  "windows": settings.windows if settings.spawns_workers else 1,
                  "paired": settings.pair and settings.spawns_workers,
                  "grain": settings.grain,
                  "timer": adapter.timer_name(adapter.session(config))}
    write(f"mlp-bench: {threads} BLAS thread(s) ({conditions['threads_why']}); {conditions['pinning']}; yardstick "
          + ("on" if settings.yardstick else "off (--no-yardstick)") + f"; {conditions['windows']} window(s) per step "
          f"case and process; " + ("implementations share workers, paired" if conditions["paired"] else
                                      "a worker per implementation") + f"; alternated by {settings.grain}"
          + f"; MLP layers {layer_text(settings.layers)}")
    if settings.baseline is not None:
        base = settings.baseline
        write(f"mlp-bench: baseline {base.label} ({base.commit[:12] if base.commit else base.root}): every "
              f"implementation alternates with its own NAME@{base.label}")
    if any(clock in conditions["timer"] for clock in ("thread_time", "process_time")):
        write(f"mlp-bench: WARNING: timed in CPU seconds ({conditions['timer']}): steal and preemption stay out, but "
              "thread_time counts only the calling thread and process_time adds up every thread's seconds: right "
              "for single-threaded NumPy with --threads 1, not a wall time for frameworks that compute in threads "
              "of their own (docs/noise.md)")
    try:
        planned = check_plan(plan(session.items, share=settings.pair), settings,
                             float(adapter.timing_options(adapter.session(config)).get("max_time", 1.0)))
    except MLPBenchError as err:  # hours of work nobody asked for: stop before the run folder exists
        pytest.exit(f"mlp-bench: error: {err}", returncode=4)
    write(f"mlp-bench: planned about {duration_text(planned)} (estimated from the reference run's times, "
          "corrected as workers finish)")
    meta = {"quick": settings.quick, "processes": settings.processes, "system": report,
            "machine": machine_facts(), "conditions": conditions, "layers": list(settings.layers),
            "baseline": settings.baseline.record() if settings.baseline is not None else None}
    try:
        config.mlpbench_run_dir = new_run_dir(settings.results_dir, settings.tag, "benchmark", meta)
    except MLPBenchError as err:  # a folder the checks could not foresee (a read-only mount, a full disk)
        pytest.exit(f"mlp-bench: error: {err}", returncode=4)
    write(f"mlp-bench: run folder {config.mlpbench_run_dir} (marked incomplete until the run ends)")
    if COUNTS.read(config):  # counts under Valgrind, before any timing (bench/counts/session.py)
        config.mlpbench_counts = _measure_counts(session, settings, write)
    elif config.getoption(PYTEST_DEST + "counts_kernel") is not None:
        write("mlp-bench: warning: --counts-kernel applies only with --counts: no counts are measured")
    if settings.spawns_workers:
        runner = ProcessRunner(settings, config, config.mlpbench_run_dir, write, threads=threads)
        config.mlpbench_runner = runner
        try:
            runner.run_all(session.items)
        except MLPBenchError as err:  # the data the workers were to be handed: corrupt, unreadable
            pytest.exit(f"mlp-bench: error: {err}", returncode=4)


@pytest.hookimpl(tryfirst=True)
def pytest_pyfunc_call(pyfuncitem: pytest.Function) -> bool | None:
    """With worker processes, a benchmark test replays the workers' samples instead of measuring."""
    runner: ProcessRunner | None = getattr(pyfuncitem.config, "mlpbench_runner", None)
    key = case_key(pyfuncitem)
    if runner is None or key is None:
        return None
    runner.replay(pyfuncitem.funcargs["benchmark"], key)
    return True


def group_name(impl: str, phase: str, batch_size: int, layers: tuple[int, ...] = SEED_LAYERS,
               epochs: int | None = None, quick: bool = False) -> str:
    """A benchmark's pytest-benchmark group: its workload (with its model where that is not the seed's), phase
    and batch size, and the work's size where it is not the default (a full run's epochs, the quick profile), so
    that pytest-benchmark's own tables (`pytest-benchmark compare`, `--benchmark-compare`) put like with like."""
    workload = get_workload(get_implementation(impl, require_available=False).workload)
    model = f" {layer_text(layers)}" if workload.sized and layers != SEED_LAYERS else ""
    size = f" {epochs} epochs" if phase == "full_run" and epochs and epochs != workload.epochs else ""
    return f"{workload.name}{model} {phase} B={batch_size}{size}{' quick' if quick else ''}"


@pytest.fixture(autouse=True)
def _benchmark_group(request: pytest.FixtureRequest) -> None:
    """Set before the fixture makes its stats (which copy the group), in a measuring or a replaying process."""
    names = request.fixturenames
    if "benchmark" in names and "phase" in names:
        params = request.node.callspec.params
        settings = request.config.mlpbench_settings
        workload = get_implementation(params["impl"], require_available=False).workload
        request.getfixturevalue("benchmark").group = group_name(params["impl"], params["phase"], params["batch_size"],
                                                                settings.layers, settings.epochs.get(workload),
                                                                settings.quick)


@pytest.fixture(scope="session")
def bench(request: pytest.FixtureRequest) -> Iterator[Bench | None]:
    settings: BenchSettings = request.config.mlpbench_settings
    if getattr(request.config, "mlpbench_runner", None) is not None:
        yield None  # the workers measured; this process only replays their samples (pytest_pyfunc_call)
        return
    spec = worker_spec()
    try:
        data = (load_saved_dataset(spec["dataset"]) if spec and spec.get("dataset") else
                load_dataset(settings.mnist, allow_synthetic_fallback=True))
    except MLPBenchError as err:
        pytest.exit(f"mlp-bench: error: {err}", returncode=4)
    bs = adapter.session(request.config)
    state = Bench(settings, data, process=spec["process"] if spec else 1,
                  passes=getattr(request.config, "mlpbench_passes", None), clock=adapter.timer(bs),
                  rotation_sets=getattr(request.config, "mlpbench_rotation", {}),
                  window_s=float(bs.options["max_time"]) if bs is not None else WINDOW_MAX_TIME)
    request.config.mlpbench_state = state  # for the end-of-session line profiles
    yield state


def pytest_benchmark_update_machine_info(config: pytest.Config, machine_info: dict) -> None:
    machine_info["mlp_bench"] = machine_record()


@pytest.hookimpl(trylast=True)
def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    """After pytest-benchmark's own table: fill the run folder and print the pivot tables. An interrupted or
    failed run keeps what finished and stays marked incomplete."""
    bs = adapter.session(config)
    settings: BenchSettings | None = getattr(config, "mlpbench_settings", None)
    if bs is None or settings is None:
        return
    clock: PassClock | None = getattr(config, "mlpbench_passes", None)
    if clock is not None:  # a worker: the closing yardstick reading, then each window's yardstick
        clock.finish(bs.benchmarks)
    doc = config.hook.pytest_benchmark_generate_json(
        config=config, benchmarks=bs.benchmarks, include_data=True, machine_info=bs.get_machine_info(),
        commit_info=config.hook.pytest_benchmark_generate_commit_info(config=config))
    runner: ProcessRunner | None = getattr(config, "mlpbench_runner", None)
    if exitstatus != pytest.ExitCode.OK:  # interrupted or failed: what finished, and nothing cut off
        doc = finished_only(doc, config.mlpbench_finished)
        if runner is not None:
            doc = with_finished_workers(doc, runner)
    if settings.worker:
        write_json(Path(worker_spec()["out"]), doc, indent=None)
        return
    run_dir: Path | None = getattr(config, "mlpbench_run_dir", None)
    if run_dir is None:
        return
    complete = exitstatus == pytest.ExitCode.OK and bool(bs.benchmarks)
    if settings.baseline is not None:
        doc["mlp_bench_baseline"] = settings.baseline.record()
    if runner is not None:
        doc["mlp_bench_schedule"] = runner.schedule
        doc["mlp_bench_cpus"] = runner.cpus
        if runner.sequential is not None:
            doc["mlp_bench_sequential"] = runner.sequential
    if getattr(config, "mlpbench_counts", None) is not None:  # counts beside each case's timings
        attach_counts(doc, config.mlpbench_counts)
    if complete:
        _measure_roofline(doc, settings, terminalreporter)
    from bench.results import save_run  # the controller's: a worker never imports pandas or scipy

    text = save_run(doc, run_dir, complete=complete, **({"stopped_by": Stop.signal} if Stop.signal else {}))
    terminalreporter.write_sep("=", "mlp-bench results")
    terminalreporter.write_line(text)
    if settings.against is not None and complete:
        _print_against(terminalreporter, settings.against, run_dir)
    if settings.line_profile and complete:
        _line_profiles(terminalreporter, config, settings, run_dir)
    stopped = f"stopped by {Stop.signal}, " if Stop.signal else ""
    state = "" if complete else (f" INCOMPLETE ({stopped}pytest exit status {int(exitstatus)}: kept the "
                                 f"{len(doc['benchmarks'])} cases that finished; compare and table skip it unless "
                                 "named)")
    terminalreporter.write_line(f"\nrun folder: {run_dir}{state}")


def _print_against(terminalreporter: Any, against: Path, run_dir: Path) -> None:
    """--until-resolved --against RUN: the comparison the run measured for, as `mlp-bench compare` prints it."""
    from bench.compare import compare_frames, render_comparison
    from bench.results import ALPHA, THRESHOLD, load_run

    (doc_a, fa), (doc_b, fb) = load_run(against), load_run(run_dir)
    table = compare_frames(doc_a, fa, doc_b, fb)
    terminalreporter.write_sep("=", f"mlp-bench compare {against} {run_dir}")
    terminalreporter.write_line(render_comparison(table, ALPHA, THRESHOLD))


def _line_profiles(terminalreporter: Any, config: pytest.Config, settings: BenchSettings, run_dir: Path) -> None:
    """`--line-profile bw:N`: after every timed round, one line profile per line-profilable implementation."""
    from bench.profile import profile_transition, render

    bench_state: Bench | None = getattr(config, "mlpbench_state", None)
    if bench_state is None:  # the workers measured: this process has no trainer yet
        bench_state = Bench(settings, load_dataset(settings.mnist, allow_synthetic_fallback=True))
    terminalreporter.write_sep("=", f"mlp-bench line profiles: {settings.line_profile}")
    for cls in settings.impls:
        if cls.line_profile_refusal or cls.unavailable_reason():
            terminalreporter.write_line(f"{cls.name}: not line-profiled ({cls.line_profile_refusal or 'unavailable'})")
            continue
        trainer = bench_state.trainer(cls, settings.step_batch_sizes[cls.workload][0])
        try:
            result = profile_transition(trainer, settings.line_profile, steps=50)
        except MLPBenchError as err:
            terminalreporter.write_line(f"{cls.name}: not line-profiled: {err}")
            continue
        result.dump(run_dir / f"{cls.name}-{settings.line_profile.replace(':', '')}.lprof")
        terminalreporter.write_line(render(result))


def _measure_counts(session: pytest.Session, settings: BenchSettings, write: Any) -> dict:
    """--counts: the selected cases' counts under Valgrind; a bad setup stops the run in one line."""
    try:
        given = session.config.getoption(PYTEST_DEST + "processes") is not None
        return counts_of_session(session.items, settings, session.config.mlpbench_run_dir, write,
                                 settings.counts_kernel, processes_given=given)
    except MLPBenchError as err:
        pytest.exit(f"mlp-bench: error: {err}", returncode=4)


def _measure_roofline(doc: dict, settings: BenchSettings, terminalreporter: Any) -> None:
    """The roofline's machine numbers (sgemm rates, product and gather floors), measured now in this process
    with the run's BLAS threads, for the batch sizes of the MLP full runs; kept in the run's JSON."""
    sizes = sorted({info["batch_size"] for info in (b.get("extra_info", {}) for b in doc.get("benchmarks", []))
                    if info.get("phase") == "full_run" and info.get("workload") == "mlp"})
    if not sizes or not settings.roofline:
        return
    from bench.roofline import measure_machine

    terminalreporter.write_line("mlp-bench: measuring the roofline (sgemm rates, product and gather floors) ...")
    doc["mlp_bench_roofline"] = measure_machine(sizes, epochs=settings.epochs.get("mlp", 35), layers=settings.layers)
