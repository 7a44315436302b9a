"""The HTML pages trust nothing they read: text from saved runs is shown as written (never rendered as Markdown
or HTML), and a page embeds images only from inside the runs it was made from."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from saved_runs import edited, small_doc, write_run

from bench import cli
from bench.html import PNG_MAGIC, markdown_html

HOSTILE = "![pwn](http://evil.example/x.png)<img src=x onerror=alert(1)>**bold**[link](javascript:alert(1))"
ROOT = Path(__file__).resolve().parents[1]


def live_images(page: str) -> list[str]:
    """Every <img> whose source is not an embedded data URI: what a page would fetch or read."""
    return [tag for tag in re.findall(r"<img\b[^>]*>", page) if 'src="data:image/png;base64,' not in tag]


def hostile_run(folder: Path) -> Path:
    def rename(bench):
        bench["extra_info"]["impl"] = HOSTILE
        bench["name"] = f"test_step[{HOSTILE}]"
        bench["extra_info"]["noise_by_process"] = None

    return write_run(folder, edited(small_doc(), rename, lambda info: info["impl"] == "numpy-v2-f"))


@pytest.mark.parametrize("command", ["table", "compare"])
def test_hostile_names_in_a_saved_run_are_shown_as_written(command, tmp_path, capsys):
    run = hostile_run(tmp_path / "run")
    page = tmp_path / "page.html"
    args = [command, str(run), *([str(run)] if command == "compare" else []), "--html", str(page)]
    assert cli.main(args) == 0, capsys.readouterr()
    text = page.read_text()
    assert live_images(text) == [] and "<a " not in text and "<strong>" not in text and "<em>" not in text
    assert "onerror=alert(1)&gt;" in text and "![pwn](http://evil.example/x.png)" in text  # shown, escaped


def png(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(PNG_MAGIC + b"\0" * 16)
    return path


def test_a_report_embeds_images_only_from_inside_its_runs(tmp_path):
    run = tmp_path / "run"
    png(run / "fig.png")
    png(tmp_path / "elsewhere" / "secret.png")
    (run / "fake.png").write_text("not a png")
    text = ("![inside](run/fig.png)\n\n![outside](elsewhere/secret.png)\n\n![up](run/../elsewhere/secret.png)\n\n"
            "![web](http://evil.example/x.png)\n\n![fake](run/fake.png)\n\n![abs](" + str(tmp_path / "elsewhere"
                                                                                          / "secret.png") + ")\n")
    out = markdown_html(text, tmp_path, [run])
    assert len(re.findall(r'<img src="data:image/png;base64,', out)) == 1 and live_images(out) == []
    for alt in ("outside", "up", "web", "fake", "abs"):
        assert f"[image: {alt}]" in out
    assert markdown_html("![inside](run/fig.png)", tmp_path).count("<img") == 0  # no runs named: nothing embedded


def test_the_reproduction_report_page_still_embeds_its_figures(tmp_path, capsys):
    page = tmp_path / "report.html"
    code = cli.main(["report", str(ROOT / "results" / "reproduction"), "--output", str(tmp_path / "report.md"),
                     "--html", str(page)])
    assert code == 0, capsys.readouterr()
    text = page.read_text()
    assert len(re.findall(r'<img src="data:image/png;base64,', text)) >= 4 and live_images(text) == []
