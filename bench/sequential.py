"""`--until-resolved`: more process rounds only where a verdict is still open, with the error rate held over
the looks.

After the first ``--processes`` rounds the controller looks at the verdicts: the run's own "x fastest" (every
case against the fastest of its phase and batch size), with ``--against RUN`` the comparison with a saved
run, or with ``--baseline REV`` each implementation's change over its base measured in the same workers.
Cases still ``cannot resolve`` get one more worker process each (their groups, interleaved as before); then
it looks again, until every case resolves, the next round would overrun ``--budget`` (minutes of worker
time for the whole run, the first rounds included) or ``MAX_LOOKS`` looks were taken.

Every look is a chance for a false verdict, so the run's alpha is spent over the looks: a linear spending
function with ``MAX_LOOKS`` equal shares (Bonferroni's bound, which holds however correlated the looks are),
so each look's intervals are at 1 - alpha / MAX_LOOKS (99.9 % for alpha 0.01). A run measured this way
records it (``mlp_bench_sequential`` in its JSON), and its tables and comparisons use that alpha ever after.
tests/test_sequential.py simulates it: A/A false verdicts and the power to find a true 10 % change.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from bench.settings import MAX_LOOKS

ALPHA = 0.01


def alpha_per_look(alpha: float = ALPHA, max_looks: int = MAX_LOOKS) -> float:
    return alpha / max_looks


def until_resolved(open_cases: Callable[[], set], measure_more: Callable[[set], None],
                   cost_of: Callable[[set], float], spent: Callable[[], float], budget_s: float,
                   write: Callable[[str], None] = lambda _: None, max_looks: int = MAX_LOOKS) -> dict[str, Any]:
    """The loop: look, stop or measure the open cases once more, look again. Returns what happened."""
    history: list[dict[str, Any]] = []
    look = 0
    while True:
        look += 1
        still_open = open_cases()
        history.append({"look": look, "open": len(still_open), "spent_s": round(spent(), 1)})
        cost = cost_of(still_open) if still_open else 0.0
        if not still_open:
            stopped = "no case left that more processes here could resolve"
        elif look >= max_looks:
            stopped = f"the last of {max_looks} looks was taken"
        elif spent() + cost > budget_s:
            stopped = (f"the budget: one more round ({cost / 60:.1f} min) would pass {budget_s / 60:g} min "
                       f"(spent {spent() / 60:.1f} min)")
        else:
            stopped = ""
        left = "" if stopped else (f", next round about {cost / 60:.1f} min, budget left "
                                   f"{(budget_s - spent()) / 60:.1f} min")
        write(f"mlp-bench look {look}/{max_looks}: {len(still_open)} case(s) still cannot resolve{left}"
              + (f"; stopped: {stopped}" if stopped else ""))
        if stopped:
            return {"max_looks": max_looks, "looks": look, "alpha": ALPHA, "alpha_per_look": alpha_per_look(
                ALPHA, max_looks), "stopped": stopped, "history": history,
                "open_at_end": sorted(list(k) if isinstance(k, tuple) else k for k in still_open)}
        measure_more(still_open)


def run_until_resolved(runner: Any, groups: list) -> dict[str, Any]:
    """The loop over a real run's worker processes (bench/workers.py's ProcessRunner)."""
    from bench.results import load_run

    settings = runner.settings
    marker = {"max_looks": MAX_LOOKS}
    saved = load_run(settings.against) if settings.against else None  # read once, not at every look

    def open_cases() -> set:
        doc = {**runner.document(), "mlp_bench_sequential": marker}
        if settings.baseline is not None:
            return open_against_base({**doc, "mlp_bench_baseline": settings.baseline.record()})
        return open_against(doc, saved) if saved else open_within(doc)

    def groups_of(keys: set) -> list:
        return [g for g in groups if any(k in keys for k in g.keys)]

    def measure_more(keys: set) -> None:
        process = max(s["process"] for s in runner.schedule) + 1
        chosen = groups_of(keys)
        runner.run_round(process, chosen, len(runner.schedule) + len(chosen))

    result = until_resolved(open_cases, measure_more, lambda keys: sum(runner.seconds_of(g) for g in groups_of(keys)),
                            runner.spent_seconds, settings.budget_min * 60, runner.write)
    result["against"] = str(settings.against) if settings.against else None
    result["budget_min"] = settings.budget_min
    return result


def open_within(doc: dict[str, Any]) -> set:
    """Cases whose verdict against the fastest of their phase and batch size is open, and those fastest."""
    from bench.results import against_fastest, tidy_frame

    table = against_fastest(tidy_frame(doc), doc)
    keys = set()
    for _, group in table.groupby(["workload", "phase", "batch_size"], sort=False):
        unresolved = group[group["verdict"] == "cannot resolve"]
        if len(unresolved):
            keys |= {(r.impl_name, r.backend, int(r.batch_size), r.phase) for r in unresolved.itertuples()}
            best = group.iloc[0]
            keys.add((best["impl_name"], best["backend"], int(best["batch_size"]), best["phase"]))
    return keys


def open_against(doc: dict[str, Any], saved: tuple[dict[str, Any], Any]) -> set:
    """Cases whose comparison with the saved run is open and can still close: only this run's side is measured
    more, so a case whose interval would stay too wide even with endless processes here (the saved run's own
    processes bound it) is left as it is."""
    from bench.compare import compare_frames
    from bench.results import tidy_frame

    doc_a, frame_a = saved
    table = compare_frames(doc_a, frame_a, doc, tidy_frame(doc))
    unresolved = table[(table["verdict"] == "cannot resolve") & table["b_can_resolve"]]
    return {(r.impl, r.backend, int(r.batch_size), r.phase) for r in unresolved.itertuples()}


def open_against_base(doc: dict[str, Any]) -> set:
    """With --baseline: the cases whose change over base is still open, on both sides (they rotate together)."""
    from bench.results import base_changes, tidy_frame

    table = base_changes(tidy_frame(doc), doc)
    if table.empty:
        return set()
    unresolved = table[table["verdict"] == "cannot resolve"]
    label = doc["mlp_bench_baseline"]["label"]
    return {(impl, r.backend, int(r.batch), r.phase) for r in unresolved.itertuples()
            for impl in (r.impl, f"{r.impl}@{label}")}
