"""Implementations timed call by call in rotation inside one worker: where the ratio of two is steady.

The host's disturbances come in bursts of tens of milliseconds to seconds, and a worker's placement moves every
call it makes. Two implementations timed in windows of their own each meet other bursts; timed call by call,
alternately, in one process, a burst touches both alike. Measured on the AMD EPYC VM (docs/noise.md): the
per-process times of numpy-tuned moved by 6.5 % between processes, the ratio of two implementations alternated
call by call in each process by 0.3-0.6 %.

A *rotation set* is what one worker measures of one phase at one batch size: every implementation of its
group. Each window starts with every member's untimed warm-up calls, then runs cycles: every cycle calls each
member once, in a fresh seeded order (so no member always follows the same other), each call timed on its
own, after the untimed setup a phase may need (the backward pass's forward state). ``block:N`` runs N
consecutive calls of a member before the next (the alternation bias study's control, docs/noise.md).

Full runs alternate epoch by epoch (:func:`alternate_epochs`): each trainer keeps its own state, a run's time
is the sum of its epochs. A trainer whose ``fit`` is its own (a framework's loop) runs whole instead, at its
place in the order.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from impl.errors import MLPBenchError

WARMUP_CALLS = 2  # untimed calls of every member before a window's cycles (caches, allocator, thread pools)
MIN_CYCLES = 5
#: A block never holds more calls than take this long (at least one): at B=500 a block of 64 forward calls takes
#: about 60 ms, and the bias study found no bias left at 64 calls (docs/noise.md); calls of 50 ms (B=20000)
#: alternate one by one, each after its untimed call.
BLOCK_MAX_S = 0.064
MAX_CYCLES = 5000


@dataclass(frozen=True)
class Grain:
    """How finely the members alternate: ``call`` (one timed call each per cycle) or ``block:N`` (one untimed
    call, then up to N timed calls of one member, no more than :data:`BLOCK_MAX_S` of them, before the next).
    Alternated call by call, a call at B=500 ran 4-25 % slower than alone, at 16 calls a block still 2-16 %,
    at 64 no resolvable bias was left (the alternation bias study, docs/noise.md): the default is
    ``block:64``."""

    calls: int = 1

    @classmethod
    def parse(cls, text: str) -> Grain:
        if text == "call":
            return cls(1)
        name, _, count = text.partition(":")
        if name == "block" and count.isdigit() and int(count) >= 1:
            return cls(int(count))
        raise MLPBenchError(f"--grain {text!r}: use call or block:N (N >= 1 timed calls of one implementation in a "
                            "row, after one untimed call)")

    @property
    def text(self) -> str:
        return "call" if self.calls == 1 and not self.warm else f"block:{self.calls}"

    @property
    def warm(self) -> int:
        """Untimed calls at the start of each block: none when members alternate call by call."""
        return 0 if self.calls == 1 else 1

    def block_for(self, call_s: float) -> int:
        """Timed calls in one block of a member whose calls take ``call_s``: at most ``calls``, and no more than
        fit in :data:`BLOCK_MAX_S` (at least one)."""
        if self.calls == 1:
            return 1
        return int(max(1, min(self.calls, BLOCK_MAX_S // call_s if call_s > 0 else self.calls)))


@dataclass(frozen=True)
class Member:
    """One implementation in a rotation: its timed call and, where the phase needs one, an untimed setup
    returning the call's (args, kwargs)."""

    label: str
    target: Callable[..., Any]
    setup: Callable[[], tuple[tuple[Any, ...], dict[str, Any]]] | None = None

    def call(self, clock: Callable[[], float]) -> float:
        args, kwargs = self.setup() if self.setup is not None else ((), {})
        start = clock()
        self.target(*args, **kwargs)
        return clock() - start


@dataclass
class Calls:
    """One member's timed calls in one window, each tagged with its cycle and its position in that cycle."""

    seconds: list[float] = field(default_factory=list)
    cycles: list[int] = field(default_factory=list)
    positions: list[int] = field(default_factory=list)

    def add(self, seconds: float, cycle: int, position: int) -> None:
        self.seconds.append(seconds)
        self.cycles.append(cycle)
        self.positions.append(position)


def cycles_for(cycle_seconds: float, budget_s: float, min_cycles: int = MIN_CYCLES,
               max_cycles: int = MAX_CYCLES) -> int:
    """Cycles that fill ``budget_s`` at ``cycle_seconds`` a cycle, within [min_cycles, max_cycles]."""
    if cycle_seconds <= 0:
        return max_cycles
    return int(min(max_cycles, max(min_cycles, budget_s // cycle_seconds)))


def rotate(members: Sequence[Member], budget_s: float, seed: str, clock: Callable[[], float] = time.perf_counter,
           grain: Grain = Grain(), min_cycles: int = MIN_CYCLES, max_cycles: int = MAX_CYCLES,
           warmup: int = WARMUP_CALLS) -> dict[str, Calls]:
    """One window of a rotation set: warm-ups, then cycles until about ``budget_s`` seconds of calls (at least
    ``min_cycles``). Returns every member's calls by label."""
    if len({m.label for m in members}) != len(members):
        raise MLPBenchError(f"a rotation set names an implementation twice: {[m.label for m in members]}")
    warm = {m.label: [m.call(clock) for _ in range(max(warmup, 1))] for m in members}
    block = {label: grain.block_for(min(times)) for label, times in warm.items()}
    cycle_seconds = sum(min(times) * (block[label] + grain.warm) for label, times in warm.items())
    cycles = cycles_for(cycle_seconds, budget_s, min_cycles, max_cycles)
    order, rng = list(members), random.Random(seed)
    out = {m.label: Calls() for m in members}
    for cycle in range(cycles):
        rng.shuffle(order)
        for position, member in enumerate(order):
            for _ in range(grain.warm):
                member.call(clock)
            for _ in range(block[member.label]):
                out[member.label].add(member.call(clock), cycle, position)
    return out


@dataclass
class EpochRuns:
    """One member's full run assembled from its alternated epochs (what ``Trainer.fit`` returns)."""

    per_epoch_seconds: list[float] = field(default_factory=list)
    epoch_losses: list[float] = field(default_factory=list)
    positions: list[int] = field(default_factory=list)  # its place in each epoch's order
    final_learn_rate: float = float("nan")
    alternated: bool = True

    @property
    def seconds(self) -> float:
        return float(sum(self.per_epoch_seconds))


def own_fit(trainer: Any) -> bool:
    """Whether the trainer's ``fit`` is its own (a framework's training loop) rather than the contract's
    epoch loop: such a run cannot be cut into epochs without changing what it does."""
    owner = next(k for k in type(trainer).__mro__ if "fit" in vars(k))
    return owner.__name__ != "Trainer"


def alternate_epochs(trainers: dict[str, Any], epochs: int, seed: str) -> dict[str, EpochRuns]:
    """One full run of every trainer, alternated epoch by epoch in a fresh seeded order each epoch; each
    trainer's epochs are timed by its own ``fit(1)`` (bookkeeping left out, as in a whole ``fit``). Trainers
    with a ``fit`` of their own run whole, once, at their place in the first epoch's order."""
    rng = random.Random(seed)
    runs = {label: EpochRuns(alternated=not own_fit(t)) for label, t in trainers.items()}
    order = list(trainers)
    for epoch in range(epochs):
        rng.shuffle(order)
        for position, label in enumerate(order):
            trainer, run = trainers[label], runs[label]
            if not run.alternated and epoch:
                continue
            fit = trainer.fit(None if not run.alternated else 1)
            run.per_epoch_seconds += list(fit.per_epoch_seconds)
            run.epoch_losses += list(fit.epoch_losses)
            run.positions += [position] * len(fit.per_epoch_seconds)
            run.final_learn_rate = fit.final_learn_rate
    return runs
