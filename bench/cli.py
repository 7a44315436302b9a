"""`mlp-bench`: list implementations, train one, and (with the harness) tables, comparisons and profiles.

Exit codes: 0 done; 1 a gate failed (compare --fail-above / --fail-on-unresolved); 2 usage error (a bad
option or value, an unknown implementation); 3 missing or unreadable data or runs (no MNIST, no such run, a
corrupt or foreign file, runs that cannot be compared, a path that cannot be written); 4 unavailable here (a
missing extra or GPU); 130 interrupted."""

from __future__ import annotations

import argparse
import json
import sys
from typing import NoReturn

from tabulate import tabulate

from bench import compare, crossover, profile, train
from bench.reproduce import command as reproduce
from bench.roofline import command as roofline
from impl.errors import ConfigError, MLPBenchError, UnavailableError
from impl.registry import all_implementations

#: Modules with ``add_parser(subparsers)``; each sets ``run`` on its parser. One line per command.
COMMANDS = [train, compare, profile, reproduce, roofline, crossover]


#: Widest line plain `mlp-bench list` may print: one line per implementation in a terminal.
LIST_WIDTH = 120


def _list(args: argparse.Namespace) -> int:
    """One line per implementation; ``--long`` adds descriptions and full reasons, ``--json`` is for tools."""
    if args.json:
        entries = []
        for cls in all_implementations().values():
            reason = cls.unavailable_reason()
            entries.append({**cls.summary(), "available": not reason, "reason": str(reason) if reason else None,
                            "short_reason": cls.short_unavailable_reason()})
        print(json.dumps(entries, indent=2))
        return 0
    headers = ["implementation", "workload", "model", "dtype", "device", "available"]
    rows = []
    for name, cls in all_implementations().items():
        if args.long:
            reason = cls.unavailable_reason()
            rows.append([name, cls.workload, cls.model_text(), cls.dtype, cls.device,
                         f"no: {reason}" if reason else "yes", cls.description])
        else:
            short = cls.short_unavailable_reason()
            rows.append([name, cls.workload, cls.model_text(), cls.dtype, cls.device,
                         f"no: {short}" if short else "yes"])
    if args.long:
        print(tabulate(rows, headers=[*headers, "description"],
                       maxcolwidths=[None, None, None, None, None, 40, 60]))
    else:
        print(tabulate(rows, headers=headers, maxcolwidths=[40, None, None, None, None, 50]))
        print("(mlp-bench list --long: descriptions and full reasons with install hints)", file=sys.stderr)
    return 0


def _add_list_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("list", help="show every implementation, its workload and whether it runs here",
                                   description="One line per implementation: name, workload, dtype, device and "
                                               "whether it runs here (else a short reason).")
    form = parser.add_mutually_exclusive_group()
    form.add_argument("--long", action="store_true",
                      help="add descriptions and the full reasons with install hints")
    form.add_argument("--json", action="store_true", help="print a JSON list, one object per implementation")
    parser.set_defaults(run=_list)


EXIT_GATE, EXIT_USAGE, EXIT_DATA, EXIT_UNAVAILABLE, EXIT_INTERRUPTED = 1, 2, 3, 4, 130


def exit_code(err: MLPBenchError) -> int:
    """The documented exit code of an error a user can act on."""
    if isinstance(err, ConfigError):
        return EXIT_USAGE
    if isinstance(err, UnavailableError):
        return EXIT_UNAVAILABLE
    return EXIT_DATA


def version() -> str:
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version as installed

    try:
        return installed("mlp-bench")
    except PackageNotFoundError:  # run from a checkout that was never installed
        return "unknown (not installed)"


class OneLineParser(argparse.ArgumentParser):
    """argparse with one-line usage errors, as every other mlp-bench error (its subcommands inherit it)."""

    def error(self, message: str) -> NoReturn:
        command = self.prog.removeprefix("mlp-bench").strip()
        self.exit(EXIT_USAGE, f"mlp-bench: error: {command + ': ' if command else ''}{message} "
                              f"(see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(prog="mlp-bench", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"mlp-bench {version()}")
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _add_list_parser(subparsers)
    for command in COMMANDS:
        command.add_parser(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.run(args)
    except MLPBenchError as err:
        print(f"mlp-bench: error: {err}", file=sys.stderr)
        return exit_code(err)
    except BrokenPipeError:  # e.g. piped into `head`
        sys.stderr.close()
        return 0
    except KeyboardInterrupt:
        print("mlp-bench: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED


if __name__ == "__main__":
    sys.exit(main())
