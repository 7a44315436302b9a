"""``--baseline REV``: another revision's implementations, imported beside the working tree's, so a change and
its base are timed call by call in the same workers.

Between saved runs the machine itself moves (docs/noise.md): two runs of the same code cannot be called
``same`` at 5 %. Inside one worker, alternated call by call, the ratio of two implementations is steady. So
``--baseline`` extracts ``impl/`` of a git revision (``git archive``, into a temporary folder removed when the
run ends) or takes it from another checkout, and imports it as the package ``mlpbench_base``: an import hook
reads its sources and points their ``impl`` imports at ``mlpbench_base``, so the two copies never mix. Every
implementation found on both sides joins the run as ``name@REV`` and rotates with its own change.

A revision whose ``impl/`` cannot be imported, or whose contract (phases, the trainer's methods, the
data set's fields it needs, the configuration's arguments) differs from the working tree's, is a one-line error
before any work.
"""

from __future__ import annotations

import ast
import dataclasses
import importlib
import importlib.abc
import importlib.machinery
import inspect
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from impl.errors import MLPBenchError

PACKAGE = "mlpbench_base"  # the base revision's ``impl``, imported under this name
#: The trainer methods the suite calls (the harness, the phase table, the rotation): both sides must have them.
TRAINER_METHODS = ("prepare_batch", "forward", "batch_loss", "backward", "update", "train_step", "forward_backward",
                   "run_epoch", "fit", "warm_up", "reset", "accuracy", "get_weights", "set_weights", "batches")


@dataclass(frozen=True)
class Baseline:
    """A base revision as the run uses it: the label in names (``numpy-tuned@HEAD``), the folder holding its
    ``impl/``, the commit it came from (None for another checkout's working tree), and whether the run made
    (and so removes) that folder."""

    label: str
    root: Path
    commit: str | None
    temporary: bool

    def name_of(self, impl: str) -> str:
        return f"{impl}@{self.label}"

    def record(self) -> dict[str, Any]:
        return {"label": self.label, "commit": self.commit, "root": None if self.temporary else str(self.root)}

    def remove(self) -> None:
        if self.temporary:
            shutil.rmtree(self.root, ignore_errors=True)


def _git(args: list[str], cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(["git", *args], cwd=cwd, capture_output=True, check=False)


def label_of(text: str) -> str:
    """The revision as it appears in names: what the user typed, cut to safe characters."""
    return re.sub(r"[^A-Za-z0-9._~^-]", "_", text.rstrip("/").split("/")[-1] if Path(text).is_dir() else text)[:40]


def prepare(rev: str, repo: Path) -> Baseline:
    """The base of ``--baseline rev``: a folder that is another checkout (it must hold ``impl/``), else a git
    revision of ``repo``, whose ``impl/`` is extracted into a temporary folder. One-line errors otherwise."""
    path = Path(rev).expanduser()
    if path.is_dir():
        if not (path / "impl" / "__init__.py").is_file():
            raise MLPBenchError(f"--baseline {rev}: a folder, but not a checkout of this project (no impl/__init__.py)")
        found = _git(["rev-parse", "HEAD"], path)
        commit = found.stdout.decode().strip() if found.returncode == 0 else None
        return Baseline(label_of(rev), path.resolve(), commit, temporary=False)
    top = _git(["rev-parse", "--show-toplevel"], repo)
    if top.returncode != 0:
        raise MLPBenchError(f"--baseline {rev}: {repo} is not in a git repository, and {rev!r} is no folder")
    found = _git(["rev-parse", "--verify", "--quiet", f"{rev}^{{commit}}"], repo)
    if found.returncode != 0:
        raise MLPBenchError(f"--baseline {rev}: unknown revision (not a commit, branch or tag of this repository, "
                            "nor a folder)")
    commit = found.stdout.decode().strip()
    if _git(["cat-file", "-e", f"{commit}:impl/__init__.py"], repo).returncode != 0:
        raise MLPBenchError(f"--baseline {rev}: revision {commit[:12]} has no impl/ package")
    root = Path(tempfile.mkdtemp(prefix="mlp-bench-baseline-"))
    archive = _git(["archive", "--format=tar", commit, "impl"], Path(top.stdout.decode().strip()))
    untar = subprocess.run(["tar", "-x", "-C", str(root)], input=archive.stdout, capture_output=True, check=False)
    if archive.returncode != 0 or untar.returncode != 0:
        shutil.rmtree(root, ignore_errors=True)
        raise MLPBenchError(f"--baseline {rev}: could not extract impl/ of {commit[:12]} "
                            f"({(archive.stderr or untar.stderr).decode().strip()[:200]})")
    return Baseline(label_of(rev), root, commit, temporary=True)


class _Rewriter(ast.NodeTransformer):
    """``impl`` in the base's imports (and its module-name strings) becomes :data:`PACKAGE`."""

    @staticmethod
    def _renamed(name: str) -> str:
        return PACKAGE + name[4:] if name == "impl" or name.startswith("impl.") else name

    def visit_ImportFrom(self, node: ast.ImportFrom) -> ast.ImportFrom:
        if node.level == 0 and node.module:
            node.module = self._renamed(node.module)
        return node

    def visit_Import(self, node: ast.Import) -> ast.Import:
        for alias in node.names:
            if alias.name == "impl":  # ``import impl``: the base's package under the same local name
                alias.name, alias.asname = PACKAGE, alias.asname or "impl"
            elif alias.name.startswith("impl.") and alias.asname:
                alias.name = self._renamed(alias.name)
            elif alias.name.startswith("impl."):
                raise MLPBenchError(f"`import {alias.name}` without `as` is not supported in a baseline's impl/")
        return node

    def visit_Constant(self, node: ast.Constant) -> ast.Constant:
        if isinstance(node.value, str) and (node.value in ("impl", "impl.") or node.value.startswith("impl.")):
            node.value = self._renamed(node.value)
        return node


class _Loader(importlib.machinery.SourceFileLoader):
    def source_to_code(self, data: Any, path: Any, *, _optimize: int = -1) -> Any:  # type: ignore[override]
        tree = _Rewriter().visit(ast.parse(data, filename=str(path)))
        return compile(ast.fix_missing_locations(tree), path, "exec", dont_inherit=True)

    def get_code(self, fullname: str) -> Any:  # never read or write a cached .pyc of the rewritten source
        return self.source_to_code(self.get_data(self.get_filename(fullname)), self.get_filename(fullname))


class _Finder(importlib.abc.MetaPathFinder):
    def __init__(self, impl_dir: Path) -> None:
        self.impl_dir = impl_dir

    def find_spec(self, fullname: str, path: Any = None, target: Any = None) -> Any:
        if fullname != PACKAGE and not fullname.startswith(PACKAGE + "."):
            return None
        parts = fullname.split(".")[1:]
        base = self.impl_dir.joinpath(*parts)
        if (base / "__init__.py").is_file():
            file = base / "__init__.py"
            return importlib.util.spec_from_file_location(fullname, file, loader=_Loader(fullname, str(file)),
                                                          submodule_search_locations=[str(base)])
        file = base.with_suffix(".py")
        if file.is_file():
            return importlib.util.spec_from_file_location(fullname, file, loader=_Loader(fullname, str(file)))
        return None


def _modules(impl_dir: Path) -> Iterator[str]:
    for file in sorted(impl_dir.rglob("*.py")):
        parts = file.relative_to(impl_dir).with_suffix("").parts
        yield ".".join([PACKAGE, *parts[:-1]] if parts[-1] == "__init__" else [PACKAGE, *parts])


def load(baseline: Baseline) -> dict[str, type]:
    """Import the base's ``impl`` as :data:`PACKAGE`, check its contract against the working tree's, and return
    its implementations by their names in this run (``name@label``). Idempotent within a process; a second base
    replaces the first."""
    impl_dir = baseline.root / "impl"
    finder = next((f for f in sys.meta_path if isinstance(f, _Finder)), None)
    if finder is None:
        sys.meta_path.insert(0, _Finder(impl_dir))
    elif finder.impl_dir != impl_dir:  # another base earlier in this process: forget its modules
        for name in [m for m in sys.modules if m == PACKAGE or m.startswith(PACKAGE + ".")]:
            del sys.modules[name]
        finder.impl_dir = impl_dir
    try:
        for module in _modules(impl_dir):
            importlib.import_module(module)
        contract = importlib.import_module(f"{PACKAGE}.contract")
    except MLPBenchError:
        raise
    except Exception as err:  # noqa: BLE001 - any failure of foreign code is one line here
        raise MLPBenchError(f"--baseline {baseline.label}: its impl/ cannot be imported "
                            f"({type(err).__name__}: {str(err).splitlines()[0][:200] if str(err) else ''})") from None
    differences = contract_differences(importlib.import_module("impl.contract"), contract)
    if differences:
        raise MLPBenchError(f"--baseline {baseline.label}: its impl/ has another contract ({'; '.join(differences)})")
    out = {}
    for name, cls in list(contract.Trainer.registry.items()):
        if "@" in name or not cls.__module__.startswith(PACKAGE):
            continue
        alias = baseline.name_of(name)
        out[alias] = type(cls.__name__, (cls,), {"name": alias, "__module__": cls.__module__, "__doc__": cls.__doc__,
                                                 "base_of": name})
    return out


def contract_differences(here: Any, there: Any) -> list[str]:
    """What the suite relies on that differs between two ``contract`` modules (and their phase table, config
    and data set): empty when a base can be timed beside the working tree."""
    out = []
    mine, theirs = here.PHASE_TABLE, there.PHASE_TABLE
    if list(mine) != list(theirs):
        out.append(f"phases {list(theirs)} against {list(mine)}")
    out += [f"phase {n} is timed as {theirs[n].mode}, here as {mine[n].mode}" for n in mine
            if n in theirs and theirs[n].mode != mine[n].mode]
    missing = [m for m in TRAINER_METHODS if not callable(getattr(there.Trainer, m, None))]
    if missing:
        out.append(f"its Trainer lacks {', '.join(missing)}")
    # the base's trainers get the working tree's data set: every field they know must be there (new ones are
    # harmless); its configuration they build from their own TrainConfig (bench/harness.py: own_module)
    here_data, there_data = (importlib.import_module(f"{root}.data").Dataset for root in ("impl", PACKAGE))
    missing_fields = {f.name for f in dataclasses.fields(there_data)} - {f.name for f in dataclasses.fields(here_data)}
    if missing_fields:
        out.append(f"its Dataset needs fields the working tree's lacks ({', '.join(sorted(missing_fields))})")
    make = inspect.signature(importlib.import_module(f"{PACKAGE}.config").TrainConfig.make).parameters
    if not {"batch_size", "n_train"} <= set(make) or not any(p.kind is p.VAR_KEYWORD for p in make.values()):
        out.append("its TrainConfig.make takes other arguments")
    return out


def own_module(cls: type, name: str) -> Any:
    """``impl.<name>`` of the package ``cls`` comes from: the working tree's, or the base's."""
    return importlib.import_module(f"{cls.__module__.split('.')[0]}.{name}")
