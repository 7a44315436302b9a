"""The articles' claims (``claims.toml``) and how one measurement is judged against one claim."""

from __future__ import annotations

import math
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from impl.errors import MLPBenchError

CLAIMS_FILE = Path(__file__).with_name("claims.toml")
CHECKS = ("tolerance_rel", "tolerance_abs", "at_least", "at_most", "range")
QUALITIES = ("printed", "second-hand", "interpreted")
UNITS = ("ratio", "accuracy", "epochs", "s", "count", "value")
#: every verdict a claim row can get, in the headline's order
VERDICT_WORDS = ("reproduced", "differs", "unresolved", "not comparable", "not run here")
#: the measure key of a statement no experiment measures (listed with not_measured or not_comparable)
NO_MEASURE = "-"
#: the verdict of a claim whose rows disagree (its twins or readings)
AMBIGUOUS = "ambiguous"
#: id suffixes of the rows that are one claim (:attr:`Claim.group`)
GROUP_SUFFIXES = ("-printed", "-standard", "-loop")


@dataclass(frozen=True)
class Measure:
    """One measured quantity: a value, optionally its 99 % interval, and what it was computed from."""

    value: float
    low: float | None = None
    high: float | None = None
    note: str = ""
    #: what the brackets are where they are not a 99 % interval (shown beside them)
    bracket: str = ""

    def text(self, unit: str) -> str:
        shown = format_value(self.value, unit)
        if self.low is not None and self.high is not None and math.isfinite(self.low):
            shown += f" [{format_value(self.low, unit)}, {format_value(self.high, unit)}]"
            shown += f" ({self.bracket})" if self.bracket else ""
        return shown


def format_value(value: float, unit: str) -> str:
    if unit == "accuracy":
        return f"{value:.4f}"
    if unit in ("epochs", "count"):
        return f"{value:,.0f}" if unit == "count" else f"{value:.0f}"
    if unit == "value":
        return f"{value:.6g}"
    if unit == "s":
        return f"{value:.2f} s"
    return f"{value:.3f}"


@dataclass(frozen=True)
class Claim:
    id: str
    experiment: str
    claim: str
    source: str
    quality: str
    figure_text: str
    figure: float
    unit: str
    measure: str
    check: str
    bound: Any
    reason: str | None = None
    #: The training run the figure was printed for, where the claim names one (``mlp-bench train`` shows the
    #: figure beside a run with this implementation, batch size and epochs): ``{impl, batch_size, epochs}``.
    setting: dict[str, Any] | None = None
    #: Why no verdict can be reached where the articles leave the measure undefined (a convergence epoch without
    #: a stated rule): the row then says ``not comparable`` with our figure.
    not_comparable: str | None = None
    #: A check of our set-up against a printed number (a weight count, the lr schedule): listed, not counted.
    consistency: bool = False
    #: Why no experiment measures the claim (a statement the report lists rather than leaves out): the row says
    #: ``not run here (why)``.
    not_measured: str | None = None

    @property
    def group(self) -> str:
        """The claim this row belongs to: two values of one figure (``-printed``/``-standard``) and the Keras
        twins (``-loop``) are one claim with several rows."""
        for suffix in GROUP_SUFFIXES:
            if self.id.endswith(suffix):
                return self.id[:-len(suffix)]
        return self.id

    @property
    def ordering(self) -> int:
        """A ratio figure above 1 claims that A is slower than B (+1), below 1 that it is faster (-1): a value
        on the other side of 1 never reproduces it, whatever the tolerance. 0: no ordering claimed."""
        if self.unit != "ratio" or self.figure == 1 or math.isnan(self.figure):
            return 0
        return 1 if self.figure > 1 else -1

    def tolerance_text(self) -> str:
        if math.isnan(self.figure):
            return "-"  # a statement without a number: listed, never judged
        text = self._band_text()
        low, high = self._band()
        if self.ordering > 0 and low < 1 or self.ordering < 0 and high > 1:
            text += ", > 1" if self.ordering > 0 else ", < 1"
        return text

    def _band_text(self) -> str:
        if self.check == "tolerance_rel":
            return f"±{self.bound:.0%}" if self.bound >= 0.01 else f"±{self.bound:.0e} relative"
        if self.check == "tolerance_abs":
            return f"±{format_value(self.bound, self.unit)}".replace(" s", " s")
        if self.check == "at_least":
            return f">= {format_value(self.bound, self.unit)}"
        if self.check == "at_most":
            return f"<= {format_value(self.bound, self.unit)}"
        low, high = self.bound
        return f"{format_value(low, self.unit)} to {format_value(high, self.unit)}"

    def region(self) -> tuple[float, float]:
        """The values that reproduce the claim, as an interval: the check's band on the claimed side of 1."""
        low, high = self._band()
        if self.ordering > 0:
            low = max(low, 1.0)
        elif self.ordering < 0:
            high = min(high, 1.0)
        return low, high

    def _band(self) -> tuple[float, float]:
        if self.check == "tolerance_rel":
            return self.figure * (1 - self.bound), self.figure * (1 + self.bound)
        if self.check == "tolerance_abs":
            return self.figure - self.bound, self.figure + self.bound
        if self.check == "at_least":
            return self.bound, math.inf
        if self.check == "at_most":
            return -math.inf, self.bound
        low, high = self.bound
        return low, high

    def holds(self, value: float) -> bool:
        """Whether ``value`` reproduces the claim: its check, and the ordering a ratio claims (strictly)."""
        if self.ordering and not (value > 1 if self.ordering > 0 else value < 1):
            return False
        return self._check_holds(value)

    def _check_holds(self, value: float) -> bool:
        if self.check == "tolerance_rel":
            return abs(value / self.figure - 1) <= self.bound
        if self.check == "tolerance_abs":
            return abs(value - self.figure) <= self.bound
        if self.check == "at_least":
            return value >= self.bound
        if self.check == "at_most":
            return value <= self.bound
        low, high = self.bound
        return low <= value <= high


def _figure(raw: Any, where: str) -> tuple[str, float]:
    """A number, "a / b" (a ratio of two printed figures, computed here so no arithmetic is copied), or "-" (a
    statement without a number, listed with why it is not measured)."""
    if raw == "-":
        return "-", math.nan
    if isinstance(raw, int | float):
        return f"{raw:g}", float(raw)
    if isinstance(raw, str) and raw.count("/") == 1:
        a, b = (float(part) for part in raw.split("/"))
        return f"{raw} = {a / b:.3f}", a / b
    raise MLPBenchError(f"{where}: figure must be a number or 'a / b', got {raw!r}")


def parse_claims(text: str, where: str = "claims") -> list[Claim]:
    try:
        entries = tomllib.loads(text).get("claim", [])
    except tomllib.TOMLDecodeError as err:
        raise MLPBenchError(f"{where}: not valid TOML ({err})") from None
    claims, seen = [], set()
    for n, entry in enumerate(entries, 1):
        here = f"{where}, claim {entry.get('id', n)}"
        missing = [k for k in ("id", "experiment", "claim", "source", "quality", "figure", "unit", "measure")
                   if k not in entry]
        checks = [k for k in CHECKS if k in entry]
        if missing or len(checks) != 1:
            raise MLPBenchError(f"{here}: needs {', '.join(missing) or 'exactly one check of ' + ', '.join(CHECKS)}")
        if entry["quality"] not in QUALITIES or entry["unit"] not in UNITS:
            raise MLPBenchError(f"{here}: quality must be one of {QUALITIES} and unit one of {UNITS}")
        if entry["id"] in seen:
            raise MLPBenchError(f"{here}: duplicate id")
        seen.add(entry["id"])
        figure_text, figure = _figure(entry["figure"], here)
        if figure_text == "-" and not (entry.get("not_measured") or entry.get("not_comparable")):
            raise MLPBenchError(f"{here}: a figure of '-' needs not_measured or not_comparable")
        claims.append(Claim(entry["id"], entry["experiment"], entry["claim"], entry["source"], entry["quality"],
                            figure_text, figure, entry["unit"], entry["measure"], checks[0], entry[checks[0]],
                            entry.get("reason"), _setting(entry.get("setting"), here), entry.get("not_comparable"),
                            bool(entry.get("consistency", False)), entry.get("not_measured")))
    return claims


SETTING_KEYS = {"impl": str, "batch_size": int, "epochs": int}


def _setting(raw: Any, where: str) -> dict[str, Any] | None:
    if raw is None:
        return None
    if not isinstance(raw, dict) or set(raw) != set(SETTING_KEYS) or any(
            not isinstance(raw[k], kind) for k, kind in SETTING_KEYS.items()):
        raise MLPBenchError(f"{where}: setting must be {{impl = NAME, batch_size = N, epochs = N}}, got {raw!r}")
    return dict(raw)


def figures_for(impl: str, batch_size: int, epochs: int, unit: str = "accuracy",
                path: Path = CLAIMS_FILE) -> list[Claim]:
    """The articles' figures printed for exactly this training run (none for most runs)."""
    wanted = {"impl": impl, "batch_size": batch_size, "epochs": epochs}
    return [c for c in load_claims(path) if c.setting == wanted and c.unit == unit]


def load_claims(path: Path = CLAIMS_FILE) -> list[Claim]:
    return parse_claims(path.read_text(), str(path))


def verdict(claim: Claim, measure: Measure | None, missing_reason: str) -> tuple[str, str]:
    """(ours, verdict) for one claim: ``reproduced`` where the measure (and its 99 % interval, where it has one)
    lies in the claim's region, so that an ordering is reproduced only when the interval excludes the opposite
    one; ``differs`` where it (and its interval) lies outside; ``unresolved (...)`` where the interval crosses
    the region's edge, whichever side the point is on; ``not comparable (why)`` or ``not run here (why)``."""
    if measure is None or not math.isfinite(measure.value):
        if claim.not_comparable and claim.measure == NO_MEASURE:  # listed: the figure admits no measure of ours
            return "-", f"not comparable ({claim.not_comparable})"
        return "-", f"not run here ({claim.not_measured or missing_reason})"
    ours = measure.text(claim.unit)
    if claim.not_comparable:
        return ours, f"not comparable ({claim.not_comparable}" + (f"; ours: {measure.note})" if measure.note else ")")
    low, high = claim.region()
    has_interval = measure.low is not None and measure.high is not None and math.isfinite(measure.low)
    if claim.holds(measure.value):
        if has_interval and (measure.low < low or measure.high > high):
            opposite = claim.ordering and (measure.low <= 1 if claim.ordering > 0 else measure.high >= 1)
            return ours, ("unresolved (ours in the claim's band; the interval leaves it"
                          + (", reaching the opposite ordering)" if opposite else ")"))
        return ours, "reproduced"
    if has_interval and measure.low <= high and measure.high >= low:
        return ours, "unresolved (ours outside the claim's band; the interval reaches it)"
    return ours, "differs"


def articles_times(path: Path = CLAIMS_FILE) -> dict[tuple[str, int], float]:
    """The articles' 35-epoch seconds by (implementation, batch size), for figures only."""
    entries = tomllib.loads(path.read_text()).get("articles_time", [])
    return {(e["impl"], int(e["batch_size"])): float(e["seconds"]) for e in entries}
