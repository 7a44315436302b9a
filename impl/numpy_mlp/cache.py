"""numpy-tuned's chunk size, read off this machine's L2 cache instead of one VM's constant.

A chunk-fused train step (``NumpyTuned.train_step``) keeps one chunk's gathered inputs and activations in cache
through forward, loss and backward. The chunk that measured best was 1024 rows on the AMD EPYC VM (1 MB of L2
per core; 768 to 1280 all alike, 2048 4-5 % slower at B=20000) and 2048 rows on the 2-core Intel machine with
2 MB of L2: one row per KiB of L2 on both. So the rule is that ratio, rounded down to a power of two and kept
within the range where it was measured to matter, and the L2 size comes from the OS (sysfs, then sysconf).
Where neither tells, the EPYC VM's 1024 rows stand, and the run records that the value was not derived.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

#: L2 bytes per chunk row: 1 MiB -> 1024 rows (the EPYC VM), 2 MiB -> 2048 (the Intel machine).
BYTES_PER_ROW = 1024
MIN_ROWS, MAX_ROWS = 256, 8192
FALLBACK_ROWS = 1024
CACHE_DIR = Path("/sys/devices/system/cpu/cpu0/cache")


@dataclass(frozen=True)
class ChunkChoice:
    """The chunk rows numpy-tuned uses and where they came from (recorded with every run)."""

    rows: int
    l2_bytes: int | None
    source: str  # "sysfs", "sysconf" or "fallback"

    def describe(self) -> str:
        """Where the rows came from, for reports."""
        if self.l2_bytes is None:
            return f"{self.rows} rows, the 1 MB-L2 default: this machine's L2 size was not readable"
        kib = self.l2_bytes // 1024
        return f"{self.rows} rows, one per KiB of this machine's {kib} KiB L2, read from {self.source}"


def _size_bytes(text: str) -> int:
    """sysfs cache sizes read like ``1024K`` or ``2M``."""
    text = text.strip().upper()
    scale = {"K": 1024, "M": 1024**2, "G": 1024**3}.get(text[-1:], 1)
    return int(text.rstrip("KMG")) * scale


def l2_from_sysfs(cache_dir: Path = CACHE_DIR) -> int | None:
    """The L2 (data or unified) cache of CPU 0 in bytes, or None where sysfs does not say."""
    for index in sorted(cache_dir.glob("index*")):
        try:
            if (index / "level").read_text().strip() == "2" and \
                    (index / "type").read_text().strip() in ("Data", "Unified"):
                return _size_bytes((index / "size").read_text())
        except (OSError, ValueError):
            continue
    return None


def l2_from_sysconf() -> int | None:
    try:
        size = os.sysconf("SC_LEVEL2_CACHE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None
    return size if size > 0 else None


def rows_for(l2_bytes: int) -> int:
    """One row per ``BYTES_PER_ROW`` of L2, rounded down to a power of two, within [MIN_ROWS, MAX_ROWS]."""
    rows = max(1, l2_bytes // BYTES_PER_ROW)
    return min(MAX_ROWS, max(MIN_ROWS, 1 << (rows.bit_length() - 1)))


def chunk_choice(cache_dir: Path = CACHE_DIR) -> ChunkChoice:
    for source, read in (("sysfs", lambda: l2_from_sysfs(cache_dir)), ("sysconf", l2_from_sysconf)):
        l2 = read()
        if l2:
            return ChunkChoice(rows_for(l2), l2, source)
    return ChunkChoice(FALLBACK_ROWS, None, "fallback")
