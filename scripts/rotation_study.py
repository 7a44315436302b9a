"""The rotation studies behind docs/noise.md: which location statistic to summarise a process's calls with, and
whether alternating implementations call by call changes what each one measures.

    python scripts/rotation_study.py locations RUN
    python scripts/rotation_study.py bias --impl A,B,... [--phases P,...] [--batch-sizes B,...] [--processes N]

``locations``: for a run measured with rotation and several processes, per phase and batch size, the
between-process spread (sd of log) of one implementation's per-process time and of the ratio of two
implementations rotated together, for each statistic of bench/windows.py's ``LOCATIONS`` (pooled over
implementations and pairs).

``bias``: in each of N fresh processes (one BLAS thread, pinned like a worker), for every phase and batch size,
each implementation timed alone (a block of all its calls, as windows did) and alternated with the others at
each of ``--grains`` (default: call, block:4), in interleaved windows; per implementation and grain, the ratio
grain / alone, pooled over processes as a geometric mean with its 99 % interval (Student t over the processes)
and whether it moved (the interval excludes 1).
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.stats import t as student_t

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import options  # noqa: E402
from bench.compare import resolve_run  # noqa: E402
from bench.results import load_run, process_windows  # noqa: E402
from bench.runs import DEFAULT_RESULTS_DIR  # noqa: E402
from bench.windows import LOCATIONS  # noqa: E402

WINDOWS = 3  # interleaved alone / alternated windows per set and process in the bias study
WINDOW_S = 0.25  # seconds per implementation and window (the suite's default)


def process_locations(bench: dict, location: str) -> np.ndarray:
    """log per-process location: the mean over the process's windows of the window's statistic."""
    stat = LOCATIONS[location]
    return np.array([np.mean([math.log(stat(np.asarray(w))) for w in windows if len(w)])
                     for windows in process_windows(bench)])


def locations(run: Path) -> pd.DataFrame:
    doc, _ = load_run(run)
    sets: dict[tuple, list[dict]] = {}
    for bench in doc["benchmarks"]:
        info = bench["extra_info"]
        if info.get("rotation") and info["phase"] != "full_run":
            sets.setdefault((info["phase"], info["batch_size"]), []).append(bench)
    rows = []
    for (phase, size), benches in sorted(sets.items()):
        row = {"phase": phase, "batch": size, "processes": len(process_locations(benches[0], "median"))}
        for location in LOCATIONS:
            logs = [process_locations(b, location) for b in benches]
            alone = np.sqrt(np.mean([np.var(x, ddof=1) for x in logs]))
            ratio = np.sqrt(np.mean([np.var(a - b, ddof=1) for a, b in itertools.combinations(logs, 2)]))
            row[f"{location}: one"] = round(float(alone), 4)
            row[f"{location}: ratio"] = round(float(ratio), 4)
        rows.append(row)
    return pd.DataFrame(rows)


def bias_worker(args: argparse.Namespace) -> None:
    """One process of the bias study: prints one JSON line of per-implementation log(alternated / alone)."""
    from threadpoolctl import threadpool_limits

    from bench.harness import Bench
    from bench.rotation import Grain, Member, rotate
    from bench.settings import BenchSettings
    from impl.data import load_dataset
    from impl.phases import PHASE_TABLE
    from impl.registry import get_implementation

    threadpool_limits(1)
    if hasattr(os, "sched_setaffinity") and len(os.sched_getaffinity(0)) > 1:
        os.sched_setaffinity(0, {max(os.sched_getaffinity(0))})
    data = load_dataset(os.environ.get("MLPBENCH_MNIST"), allow_synthetic_fallback=True)
    settings = BenchSettings(impls=(), workloads=(), step_batch_sizes={}, full_run_batch_sizes={}, epochs={"mlp": 1},
                             rounds=None, step_rounds=30, phases=(), threads=1, layers=(784, 70, 30, 10), seed=42,
                             mnist=None, results_dir=Path("."), tag="study", quick=False, full=False)
    bench = Bench(settings, data)
    bench.rotation_sets = {("any", 0): ("keep",)}  # keep every trainer alive
    out = {}
    for size, phase in itertools.product(args.batch_sizes, args.phases):
        members = []
        for name in args.impl:
            if phase not in get_implementation(name).phases:
                continue  # a phase it cannot time on its own (keras-cpu's backward)
            trainer = bench.live_trainer(get_implementation(name), size)
            trainer.reset()
            timed = PHASE_TABLE[phase].build(trainer, bench.step_batches(trainer))
            members.append(Member(name, timed.target, timed.setup))
        modes = ["alone", *args.grains]
        logs = {m.label: {mode: [] for mode in modes} for m in members}
        for window in range(WINDOWS):
            for mode in (modes if window % 2 == 0 else modes[::-1]):
                if mode == "alone":
                    calls = {}
                    for member in members:  # each alone: every call of one before the next
                        calls.update(rotate([member], WINDOW_S, f"{args.seed}-{window}"))
                else:
                    calls = rotate(members, WINDOW_S * len(members), f"{args.seed}-{window}", grain=Grain.parse(mode))
                for label, c in calls.items():
                    logs[label][mode].append(math.log(float(np.median(c.seconds))))
        for label, by_mode in logs.items():
            for mode in args.grains:
                out[f"{label}|{phase}|{size}|{mode}"] = float(np.mean(by_mode[mode]) - np.mean(by_mode["alone"]))
    print(json.dumps(out))


def bias(args: argparse.Namespace) -> pd.DataFrame:
    per_process: dict[str, list[float]] = {}
    for process in range(args.processes):
        command = [sys.executable, __file__, "bias-worker", "--grains", ",".join(args.grains), "--phases",
                   ",".join(args.phases), options.IMPLS.flag, ",".join(args.impl), options.BATCH_SIZES.flag,
                   ",".join(map(str, args.batch_sizes)), options.SEED.flag, str(process)]
        done = subprocess.run(command, capture_output=True, text=True, check=True)
        for key, value in json.loads(done.stdout.strip().splitlines()[-1]).items():
            per_process.setdefault(key, []).append(value)
        print(f"process {process + 1}/{args.processes} done", file=sys.stderr)
    rows = []
    for key, values in per_process.items():
        impl, phase, size, mode = key.split("|")
        x = np.array(values)
        half = float(student_t.ppf(0.995, len(x) - 1)) * float(np.std(x, ddof=1)) / math.sqrt(len(x))
        moved = "yes" if x.mean() - half > 0 or x.mean() + half < 0 else "no"
        rows.append({"impl": impl, "phase": phase, "batch": int(size), "grain": mode,
                     "grain / alone": f"{math.exp(x.mean()):.3f} [{math.exp(x.mean() - half):.3f}, "
                                      f"{math.exp(x.mean() + half):.3f}] {moved}"})
    table = pd.DataFrame(rows).pivot_table(index=["phase", "batch", "impl"], columns="grain", values="grain / alone",
                                           aggfunc="first")
    return table.reset_index()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="study", required=True)
    loc = sub.add_parser("locations")
    loc.add_argument("run")
    for name in ("bias", "bias-worker"):
        b = sub.add_parser(name)
        options.IMPLS.add_to(b, required=True)
        b.add_argument("--phases", type=lambda s: s.split(","), default=["forward", "backward", "train_step"])
        options.BATCH_SIZES.but(default=(500, 20000), default_help="500,20000").add_to(b)
        options.PROCESSES.but(default=4, default_help="4").add_to(b)
        options.SEED.add_to(b)
        b.add_argument("--grains", type=lambda s: s.split(","), default=["call", "block:4"])
    args = parser.parse_args()
    if args.study == "locations":
        print(locations(resolve_run(args.run, DEFAULT_RESULTS_DIR)).to_markdown(index=False))
    elif args.study == "bias":
        print(bias(args).to_markdown(index=False))
    else:
        bias_worker(args)


if __name__ == "__main__":
    main()
