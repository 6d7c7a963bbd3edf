"""Tables as people read them: the best value per column marked, a caption, and the output formats.

Formats: ``github`` (markdown, the default), ``csv``, ``json``, ``latex`` (every cell escaped: ±, Δ,
underscores...), ``html`` (escaped, best values in bold), and any other tabulate format as plain text.
"""
from __future__ import annotations

import csv
import html
import io
import json
import re
from typing import Dict, List, Optional, Sequence

from tabulate import tabulate, tabulate_formats

FORMATS = ("github", "csv", "json", "latex", "html")
_NUMBER = re.compile(r"^[+-]?\d+(\.\d+)?")
_LATEX = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_", "{": r"\{",
          "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}", "±": r"$\pm$", "Δ": r"$\Delta$",
          "·": r"$\cdot$", "ε": r"$\varepsilon$"}


def known_format(name: str) -> bool:
    return name in FORMATS or name in tabulate_formats


def _value(cell) -> Optional[float]:
    m = _NUMBER.match(str(cell).strip())
    return float(m.group(0)) if m else None


def best_cells(headers: Sequence[str], rows: Sequence[Sequence], columns: Sequence[str]) -> Dict[int, set]:
    """{column index: row indices holding its highest value} for the named metric columns."""
    out: Dict[int, set] = {}
    for name in columns:
        if name not in headers:
            continue
        j = list(headers).index(name)
        values = [(_value(r[j]), i) for i, r in enumerate(rows)]
        values = [(v, i) for v, i in values if v is not None]
        if len(values) > 1:
            top = max(v for v, _ in values)
            out[j] = {i for v, i in values if v == top}
    return out


PROTOCOL_TITLES = {"gen": "general", "cc": "clothes-changing (CC)", "sc": "same clothes (SC)"}
_SCORE = re.compile(r"^(Δ )?(gen|cc|sc) ")  # "cc mAP", "Δ gen top1": a score, titled by its protocol
_PROTOCOL_WORD = re.compile(r"(^|\s)(gen|cc|sc)\s")


def protocol_groups(headers: Sequence[str]) -> List[tuple]:
    """[(group title or "", span)] over the headers: consecutive columns of one protocol share a title.

    Empty when a header names its protocol elsewhere than first (the published comparison's "ours gen top1",
    "pub gen top1", "Δ gen top1"): titles over some of those columns would say less than the flat headers.
    """
    if any(_PROTOCOL_WORD.search(h) and not _SCORE.match(h) for h in headers):
        return []
    groups: List[list] = []
    for h in headers:
        m = _SCORE.match(h)
        title = ((m.group(1) or "") + PROTOCOL_TITLES[m.group(2)]) if m else ""
        if groups and groups[-1][0] == title and title:
            groups[-1][1] += 1
        else:
            groups.append([title, 1])
    return [tuple(g) for g in groups]


def _sub_header(h: str) -> str:
    """'cc mAP' under its group title reads 'mAP'."""
    return _SCORE.sub("", h)


def latex_escape(text) -> str:
    return "".join(_LATEX.get(ch, ch) for ch in str(text))


def render_table(headers: Sequence[str], rows: Sequence[Sequence], fmt: str = "github",
                 best: Sequence[str] = (), caption: Optional[str] = None) -> str:
    """One table in ``fmt``; the highest value of each column named in ``best`` is marked (bold)."""
    marks = best_cells(headers, rows, best)
    if fmt == "json":
        return json.dumps({"caption": caption, "rows": [dict(zip(headers, r)) for r in rows]}, indent=2,
                          ensure_ascii=False)
    if fmt == "csv":
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        writer.writerow(headers)
        writer.writerows(rows)
        return buf.getvalue().rstrip("\n")
    if fmt == "latex":
        cells = [[("\\textbf{%s}" % latex_escape(c)) if i in marks.get(j, ()) else latex_escape(c)
                  for j, c in enumerate(r)] for i, r in enumerate(rows)]
        groups = protocol_groups(headers)
        grouped = any(title for title, _ in groups)
        body = tabulate(cells, headers=[latex_escape(_sub_header(h) if grouped else h) for h in headers],
                        tablefmt="latex_raw", disable_numparse=True)
        if grouped:  # a row of protocol titles above the metric names
            top = " & ".join(f"\\multicolumn{{{n}}}{{c}}{{{latex_escape(t)}}}" if t else " & ".join([""] * n)
                             for t, n in groups) + r" \\"
            body = body.replace("\\hline\n", "\\hline\n" + top + "\n", 1)
        return body + (f"\n% {latex_escape(caption)}" if caption else "")
    if fmt == "html":
        cells = [[f"<b>{html.escape(str(c))}</b>" if i in marks.get(j, ()) else html.escape(str(c))
                  for j, c in enumerate(r)] for i, r in enumerate(rows)]
        groups = protocol_groups(headers)
        grouped = any(title for title, _ in groups)
        body = tabulate(cells, headers=[html.escape(_sub_header(h) if grouped else h) for h in headers],
                        tablefmt="unsafehtml", disable_numparse=True)
        if grouped:  # a row of protocol titles above the metric names
            top = "<tr>" + "".join(f'<th colspan="{n}">{html.escape(t)}</th>' for t, n in groups) + "</tr>\n"
            body = body.replace("<thead>\n", "<thead>\n" + top, 1)
        return body.replace("<table>", f"<table>\n<caption>{html.escape(caption)}</caption>", 1) if caption else body
    if fmt == "github":
        cells = [[f"**{c}**" if i in marks.get(j, ()) else c for j, c in enumerate(r)] for i, r in enumerate(rows)]
        body = tabulate(cells, headers=list(headers), tablefmt="github", disable_numparse=True)
        return body + (f"\n\n{caption}" if caption else "")
    body = tabulate(rows, headers=list(headers), tablefmt=fmt, disable_numparse=True)
    return body + (f"\n\n{caption}" if caption else "")


def metric_headers(headers: Sequence[str]) -> List[str]:
    """The columns holding scores (where 'best' means something)."""
    return [h for h in headers if _SCORE.match(h)]
