"""One self-contained HTML page per leaderboard: its tables, its figures (inline PNG) and the command
that regenerates it. Nothing is fetched when the page is opened: styles and images are in the file."""
from __future__ import annotations

import base64
import datetime as _dt
import html
import os
import tempfile
from typing import List, Optional, Sequence, Tuple

from benchmark.records import RunRecord
from ccvid.files import write_atomically

from .render import metric_headers, render_table
from .tables import cal_gain_rows, leaderboard_rows, shared_settings

STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1200px; color: #222; }
h1 { font-size: 1.5em; } h2 { font-size: 1.15em; margin-top: 2em; }
table { border-collapse: collapse; margin: 0.5em 0; font-size: 0.9em; }
th, td { border-bottom: 1px solid #ddd; padding: 0.25em 0.6em; text-align: left; white-space: nowrap; }
th { background: #f3f3f3; } caption { caption-side: bottom; text-align: left; color: #555; padding-top: 0.4em; }
code { background: #f3f3f3; padding: 0.1em 0.3em; } img { max-width: 100%; border: 1px solid #eee; }
.note { color: #a33; }
"""
# after loading, the page counts its tables and the images the browser decoded (a test reads them back)
CHECK = """
window.addEventListener("load", function () {
  var imgs = Array.prototype.slice.call(document.images);
  document.body.setAttribute("data-tables", document.querySelectorAll("table").length);
  document.body.setAttribute("data-images-decoded", imgs.filter(function (i) { return i.naturalWidth > 0; }).length);
});
"""


def _figure_tags(records: List[RunRecord]) -> List[Tuple[str, str]]:
    """(title, <img> tag) for every figure the records can show (needs matplotlib)."""
    from .figures import NothingToDraw, cal_gain_figure, cmc_figure, speed_accuracy_figure, training_curves_figure
    out = []
    with tempfile.TemporaryDirectory(prefix="ccreid-report-") as work:
        for title, draw in (("CAL against ID only, paired by seed", cal_gain_figure), ("CMC curves", cmc_figure),
                            ("Training curves", training_curves_figure),
                            ("Speed against accuracy", speed_accuracy_figure)):
            path = os.path.join(work, "figure.png")
            try:
                draw(records, path)
            except NothingToDraw:
                continue
            with open(path, "rb") as f:
                data = base64.b64encode(f.read()).decode("ascii")
            out.append((title, f'<img alt="{html.escape(title)}" src="data:image/png;base64,{data}">'))
    return out


def html_report(records: List[RunRecord], command: str, columns: Sequence[Tuple[str, str]],
                title: str = "Leaderboard", published_html: Optional[str] = None) -> str:
    """The page: the last-epoch table (the headline), the reference rule's epochs, CAL's paired gain,
    published numbers beside ours when given, and the figures."""
    parts = [f"<h1>{html.escape(title)}</h1>",
             f"<p>Regenerate with <code>{html.escape(command)}</code> "
             f"({_dt.datetime.now().astimezone().isoformat(timespec='seconds')}; {len(records)} run records).</p>",
             "<h2>Last epoch (the headline)</h2>"]
    headers, rows = leaderboard_rows(records, columns)
    parts.append(render_table(headers, rows, "html", best=metric_headers(headers), caption=shared_settings(records)))
    headers, rows = leaderboard_rows(records, columns, selection="reference")
    if rows:
        parts += ["<h2>The epochs the reference's rule keeps</h2>",
                  "<p class=note>Chosen on the test set (best test top-1), as the reference code does: not "
                  "comparable with the headline, shown to compare with published numbers chosen that way.</p>",
                  render_table(headers, rows, "html", best=metric_headers(headers))]
    headers, rows = cal_gain_rows(records, columns)
    if rows:
        parts += ["<h2>CAL minus ID only, paired by seed</h2>",
                  render_table(headers, rows, "html", best=metric_headers(headers))]
    if published_html:
        parts += ["<h2>Published numbers beside ours</h2>", published_html]
    for fig_title, tag in _figure_tags(records):
        parts += [f"<h2>{html.escape(fig_title)}</h2>", tag]
    return (f"<!DOCTYPE html>\n<html lang=en><head><meta charset=utf-8><title>{html.escape(title)}</title>"
            f"<style>{STYLE}</style><script>{CHECK}</script></head>\n<body>\n"
            + "\n".join(parts) + "\n</body></html>\n")


def write_report(text: str, path: str) -> str:
    """Write the page atomically; return its path."""
    return write_atomically(path, lambda f: f.write(text.encode("utf-8")))
