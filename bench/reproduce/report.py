"""report.md: the claim table (claim | source | articles' figure | ours | tolerance | verdict) and one section per
experiment, from one or several run folders (reproduction or benchmark runs, also from different machines).

Every measure is computed inside one run folder, so a ratio never mixes machines; with several folders the
table gains a machine column and one row per claim and folder."""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

import pandas as pd

from bench.reproduce import accuracy, batch_size, cnn, ladder, lambda2, protocol, step_profile
from bench.reproduce.claims import AMBIGUOUS, VERDICT_WORDS, Claim, load_claims, verdict
from bench.reproduce.common import Summary, layers_of, markdown_table
from bench.reproduce.l2_readings import readings_section
from bench.reproduce.protocol import PRINTED
from bench.reproduce.provenance import changelog_section
from bench.runs import read_run
from impl.config import SEED_LAYERS, layer_text
from impl.errors import MLPBenchError

KIND = "reproduction"
REPORT_FILE = "report.md"
#: The experiments in the order they run and are reported.
EXPERIMENTS: dict[str, ModuleType] = {m.NAME: m for m in (ladder, step_profile, batch_size, accuracy, protocol, lambda2,
                                                          cnn)}


@dataclass
class FolderSummary:
    path: Path
    record: dict[str, Any]
    summaries: dict[str, Summary] = field(default_factory=dict)

    @property
    def machine(self) -> str:
        machine = self.record.get("machine") or {}
        gpus = machine.get("gpus") or []
        label = f"{machine.get('cpu_model', 'unknown CPU')} ({machine.get('cpu_count', '?')} cores)"
        return label + (f", {gpus[0].split(',')[0]}" if gpus else "")

    @property
    def layers(self) -> tuple[int, ...]:
        return layers_of(self.record)

    @property
    def comparable(self) -> bool:
        """The articles' figures are for the seed's model: a run of another one cannot reproduce or refute them."""
        return self.layers == SEED_LAYERS

    @property
    def quick(self) -> bool:
        return (self.record.get("profile") or {}).get("name") == "quick"

    @property
    def missing(self) -> list[str]:
        return [f"{name}: {part}" for name, s in self.summaries.items() for part in s.missing]


def machine_identity(record: dict[str, Any]) -> tuple:
    """What makes two runs comparable as one machine: the CPU model, its core count and the GPUs."""
    machine = record.get("machine") or {}
    return machine.get("cpu_model"), machine.get("cpu_count"), tuple(machine.get("gpus") or ())


def summarise_folder(path: Path, out_dir: Path) -> FolderSummary:
    """The summaries a run folder can give: every selected experiment of a reproduction, the ladder of a
    benchmark run. A folder of any other kind is a one-line error."""
    info = read_run(path)
    folder = FolderSummary(path, info.record)

    def link(figure: Path) -> str:
        return os.path.relpath(figure, out_dir)

    if info.kind == "benchmark":
        ladder.check_source(path, layers_of(info.record))  # one clear error when it holds no MLP full runs
        folder.summaries[ladder.NAME] = ladder.summarise(path, info.record, link)
    elif info.kind == KIND:
        for name in info.record.get("experiments", EXPERIMENTS):
            folder.summaries[name] = EXPERIMENTS[name].summarise(path, info.record, link)
    else:
        raise MLPBenchError(f"{path}: a {info.kind} run; reports are made from reproduction or benchmark runs")
    return folder


@dataclass
class ClaimTable:
    """The claim rows, the consistency checks' rows (listed apart), the reasons cited, and one verdict per claim
    (its rows rolled up) for the headline."""

    rows: list[list[str]] = field(default_factory=list)
    checks: list[list[str]] = field(default_factory=list)
    reasons: dict[str, str] = field(default_factory=dict)
    claim_verdicts: dict[tuple[str, str], list[str]] = field(default_factory=dict)

    @property
    def counts(self) -> dict[str, int]:
        """Claims per verdict: a claim whose rows agree has their verdict; one whose rows disagree (two values
        of a figure, the Keras twins) is ``ambiguous``."""
        counts = dict.fromkeys((*VERDICT_WORDS, AMBIGUOUS), 0)
        for words in self.claim_verdicts.values():
            counts[words[0] if len(set(words)) == 1 else AMBIGUOUS] += 1
        return counts

    @property
    def ambiguous(self) -> list[str]:
        return sorted({group for (group, _), words in self.claim_verdicts.items() if len(set(words)) > 1})


def claim_rows(claims: list[Claim], folders: list[FolderSummary]) -> ClaimTable:
    """One row per claim and folder that covers the claim's experiment, the reasons cited and the verdicts."""
    several = len(folders) > 1
    table, reasons = ClaimTable(), {}
    for claim in claims:
        covering = [f for f in folders if claim.experiment in f.summaries] or [None]
        for folder in covering:
            if folder is None:
                ours, result = "-", "not run here (experiment not selected)"
            else:
                summary = folder.summaries[claim.experiment]
                why = summary.measure_reasons.get(claim.measure) or summary.not_run_reason or "not measured"
                ours, result = verdict(claim, summary.measures.get(claim.measure), why)
                if not folder.comparable and ours != "-":
                    result = (f"not comparable (model {layer_text(folder.layers)}; the articles' is "
                              f"{layer_text(SEED_LAYERS)})")
                elif result.startswith("differs"):
                    result = _with_reason(result, _finding(claim, folder), reasons)
                if folder.quick:
                    result += ", quick"
            quality = "" if claim.quality == "printed" else f" ({claim.quality})"
            row = [claim.claim, claim.source + quality, claim.figure_text, ours, claim.tolerance_text(), result]
            if several:
                row.insert(3, folder.machine + f" `{folder.path.name}`" if folder else "-")
            if claim.consistency:
                table.checks.append(row)
                continue
            table.rows.append(row)
            word = result.split(" (")[0].split(",")[0]
            table.claim_verdicts.setdefault((claim.group, str(folder.path) if folder else "-"), []).append(word)
    table.reasons = {label: text for text, label in reasons.items()}
    return table


def _finding(claim: Claim, folder: FolderSummary) -> str | None:
    """The measured finding the claim names as its reason, where the experiment reported one."""
    if not claim.reason:
        return None
    experiment, finding = claim.reason.split(":", 1)
    return folder.summaries.get(experiment, Summary(experiment)).findings.get(finding)


def _with_reason(result: str, finding: str | None, reasons: dict[str, str]) -> str:
    """A ``differs`` verdict with its measured reason (labelled R1, R2, ... under the table), else ``unexplained``:
    a difference is never given a cause that was not measured."""
    cause = f"reason {reasons.setdefault(finding, f'R{len(reasons) + 1}')}" if finding else "unexplained"
    return result.replace("differs (", f"differs ({cause}; ") if "(" in result else f"differs ({cause})"


def verdict_count(table: ClaimTable) -> str:
    """``57 claims (66 rows): 30 reproduced, 13 differ, 9 unresolved, 2 ambiguous, 1 not comparable, 2 not run
    here``: the sentence above the claim table (the README quotes it)."""
    counts = table.counts
    return (f"{len(table.claim_verdicts)} claims ({len(table.rows)} rows): {counts['reproduced']} reproduced, "
            f"{counts['differs']} differ, {counts['unresolved']} unresolved, {counts[AMBIGUOUS]} ambiguous, "
            f"{counts['not comparable']} not comparable, {counts['not run here']} not run here")


def claims_section(report: str) -> str:
    """The "## Claims" section of a rendered report (what `reproduce` prints at the end)."""
    start = report.find("## Claims")
    end = report.find("\n## ", start + 1)
    return report[start:end if end >= 0 else None].rstrip() + "\n" if start >= 0 else report


def claims_frame(claims: list[Claim], folder: FolderSummary) -> pd.DataFrame:
    """One row per claim of one folder, for the claims figure: ours and the reproducing region over the
    articles' figure, and the verdict word."""
    rows = []
    for claim in claims:
        summary = folder.summaries.get(claim.experiment)
        measure = summary.measures.get(claim.measure) if summary else None
        word = verdict(claim, measure, "-")[1].split(" (")[0] if summary else "not run here"
        word = "not comparable" if word != "not run here" and not folder.comparable else word
        low, high = claim.region()
        scale = claim.figure or 1.0
        rows.append({"label": f"{claim.id}: {claim.figure_text}",
                     "ours": _over(measure.value if measure else None, scale),
                     "low": _over(measure.low if measure else None, scale),
                     "high": _over(measure.high if measure else None, scale),
                     "band_low": _over(low, scale), "band_high": _over(high, scale), "verdict": word})
    return pd.DataFrame(rows)


def _over(value: float | None, scale: float) -> float:
    return value / scale if value is not None and math.isfinite(value) else math.nan


def render(paths: list[Path], out_dir: Path, claims_png: Path | None = None) -> str:
    """The whole report for ``paths`` (run folders); figures are linked relative to ``out_dir``. With
    ``claims_png`` (one folder), the claim table is also drawn there and linked under it."""
    folders = [summarise_folder(p, out_dir) for p in paths]
    claims = load_claims()
    table = claim_rows(claims, folders)
    head = ["claim", "source", "articles' figure", "ours", "tolerance", "verdict"]
    if len(folders) > 1:
        head.insert(3, "machine (run)")
    lines = ["# Reproduction report: the articles' claims beside our measurements", "",
             markdown_table(["run", "kind", "machine", "profile", "complete", "code", "created"],
                            [[f"`{f.path.name}`", f.record.get("kind"), f.machine,
                              (f.record.get("profile") or {}).get("name", "-"),
                              "yes" if f.record.get("complete", True) else "NO", f.record.get("code_version", "-"),
                              f.record.get("created", "-")[:19]] for f in folders]), ""]
    for f in folders:
        if not f.comparable:
            lines += [f"**Model {layer_text(f.layers)} in `{f.path.name}`** (--layers): the articles measured "
                      f"{layer_text(SEED_LAYERS)}, so none of its figures is a reproduction of theirs; its claims "
                      "say `not comparable`.", ""]
    if any(f.quick for f in folders):
        lines += ["**QUICK profile**: tiny epochs, sweeps and a training subset, to test the code paths; its "
                  "figures are not comparable with the articles' and its verdicts mean nothing.", ""]
    for f in folders:
        if f.missing or not f.record.get("complete", True):
            lines += [f"**Incomplete run `{f.path.name}`**: missing "
                      + (", ".join(f.missing) or "experiments that did not start") + ". "
                      f"`mlp-bench reproduce --resume {f.path}` goes on where it stopped.", ""]
    lines += ["## Claims", "",
              f"{verdict_count(table)}. Verdicts follow the checks in `bench/reproduce/claims.toml`: "
              "`reproduced` where our measure and its 99 % interval (in brackets; an end-state figure's brackets are "
              "the range of 99 % of the last epoch's batches, labelled so) lie in the claim's band (a ratio "
              "claimed above 1 above 1, so an ordering is reproduced only when the interval excludes the opposite "
              "one), `differs` where both lie outside it, `unresolved` where the interval crosses the band's edge "
              "(counted apart, never as reproduced or differs). A difference names a measured reason or says "
              "`unexplained`; `not comparable` marks a claim whose measure the articles leave undefined. Time "
              "claims are ratios measured in one run, never seconds across machines. Rows that are one claim (two "
              "values the articles give for one figure, the Keras twins) count once, `ambiguous` where they "
              "disagree" + (f" ({', '.join(table.ambiguous)})" if table.ambiguous else "") + "; consistency checks "
              "of our set-up are listed apart and not counted.", "",
              markdown_table(head, table.rows), ""]
    if table.checks:
        lines += ["Consistency checks (our set-up against a printed number; not claims, not counted):", "",
                  markdown_table(head, table.checks), ""]
    if claims_png is not None and len(folders) == 1:
        from bench.figures import claims_figure

        claims_figure(claims_frame(claims, folders[0]), "the articles' claims: ours over their figure", claims_png)
        lines += [f"![claims]({os.path.relpath(claims_png, out_dir)})", ""]
    if table.reasons:
        lines += ["Measured reasons:", ""] + [f"- **{label}**: {text}" for label, text in table.reasons.items()] + [""]
    if len(folders) == 1:
        lines += changelog_section(folders[0].record)
        measures = {k: v for summary in folders[0].summaries.values() for k, v in summary.measures.items()}
        lines += readings_section(measures, PRINTED) if folders[0].comparable else []
    for name, module in EXPERIMENTS.items():
        sections = [(f, f.summaries[name]) for f in folders if name in f.summaries and f.summaries[name].section]
        if not sections:
            continue
        lines += [f"## {name}: {module.TITLE}", ""]
        for folder, summary in sections:
            if len(folders) > 1:
                lines += [f"### {folder.machine}, `{folder.path.name}`", ""]
            wall = ((folder.record.get("status") or {}).get(name) or {}).get("wall_s")
            lines += [summary.section, ""]
            if wall is not None:
                lines += [f"Wall time of this experiment: {wall / 60:.1f} min.", ""]
    return "\n".join(lines).rstrip() + "\n"
