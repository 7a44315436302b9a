"""`mlp-bench reproduce` (rerun the articles' experiments into one run folder with report.md) and
`mlp-bench report` (one report from several run folders)."""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import os
import subprocess
import sys
import time
import traceback
from pathlib import Path
from typing import Any

from bench import options
from bench.compare import resolve_run
from bench.environment import machine_record
from bench.options import positive_int
from bench.reproduce import ladder
from bench.reproduce.claims import CLAIMS_FILE, load_claims
from bench.reproduce.common import FULL, QUICK, Context, layers_of, profile_of, write_csv
from bench.reproduce.report import EXPERIMENTS, KIND, REPORT_FILE, claims_section, machine_identity, render
from bench.runs import atomic_write_text, check_writable, new_run_dir, read_run, update_run_record
from impl.data import load_dataset
from impl.errors import ConfigError, MLPBenchError
from impl.registry import get_implementation

DEFAULT_PROCESSES = 5  # the ladder's worker processes per case
DEFAULT_IMPL = "numpy-tuned"  # the fastest implementation the equivalence tests cover (results/reference)
PROJECT_ROOT = Path(__file__).resolve().parents[2]


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    names = ", ".join(EXPERIMENTS)
    parser = subparsers.add_parser(
        "reproduce", help="rerun the articles' experiments; report.md sets every claim beside our measurement",
        description="Run the seed articles' experiments (" + names + ") into a new run folder (kind "
                    "'reproduction') holding report.md, the raw data per experiment and PNG figures.")
    parser.add_argument("--only", metavar="NAMES", help=f"comma-separated experiments (default: all): {names}")
    parser.add_argument("--quick", action="store_true",
                        help="tiny epochs, sweeps and a 20,000-image training subset: the same code paths and "
                             "report, for CI and a first look; its figures are marked quick")
    parser.add_argument("--from", dest="from_run", metavar="RUN",
                        help="take the ladder's times from this saved benchmark run (a folder or a run id, e.g. "
                             "reference) instead of measuring them")
    options.IMPL.but(help="implementation of the long training runs (lambda2)",
                     default_help=f"{DEFAULT_IMPL}, the fastest one the equivalence tests cover").add_to(parser)
    parser.add_argument("--seeds", type=positive_int,
                        help=f"seeds of accuracy-35 and lambda2 (default {FULL.seeds}; --quick {QUICK.seeds})")
    options.RESULTS_DIR.add_to(parser)
    parser.add_argument("--resume", metavar="RUN", type=Path,
                        help="go on with an interrupted reproduction (same code version and machine only)")
    options.PROCESSES.but(help="worker processes per case of the ladder's benchmark run (the articles reported the "
                          "best of three runs; five give the median statistic an interval)",
                          default_help=f"{DEFAULT_PROCESSES}; --quick: 1").add_to(parser)
    options.THREADS.add_to(parser)
    options.LAYERS.but(help=options.LAYERS.help + "; any other model than the seed's makes every claim 'not "
                       "comparable' (the articles' figures are for 784-70-30-10)").add_to(parser)
    options.MNIST.add_to(parser)
    parser.set_defaults(run=run)

    report = subparsers.add_parser(
        "report", help="one report (claim table and sections) from reproduction and benchmark run folders",
        description="Render one report from one or several run folders (reproduction runs, benchmark runs; "
                    "also from different machines: a machine column, ratios only within one run).")
    report.add_argument("runs", nargs="+", type=Path, metavar="RUN",
                        help="run folders, or run ids under --results-dir (e.g. reproduction, reference)")
    report.add_argument("--output", type=Path, metavar="FILE", help="write the report here (default: stdout)")
    report.add_argument("--html", type=Path, metavar="FILE",
                        help="also write it as a self-contained HTML page (figures embedded)")
    options.RESULTS_DIR.add_to(report)
    report.set_defaults(run=run_report)


# ---------------------------------------------------------------- identity of a run

def code_version() -> str:
    """The git commit of the checkout, with a hash of uncommitted changes to the code; else the package version."""
    try:
        head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=PROJECT_ROOT, capture_output=True, text=True,
                              check=True).stdout.strip()
        diff = subprocess.run(["git", "diff", "HEAD", "--", "bench", "impl"], cwd=PROJECT_ROOT,
                              capture_output=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        from importlib import metadata
        return f"mlp-bench {metadata.version('mlp-bench')}"
    return head[:12] + (f"+dirty-{hashlib.sha256(diff).hexdigest()[:8]}" if diff else "")


# ---------------------------------------------------------------- options

def _experiments(text: str | None) -> list[str]:
    if not text:
        return list(EXPERIMENTS)
    names = [n.strip() for n in text.split(",") if n.strip()]
    unknown = [n for n in names if n not in EXPERIMENTS]
    if unknown:
        raise ConfigError(f"unknown experiment {', '.join(unknown)}; choose from: {', '.join(EXPERIMENTS)}")
    return [n for n in EXPERIMENTS if n in names]


def _long_run_impl(name: str) -> str:
    cls = get_implementation(name, require_available=False)  # unknown: one-line error
    if cls.workload != "mlp" or not cls.shared_batch_order:
        raise ConfigError(f"--impl {name}: the long training runs need an MLP implementation that the equivalence "
                          "tests cover (the shared weights and batch order), e.g. numpy-tuned or numpy-v3-sliced")
    get_implementation(name)  # unavailable here: one-line error
    return name


def _check_mnist(path: str | None) -> None:
    data = load_dataset(path)  # not found / corrupt: one-line DataError
    if data.kind != "real":
        raise MLPBenchError("reproduce needs the real MNIST (accuracies are half the claims)")


def _new_record(args: argparse.Namespace) -> dict[str, Any]:
    experiments = _experiments(args.only)
    profile = QUICK if args.quick else FULL
    seeds = profile.seeds if args.seeds is None else args.seeds  # --seeds >= 1: checked as it is parsed
    if args.threads is not None and args.threads < 1:
        raise ConfigError(f"--threads must be at least 1 (got {args.threads})")
    impl = _long_run_impl(args.impl or DEFAULT_IMPL)
    ladder_from = None
    if args.from_run is not None:
        if ladder.NAME not in experiments:
            raise ConfigError("--from feeds the ladder, which --only leaves out")
        source = resolve_run(args.from_run, args.results_dir)  # a folder, or a run id such as "reference"
        ladder.check_source(source, args.layers)
        ladder_from = str(source.resolve())
    return {"experiments": experiments, "profile": dataclasses.asdict(profile), "seeds": seeds, "impl": impl,
            "threads": args.threads, "layers": list(args.layers),
            "processes": args.processes or (None if args.quick else DEFAULT_PROCESSES), "mnist": args.mnist,
            "ladder_from": ladder_from,
            "code_version": code_version(), "machine": machine_record(), "status": {}, "skipped": {}}


def _resumed(args: argparse.Namespace) -> Path:
    given = [flag for flag, value in (("--only", args.only), ("--quick", args.quick), ("--from", args.from_run),
                                      (options.IMPL.flag, args.impl), ("--seeds", args.seeds),
                                      (options.LAYERS.flag, args.layers != options.LAYERS.default),
                                      (options.PROCESSES.flag, args.processes)) if value]
    if given:
        raise ConfigError(f"--resume goes on with the run's own options; drop {', '.join(given)}")
    path = resolve_run(str(args.resume), args.results_dir)
    info = read_run(path)
    if info.kind != KIND:
        raise MLPBenchError(f"{path}: a {info.kind} run, not a reproduction")
    if info.complete:
        raise MLPBenchError(f"{path}: already complete; nothing to resume")
    version = code_version()
    if info.record.get("code_version") != version:
        raise MLPBenchError(f"{path}: made by code version {info.record.get('code_version')}, this is {version}; "
                            "a resumed run must not mix code versions (start a new one)")
    here = machine_record()
    if machine_identity(info.record) != machine_identity({"machine": here}):
        raise MLPBenchError(f"{path}: made on {machine_identity(info.record)[:2]}, this is "
                            f"{machine_identity({'machine': here})[:2]}; a resumed run must not mix machines")
    return path


# ---------------------------------------------------------------- the run

def run(args: argparse.Namespace) -> int:
    load_claims()  # a broken claims file is an error before anything runs
    if args.resume is not None:
        folder = _resumed(args)
        record = read_run(folder).record
    else:
        record = _new_record(args)
    if record["experiments"] != [ladder.NAME] or not record.get("ladder_from"):  # a saved ladder needs no data
        _check_mnist(record.get("mnist"))
    if args.resume is None:
        folder = new_run_dir(args.results_dir, "reproduce-quick" if args.quick else "reproduce", KIND, record)
        atomic_write_text(folder / CLAIMS_FILE.name, CLAIMS_FILE.read_text())  # the claims this run was judged by
    if record.get("threads") is not None:
        os.environ["MLPBENCH_THREADS"] = str(record["threads"])  # Keras, torch and JAX read it when they start
    ctx = Context(folder, profile_of(record), record["impl"], record["seeds"], record.get("threads"),
                  record.get("mnist"), Path(record["ladder_from"]) if record.get("ladder_from") else None,
                  layers=layers_of(record), processes=record.get("processes"))
    print(f"reproduction: {folder} ({ctx.profile.name} profile: {', '.join(record['experiments'])})",
          file=sys.stderr)
    failed = []
    try:
        for name in record["experiments"]:
            if (record["status"].get(name) or {}).get("state") == "complete":
                continue
            failed += [name] if not _run_experiment(ctx, folder, record, name) else []
        update_run_record(folder, complete=not failed)
    finally:  # interrupted or not: the report says what exists and what is missing
        report = render([folder], folder, claims_png=folder / "claims.png")
        atomic_write_text(folder / REPORT_FILE, report)
    print(claims_section(report))
    print(f"report: {folder / REPORT_FILE}", file=sys.stderr)
    if failed:
        print(f"mlp-bench: error: {', '.join(failed)} failed (see above); the run stays incomplete: "
              f"mlp-bench reproduce --resume {folder}", file=sys.stderr)
        return 1
    return 0


def _run_experiment(ctx: Context, folder: Path, record: dict[str, Any], name: str) -> bool:
    module = EXPERIMENTS[name]
    record["status"][name] = {"state": "running"}
    update_run_record(folder, status=record["status"])
    start = time.perf_counter()
    try:
        skipped = module.run(ctx) or {}
        if (folder / name).is_dir():
            write_csv(folder / name)
        if hasattr(module, "draw"):
            module.draw(folder, read_run(folder).record)
    except (MLPBenchError, RuntimeError, ValueError, OSError) as err:
        if not isinstance(err, MLPBenchError):  # a bug, not bad input: keep the trace for the report
            traceback.print_exc(file=sys.stderr)
        record["status"][name] = {"state": "failed", "error": str(err).splitlines()[0] if str(err) else repr(err)}
        update_run_record(folder, status=record["status"])
        print(f"{name}: failed: {record['status'][name]['error']}", file=sys.stderr)
        return False
    wall = time.perf_counter() - start
    record["status"][name] = {"state": "complete", "wall_s": wall}
    record["skipped"][name] = skipped
    update_run_record(folder, status=record["status"], skipped=record["skipped"])
    print(f"{name}: done in {wall / 60:.1f} min", file=sys.stderr)
    return True


def run_report(args: argparse.Namespace) -> int:
    for output in (args.output, args.html):
        check_writable(output)  # before the work, not after it
    out_dir = (args.output.parent if args.output else Path.cwd()).resolve()
    runs = [resolve_run(str(p), args.results_dir) for p in args.runs]
    text = render(runs, out_dir)
    if args.output:
        atomic_write_text(args.output, text)
        print(f"report: {args.output}", file=sys.stderr)
    else:
        print(text, end="")
    if args.html:
        from bench.html import write_report_page

        write_report_page(args.html, text, out_dir, runs)
        print(f"page: {args.html}", file=sys.stderr)
    return 0
