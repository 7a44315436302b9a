"""The run folder's index.html in a real browser: Debian's Chromium, headless. The page must render its tables and
embedded figures, run its script over every table (the filter boxes it adds) and record no script error.

Skips with its reason where Chromium is missing (``apt-get install chromium``); CI installs it and sets
MLPBENCH_REQUIRE_BROWSER=1, so there a missing browser fails instead."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
REFERENCE = ROOT / "results" / "reference"
#: as the machine notes say: without the background-networking flags Chromium keeps dialling out
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--enable-logging=stderr", "--v=0"]


@pytest.fixture(scope="module")
def chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        if os.environ.get("MLPBENCH_REQUIRE_BROWSER") == "1":
            pytest.fail("MLPBENCH_REQUIRE_BROWSER=1 but no chromium on PATH")
        pytest.skip("no headless browser: install Debian's chromium package (apt-get install chromium)")
    return found


def browse(chromium: str, page: Path, tmp: Path, *extra: str) -> subprocess.CompletedProcess:
    profile = tmp / f"profile-{len(list(tmp.glob('profile-*')))}"
    return subprocess.run([chromium, *FLAGS, f"--user-data-dir={profile}", *extra, page.resolve().as_uri()],
                          capture_output=True, text=True, timeout=180)


def check_page(chromium: str, page: Path, tmp: Path, tables: int, images: int) -> str:
    done = browse(chromium, page, tmp, "--dump-dom")
    assert done.returncode == 0, done.stderr[-2000:]
    dom = done.stdout
    assert 'data-ready="1"' in dom, "the page's script did not finish"
    assert re.search(r'<pre id="page-errors">\s*</pre>', dom), re.search(r'id="page-errors">[^<]*', dom).group(0)
    console = [line for line in done.stderr.splitlines() if "CONSOLE" in line or "Uncaught" in line]
    assert not console, console
    assert dom.count("<table") >= tables and dom.count('class="filter"') == dom.count("<table")
    assert len(re.findall(r'<img src="data:image/png;base64,', dom)) >= images
    return dom


def test_the_reference_runs_page_renders_with_its_tables_and_figures(chromium, tmp_path):
    dom = check_page(chromium, REFERENCE / "index.html", tmp_path, tables=10, images=4)
    narrow = browse(chromium, REFERENCE / "index.html", tmp_path, "--window-size=1300,2000", "--dump-dom")
    assert 'data-overflow="0"' in narrow.stdout  # every table fits a 1300 px page, or scrolls in its own box
    for heading in ("which is fastest", "full runs", "Machine and system", "Every implementation against"):
        assert heading in dom
    shot = tmp_path / "reference.png"
    done = browse(chromium, REFERENCE / "index.html", tmp_path, "--window-size=1400,2400", f"--screenshot={shot}")
    assert done.returncode == 0 and shot.stat().st_size > 50_000, done.stderr[-2000:]
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_compare_html_renders(chromium, tmp_path):
    page = tmp_path / "compare.html"
    done = subprocess.run([sys.executable, "-m", "bench.cli", "compare", str(REFERENCE), str(REFERENCE), "-k",
                           "full_run", "--html", str(page)], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    dom = check_page(chromium, page, tmp_path, tables=1, images=1)
    assert "B/A" in dom and "numpy-tuned" in dom and "mlp 784-70-30-10 / full_run" in dom and "train_step" not in dom


def test_a_page_of_a_hostile_run_fetches_nothing_and_runs_no_script_of_its_own(chromium, tmp_path):
    """Markdown and HTML in a saved implementation name reach the browser as text: no image, link or script."""
    from test_page_trust import HOSTILE, hostile_run, live_images

    run = hostile_run(tmp_path / "run")
    page = tmp_path / "hostile.html"
    done = subprocess.run([sys.executable, "-m", "bench.cli", "table", str(run), "--html", str(page)],
                          capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert done.returncode == 0, done.stderr
    dom = check_page(chromium, page, tmp_path, tables=2, images=0)
    assert live_images(dom) == [] and "evil.example" in dom and "<a " not in dom
    assert HOSTILE.split("<img")[0] in dom.replace("&amp;", "&")
