"""The claims' provenance: every edit to ``claims.toml`` after the code a reproduction run measured with, from git,
so that a reader sees which claims, bands or measures changed once results were known."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

from bench.reproduce.claims import CLAIMS_FILE

#: The line for edits not yet committed when the report was rendered (they are committed with the report).
UNCOMMITTED = ["(uncommitted when this report was rendered) the edits committed with this report"]
#: A commit subject is cut to this many characters in the report.
SUBJECT_CHARS = 160


def claims_changelog(record: dict[str, Any], claims_file: Path = CLAIMS_FILE) -> list[str] | None:
    """``2026-12-06 259786c protocol: a setting is cited ...`` for each commit that changed ``claims_file`` after
    the run's code version, oldest first; None where git cannot say (no repository, an unknown commit)."""
    code = str(record.get("code_version") or "").split("+")[0].split("-")[0]
    if not code or code == "unknown":
        return None
    try:
        done = subprocess.run(["git", "log", "--reverse", "--format=%cs %h %s", f"{code}..HEAD", "--",
                               claims_file.name], cwd=claims_file.parent, capture_output=True, text=True,
                              timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return None
    if done.returncode != 0:
        return None
    return [line if len(line) <= SUBJECT_CHARS else line[:SUBJECT_CHARS - 3] + "..."
            for line in done.stdout.splitlines() if line.strip()]


def uncommitted(claims_file: Path = CLAIMS_FILE) -> bool:
    """Whether the working tree's ``claims_file`` differs from the last commit (a report rendered now is committed
    with that edit, so it cannot name the commit: it says so instead)."""
    try:
        done = subprocess.run(["git", "diff", "--quiet", "HEAD", "--", claims_file.name], cwd=claims_file.parent,
                              capture_output=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return done.returncode == 1


def changelog_section(record: dict[str, Any]) -> list[str]:
    """The report's lines on the claims' history since the run."""
    code = record.get("code_version", "-")
    changes = claims_changelog(record)
    head = ["## Changes to the claims since this run", ""]
    edited = UNCOMMITTED if changes is not None and uncommitted() else []
    if changes is None:
        return head + [f"The claims' history since the run's code ({code}) is not available here (no git "
                       "repository, or the commit is not in it).", ""]
    if not changes and not edited:
        return head + [f"`claims.toml` is unchanged since the run's code ({code}).", ""]
    return head + [f"`claims.toml` changed in {len(changes)} commit(s) after the code this run measured with "
                   f"({code}){' and in the working tree' if edited else ''}; the verdicts above use the claims as "
                   f"they are now (`git log {code}..HEAD -- bench/reproduce/claims.toml`):", ""] + [
        f"- {line}" for line in changes + edited] + [""]
