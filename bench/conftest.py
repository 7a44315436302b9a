"""pytest plugin of the benchmark suite: options, parametrisation from the registry, the trainer fixture,
pytest-benchmark hooks (machine_info), and the end-of-session tables and run folder.

Implementations are known only through ``impl.registry``: a new implementation appears here unchanged.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bench import results
from bench.environment import blas_threads, gpu_summary, machine_facts
from bench.harness import Bench
from bench.settings import QUICK, BenchSettings, add_options
from impl.data import load_dataset
from impl.errors import MLPBenchError

STEP_PHASES = ("prepare", "forward", "backward", "forward_backward", "train_step")


def pytest_addoption(parser: pytest.Parser) -> None:
    add_options(parser)


def pytest_configure(config: pytest.Config) -> None:
    try:
        settings = BenchSettings.from_config(config)
    except MLPBenchError as err:
        raise pytest.UsageError(str(err)) from None
    config.mlpbench_settings = settings
    if settings.threads is not None:
        os.environ["MLPBENCH_THREADS"] = str(settings.threads)  # frameworks read it before they start
        config.mlpbench_threads = blas_threads(settings.threads)
        config.mlpbench_threads.__enter__()
    bs = getattr(config, "_benchmarksession", None)
    if bs is not None and bs.group_by == "group":  # pytest-benchmark's table: one group per phase and size
        bs.group_by = "param:phase,param:batch_size"
    if bs is not None and settings.quick:  # short calibrated rounds, unless the user chose otherwise
        if config.getoption("benchmark_max_time") == 1.0:
            bs.options["max_time"] = QUICK["max_time"]
        if config.getoption("benchmark_min_rounds") == 5:
            bs.options["min_rounds"] = QUICK["min_rounds"]


def pytest_unconfigure(config: pytest.Config) -> None:
    limiter = getattr(config, "mlpbench_threads", None)
    if limiter is not None:
        limiter.__exit__(None, None, None)


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """impl x batch size x phase, from the registry and the options; unavailable ones are skipped with why."""
    if "phase" not in metafunc.fixturenames:
        return
    settings: BenchSettings = metafunc.config.mlpbench_settings
    full_run = metafunc.function.__name__ == "test_full_run"
    phases = ["full_run"] if full_run else list(STEP_PHASES)
    cases = []
    for cls in settings.impls:
        sizes = (settings.full_run_batch_sizes if full_run else settings.step_batch_sizes)[cls.workload]
        reason = cls.unavailable_reason()
        for batch_size in sizes:
            for phase in phases:
                if phase not in settings.phases or phase not in cls.phases:
                    continue  # a phase it cannot time on its own: report nothing under that name
                marks = [pytest.mark.skip(reason=f"{cls.name}: {reason}")] if reason else []
                cases.append(pytest.param(cls.name, batch_size, phase, marks=marks,
                                          id=f"{cls.name}-B{batch_size}-{phase}"))
    metafunc.parametrize("impl,batch_size,phase", cases)


@pytest.fixture(scope="session")
def bench(request: pytest.FixtureRequest) -> Iterator[Bench]:
    settings: BenchSettings = request.config.mlpbench_settings
    try:
        data = load_dataset(settings.mnist, allow_synthetic_fallback=True)
    except MLPBenchError as err:
        pytest.exit(f"mlp-bench: error: {err}", returncode=4)
    state = Bench(settings, data)
    request.config.mlpbench_state = state  # for the end-of-session line profiles
    yield state


def pytest_benchmark_update_machine_info(config: pytest.Config, machine_info: dict) -> None:
    machine_info["mlp_bench"] = {**machine_facts(), "gpus": gpu_summary()}


@pytest.hookimpl(trylast=True)
def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    """After pytest-benchmark's own table: write the run folder and print the pivot tables."""
    bs = getattr(config, "_benchmarksession", None)
    settings: BenchSettings | None = getattr(config, "mlpbench_settings", None)
    if bs is None or settings is None or not bs.benchmarks:
        return
    doc = config.hook.pytest_benchmark_generate_json(
        config=config, benchmarks=bs.benchmarks, include_data=True, machine_info=bs.get_machine_info(),
        commit_info=config.hook.pytest_benchmark_generate_commit_info(config=config))
    _measure_roofline(doc, settings, terminalreporter)
    run_dir, text = results.save_run(doc, settings.results_dir, settings.tag, quick=settings.quick)
    terminalreporter.write_sep("=", "mlp-bench results")
    terminalreporter.write_line(text)
    if settings.line_profile:
        _line_profiles(terminalreporter, config, settings, run_dir)
    terminalreporter.write_line(f"\nrun folder: {run_dir}")


def _line_profiles(terminalreporter: Any, config: pytest.Config, settings: BenchSettings, run_dir: Path) -> None:
    """`--line-profile bw:N`: after every timed round, one line profile per line-profilable implementation."""
    from bench.profile import profile_transition, render

    bench_state: Bench | None = getattr(config, "mlpbench_state", None)
    if bench_state is None:
        return
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


def _measure_roofline(doc: dict, settings: BenchSettings, terminalreporter: Any) -> None:
    """The roofline's machine numbers (sgemm rates, product and gather floors), measured now in this process
    with the run's BLAS threads, for the batch sizes of the MLP full runs; kept in the run's JSON."""
    sizes = sorted({info["batch_size"] for info in (b.get("extra_info", {}) for b in doc.get("benchmarks", []))
                    if info.get("phase") == "full_run" and info.get("workload") == "mlp"})
    if not sizes or settings.quick:
        return
    from bench.roofline import measure_machine

    terminalreporter.write_line("mlp-bench: measuring the roofline (sgemm rates, product and gather floors) ...")
    doc["mlp_bench_roofline"] = measure_machine(sizes, epochs=settings.epochs.get("mlp", 35))
