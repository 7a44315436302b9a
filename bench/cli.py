"""`mlp-bench`: list implementations, train one, and (with the harness) tables, comparisons and profiles."""

from __future__ import annotations

import argparse
import sys

from tabulate import tabulate

from bench import compare, profile, train
from impl.errors import MLPBenchError
from impl.registry import all_implementations

#: Modules with ``add_parser(subparsers)``; each sets ``run`` on its parser. One line per command.
COMMANDS = [train, compare, profile]


def _list(args: argparse.Namespace) -> int:
    rows = []
    for name, cls in all_implementations().items():
        reason = cls.unavailable_reason()
        rows.append([name, cls.workload, cls.dtype, cls.device, "yes" if not reason else f"no: {reason}",
                     cls.description])
    print(tabulate(rows, headers=["implementation", "workload", "dtype", "device", "available", "description"],
                   maxcolwidths=[None, None, None, None, None, 70]))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="mlp-bench", description=__doc__)
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    subparsers.add_parser("list", help="show every implementation, its workload and whether it runs here"
                          ).set_defaults(run=_list)
    for command in COMMANDS:
        command.add_parser(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.run(args)
    except MLPBenchError as err:
        print(f"mlp-bench: error: {err}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # e.g. piped into `head`
        sys.stderr.close()
        return 0
    except KeyboardInterrupt:
        print("mlp-bench: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
