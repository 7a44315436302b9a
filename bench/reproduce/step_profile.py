"""step-profile (Step III's line timings): where the backward transition from L2 to L1 spends its time before Step
III, line-profiled as `mlp-bench profile` does it, at the article's small and big batch size. The article found
"t2" (sigma' recomputed from Z_N, after a bias row is added to it) dominating big batches."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.environment import blas_threads
from bench.profile import ProfileResult, profile_transition
from bench.reproduce.claims import Measure
from bench.reproduce.common import Context, Summary, build_trainer, markdown_table, read_parts, run_parts
from impl.config import TrainConfig

NAME = "step-profile"
TITLE = "Step III's line timings: the backward transition L2 -> L1 before Step III"
IMPL = "numpy-v2-f"  # the Step II state Step III starts from (V1's backward pass)
TRANSITION = "bw:1"
BATCH_SIZES = (500, 15000)  # the article's line timings: B=500 and "a batch-size of 15000"
STEPS = {500: 200, 15000: 20}  # train steps profiled (about 2 s of B=15000 steps)
MARKS = ("t1", "t2", "t3", "t4", "t5", "t6")  # the article's labels, kept as comments on the lines they name


def key(size: int) -> str:
    return f"{IMPL}-{TRANSITION.replace(':', '')}-B{size}"


def line_shares(result: ProfileResult) -> dict[str, float]:
    """Each labelled line's share of the transition's time (its ``# tN`` comment names it)."""
    total = result.total_seconds
    shares = {}
    for row in result.rows:
        mark = row.source.split("#", 1)[1].strip().split(":")[0] if "#" in row.source else ""
        if mark in MARKS:
            shares[mark] = row.seconds / total if total else float("nan")
    return shares


def run(ctx: Context) -> None:
    folder = ctx.experiment_dir(NAME)
    data = ctx.data()
    units = []
    for size in BATCH_SIZES:
        def work(size: int = size) -> dict[str, Any]:
            config = TrainConfig.make(batch_size=size, seed=0, n_train=data.n_train, layers=ctx.layers)
            with blas_threads(ctx.threads):
                result = profile_transition(build_trainer(IMPL, config, data), TRANSITION,
                                            steps=min(STEPS[size], 2 if ctx.profile.name == "quick" else 10**6))
            return {"impl": IMPL, "transition": TRANSITION, "batch_size": size, "steps": result.steps,
                    "seconds_per_step": result.seconds_per_step, "shares": line_shares(result),
                    "lines": [{"source": r.source.strip(), "hits": r.hits, "seconds": r.seconds} for r in result.rows]}
        units.append((key(size), work))
    run_parts(ctx, folder, units, "step-profile")


def summarise(folder: Path, record: dict[str, Any], link: Callable[[Path], str]) -> Summary:
    summary = Summary(NAME)
    parts = read_parts(folder / NAME)
    summary.missing = [key(size) for size in BATCH_SIZES if key(size) not in parts]
    if not parts:
        summary.not_run_reason = "step-profile not measured"
        return summary
    rows = []
    for size in BATCH_SIZES:
        part = parts.get(key(size))
        if part is None:
            continue
        for mark, share in part["shares"].items():
            summary.measures[f"{NAME}.share.{mark}@{size}"] = Measure(share, note=f"{part['steps']} steps profiled")
        rows.append([f"B={size}", part["steps"], f"{part['seconds_per_step'] * 1e3:.3f}",
                     *(f"{part['shares'].get(m, float('nan')):.0%}" for m in MARKS)])
    text = [f"`mlp-bench profile --impl {IMPL} --transition {TRANSITION}` at each batch size: each labelled line's "
            "share of the transition's line-profiled time (t1 bias row added to Z_N, t2 sigma' recomputed, t3 "
            "W^T delta, t4 elementwise product and slice, t5 gradient, t6 regularisation).", "",
            markdown_table(["batch", "steps", "ms per call", *MARKS], rows)]
    summary.section = "\n".join(text)
    return summary
