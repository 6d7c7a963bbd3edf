"""CAL's effect at a glance: a dumbbell chart (SVG, no plotting library) from run records.

One row per experiment that has CAL / ID-only pairs (the pairs of ``leaderboard --cal-gain``),
one panel per metric (general mAP and clothes-changing mAP by default), all panels on one
axis so that the gap between general and CC retrieval (the clothes shortcut) is visible
next to CAL's change: a hollow dot for the ID-only mean, a filled dot for the CAL mean,
both over the paired seeds, and the mean paired change written beside them.
"""
from __future__ import annotations

import math
import statistics
from typing import List, Optional, Sequence, Tuple
from xml.sax.saxutils import escape

from benchmark.records import RunRecord

from .tables import _metric, cal_pairs, off_default

PANELS: Tuple[Tuple[str, str], ...] = (("general", "mAP"), ("cc", "mAP"))
ROW_H, TOP, PANEL_W, GAP, RIGHT, BOTTOM = 26, 58, 260, 40, 20, 34
CHAR_W = 7.0  # a generous average glyph width of 12-px sans-serif, to fit the row labels
GAIN, LOSS, PLAIN = "#1b7f3b", "#b3261e", "#5f6368"


def _mean(values: Sequence[Optional[float]]) -> Optional[float]:
    vals = [100.0 * v for v in values if v is not None]
    return statistics.fmean(vals) if vals else None


def _rows(records: List[RunRecord], panels: Sequence[Tuple[str, str]]) -> List[Tuple[str, list]]:
    """[(label, [(ID-only mean, CAL mean, mean paired change) per panel])] in percent."""
    varying, groups = cal_pairs(records)
    datasets = {cfg["data.dataset"] for cfg, _ in groups}
    out = []
    for cfg, pairs in groups:
        label = cfg["model.name"] + (f" ({cfg['model.backbone']})" if len({c["model.backbone"] for c, _ in groups}) > 1
                                      else "")
        if len(datasets) > 1:
            label = f"{cfg['data.dataset']}: {label}"
        # fields that vary, where this experiment is off the suite's default (kept short)
        extra = off_default(cfg, varying)
        if extra:
            label += " " + " ".join(extra)
        cells = []
        for p, m in panels:
            plain = _mean([_metric(b, p, m) for _, _, b in pairs])
            cal = _mean([_metric(a, p, m) for _, a, _ in pairs])
            deltas = [(_metric(a, p, m), _metric(b, p, m)) for _, a, b in pairs]
            delta = _mean([a - b for a, b in deltas if a is not None and b is not None])
            cells.append((plain, cal, delta))
        out.append((f"{label} · {len(pairs)} seed{'s' if len(pairs) > 1 else ''}", cells))
    return out


def _axis(values: List[float]) -> Tuple[float, float, float]:
    """(low, high, tick step) covering ``values`` with round ticks."""
    lo, hi = min(values), max(values)
    span = max(hi - lo, 1.0)
    step = next(s for s in (1, 2, 5, 10, 20, 25) if span / s <= 8)
    return math.floor((lo - 0.05 * span) / step) * step, math.ceil((hi + 0.05 * span) / step) * step, step


def cal_gain_svg(records: List[RunRecord], panels: Sequence[Tuple[str, str]] = PANELS,
                 title: Optional[str] = None) -> str:
    """The chart as SVG text; raises ValueError when no CAL run has an ID-only partner."""
    rows = _rows(records, panels)
    if not rows:
        raise ValueError("no CAL / no-CAL pairs with the same seed to plot")
    values = [v for _, cells in rows for plain, cal, _ in cells for v in (plain, cal) if v is not None]
    if not values:
        raise ValueError("the paired runs have none of the plotted metrics")
    lo, hi, step = _axis(values)
    left = max(120.0, CHAR_W * max(len(label) for label, _ in rows) + 20)
    width = round(left + len(panels) * PANEL_W + (len(panels) - 1) * GAP + RIGHT)
    height = TOP + len(rows) * ROW_H + BOTTOM
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
           f'viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="12">',
           f'<rect width="{width}" height="{height}" fill="white"/>']
    heading = title or "CAL vs ID only (mean over paired seeds; change = mean of paired differences)"
    out.append(f'<text x="10" y="18" font-size="14" font-weight="bold">{escape(heading)}</text>')
    out.append(f'<circle cx="16" cy="34" r="5" fill="white" stroke="{PLAIN}" stroke-width="2"/>'
               f'<text x="26" y="38">ID only</text>'
               f'<circle cx="96" cy="34" r="5" fill="{GAIN}"/><text x="106" y="38">+ CAL (gain)</text>'
               f'<circle cx="206" cy="34" r="5" fill="{LOSS}"/><text x="216" y="38">+ CAL (loss)</text>')

    def x_of(panel: int, v: float) -> float:
        return left + panel * (PANEL_W + GAP) + (v - lo) / (hi - lo) * PANEL_W

    bottom = TOP + len(rows) * ROW_H
    for i, (p, m) in enumerate(panels):
        x0 = left + i * (PANEL_W + GAP)
        name = {"general": "general", "cc": "clothes-changing", "sc": "same-clothes"}.get(p, p)
        out.append(f'<text x="{x0 + PANEL_W / 2:.1f}" y="{TOP - 8}" text-anchor="middle" '
                   f'font-weight="bold">{escape(f"{name} {m} (%)")}</text>')
        tick = lo
        while tick <= hi + 1e-9:
            x = x_of(i, tick)
            out.append(f'<line x1="{x:.1f}" y1="{TOP}" x2="{x:.1f}" y2="{bottom}" stroke="#e0e0e0"/>'
                       f'<text x="{x:.1f}" y="{bottom + 16}" text-anchor="middle" fill="{PLAIN}">{tick:g}</text>')
            tick += step
    for r, (label, cells) in enumerate(rows):
        y = TOP + r * ROW_H + ROW_H / 2
        out.append(f'<text x="{left - 10:.0f}" y="{y + 4:.1f}" text-anchor="end">{escape(label)}</text>')
        for i, (plain, cal, delta) in enumerate(cells):
            if plain is None or cal is None:
                out.append(f'<text x="{x_of(i, lo) + 4:.1f}" y="{y + 4:.1f}" fill="{PLAIN}">undefined</text>')
                continue
            colour = GAIN if cal >= plain else LOSS
            xa, xb = x_of(i, plain), x_of(i, cal)
            out.append(f'<line x1="{xa:.1f}" y1="{y:.1f}" x2="{xb:.1f}" y2="{y:.1f}" stroke="{colour}" '
                       f'stroke-width="3"/>'
                       f'<circle class="id-only" cx="{xa:.1f}" cy="{y:.1f}" r="5" fill="white" stroke="{PLAIN}" '
                       f'stroke-width="2"/>'
                       f'<circle class="cal" cx="{xb:.1f}" cy="{y:.1f}" r="5" fill="{colour}"/>')
            right = max(xa, xb) + 9
            out.append(f'<text x="{right:.1f}" y="{y + 4:.1f}" fill="{colour}" font-size="11">'
                       f'{delta:+.1f}</text>' if delta is not None else "")
    out.append("</svg>")
    return "\n".join(out) + "\n"
