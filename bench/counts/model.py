"""From Callgrind's events to the counts a case reports, and the estimated-cycles model.

The model is iai-callgrind's (and CodSpeed's instrumentation mode's) ``Estimated Cycles``: every instruction
fetch and data access that hits L1 costs 1 cycle, one that misses L1 and hits the last level 5, one that misses
the last level too (a RAM access) 35. Why those weights: they are the published, widely used ones, so numbers
here read like theirs; the absolute scale is rough (35 cycles is low for RAM on a modern core), which is why
docs/counts.md measures how estimated cycles and wall time agree rather than claiming they are equal. Branch
mispredictions are reported beside it, not weighted into it (Callgrind's branch predictor is a simple model).
"""

from __future__ import annotations

from typing import Any

#: The metrics, in the order shown: name -> (short label, what it is).
METRICS: dict[str, tuple[str, str]] = {
    "instructions": ("Ir", "instructions executed"),
    "data_reads": ("Dr", "data reads"),
    "data_writes": ("Dw", "data writes"),
    "l1_misses": ("L1m", "L1 misses (instruction + data reads + data writes)"),
    "ll_misses": ("LLm", "last-level cache misses (instruction + data reads + data writes)"),
    "branch_mispredicts": ("Bm", "mispredicted conditional and indirect branches"),
    "est_cycles": ("cyc", "estimated cycles: L1 hits + 5 x LL hits + 35 x LL misses"),
}
L1_WEIGHT, LL_WEIGHT = 5, 35
MODEL = "estimated cycles = (Ir + Dr + Dw - L1m) + 5 x (L1m - LLm) + 35 x LLm (iai-callgrind's weights)"


def metrics_of(events: dict[str, int]) -> dict[str, float]:
    """The metrics of a set of Callgrind events (Ir Dr Dw I1mr D1mr D1mw ILmr DLmr DLmw Bc Bcm Bi Bim)."""
    e = {name: float(events.get(name, 0)) for name in
         ("Ir", "Dr", "Dw", "I1mr", "D1mr", "D1mw", "ILmr", "DLmr", "DLmw", "Bcm", "Bim")}
    l1 = e["I1mr"] + e["D1mr"] + e["D1mw"]
    ll = e["ILmr"] + e["DLmr"] + e["DLmw"]
    accesses = e["Ir"] + e["Dr"] + e["Dw"]
    return {"instructions": e["Ir"], "data_reads": e["Dr"], "data_writes": e["Dw"], "l1_misses": l1,
            "ll_misses": ll, "branch_mispredicts": e["Bcm"] + e["Bim"],
            "est_cycles": (accesses - l1) + L1_WEIGHT * (l1 - ll) + LL_WEIGHT * ll}


def per_unit(events: dict[str, int], empty: dict[str, int], units: float) -> dict[str, float]:
    """Metrics of the counted calls less the toggling alone (the 0-call dump), per step or per epoch."""
    diff = {name: events.get(name, 0) - empty.get(name, 0) for name in events}
    return {name: value / units for name, value in metrics_of(diff).items()}


def cost_weight(metric: str) -> float:
    """What one unit of a metric costs in estimated cycles (the noise floor of a miss metric's verdict)."""
    return {"l1_misses": L1_WEIGHT, "ll_misses": LL_WEIGHT, "branch_mispredicts": 10.0}.get(metric, 1.0)


def describe(record: dict[str, Any]) -> str:
    """One line of a case's counts: ``Ir 9.85M  cyc 12.1M  L1m 0.24M ...``."""
    return "  ".join(f"{METRICS[m][0]} {record[m] / 1e6:.3f}M" for m in METRICS if m in record)
