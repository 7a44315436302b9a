"""Docs that cannot drift: every command in a fenced code block of README.md and docs/*.md is accepted by the
real parsers, every relative link and image resolves, and every option of `mlp-bench` and of the benchmark
suite is documented somewhere.

Convention (docs/testing.md): commands go in ```bash blocks; output samples go in ```text blocks, where the
command that produced them starts with ``$ ``. Lines starting with ``mlp-bench`` or ``pytest bench/`` are
parsed, never run: ``mlp-bench`` lines by ``bench.cli.build_parser``, ``pytest bench/`` lines by pytest's own
parser with pytest-benchmark and the suite's plugin registered (no collection, so no benchmark and no GPU
probe starts), and then by ``BenchSettings.from_config``, which validates names, phases and batch sizes.
Placeholders in capitals stand for a valid value (``PLACEHOLDERS``).
"""

from __future__ import annotations

import argparse
import re
import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from bench.cli import build_parser
from bench.settings import INI_KEYS, OPTIONS, BenchSettings
from impl.errors import MLPBenchError
from impl.registry import parse_names

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
PLACEHOLDERS = {"RUN_A": "reference", "RUN_B": "20261125-171324-default", "RUN": "reference",
                "NAME": "numpy-v3-sliced", "PATH": "/tmp/mnist", "DIR": "results"}
COMMANDS = ("mlp-bench", "pytest bench/")
FENCE = re.compile(r"^```(\w*)\n(.*?)^```", re.M | re.S)
LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)\)")
ENV_ASSIGNMENT = re.compile(r"^(?:[A-Z_][A-Z0-9_]*=\S*\s+)+")


@dataclass(frozen=True)
class Command:
    page: Path
    line: str

    def __str__(self) -> str:
        return f"{self.page.relative_to(ROOT)}: {self.line}"


def doc_text(page: Path) -> str:
    return page.read_text(encoding="utf-8")


def commands_in(page: Path) -> list[Command]:
    """Every mlp-bench / pytest bench/ command of a page's fenced blocks: whole lines of ```bash blocks,
    ``$ `` lines of ```text blocks; a line with ``&&`` or ``;`` counts as several commands."""
    found = []
    for language, block in FENCE.findall(doc_text(page)):
        for raw in block.splitlines():
            line = raw.strip()
            if language == "text":
                if not line.startswith("$ "):
                    continue
                line = line[2:]
            elif language not in ("bash", "sh", "console", ""):
                continue
            for part in re.split(r"&&|;|\|\|?", line):
                part = ENV_ASSIGNMENT.sub("", part.strip())
                if part.startswith(COMMANDS):
                    found.append(Command(page, part))
    return found


ALL_COMMANDS = [c for page in PAGES for c in commands_in(page)]


def words(line: str) -> list[str]:
    """The command's arguments with placeholders replaced and comments dropped."""
    return [PLACEHOLDERS.get(w, w) for w in shlex.split(line, comments=True)]


def _no_abbreviations(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """argparse accepts a unique prefix (``--epoch`` for ``--epochs``): in docs that is drift waiting to happen
    (a new option can make it ambiguous), so the docs must spell every option in full."""
    parser.allow_abbrev = False
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                _no_abbreviations(sub)
    return parser


def parse_mlp_bench(args: list[str]) -> argparse.Namespace:
    """Parse as `mlp-bench` would, options in full; a usage error (SystemExit) or an unknown implementation
    name fails."""
    try:
        ns = _no_abbreviations(build_parser()).parse_args(args)
    except SystemExit as exit_:
        raise AssertionError(f"mlp-bench rejects {args} (exit {exit_.code})") from None
    for attr in ("impl", "compare"):
        if isinstance(getattr(ns, attr, None), str):
            parse_names(getattr(ns, attr))
    return ns


class _ParsedConfig:
    """What ``BenchSettings.from_config`` reads from a pytest config: the parsed options, empty ini keys."""

    def __init__(self, namespace: argparse.Namespace) -> None:
        self.namespace = namespace

    def getoption(self, name: str) -> Any:
        return getattr(self.namespace, name)

    def getini(self, key: str) -> str:
        return ""


def parse_pytest_bench(args: list[str]) -> BenchSettings:
    """Parse with pytest's parser, pytest-benchmark's and the suite's options registered: no collection, no
    configure hook. Then validate the suite's own settings as pytest_configure would."""
    from _pytest.config import get_config

    config = get_config(args)
    config.pluginmanager.consider_preparse(args, exclude_only=True)
    config.pluginmanager.load_setuptools_entrypoints("pytest11")
    config.pluginmanager.import_plugin("bench.conftest")
    namespace = config._parser.parse(args)
    assert namespace.file_or_dir and namespace.file_or_dir[0].rstrip("/") == "bench", namespace.file_or_dir
    from impl.contract import Trainer
    from impl.registry import _discover, all_implementations

    all_implementations()  # every module imported first: only a base's classes are added below
    known = set(Trainer.registry)
    try:
        settings = BenchSettings.from_config(_ParsedConfig(namespace))
        if settings.baseline is not None:
            settings.baseline.remove()  # as the run would at its end
        return settings
    finally:  # a --baseline command joined a base's implementations: the tests after this one never see them
        for name in set(Trainer.registry) - known:
            del Trainer.registry[name]
        _discover.cache_clear()


def check_command(command: Command) -> None:
    args = words(command.line)
    if args[0] == "mlp-bench":
        parse_mlp_bench(args[1:])
    else:
        try:
            parse_pytest_bench(args[1:])
        except (pytest.UsageError, MLPBenchError) as err:
            raise AssertionError(f"{command}: {err}") from None


def test_the_docs_hold_commands_of_both_kinds():
    assert any(c.line.startswith("mlp-bench") for c in ALL_COMMANDS)
    assert any(c.line.startswith("pytest bench/") for c in ALL_COMMANDS)


@pytest.mark.parametrize("command", ALL_COMMANDS, ids=str)
def test_every_documented_command_parses(command):
    check_command(command)


@pytest.mark.parametrize("line", [
    "mlp-bench train --impl numpy-v3-sliced --epoch 3",  # misspelt option
    "mlp-bench list --wide",
    "mlp-bench train --impl numpy-v9",  # unknown implementation
    "pytest bench/ --benchmark-only --phases forward,sideways",
    "pytest bench/ --benchmark-only --batch-sizes 0",
    "pytest bench/ --benchmark-only --no-such-option",
])
def test_a_wrong_command_fails_the_check(line):
    with pytest.raises((AssertionError, MLPBenchError)):
        check_command(Command(ROOT / "README.md", line))


def test_commands_are_found_in_bash_blocks_and_dollar_lines_of_text_blocks(tmp_path):
    page = tmp_path / "page.md"
    page.write_text("```bash\nmlp-bench list  # comment\nX=1 mlp-bench table && pytest bench/ --quick\n```\n"
                    "```text\n$ mlp-bench list --long\nmlp-bench list --not-a-command-but-output\n```\n"
                    "```python\nmlp-bench = 1\n```\n", encoding="utf-8")
    lines = [c.line for c in commands_in(page)]
    assert lines == ["mlp-bench list  # comment", "mlp-bench table", "pytest bench/ --quick", "mlp-bench list --long"]


# ---------------------------------------------------------------- links and images

def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def anchors(page: Path) -> set[str]:
    text = FENCE.sub("", doc_text(page))
    return {slug(m) for m in re.findall(r"^#+\s+(.*)$", text, re.M)}


def relative_links(page: Path) -> list[str]:
    text = FENCE.sub("", doc_text(page))
    return [t for t in LINK.findall(text) if not re.match(r"^[a-z]+:", t)]


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_relative_link_and_image_resolves(page):
    for target in relative_links(page):
        path, _, fragment = target.partition("#")
        resolved = (page.parent / path).resolve() if path else page
        assert resolved.exists(), f"{page.relative_to(ROOT)}: broken link {target}"
        if fragment and resolved.suffix == ".md":
            assert fragment in anchors(resolved), f"{page.relative_to(ROOT)}: no heading for #{fragment} in {path}"


def test_every_docs_page_is_linked_from_the_readme():
    linked = {(ROOT / t.partition("#")[0]).resolve() for t in relative_links(ROOT / "README.md")}
    for page in PAGES[1:]:
        assert page.resolve() in linked, f"{page.relative_to(ROOT)} is not linked from README.md"


# ---------------------------------------------------------------- every option documented

def cli_options(parser: argparse.ArgumentParser) -> dict[str, set[str]]:
    """Long options of every `mlp-bench` subcommand: {option: {commands}} (``--help`` left out)."""
    found: dict[str, set[str]] = {}
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for command, sub in action.choices.items():
                for option, commands in cli_options(sub).items():
                    found.setdefault(option, set()).update({command} | {c for c in commands if c})
        for option in action.option_strings:
            if option.startswith("--") and option != "--help":
                found.setdefault(option, set())
    return found


def suite_options() -> set[str]:
    """The benchmark suite's own pytest options and ini keys (not pytest's or pytest-benchmark's)."""
    return {option.flag for option in OPTIONS} | set(INI_KEYS)


def undocumented(options: set[str] | dict[str, Any], text: str) -> list[str]:
    return sorted(o for o in options if not re.search(rf"(?<![\w-]){re.escape(o)}(?![\w-])", text))


ALL_TEXT = "\n".join(doc_text(page) for page in PAGES)


def test_every_mlp_bench_option_is_documented():
    assert undocumented(cli_options(build_parser()), ALL_TEXT) == []


def test_every_benchmark_suite_option_is_documented():
    assert undocumented(suite_options(), ALL_TEXT) == []


def test_an_undocumented_option_fails():
    parser = argparse.ArgumentParser(prog="mlp-bench")
    sub = parser.add_subparsers().add_parser("frobnicate")
    sub.add_argument("--frobnicate-harder")
    sub.add_argument("--impl")
    options = cli_options(parser)
    assert options == {"--frobnicate-harder": {"frobnicate"}, "--impl": {"frobnicate"}}
    assert undocumented(options, "`--impl NAME` and `--frobnicate-hard`") == ["--frobnicate-harder"]
    assert undocumented({"--rounds", "mlpbench_rounds"}, "--rounds-x and mlpbench_rounds_y") == [
        "--rounds", "mlpbench_rounds"]


# ---------------------------------------------------------------- the README a newcomer reads

def test_the_readme_is_short_and_front_loaded():
    lines = doc_text(ROOT / "README.md").splitlines()
    assert len(lines) <= 200
    first = "\n".join(lines[:60])
    assert 'pip install -e ".[dev,keras]"' in first  # install
    assert "\npytest bench/ --benchmark-only\n" in first  # the main job
    assert "![" in first and "results/reference/mlp-ladder.png" in first  # a picture of the answer
    ci_command = "pytest tests -n auto --dist loadfile && pytest bench/ --benchmark-only --quick --workload mlp,cnn"
    assert f"\n{ci_command}\n" in first
