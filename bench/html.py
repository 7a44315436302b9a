"""One self-contained HTML page per run folder (``index.html``), per comparison (``compare --html``) and per
report (``report --html``): the same Markdown as the text tables, rendered with markdown-it, every table
sortable (click a header) and filterable (type in the box above it), the figures embedded as data URIs, the
machine and system report. No server and no network: inline CSS and a few lines of inline JavaScript.

The page records its own script errors in ``#page-errors`` and sets ``data-ready`` on ``<body>`` when its
script has run, so that a headless browser can check it (tests/test_html.py).
"""

from __future__ import annotations

import base64
import html
import json
import re
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd
from markdown_it import MarkdownIt

from bench.runs import RUN_FILE, atomic_write_text

STYLE = """
body { font: 14px/1.45 system-ui, sans-serif; margin: 1.5em auto; max-width: 1400px; padding: 0 1em; color: #222; }
h1 { font-size: 1.5em; } h2 { font-size: 1.25em; border-bottom: 1px solid #ddd; } h3 { font-size: 1.05em; }
table { border-collapse: collapse; margin: 0.3em 0 1.2em; font-variant-numeric: tabular-nums; }
th, td { border: 1px solid #ccc; padding: 2px 7px; } th { background: #f3f3f3; cursor: pointer; }
th[aria-sort=ascending]::after { content: " ▲"; } th[aria-sort=descending]::after { content: " ▼"; }
tr:nth-child(even) td { background: #fafafa; }
.table-box { max-width: 100%; overflow-x: auto; }
input.filter { margin: 0.2em 0; width: 22em; } figure { margin: 1em 0; } img { max-width: 100%; }
pre { background: #f6f6f6; padding: 0.6em; overflow-x: auto; } .meta { color: #555; }
td.slower { color: #b34700; } td.faster { color: #007a5a; } td.same { color: #0057a0; }
#page-errors:empty { display: none; } #page-errors { color: #b00; }
"""

#: sorting (numbers by value, the rest as text), filtering, verdict colours; errors recorded in the page
SCRIPT = """
(function () {
  var errors = document.getElementById('page-errors');
  window.addEventListener('error', function (e) { errors.textContent += (e.message || String(e)) + '\\n'; });
  function value(cell) {
    var text = cell.textContent.trim(), n = parseFloat(text.replace(/[,\\[]/g, ''));
    return isNaN(n) ? text.toLowerCase() : n;
  }
  document.querySelectorAll('table').forEach(function (table, t) {
    var box = document.createElement('input');
    box.className = 'filter'; box.placeholder = 'filter rows…'; box.setAttribute('aria-label', 'filter table ' + t);
    var scroller = document.createElement('div');  // a wide table scrolls in its own box, never the page
    scroller.className = 'table-box';
    table.parentNode.insertBefore(scroller, table);
    scroller.appendChild(table);
    scroller.parentNode.insertBefore(box, scroller);
    box.addEventListener('input', function () {
      var q = box.value.toLowerCase();
      table.querySelectorAll('tbody tr').forEach(function (row) {
        row.hidden = q && row.textContent.toLowerCase().indexOf(q) < 0;
      });
    });
    table.querySelectorAll('th').forEach(function (th, col) {
      th.addEventListener('click', function () {
        var up = th.getAttribute('aria-sort') !== 'ascending', body = table.tBodies[0];
        table.querySelectorAll('th').forEach(function (h) { h.removeAttribute('aria-sort'); });
        th.setAttribute('aria-sort', up ? 'ascending' : 'descending');
        Array.from(body.rows).sort(function (a, b) {
          var x = value(a.cells[col]), y = value(b.cells[col]);
          var c = (typeof x === typeof y) ? (x < y ? -1 : x > y ? 1 : 0) : (typeof x === 'number' ? -1 : 1);
          return up ? c : -c;
        }).forEach(function (row) { body.appendChild(row); });
      });
    });
    table.querySelectorAll('td').forEach(function (td) {
      var word = td.textContent.trim();
      if (['slower', 'faster', 'same'].indexOf(word) >= 0) td.classList.add(word);
    });
  });
  document.body.dataset.overflow = document.documentElement.scrollWidth > window.innerWidth ? '1' : '0';
  document.body.dataset.ready = '1';
})();
"""

#: our own documents (the report): Markdown with its images, never raw HTML, never links out
_MARKDOWN = MarkdownIt("commonmark", {"html": False}).enable("table").disable(["link", "autolink"])
#: tables made from saved runs: their text (implementation names, flags, notes) is data, so no inline Markdown
#: at all (no emphasis, code, link, image or entity): block structure only, every character shown as written
_DATA_MARKDOWN = MarkdownIt("zero", {"html": False}).enable(["table", "heading", "list", "hr", "fence", "code",
                                                             "newline"])


def embedded(path: Path) -> str:
    """A PNG as a data URI: the page stays one file that opens anywhere."""
    return "data:image/png;base64," + base64.b64encode(path.read_bytes()).decode()


def _png(path: Path) -> str | None:
    """``path`` embedded where it is a readable PNG (by its first bytes, not only its name), else None."""
    try:
        data = path.read_bytes() if path.is_file() else b""
    except OSError:
        return None
    return "data:image/png;base64," + base64.b64encode(data).decode() if data[:8] == PNG_MAGIC else None


PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
_IMG = re.compile(r"<img\b[^>]*>")
_ATTR = re.compile(r'\b(src|alt)="([^"]*)"')


def data_html(text: str) -> str:
    """Text made from saved runs as HTML: block structure only, everything in it escaped and shown as written."""
    return _DATA_MARKDOWN.render(text)


def markdown_html(text: str, base: Path | None = None, inside: Iterable[Path] = ()) -> str:
    """Our own Markdown as HTML. An image is embedded only where its source, relative to ``base``, is a PNG file
    inside one of the folders ``inside`` (the runs a report was made from); any other image (a URL, a file
    elsewhere on disk) is dropped, its alt text left in its place: the page fetches nothing and shows no file
    a saved text merely names."""
    out = _MARKDOWN.render(text)
    roots = [Path(r).resolve() for r in inside]

    def image(match: re.Match[str]) -> str:
        attrs = dict(_ATTR.findall(match.group(0)))
        src, alt = html.unescape(attrs.get("src", "")), attrs.get("alt", "")
        if base is not None and "://" not in src and not src.startswith("data:"):
            file = (base / src).resolve()
            if any(file.is_relative_to(root) for root in roots) and (uri := _png(file)):
                return f'<img src="{uri}" alt="{alt}">'
        return f"[image: {alt}]"

    return _IMG.sub(image, out)


def figures_html(paths: Iterable[Path]) -> str:
    """The run folder's own figures; a name ending .png that is no readable PNG is left out."""
    shown = [(p, uri) for p in paths if (uri := _png(p))]
    return "\n".join(f'<figure><img src="{uri}" alt="{html.escape(p.stem)}">'
                     f"<figcaption>{html.escape(p.name)}</figcaption></figure>" for p, uri in shown)


def page(title: str, body: str) -> str:
    """A whole page around ``body`` (HTML), with the style, the script and the error box."""
    made = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    return (f"<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
            f"<title>{html.escape(title)}</title><style>{STYLE}</style></head>\n<body>\n"
            f"<h1>{html.escape(title)}</h1><p class=\"meta\">written by mlp-bench, {made}</p>\n"
            f"<pre id=\"page-errors\"></pre>\n{body}\n<script>{SCRIPT}</script>\n</body></html>\n")


def machine_html(doc: dict[str, Any], record: dict[str, Any] | None) -> str:
    """The machine (CPU, BLAS, versions) the run recorded, and the system report taken at its start."""
    from bench.system import render_system

    info = doc.get("machine_info", {}).get("mlp_bench", {})
    facts = {"CPU": info.get("cpu_model"), "host": info.get("host"), "cores": info.get("cpu_count"),
             "BLAS": [f"{b.get('internal_api')} {b.get('version')} {b.get('architecture')} "
                      f"({b.get('num_threads')} threads)" for b in info.get("blas", [])],
             "versions": info.get("versions"), "variables": info.get("env")}
    rows = "".join(f"<tr><th>{html.escape(k)}</th><td>{html.escape(_plain(v))}</td></tr>"
                   for k, v in facts.items() if v)
    system = record.get("system") if record else None
    return ("<h2>Machine and system</h2>" + (f"<table class=\"facts\"><tbody>{rows}</tbody></table>" if rows else "")
            + (f"<pre>{html.escape(render_system(system))}</pre>" if system else ""))


def _plain(value: Any) -> str:
    if isinstance(value, dict):
        return ", ".join(f"{k} {v}" for k, v in value.items())
    if isinstance(value, list):
        return "; ".join(str(v) for v in value)
    return str(value)


def run_page(source: Path, doc: dict[str, Any], frame: pd.DataFrame) -> str:
    """A benchmark run's page: every table (wide), the verdicts against the fastest, the figures, the machine."""
    from bench.results import against_fastest, render

    folder = source if source.is_dir() else None
    record = json.loads((folder / RUN_FILE).read_text()) if folder and (folder / RUN_FILE).is_file() else None
    complete = record.get("complete", True) if record else True
    title = f"mlp-bench run {record['run_id'] if record else source.name}"
    verdicts = against_fastest(frame, doc)
    body = [f"<p class=\"meta\">{html.escape(str(source))}"
            + ("" if complete else " — <strong>INCOMPLETE: interrupted or failed</strong>") + "</p>"]
    if folder is not None:
        order = ["ladder", "steps", "fastest", "memory"]  # the answer first, then where the time goes
        pngs = sorted(folder.glob("*.png"), key=lambda p: (next((i for i, k in enumerate(order) if p.stem.endswith(k)),
                                                                len(order)), p.name))
        body += ["<h2>Figures</h2>", figures_html(pngs)]
    body += ["<h2>Tables</h2>", data_html(render(frame, doc, wide=True)),
            "<h2>Every implementation against the fastest</h2>",
            data_html(verdicts.drop(columns=["impl_name"]).to_markdown(index=False, floatfmt=".4g"))
            if not verdicts.empty else ""]
    body.append(machine_html(doc, record))
    return page(title, "\n".join(body))


def write_run_page(out: Path, source: Path, doc: dict[str, Any], frame: pd.DataFrame) -> Path:
    atomic_write_text(out, run_page(source, doc, frame))
    return out


def write_comparison_page(out: Path, table: pd.DataFrame, shown: pd.DataFrame, paths: list[Path],
                          notes: list[str], threshold: float) -> Path:
    """``compare --html``: the comparison tables, the forest plot of every shown case, the warnings."""
    import tempfile

    from bench import figures
    from bench.compare import render_comparison
    from bench.results import case_id, interval_label, label_of

    alpha = table.attrs.get("alpha", 0.01)
    drawn = shown[shown["ratio_b_over_a"].notna()]  # cases with a verdict; the others are in the tables
    rows = pd.DataFrame({"label": [case_id(label_of(r), r.batch_size, r.phase) for r in drawn.itertuples()],
                         "ratio": drawn["ratio_b_over_a"], "low": drawn["low"], "high": drawn["high"],
                         "verdict": drawn["verdict"]})
    body = [f"<p class=\"meta\">A: {html.escape(str(paths[0]))}<br>B: {html.escape(str(paths[1]))}</p>",
            data_html(render_comparison(table, alpha, threshold, wide=True, shown=shown))]
    if not rows.empty:
        with tempfile.TemporaryDirectory() as tmp:
            png = figures.forest_figure(rows, f"B/A per case ({interval_label(alpha)})", "B/A (time of B / time of A)",
                                        Path(tmp) / "compare.png", threshold)
            body += ["<h2>Every case at a glance</h2>", figures_html([png])]
    body += [f"<p>{html.escape(n)}</p>" for n in notes]
    atomic_write_text(out, page(f"mlp-bench compare: {paths[1].name} against {paths[0].name}", "\n".join(body)))
    return out


def write_report_page(out: Path, text: str, base: Path, runs: Iterable[Path] = ()) -> Path:
    """``report --html``: the report's Markdown, its figures (relative to ``base``) embedded where they lie
    inside one of the ``runs`` it was made from."""
    atomic_write_text(out, page("mlp-bench report", markdown_html(text, base, runs)))
    return out
