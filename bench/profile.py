"""`mlp-bench profile`: line-profile one layer transition of one implementation, or of two side by side.

Transitions follow the seed's numbering: ``fw:N`` runs from layer N-1 into layer N (N = 1..3), ``bw:N`` from
layer N+1 back to layer N (its ``_bw_prop_Np1_to_N``, N = 0..2). Each implementation declares, through
``Trainer.transitions()``, which function performs a transition and which value of its first argument selects
it; this module has no per-implementation code. Only calls with that value are counted, so one layer's profile
is not mixed with the other layers' calls to the same function.
"""

from __future__ import annotations

import argparse
import contextlib
import inspect
import itertools
import re
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import tabulate as tabulate_module
from line_profiler import LineProfiler, LineStats
from tabulate import tabulate

from bench.environment import blas_threads, current_blas_threads, machine_facts
from bench.options import (
    BATCH_SIZE,
    IMPL,
    LAYERS,
    RESULTS_DIR,
    add_data_options,
    add_run_options,
    load_data,
    positive_int,
)
from bench.runs import atomic_write_text, new_run_dir, update_run_record
from bench.tables import UNITS
from impl.config import SEED_LAYERS, TrainConfig, layer_text
from impl.contract import Trainer, Transition
from impl.errors import ConfigError, MLPBenchError
from impl.registry import get_implementation
from impl.workloads import get_workload

WARMUP_STEPS = 3  # unprofiled train steps after warm_up(): BLAS threads and caches settle before counting
_TRANSITION = re.compile(r"(fw|bw):(-?\d+)")


class NotProfilableError(ConfigError):
    """The implementation runs its transitions compiled (a framework, a numba kernel): no Python lines to time."""


@dataclass(frozen=True)
class LineRow:
    lineno: int
    hits: int  # 0 for lines that never ran (comments, a branch not taken at this layer)
    seconds: float
    source: str


@dataclass
class ProfileResult:
    """One transition of one implementation, profiled over ``steps`` train steps."""

    impl: str
    transition: str
    function: str  # qualified name of the profiled function
    filename: str
    first_lineno: int
    batch_size: int
    steps: int
    layer: int | None  # value of the function's first argument that was counted (None: every call)
    selector: str  # that argument's name
    rows: list[LineRow]  # every non-blank source line of the function, in order
    step_seconds: float  # mean wall time of a whole train step while profiling (profiler overhead included)
    unit: str = "ms"
    stats: LineStats | None = field(default=None, repr=False)

    @property
    def total_seconds(self) -> float:
        return sum(row.seconds for row in self.rows)

    @property
    def seconds_per_step(self) -> float:
        return self.total_seconds / self.steps

    def dump(self, path: Path) -> None:
        """The raw line_profiler stats (``python -m line_profiler FILE`` shows them)."""
        if self.stats is not None:
            self.stats.to_file(path)


# -- validation -----------------------------------------------------------------------------------------
def parse_transition(text: str) -> str:
    """``fw:N`` / ``bw:N`` exactly; whether N exists is up to the implementation (:func:`resolve_transition`)."""
    match = _TRANSITION.fullmatch(text.strip())
    if not match:
        raise ConfigError(f"invalid transition {text!r}: write fw:N (layer N-1 into N) or bw:N (layer N+1 to N)")
    return f"{match[1]}:{int(match[2])}"


def describe_transition(name: str) -> str:
    direction, n = name.split(":")
    n_layer = int(n)
    if direction == "fw":
        return f"forward, layer {n_layer - 1} into layer {n_layer}"
    return f"backward, layer {n_layer + 1} to layer {n_layer}"


def check_profilable(cls: type[Trainer]) -> None:
    """Refuse implementations whose transitions run compiled, pointing to the per-phase benchmarks."""
    reason = cls.line_profile_refusal
    if reason:
        name = cls.name or cls.__name__
        hint = "" if "--benchmark-only" in reason else (
            f"; time its phases with `pytest bench/ --benchmark-only --impl {name}` instead")
        raise NotProfilableError(f"{name} cannot be line-profiled: {reason}{hint}")


def resolve_transition(trainer: Trainer, name: str) -> Transition:
    available = trainer.transitions()
    name = parse_transition(name)
    refusal = type(trainer).backward_profile_refusal
    if name.startswith("bw:") and name not in available and refusal:
        raise NotProfilableError(f"{_impl_name(trainer)} cannot line-profile {name}: {refusal}")
    if name not in available:
        valid = ", ".join(available) or "none declared"
        raise ConfigError(f"{_impl_name(trainer)} has no transition {name!r}; valid: {valid} "
                          "(fw:N = layer N-1 into N, bw:N = layer N+1 to N)")
    return available[name]


def _impl_name(trainer: Trainer) -> str:
    return type(trainer).name or type(trainer).__name__


# -- profiling ------------------------------------------------------------------------------------------
def _batch_stream(trainer: Trainer) -> Iterator[Any]:
    """The shared shuffled batch order, epoch after epoch, for as many steps as asked."""
    for epoch in itertools.count():
        yield from trainer.batches(epoch)


@contextlib.contextmanager
def _count_only_layer(trainer: Trainer, transition: Transition, profiler: LineProfiler) -> Iterator[None]:
    """Shadow the trainer's method with one that profiles only the calls selecting ``transition.layer``."""
    fn = transition.function
    name = fn.__name__
    original = getattr(trainer, name, None)
    if getattr(original, "__func__", None) is not fn:
        raise ConfigError(f"{_impl_name(trainer)}: transition function {fn.__qualname__} is not a method of the "
                          "trainer, so its calls cannot be isolated")
    selector = _selector(original)

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        value = args[0] if args else kwargs.get(selector)
        if transition.layer is None or value == transition.layer:
            return profiler.runcall(original, *args, **kwargs)
        return original(*args, **kwargs)

    missing = object()
    shadowed = trainer.__dict__.get(name, missing)
    setattr(trainer, name, wrapper)
    try:
        yield
    finally:
        if shadowed is missing:
            delattr(trainer, name)
        else:
            setattr(trainer, name, shadowed)


def _selector(method: Callable[..., Any]) -> str:
    params = list(inspect.signature(method).parameters)
    return params[0] if params else ""


def _rows(fn: Callable[..., Any], stats: LineStats) -> list[LineRow]:
    """Every non-blank source line of ``fn`` with its hits and time; lines that never ran get zeros."""
    lines, first = inspect.getsourcelines(fn)
    measured: dict[int, tuple[int, int]] = {}
    for entries in stats.timings.values():  # one function per profiler; duplicate labels merge
        for lineno, hits, ticks in entries:
            old_hits, old_ticks = measured.get(lineno, (0, 0))
            measured[lineno] = (old_hits + hits, old_ticks + ticks)
    indent = min(len(s) - len(s.lstrip()) for s in lines if s.strip())
    rows = []
    for offset, text in enumerate(lines):
        if text.strip():
            hits, ticks = measured.get(first + offset, (0, 0))
            rows.append(LineRow(first + offset, hits, ticks * stats.unit, text.rstrip()[indent:]))
    return rows


def profile_transition(trainer: Trainer, transition: str, steps: int = 200, unit: str = "ms",
                       warmup_steps: int = WARMUP_STEPS) -> ProfileResult:
    """Warm up, then line-profile one transition over ``steps`` train steps (no printing; for the CLI and
    pytest). The trainer is reset before counting, and its weights have moved on afterwards."""
    check_profilable(type(trainer))
    if unit not in UNITS:
        raise ConfigError(f"unknown unit {unit!r}; choose one of: {', '.join(UNITS)}")
    if steps < 1:
        raise ConfigError(f"steps must be at least 1 (got {steps})")
    name = parse_transition(transition)
    declared = resolve_transition(trainer, name)
    trainer.warm_up()
    for idx in itertools.islice(_batch_stream(trainer), warmup_steps):
        trainer.train_step(idx)
    trainer.reset()

    profiler = LineProfiler()
    profiler.add_function(declared.function)  # may give it NOP-padded bytecode: harmless, keeps twins apart
    batches = itertools.islice(_batch_stream(trainer), steps)
    with _count_only_layer(trainer, declared, profiler):
        start = time.perf_counter()
        for idx in batches:
            trainer.train_step(idx)
        step_seconds = (time.perf_counter() - start) / steps
    stats = profiler.get_stats()
    rows = _rows(declared.function, stats)
    fn = declared.function
    if not any(row.hits for row in rows):
        raise MLPBenchError(f"{_impl_name(trainer)}: {name} is declared as {fn.__qualname__} with first argument "
                            f"{declared.layer}, but no such call ran in {steps} steps; check its transitions()")
    return ProfileResult(impl=_impl_name(trainer), transition=name, function=fn.__qualname__,
                         filename=inspect.getsourcefile(fn) or "?", first_lineno=rows[0].lineno,
                         batch_size=trainer.config.batch_size, steps=steps, layer=declared.layer,
                         selector=_selector(getattr(trainer, fn.__name__)), rows=rows,
                         step_seconds=step_seconds, unit=unit, stats=stats)


# -- rendering ------------------------------------------------------------------------------------------
def _num(value: float) -> str:
    """About four significant digits, never scientific notation."""
    if value == 0:
        return "0"
    digits = 0
    while abs(value) * 10 ** digits < 1000 and digits < 6:
        digits += 1
    return f"{value:,.{digits}f}"


def _table(rows: list[list[str]], headers: list[str], markdown: bool) -> str:
    """Source indentation must survive: tabulate >= 0.10 takes a keyword, 0.9 a module setting."""
    align = ["right"] * (len(headers) - 1) + ["left"]
    fmt = "github" if markdown else "simple"
    if "preserve_whitespace" in inspect.signature(tabulate).parameters:
        return tabulate(rows, headers=headers, tablefmt=fmt, colalign=align, disable_numparse=True,
                        preserve_whitespace=True)
    old, tabulate_module.PRESERVE_WHITESPACE = tabulate_module.PRESERVE_WHITESPACE, True
    try:
        return tabulate(rows, headers=headers, tablefmt=fmt, colalign=align, disable_numparse=True)
    finally:
        tabulate_module.PRESERVE_WHITESPACE = old


def _code(text: str, markdown: bool) -> str:
    if not markdown:
        return text
    tick = "``" if "`" in text else "`"
    return f"{tick}{text.replace('|', chr(92) + '|')}{tick}"


def _relative(filename: str) -> str:
    with contextlib.suppress(ValueError):
        return str(Path(filename).resolve().relative_to(Path.cwd().resolve()))
    return filename


def render_one(result: ProfileResult, markdown: bool = False, unit: str | None = None) -> str:
    unit = unit or result.unit
    scale = UNITS[unit]
    total = result.total_seconds
    counted = "every call" if result.layer is None else f"only calls with {result.selector}={result.layer}"
    head = f"{result.impl}  {result.transition} ({describe_transition(result.transition)})"
    facts = (f"{result.function} in {_relative(result.filename)}:{result.first_lineno}; B={result.batch_size}, "
             f"{result.steps} profiled train steps, {counted}.\nTransition: {_num(result.seconds_per_step / scale)} "
             f"{unit} per step (sum of its lines); whole train step: {_num(result.step_seconds / scale)} {unit} "
             "(wall, profiler on).")
    rows = [[str(r.lineno), str(r.hits) if r.hits else "", _num(r.seconds / scale) if r.hits else "",
             _num(r.seconds / r.hits / scale) if r.hits else "",
             f"{100 * r.seconds / total:.1f}" if r.hits and total else "", _code(r.source, markdown)]
            for r in result.rows]
    headers = ["line", "hits", f"time ({unit})", f"per hit ({unit})", "% of transition", "source"]
    table = _table(rows, headers, markdown)
    if markdown:
        return f"### {head}\n\n{facts.replace(chr(10), '  ' + chr(10))}\n\n{table}\n"
    return f"{head}\n{facts}\n\n{table}\n"


def render(results: ProfileResult | Sequence[ProfileResult], markdown: bool = False,
           unit: str | None = None) -> str:
    """One profile, or several one after the other plus a summary of time per step (no line alignment is
    implied between different implementations' source)."""
    results = [results] if isinstance(results, ProfileResult) else list(results)
    parts = [render_one(r, markdown, unit) for r in results]
    if len(results) > 1:
        unit = unit or results[0].unit
        base = results[0].seconds_per_step
        rows = [[r.impl, r.function, _num(r.seconds_per_step / UNITS[unit]),
                 f"{r.seconds_per_step / base:.2f}" if base else ""] for r in results]
        headers = ["implementation", "function", f"{results[0].transition} per step ({unit})",
                   f"ratio to {results[0].impl}"]
        summary = tabulate(rows, headers=headers, tablefmt="github" if markdown else "simple", disable_numparse=True,
                           colalign=["left", "left", "right", "right"])
        parts.append(f"### Summary\n\n{summary}\n" if markdown else f"summary\n{summary}\n")
    return "\n".join(parts)


# -- command --------------------------------------------------------------------------------------------
def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("profile", help="line-profile one layer transition (or compare two "
                                   "implementations)", description=__doc__,
                                   formatter_class=argparse.RawDescriptionHelpFormatter)
    which = parser.add_mutually_exclusive_group(required=True)
    IMPL.add_to(which)
    which.add_argument("--compare", metavar="A,B", help="two implementations, profiled one after the other")
    parser.add_argument("--transition", required=True, metavar="fw:N|bw:N",
                        help="fw:N = layer N-1 into N (N=1..3 for the seed's four layers); bw:N = layer N+1 to N "
                             "(N=0..2)")
    BATCH_SIZE.add_to(parser)
    LAYERS.add_to(parser)
    parser.add_argument("--steps", type=positive_int, default=200, help="profiled train steps (200)")
    parser.add_argument("--unit", choices=list(UNITS), default="ms", help="time unit of the tables (ms)")
    parser.add_argument("--markdown", action="store_true", help="print Markdown instead of plain tables")
    RESULTS_DIR.add_to(parser)
    add_run_options(parser)
    add_data_options(parser)
    parser.set_defaults(run=run)


def _names(args: argparse.Namespace) -> list[str]:
    if args.impl is not None:
        return [args.impl.strip()]
    names = [n.strip() for n in args.compare.split(",") if n.strip()]
    if len(names) != 2 or names[0] == names[1]:
        raise ConfigError(f"--compare needs exactly two different implementations, as A,B (got {args.compare!r})")
    return names


def run(args: argparse.Namespace) -> int:
    classes = [get_implementation(name, require_available=False) for name in _names(args)]
    for cls in classes:  # refuse compiled implementations even where their framework is not installed
        check_profilable(cls)
    classes = [get_implementation(cls.name) for cls in classes]
    transition = parse_transition(args.transition)
    if args.steps < 1:
        raise ConfigError(f"steps must be at least 1 (got {args.steps})")
    workloads = {cls.workload for cls in classes}
    if len(workloads) > 1:
        raise ConfigError(f"--compare needs two implementations of one workload (got {', '.join(workloads)})")
    batch_size = args.batch_size if args.batch_size is not None else get_workload(classes[0].workload).batch_size
    config = TrainConfig.make(batch_size=batch_size, seed=args.seed, layers=args.layers)
    data = load_data(args)
    results = []
    with blas_threads(args.threads):
        for cls in classes:  # one trainer at a time: two copies of the data at B=15000 are not needed
            trainer = cls(config, data)
            resolve_transition(trainer, transition)
            results.append(profile_transition(trainer, transition, args.steps, args.unit))
            del trainer
        threads = current_blas_threads()
    meta = {"impls": [r.impl for r in results], "transition": transition, "layers": layer_text(config.layers),
            "batch_size": batch_size,
            "steps": args.steps, "unit": args.unit, "seed": args.seed, "threads": threads, "dataset": data.kind,
            "data_source": data.source,
            "profiles": {r.impl: {"function": r.function, "seconds_per_step": r.seconds_per_step,
                                  "step_seconds": r.step_seconds} for r in results},
            "machine": machine_facts()}
    model = "" if config.layers == SEED_LAYERS else f"-{layer_text(config.layers)}"
    path = new_run_dir(args.results_dir, tag=f"profile-{transition}-B{batch_size}{model}", kind="profile", meta=meta)
    for r in results:
        r.dump(path / f"{r.impl}-{transition.replace(':', '')}.lprof")
    markdown = render(results, markdown=True)
    atomic_write_text(path / "profile.md", markdown)
    update_run_record(path, complete=True)
    text = render(results, markdown=args.markdown)
    warnings = [f"WARNING: {w}" for w in data.warnings]
    print("\n".join([text, *warnings, f"saved: {path}"]))
    return 0

