"""The controlled half of the noise study (docs/noise.md): fresh processes under each measurement condition,
the conditions interleaved in a seeded order so that the machine's drift hits them alike.

    python scripts/noise_probe.py --processes 6 --batch-sizes 500,20000 --out probe.json

Each process times ``train_step`` of numpy-tuned and numpy-v3-sliced (the median of seven 0.15 s rounds each)
and the suite's yardstick beside every round, and reads the noise counters; printed at the end: per condition
and batch size, the between-process spread of each implementation raw and through the yardstick (slope 1),
the spread of the within-process ratio of the two, steal share and involuntary switches per second.
Conditions: 1 BLAS thread unpinned, 1 thread pinned to the last CPU, 1 thread pinned with a fixed hash seed
(memory placement of Python objects), 2 threads."""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
IMPLS = ("numpy-tuned", "numpy-v3-sliced")
CONDITIONS = {"1 thread": {"threads": 1}, "1 thread, pinned": {"threads": 1, "pin": True},
              "1 thread, pinned, PYTHONHASHSEED=0": {"threads": 1, "pin": True, "hashseed": "0"},
              "2 threads": {"threads": 2}}


def child(threads: int, batch_size: int) -> dict:
    """One process's measurement (run with --child)."""
    from threadpoolctl import threadpool_limits

    threadpool_limits(threads)
    from bench.noise import Counters
    from bench.yardstick import Yardstick
    from impl.config import TrainConfig
    from impl.data import load_dataset
    from impl.registry import get_implementation

    data = load_dataset(os.environ.get("MLPBENCH_MNIST"))
    yardstick = Yardstick()
    trainers = {}
    for name in IMPLS:
        trainer = get_implementation(name)(TrainConfig.make(batch_size=batch_size, n_train=data.n_train), data)
        trainer.warm_up()
        trainer.reset()
        trainers[name] = (trainer, [b for b in trainer.batches(0) if len(b) == batch_size][:8])
    start = Counters.now()
    times: dict[str, list[float]] = {name: [] for name in IMPLS}
    yard = []
    for _ in range(7):
        block = yardstick.measure()
        yard.append(np.sqrt(block["gemm_s"] * block["elementwise_s"]))
        for name, (trainer, batches) in trainers.items():
            n, t0 = 0, time.perf_counter()
            while time.perf_counter() - t0 < 0.15:
                trainer.train_step(batches[n % len(batches)])
                n += 1
            times[name].append((time.perf_counter() - t0) / n)
    return {"times": {k: float(np.median(v)) for k, v in times.items()}, "yardstick": float(np.median(yard)),
            **Counters.now().since(start)}


def main() -> int:
    from bench.options import BATCH_SIZES, PROCESSES

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    PROCESSES.but(help="fresh processes per condition and batch size", default=6, default_help="6").add_to(parser)
    BATCH_SIZES.but(default=[500, 20000], default_help="500,20000").add_to(parser)
    parser.add_argument("--out", type=Path)
    parser.add_argument("--child", nargs=2, type=int, metavar=("THREADS", "B"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(*args.child)))
        return 0
    cpus = sorted(os.sched_getaffinity(0))
    rows = []
    jobs = [(name, int(b)) for name in CONDITIONS for b in args.batch_sizes]
    for p in range(args.processes):
        random.Random(p).shuffle(jobs)
        for name, size in jobs:
            condition = CONDITIONS[name]
            env = {**os.environ, **({"PYTHONHASHSEED": condition["hashseed"]} if "hashseed" in condition else {})}
            command = [sys.executable, __file__, "--child", str(condition["threads"]), str(size)]
            if condition.get("pin"):
                command = ["taskset", "-c", str(cpus[-1]), *command]
            done = subprocess.run(command, capture_output=True, text=True, env=env, cwd=ROOT, check=True)
            rows.append({"condition": name, "B": size, "process": p, **json.loads(done.stdout.splitlines()[-1])})
            print(f"process {p + 1}/{args.processes}: {name}, B={size}", file=sys.stderr)
    if args.out:
        args.out.write_text(json.dumps(rows, indent=1))
    print(summarise(rows))
    return 0


def summarise(rows: list[dict]) -> str:
    import pandas as pd

    out = []
    for (name, size), group in pd.DataFrame(rows).groupby(["condition", "B"], sort=False):
        yard = np.log(group["yardstick"].to_numpy())
        cells = {"condition": name, "B": size}
        logs = {}
        for impl in IMPLS:
            logs[impl] = np.log([t[impl] for t in group["times"]])
            cells[f"{impl} raw"] = np.std(logs[impl], ddof=1)
            cells[f"{impl} / yardstick"] = np.std(logs[impl] - yard, ddof=1)
        cells["ratio of the two"] = np.std(logs[IMPLS[0]] - logs[IMPLS[1]], ddof=1)
        cells["steal share"] = group["noise_steal_share"].max()
        cells["invol. switches/s"] = float(np.median(group["noise_involuntary_switches"] / group["noise_seconds"]))
        out.append(cells)
    return pd.DataFrame(out).to_markdown(index=False, floatfmt=".3f")


if __name__ == "__main__":
    sys.exit(main())
