"""``pytest bench/ --benchmark-only --counts``: the selected cases' counts, measured in one Valgrind process
before the timings, saved as ``counts.json`` in the run folder and beside each case's timings in
pytest-benchmark's JSON (``extra_info["counts"]``). Counts come beside timings: a run without --counts carries
timings only; add --quick to keep the timings short when the counts are what you want.
"""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from bench.counts import callgrind
from bench.counts.model import MODEL, per_unit
from bench.counts.probe import EMPTY
from bench.options import Option
from bench.plan import unit_seconds
from bench.roofline.flops import flops_per_sample
from impl.config import N_TRAIN
from impl.errors import MLPBenchError
from impl.phases import PHASE_TABLE
from impl.registry import get_implementation
from impl.workloads import get_workload

COUNTS = Option("--counts", "also measure each selected case's work under Valgrind (instructions, data accesses, "
                "cache misses, branch mispredictions, estimated cycles): deterministic counts, per step or per "
                "epoch, saved beside the timings; see docs/counts.md", switch=True)
def kernel_name(text: str) -> str:
    """``sandybridge`` -> ``Sandybridge``; anything else not in :data:`callgrind.KERNELS` is a usage error."""
    for name in callgrind.KERNELS:
        if text.strip().lower() == name.lower():
            return name
    raise argparse.ArgumentTypeError(f"expected one of {', '.join(callgrind.KERNELS)}, got {text!r}")


COUNTS_KERNEL = Option("--counts-kernel", "with --counts: the OpenBLAS kernel the counts run under Valgrind: "
                       "Sandybridge (AVX without FMA, which Valgrind 3.19 runs about 13x faster), Haswell (AVX2 with "
                       "FMA, what OpenBLAS picks under Valgrind on AVX2 and AVX-512 machines) or machine (OpenBLAS's "
                       "own pick); recorded, and counts of different kernels are not comparable; docs/counts.md",
                       check=kernel_name, default=callgrind.DEFAULT_KERNEL,
                       default_help=callgrind.DEFAULT_KERNEL, metavar="K")
FILE = "counts.json"
#: :func:`cost`'s model of a case under Valgrind: a fixed part, and a multiple of the native time.
CASE_VALGRIND_S, VALGRIND_SLOWDOWN = 2.0, 150.0
#: Counted calls per step case (the warm-up pass runs as many again): fewer at the largest batches, whose calls
#: cost most under Valgrind; a full run counts one epoch.
CALLS = {500: 2, 5000: 2}
FULL_RUN_EPOCHS = 1


#: Why each framework is not counted, as measured under Valgrind 3.19 on the 2-vCPU Xeon VM (docs/counts.md).
FRAMEWORK_REFUSALS = {
    "impl.torch_mlp.": "PyTorch's CPU kernels run FMA instructions, which Valgrind 3.19 executes through slow helpers: "
                       "a B=500 forward and train step took 70 s (about 1.3 million instructions a second), so a "
                       "B=20000 case would take tens of minutes",
    "impl.jax_mlp.": "XLA runs the computation on its own threads, outside the calls the client requests delimit: a "
                     "B=500 forward counted 0.1 million instructions (NumPy's: 15 million), not its work",
    "impl.keras.": "TensorFlow's import alone took 70 s under Valgrind; its cases were not tried further",
}


def refusal(impl: str, backend: str) -> str | None:
    """Why counts cannot measure a case (None: they can)."""
    cls = get_implementation(impl, require_available=False)
    if not cls.__module__.startswith("impl.numpy_mlp."):
        why = next((text for prefix, text in FRAMEWORK_REFUSALS.items() if cls.__module__.startswith(prefix)),
                   "only the NumPy implementations are counted")
        return f"counts: not measured: {why}"
    if backend != cls.default_backend():
        return f"counts: not measured: backend {backend} (counts run the default backend only)"
    return cls.unavailable_reason()


def plan(params: Iterable[dict[str, Any]]) -> tuple[list[dict[str, Any]], dict[str, str]]:
    """The probe's cases and the refused ones (with why), from the selected cases' parameters."""
    cases, refused = [], {}
    for p in params:
        case_id = f"{p['impl']}-B{p['batch_size']}-{p['phase']}"
        reason = refusal(p["impl"], p["backend"])
        if reason:
            refused[case_id] = reason
            continue
        full = p["phase"] == "full_run"
        cases.append({"id": case_id, "impl": p["impl"], "batch_size": p["batch_size"], "phase": p["phase"],
                      "calls": 1 if full else CALLS.get(p["batch_size"], 1),
                      **({"epochs": FULL_RUN_EPOCHS} if full else {})})
    return cases, refused


def process_count() -> int:
    """Valgrind processes to run side by side: one per CPU this process may use (Valgrind runs one thread)."""
    return max(1, len(os.sched_getaffinity(0)))


def cost(case: dict[str, Any]) -> float:
    """The planned seconds of a case under Valgrind: a fixed part (its trainer, the toggles) and a multiple of
    the native time of what runs instrumented (the warm-up and counted calls, a backward case's setup forward; a
    full run's epochs and its warm-up step), the native times from the reference run as the run plan reads them.
    Measured on the 2-vCPU Xeon VM (2026-12-08): 2 s per small case, and 60-750x the native time, about 150x for
    the cases that weigh (docs/counts.md)."""
    impl, phase, size = case["impl"], case["phase"], case["batch_size"]
    if phase == "full_run":
        native = case.get("epochs", 1) * unit_seconds(impl, "full_run", size) + unit_seconds(impl, "train_step", size)
    else:
        native = 2 * case["calls"] * (unit_seconds(impl, phase, size)
                                      + (unit_seconds(impl, "forward", size) if phase == "backward" else 0.0))
    return CASE_VALGRIND_S + VALGRIND_SLOWDOWN * native


def split(cases: list[dict[str, Any]], n: int) -> list[list[dict[str, Any]]]:
    """The cases in ``n`` groups of about equal cost, largest first to the lightest group (a deterministic
    greedy split, so the same selection runs in the same groups); each group keeps the selection's order."""
    groups: list[list[int]] = [[] for _ in range(max(1, min(n, len(cases))))]
    load = [0.0] * len(groups)
    for index in sorted(range(len(cases)), key=lambda i: -cost(cases[i])):
        lightest = load.index(min(load))
        groups[lightest].append(index)
        load[lightest] += cost(cases[index])
    return [[cases[i] for i in sorted(group)] for group in groups if group]


def measure(params: Iterable[dict[str, Any]], *, mnist: str | None, seed: int, layers: tuple[int, ...],
            run_dir: Path, timeout_s: float, write: Callable[[str], None], kernel: str = callgrind.DEFAULT_KERNEL,
            processes: int | None = None) -> dict[str, Any]:
    """Measure the cases under Valgrind, in ``processes`` Valgrind processes side by side (default: one per
    CPU); the counts document (also written to the run folder)."""
    version = callgrind.valgrind_version()  # first: a missing Valgrind is a one-line error before any work
    cases, refused = plan(params)
    for case_id, reason in refused.items():
        write(f"mlp-bench: {case_id}: {reason}")
    doc: dict[str, Any] = {"valgrind": version, "model": MODEL, "threads": 1, "kernel": kernel, "cases": {},
                           "not_measured": refused}
    if cases:
        groups = split(cases, processes or process_count())
        write(f"mlp-bench: counts of {len(cases)} case(s) under {version}, OpenBLAS kernel {kernel}, in "
              f"{len(groups)} Valgrind process(es) side by side (start-up about 15 s each) ...")
        start = time.perf_counter()
        spec = {"mnist": mnist, "seed": seed, "layers": list(layers), "epochs": {}}

        def run(number: int, group: list[dict[str, Any]]) -> tuple[dict[str, dict[str, int]], list[str], dict]:
            log = run_dir / f"counts-valgrind-{number}.log"
            found = callgrind.run_probe(dict(spec, cases=group), log, timeout_s, kernel)
            write(f"mlp-bench: counts: process {number} of {len(groups)} done ({len(group)} case(s), "
                  f"{time.perf_counter() - start:.0f} s; log {log.name})")
            return found

        with ThreadPoolExecutor(len(groups)) as pool:
            results = list(pool.map(run, range(1, len(groups) + 1), groups))
        dumps = {name: events for found, _, _ in results for name, events in found.items()}
        _, caches, facts = results[0]
        doc.update(caches=caches, facts=facts, processes=len(groups), seconds=round(time.perf_counter() - start, 1))
        for case in cases:
            if case["id"] not in dumps or f"{case['id']}|{EMPTY}" not in dumps:
                raise MLPBenchError(f"counts: no Callgrind dump for {case['id']} (see counts-valgrind-*.log)")
            units = case["calls"] * case.get("epochs", 1)
            doc["cases"][case["id"]] = {
                "impl": case["impl"], "batch_size": case["batch_size"], "phase": case["phase"],
                "unit": "epoch" if case["phase"] == "full_run" else "step", "calls": case["calls"],
                **work_per_unit(case, layers, facts.get("n_train", N_TRAIN)),
                **per_unit(dumps[case["id"]], dumps[f"{case['id']}|{EMPTY}"], units),
                "raw": dumps[case["id"]], "raw_empty": dumps[f"{case['id']}|{EMPTY}"]}
        write(f"mlp-bench: counts done in {doc['seconds']:.0f} s")
    callgrind.write_json(run_dir / FILE, doc)
    return doc


def work_per_unit(case: dict[str, Any], layers: tuple[int, ...], n_train: int) -> dict[str, int]:
    """Samples and FLOP (the roofline's convention: matrix products only) in one step, or one epoch of a full
    run: what the counts are divided by to read as work per sample and per FLOP."""
    cls = get_implementation(case["impl"])
    model = get_workload(cls.workload).layers_of(tuple(layers))
    per_sample = flops_per_sample(model)
    if case["phase"] == "full_run":
        return {"samples": n_train, "flop": per_sample["total"] * n_train}
    return {"samples": case["batch_size"],
            "flop": PHASE_TABLE[case["phase"]].flops_of(per_sample, case["batch_size"])}


def attach(bench_doc: dict[str, Any], counts: dict[str, Any]) -> None:
    """Each case's counts (or why none) into its extra_info, and the run's counts facts beside machine_info."""
    bench_doc["mlp_bench_counts"] = {k: v for k, v in counts.items() if k not in ("cases", "not_measured")}
    for bench in bench_doc.get("benchmarks", []):
        info = bench.get("extra_info", {})
        case_id = f"{info.get('impl')}-B{info.get('batch_size')}-{info.get('phase')}"
        if case_id in counts["cases"]:
            info["counts"] = {k: v for k, v in counts["cases"][case_id].items() if k not in ("raw", "raw_empty")}
        elif case_id in counts["not_measured"]:
            info["counts_not_measured"] = counts["not_measured"][case_id]


def counts_of_session(items: list[Any], settings: Any, run_dir: Path, write: Callable[[str], None],
                      kernel: str = callgrind.DEFAULT_KERNEL, processes_given: bool = True) -> dict[str, Any]:
    """The counts of a pytest session's selected, unskipped benchmark cases (bench/conftest.py calls this); the
    note on --processes only where the user gave it."""
    if settings.processes > 1 and processes_given:
        write(f"mlp-bench: note: counts are deterministic and measured once per case: --processes "
              f"{settings.processes} applies to the timings only")
    if settings.threads not in (None, 1):
        write(f"mlp-bench: warning: counts run one BLAS thread: --threads {settings.threads} applies to the timings "
              "only")
    params = [item.callspec.params for item in items if hasattr(item, "callspec")
              and "phase" in item.callspec.params and not item.get_closest_marker("skip")]
    return measure(params, mnist=settings.mnist, seed=settings.seed, layers=settings.layers, run_dir=run_dir,
                   timeout_s=settings.worker_timeout, write=write, kernel=kernel)
