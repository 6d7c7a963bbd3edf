"""Figures from run records, drawn with matplotlib (Agg, no display needed).

Each function takes run records and an output path (``.png`` or ``.svg``), groups the
completed records into experiments as the leaderboard tables do (everything but the seed:
see :mod:`.tables`), writes the figure atomically (a temporary file, then ``os.replace``)
and returns the path. A figure with nothing to show raises :class:`NothingToDraw` (one line),
so that ``--figures`` and the HTML report can skip it and ``--plot`` can refuse.

- :func:`cmc_figure`: CMC curves (rank 1, 5, 10, 20), general and clothes-changing panels.
- :func:`training_curves_figure`: ID loss, CAL loss and the clothes accuracy within an
  identity per epoch, with the evaluated epochs' CC mAP, one panel per experiment.
- :func:`speed_accuracy_figure`: training clips per second against CC mAP.
- :func:`cal_gain_figure`: ID-only and CAL means of general and CC mAP (dumbbells), each
  seed's pair as faint points. The one CAL chart: ``leaderboard --plot FILE``, ``--figures``'
  cal-gain.png and the HTML report all draw it.

Every mean is over the seeds of an experiment and every spread is their standard deviation
(none with one seed). Colour tells the model (Okabe-Ito, colour-blind safe); a solid line and
a filled marker mean CAL, a dashed line and a hollow marker mean ID only.
"""
from __future__ import annotations

import math
import os
import statistics
from collections import defaultdict
from typing import Any, Dict, List, Optional, Sequence, Tuple

# the object API on the Agg canvas: files only, never a window, and pyplot's global backend is left alone
from matplotlib import rc_context
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from benchmark.records import RunRecord
from ccvid.files import write_atomically

from .tables import LeaderboardError, _metric, cal_pairs, config_of, group_experiments, off_default

__all__ = ["cmc_figure", "training_curves_figure", "speed_accuracy_figure", "cal_gain_figure", "NothingToDraw",
           "FORMATS"]

DPI = 120
FORMATS = ("png", "svg")  # what a figure is written as; the path's suffix chooses
# Okabe & Ito's palette without its yellow (too faint on white)
PALETTE = ("#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#000000")
MARKERS = ("o", "s", "^", "D", "v", "P", "X")
GAIN, LOSS, GREY = "#009E73", "#D55E00", "#6b6b6b"
RANKS = (1, 5, 10, 20)
PROTOCOL_NAMES = {"general": "general", "cc": "clothes-changing (CC)", "sc": "same-clothes (SC)"}
RC = {"font.size": 10, "axes.titlesize": 11, "axes.labelsize": 10, "legend.fontsize": 9,
      "axes.spines.top": False, "axes.spines.right": False, "axes.grid": True, "grid.color": "#e3e3e3",
      "grid.linewidth": 0.8, "svg.fonttype": "none", "svg.hashsalt": "ccreid-bench"}


class NothingToDraw(LeaderboardError):
    """The records hold nothing a figure shows (no CAL / ID-only pair, no history...); one line saying what."""


# ----------------------------------------------------------------------------- experiments
class Experiment:
    """The seeds of one experiment: its label, its runs and how it is drawn."""

    def __init__(self, key: Tuple, runs: List[RunRecord], label: str):
        self.key, self.runs, self.label = key, runs, label
        self.cfg = dict(key)
        self.cal = bool(self.cfg["cal.enabled"])
        self.colour, self.marker = GREY, "o"

    @property
    def seeds(self) -> int:
        return len(self.runs)

    @property
    def linestyle(self) -> str:
        return "-" if self.cal else "--"

    @property
    def facecolour(self) -> str:
        return self.colour if self.cal else "white"


def _label(cfg: Dict[str, Any], varying: Sequence[str], several: Dict[str, bool], cal: Optional[bool]) -> str:
    """"baseline + CAL", "ap3d (ID only)", with the dataset, backbone and off-default fields when they vary."""
    text = cfg["model.name"]
    if several.get("model.backbone"):
        text += f" [{cfg['model.backbone']}]"
    if several.get("data.dataset"):
        text = f"{cfg['data.dataset']}: {text}"
    extra = off_default(cfg, varying)
    if extra:
        text += " " + " ".join(extra)
    if cal is None:
        return text
    return text + (" + CAL" if cal else " (ID only)")


def _several(cfgs: Sequence[Dict[str, Any]]) -> Dict[str, bool]:
    return {k: len({repr(c.get(k)) for c in cfgs}) > 1 for k in ("data.dataset", "model.backbone")}


def experiments(records: List[RunRecord]) -> List[Experiment]:
    """Completed records grouped by experiment (all but the seed), ID only before CAL, in a stable order.

    An experiment's colour is shared by its CAL and ID-only versions (the same model otherwise).
    """
    varying, groups = group_experiments(records)
    several = _several([dict(k) for k, _ in groups])
    out = [Experiment(k, sorted(runs, key=lambda r: r.seed), _label(dict(k), varying, several,
                                                                     bool(dict(k)["cal.enabled"])))
           for k, runs in groups]
    families: Dict[Tuple, int] = {}
    for e in out:
        family = tuple(kv for kv in e.key if kv[0] != "cal.enabled")
        i = families.setdefault(family, len(families))
        e.colour, e.marker = PALETTE[i % len(PALETTE)], MARKERS[(i // len(PALETTE)) % len(MARKERS)]
    return out


# ----------------------------------------------------------------------------- numbers
def _mean_std(values: Sequence[Optional[float]], scale: float = 1.0) -> Optional[Tuple[float, float, int]]:
    vals = [scale * float(v) for v in values if v is not None and math.isfinite(float(v))]
    if not vals:
        return None
    return statistics.fmean(vals), (statistics.stdev(vals) if len(vals) > 1 else 0.0), len(vals)


def _pct(record: RunRecord, protocol: str, name: str) -> Optional[float]:
    v = _metric(record, protocol, name)
    return None if v is None else 100.0 * v


def clips_per_second(record: RunRecord) -> Optional[float]:
    """Training clips per second: the history's iterations x batch (num_ids x clips_per_id) / timings.train_s."""
    cfg = config_of(record)
    iterations = [h.get("iterations") for h in record.history or []]
    train_s = (record.timings or {}).get("train_s")
    if not iterations or any(not isinstance(i, (int, float)) for i in iterations):
        return None
    if not isinstance(train_s, (int, float)) or not train_s > 0:
        return None
    batch = cfg["data.num_ids"] * cfg["data.clips_per_id"]
    return sum(iterations) * batch / float(train_s)


def _per_epoch(runs: Sequence[RunRecord], field: str, scale: float = 1.0):
    """(epochs, means, stds) of a history field over the runs that logged it."""
    values: Dict[int, List[float]] = defaultdict(list)
    for r in runs:
        for h in r.history or []:
            v = h.get(field)
            if isinstance(v, (int, float)) and math.isfinite(v) and isinstance(h.get("epoch"), (int, float)):
                values[int(h["epoch"])].append(scale * float(v))
    epochs = sorted(values)
    stats = [_mean_std(values[e]) for e in epochs]
    return epochs, [s[0] for s in stats], [s[1] for s in stats]


def _evaluated(runs: Sequence[RunRecord], protocol: str = "cc", name: str = "mAP"):
    """(epochs, means, stds) in % of a metric at the evaluated epochs of the history."""
    values: Dict[int, List[float]] = defaultdict(list)
    for r in runs:
        for h in r.history or []:
            scores = (h.get("metrics") or {}).get(protocol)
            if scores and scores.get(name) is not None and isinstance(h.get("epoch"), (int, float)):
                values[int(h["epoch"])].append(100.0 * float(scores[name]))
    epochs = sorted(values)
    stats = [_mean_std(values[e]) for e in epochs]
    return epochs, [s[0] for s in stats], [s[1] for s in stats]


# ----------------------------------------------------------------------------- output
def _figure(width: float, height: float) -> Figure:
    fig = Figure(figsize=(width, height), dpi=DPI, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def _format(path: str) -> str:
    ext = os.path.splitext(os.fspath(path))[1].lower().lstrip(".")
    if ext not in FORMATS:
        raise LeaderboardError(f"{path}: give a .png or .svg path (the format follows the suffix)")
    return ext


def _save(fig: Figure, path: str) -> str:
    """Write the figure to ``path`` through a temporary file in the same folder, then ``os.replace``."""
    fmt = _format(os.fspath(path))

    def write(fh):
        with rc_context(RC):
            fig.savefig(fh, format=fmt, dpi=DPI, bbox_inches="tight", pad_inches=0.15, facecolor="white",
                        metadata={"Date": None} if fmt == "svg" else None)
    return write_atomically(path, write)


def _style_legend(fig: Figure, handles, labels, title: Optional[str] = None, right: bool = True):
    """A legend outside the data: to the right of the panels, or under them."""
    if right:
        return fig.legend(handles, labels, loc="outside right center", title=title, frameon=False)
    return fig.legend(handles, labels, loc="outside lower center", ncols=min(4, len(labels)), title=title,
                      frameon=False)


def _experiment_handle(e: Experiment, line: bool = True) -> Line2D:
    return Line2D([], [], color=e.colour, linestyle=e.linestyle if line else "none", marker=e.marker,
                  markerfacecolor=e.facecolour, markeredgecolor=e.colour, markersize=6, linewidth=1.6)


def _seeds_text(exps: Sequence[Experiment]) -> str:
    n = sorted({e.seeds for e in exps})
    if n == [1]:
        return "1 seed each, no spread"
    seeds = f"{n[0]}-{n[-1]}" if len(n) > 1 else str(n[0])
    return f"{seeds} seeds; bars: ± std over seeds"


# ----------------------------------------------------------------------------- CMC
def cmc_figure(records: List[RunRecord], path: str) -> str:
    """CMC curves (rank 1, 5, 10, 20) of each experiment: general and CC panels, mean ± std over seeds."""
    with rc_context(RC):
        exps = experiments(records)
        panels = [p for p in ("general", "cc")
                  if any(_pct(r, p, f"top{k}") is not None for e in exps for r in e.runs for k in RANKS)]
        if not panels:
            raise NothingToDraw("no completed run record has CMC scores (top1/top5/top10/top20) to plot")
        fig = _figure(4.2 * len(panels) + 2.6, 3.9)
        axes = fig.subplots(1, len(panels), sharey=True, squeeze=False)[0]
        shown = [e for e in exps if any(_pct(r, p, "top1") is not None for r in e.runs for p in panels)]
        width = 0.9  # spread of the dodge, in rank units, so that error bars do not overlap
        for ax, protocol in zip(axes, panels):
            for i, e in enumerate(shown):
                stats = [_mean_std([_pct(r, protocol, f"top{k}") for r in e.runs]) for k in RANKS]
                pts = [(k, s) for k, s in zip(RANKS, stats) if s is not None]
                if not pts:
                    continue
                dx = (i - (len(shown) - 1) / 2) * (width / max(1, len(shown) - 1)) if len(shown) > 1 else 0.0
                ax.errorbar([k + dx for k, _ in pts], [s[0] for _, s in pts],
                            yerr=[s[1] for _, s in pts] if e.seeds > 1 else None,
                            color=e.colour, linestyle=e.linestyle, marker=e.marker, markersize=5,
                            markerfacecolor=e.facecolour, markeredgecolor=e.colour, linewidth=1.5,
                            elinewidth=1.0, capsize=2.5, label=e.label)
            ax.set_title(f"{PROTOCOL_NAMES[protocol]} protocol")
            ax.set_xticks(RANKS)
            ax.set_xlim(0, 21)
            ax.set_xlabel("rank k")
        axes[0].set_ylabel("CMC: matching rate at rank k (%)")
        axes[0].set_ylim(top=min(102, axes[0].get_ylim()[1]))
        fig.suptitle(f"CMC curves (mean over seeds; {_seeds_text(shown)})")
        _style_legend(fig, [_experiment_handle(e) for e in shown], [e.label for e in shown], "experiment")
        return _save(fig, path)


# ----------------------------------------------------------------------------- training curves
CURVES = (("id_loss", "ID loss", "#0072B2", "loss"), ("cal", "CAL loss", "#D55E00", "loss"),
          ("clothes_acc_within_id", "clothes accuracy within an identity (%)", "#009E73", "pct"))
MAP_COLOUR = "#CC79A7"


def _grid(n: int) -> Tuple[int, int]:
    cols = n if n <= 4 else 3 if n in (5, 6, 9) else 4
    return math.ceil(n / cols), cols


def _curve(ax, epochs, means, stds, colour, style="-"):
    ax.plot(epochs, means, color=colour, linewidth=1.5, linestyle=style)
    if any(s > 0 for s in stds):
        ax.fill_between(epochs, [m - s for m, s in zip(means, stds)], [m + s for m, s in zip(means, stds)],
                        color=colour, alpha=0.15, linewidth=0)


def training_curves_figure(records: List[RunRecord], path: str) -> str:
    """Per experiment, from the per-epoch history: ID loss, CAL loss, clothes accuracy within an identity
    (the adversary at work: CAL should push it down), mean over seeds (band: ± std), and the evaluated
    epochs' CC mAP as markers on the second (%) axis."""
    with rc_context(RC):
        exps = [e for e in experiments(records) if any(r.history for r in e.runs)]
        if not exps:
            raise NothingToDraw("no completed run record has a per-epoch history to plot")
        rows, cols = _grid(len(exps))
        fig = _figure(3.3 * cols + 0.6, 2.6 * rows + 0.9)
        axes = fig.subplots(rows, cols, sharex=True, sharey=True, squeeze=False)
        loss_max = 0.0
        for n, e in enumerate(exps):
            ax = axes[n // cols][n % cols]
            pct = ax.twinx()
            pct.set_ylim(0, 100)
            pct.grid(False)
            pct.spines["right"].set_visible(True)
            pct.spines["top"].set_visible(False)
            for field, _, colour, kind in CURVES:
                epochs, means, stds = _per_epoch(e.runs, field, 100.0 if kind == "pct" else 1.0)
                if epochs:
                    _curve(pct if kind == "pct" else ax, epochs, means, stds, colour)
                    if kind == "loss":
                        loss_max = max(loss_max, max(m + s for m, s in zip(means, stds)))
            epochs, means, stds = _evaluated(e.runs)
            if epochs:
                pct.errorbar(epochs, means, yerr=stds if e.seeds > 1 else None, color=MAP_COLOUR, marker="D",
                             markersize=6, linestyle="none", capsize=3, markeredgecolor="black",
                             markeredgewidth=0.6, zorder=5)
                pct.annotate(f"{means[-1]:.1f}", (epochs[-1], means[-1]), textcoords="offset points",
                             xytext=(-6, 7), ha="right", fontsize=8, color="#7a3b64")
            if e.cal:
                start = config_of(e.runs[0]).get("cal.start_epoch")
                if isinstance(start, (int, float)):
                    ax.axvline(start + 0.5, color=GREY, linestyle=":", linewidth=1.0)
                    ax.annotate("CAL starts", (start + 0.5, 1.0), xycoords=("data", "axes fraction"),
                                xytext=(3, -3), textcoords="offset points", va="top", fontsize=8, color=GREY)
            ax.set_title(f"{e.label} · {e.seeds} seed{'s' if e.seeds > 1 else ''}", fontsize=10)
            if n % cols == cols - 1 or n == len(exps) - 1:
                pct.set_ylabel("accuracy, mAP (%)")
            else:
                pct.tick_params(labelright=False, right=False)
            if n % cols == 0:
                ax.set_ylabel("loss")
            if n // cols == rows - 1 or n + cols >= len(exps):
                ax.set_xlabel("epoch")
                ax.tick_params(labelbottom=True)
        for n in range(len(exps), rows * cols):
            axes[n // cols][n % cols].set_visible(False)
        axes[0][0].set_ylim(0, loss_max * 1.05 if loss_max > 0 else 1.0)
        handles = [Line2D([], [], color=c, linewidth=1.8) for _, _, c, _ in CURVES]
        handles.append(Line2D([], [], color=MAP_COLOUR, marker="D", linestyle="none", markeredgecolor="black",
                              markeredgewidth=0.6))
        labels = [f"{name} (left axis)" if kind == "loss" else f"{name} (right axis)"
                  for _, name, _, kind in CURVES] + ["CC mAP (%) at evaluated epochs (right axis)"]
        fig.suptitle("Training curves (mean over seeds; bands: ± std over seeds)")
        fig.legend(handles, labels, loc="outside lower center", ncols=2, frameon=False)
        return _save(fig, path)


# ----------------------------------------------------------------------------- speed vs accuracy
def speed_accuracy_figure(records: List[RunRecord], path: str) -> str:
    """Training clips per second against CC mAP: one point per experiment, bars: ± std over seeds."""
    with rc_context(RC):
        points = []
        for e in experiments(records):
            speed = _mean_std([clips_per_second(r) for r in e.runs])
            acc = _mean_std([_pct(r, "cc", "mAP") for r in e.runs])
            if speed and acc:
                points.append((e, speed, acc))
        if not points:
            raise NothingToDraw("no completed run record has both a training speed (history iterations and "
                                "timings.train_s) and a CC mAP to plot")
        fig = _figure(7.8, 4.4)
        ax = fig.subplots()
        for e, (sx, ex, nx), (sy, ey, ny) in points:
            ax.errorbar([sx], [sy], xerr=[ex] if nx > 1 else None, yerr=[ey] if ny > 1 else None,
                        color=e.colour, marker=e.marker, markersize=8, markerfacecolor=e.facecolour,
                        markeredgecolor=e.colour, markeredgewidth=1.6, linestyle="none", capsize=3,
                        elinewidth=1.0, label=e.label)
        ax.set_xlabel("training speed (clips / s, iterations × batch / training time)")
        ax.set_ylabel("CC mAP (%)")
        ax.margins(y=0.15)
        ax.set_xlim(0, 1.08 * max(sx + ex for _, (sx, ex, _), _ in points))
        fig.suptitle(f"Speed vs clothes-changing accuracy (mean over seeds; {_seeds_text([p[0] for p in points])})")
        _style_legend(fig, [_experiment_handle(e, line=False) for e, _, _ in points], [e.label for e, _, _ in points],
                      "experiment")
        return _save(fig, path)


# ----------------------------------------------------------------------------- CAL gain
CAL_PANELS = (("general", "mAP"), ("cc", "mAP"))


def cal_gain_figure(records: List[RunRecord], path: str) -> str:
    """Per model, ID-only and CAL means of general and CC mAP over the paired seeds (dumbbells), the mean
    paired change written beside them, and each seed's pair as faint points.

    The rows are the pairs of ``leaderboard --cal-gain`` (a CAL run and the ID-only run of the same seed and
    settings); the legend shows only what is drawn, so a chart of gains alone has no loss entry to look for.
    """
    with rc_context(RC):
        varying, groups = cal_pairs(records)
        if not groups:
            raise NothingToDraw("no CAL / ID-only pairs with the same seed to plot (the CAL gain needs both "
                                "runs of a seed)")
        several = _several([g[0] for g in groups])
        rows = [(f"{_label(cfg, varying, several, None)} · {len(pairs)} seed{'s' if len(pairs) > 1 else ''}",
                 pairs) for cfg, pairs in groups]
        values = [v for _, pairs in rows for _, a, b in pairs for p, m in CAL_PANELS
                  for v in (_pct(a, p, m), _pct(b, p, m)) if v is not None]
        if not values:
            raise NothingToDraw("the CAL / ID-only pairs have neither a general nor a CC mAP to plot")
        fig = _figure(10.0, 1.6 + 0.5 * len(rows))
        axes = fig.subplots(1, len(CAL_PANELS), sharey=True, squeeze=False)[0]
        drawn = set()
        for ax, (protocol, name) in zip(axes, CAL_PANELS):
            for y, (_, pairs) in enumerate(rows):
                drawn.add(_dumbbell(ax, y, pairs, protocol, name))
            ax.set_title(f"{PROTOCOL_NAMES[protocol]} {name}")
            ax.annotate("change", (1.0, 1.0), xycoords="axes fraction", xytext=(6, 2), textcoords="offset points",
                        va="bottom", ha="left", fontsize=8, color=GREY)
            ax.set_xlabel(f"{name} (%)")
            ax.grid(axis="y", visible=False)
            ax.margins(x=0.12)
        axes[0].set_yticks(range(len(rows)), [label for label, _ in rows])
        axes[0].set_ylim(len(rows) - 0.5, -0.5)
        for ax in axes[1:]:  # no tick marks beside the changes written in front of the next panel
            ax.tick_params(axis="y", left=False)
        legend = [(Line2D([], [], color=GREY, marker="o", markerfacecolor="white", linestyle="none", markersize=7),
                   "ID only (mean)")]
        legend += [(Line2D([], [], color=colour, marker="o", linestyle="-", markersize=7), f"+ CAL, {what} (mean)")
                   for colour, what in ((GAIN, "gain"), (LOSS, "loss")) if colour in drawn]
        legend.append((Line2D([], [], color=GREY, marker="o", linestyle="none", markersize=4, alpha=0.35),
                       "one seed's runs"))
        fig.legend(*zip(*legend), loc="outside lower center", ncols=len(legend), frameon=False)
        fig.suptitle("CAL vs ID only, paired by seed (change: mean of the paired differences, points)")
        return _save(fig, path)


def _dumbbell(ax, y: int, pairs, protocol: str, name: str) -> Optional[str]:
    """One row of one panel; returns the colour it was drawn in (gain or loss), None when undefined."""
    seeds = [(_pct(b, protocol, name), _pct(a, protocol, name)) for _, a, b in pairs]
    both = [(p, c) for p, c in seeds if p is not None and c is not None]
    plain = _mean_std([p for p, _ in seeds])
    cal = _mean_std([c for _, c in seeds])
    if plain is None or cal is None:
        ax.annotate("undefined", (0.02, y), xycoords=("axes fraction", "data"), va="center", color=GREY)
        return None
    colour = GAIN if cal[0] >= plain[0] else LOSS
    for i, (p, c) in enumerate(both):  # the seeds, faint, just above and below the row
        dy = 0.18 * ((i % 2) * 2 - 1) * (1 + i // 2) / max(1, (len(both) + 1) // 2)
        ax.plot([p, c], [y + dy, y + dy], color=colour, alpha=0.25, linewidth=1.0)
        ax.plot([p], [y + dy], marker="o", markersize=4, markerfacecolor="white", markeredgecolor=GREY,
                alpha=0.6, linestyle="none")
        ax.plot([c], [y + dy], marker="o", markersize=4, color=colour, alpha=0.45, linestyle="none")
    ax.plot([plain[0], cal[0]], [y, y], color=colour, linewidth=3, solid_capstyle="butt", zorder=3)
    ax.plot([plain[0]], [y], marker="o", markersize=8, markerfacecolor="white", markeredgecolor=GREY,
            markeredgewidth=2, linestyle="none", zorder=4)
    ax.plot([cal[0]], [y], marker="o", markersize=8, color=colour, linestyle="none", zorder=4)
    delta = _mean_std([c - p for p, c in both])
    if delta is not None:
        spread = f" ±{delta[1]:.1f}" if delta[2] > 1 else ""
        ax.annotate(f"{delta[0]:+.1f}{spread}", (1.0, y), xycoords=("axes fraction", "data"), xytext=(6, 0),
                    textcoords="offset points", va="center", ha="left", fontsize=9, color=colour,
                    fontweight="bold")
    return colour
