"""The embedded instrument's page (``leaderboards/embedded.md``): does it behave as the paper says?

Made from run records only (``leaderboard RECORDS --instrument-page FILE.md``): the runs of the current
instrument version, one per (model, objective, seed), with their test variants. The page shows the
model zoo, temporal models against C2D, CAL against ID only, the test variants and the paper's Table 3
objectives, CAL on pseudo clothes labels (``cal.clothes_labels``) against the true ones, every comparison
paired by seed, and checks each target of the instrument (issues 18 and 21) on the records: met or missed,
with the number. A missed target is shown as missed, never hidden. Validation runs (``data.val_ids`` > 0:
scored on held-out training identities) are never test results and are left out.
"""
from __future__ import annotations

import statistics
from collections import defaultdict
from dataclasses import dataclass
from typing import Callable, Dict, List, Optional, Sequence, Tuple

from benchmark.records import RunRecord

from .tables import _metric, completed, config_of, instrument_of, render

Key = Tuple[str, str]  # (model, objective)
TEMPORAL = ("i3d", "nonlocal", "ap3d", "ap3d_nl", "tclnet")  # the paper's Table 5 models besides C2D
ORDER_SENSITIVE = ("i3d", "ap3d")  # temporal convolutions: a shuffled clip must cost them
VARIANTS = ("whole", "first-frame", "shuffled", "reversed", "static")
OBJECTIVE_ORDER = ("id+clothes_ce", "id+neg_clothes_ce", "id", "id+triplet", "cal")  # the paper's, on CC mAP
PSEUDO_LABELS = ("cluster", "colour", "camera")  # cal.clothes_labels other than annotated, in the page's order
PSEUDO_SHARE = 0.7  # cluster labels keep at least this share of CAL's CC-mAP gain with the true labels (issue 21)


def objective_of(record: RunRecord, cfg: Dict[str, object]) -> str:
    """The record's named objective, ``cal:<source>`` for CAL on pseudo clothes labels."""
    source = cfg.get("cal.clothes_labels", "annotated")
    return record.objective if not cfg["cal.enabled"] or source == "annotated" else f"{record.objective}:{source}"


class Runs:
    """The runs of one instrument version by (model, objective) and seed; metrics in percent."""

    def __init__(self, records: Sequence[RunRecord], instrument: str):
        self.instrument = instrument
        self.by: Dict[Key, Dict[int, RunRecord]] = defaultdict(dict)
        for r in completed(list(records)):
            cfg = config_of(r)
            if instrument_of(r) == instrument and cfg["eval.variant"] == "whole" and not cfg["data.val_ids"]:
                self.by[(cfg["model.name"], objective_of(r, cfg))][r.seed] = r

    def values(self, key: Key, protocol: str = "cc", metric: str = "mAP") -> Dict[int, float]:
        out = {}
        for seed, r in self.by.get(key, {}).items():
            v = _metric(r, protocol, metric)
            if v is not None:
                out[seed] = 100 * v
        return out

    def paired(self, a: Key, b: Key, protocol: str = "cc", metric: str = "mAP",
               b_protocol: Optional[str] = None) -> Dict[int, float]:
        """``a - b`` per seed both have (``b_protocol``: b's metric under another protocol / test variant)."""
        va, vb = self.values(a, protocol, metric), self.values(b, b_protocol or protocol, metric)
        return {s: va[s] - vb[s] for s in sorted(set(va) & set(vb))}

    def models(self) -> List[str]:
        return sorted({m for m, _ in self.by}, key=lambda m: (m != "baseline", m))


def mean_std(values: Sequence[float]) -> str:
    if not values:
        return "no runs"
    m = statistics.fmean(values)
    return f"{m:.1f}" + (f" ± {statistics.stdev(values):.1f}" if len(values) > 1 else "")


def signed(values: Dict[int, float]) -> str:
    if not values:
        return "no paired runs"
    m = statistics.fmean(values.values())
    per_seed = ", ".join(f"s{s}: {v:+.1f}" for s, v in values.items())
    return f"{m:+.1f} ({per_seed})"


@dataclass
class Target:
    what: str
    paper: str
    measured: str
    met: Optional[bool]  # None: no runs to check it on

    def row(self) -> List[str]:
        return [self.what, self.paper, self.measured, "no runs" if self.met is None else "met" if self.met else
                "**missed**"]


def _all(values: Dict[int, float], ok: Callable[[float], bool]) -> Optional[bool]:
    """A target on a mean: met when the mean of the paired seeds passes (None without runs)."""
    return None if not values else ok(statistics.fmean(values.values()))


def targets(runs: Runs) -> List[Target]:
    """Each target of the instrument, checked on the records (means over the paired seeds)."""
    c2d = ("baseline", "id")
    out = []
    for m in TEMPORAL:
        d = runs.paired((m, "id"), c2d)
        out.append(Target(f"{m} above C2D, ID only, CC mAP (>= +1.0)", "+1.4 to +3.8", signed(d),
                          _all(d, lambda x: x >= 1.0)))
    d = runs.paired(c2d, c2d, b_protocol="first-frame:cc")
    out.append(Target("C2D: whole video above the first frame alone, CC mAP (>= +5.0)", "+17.6", signed(d),
                      _all(d, lambda x: x >= 5.0)))
    d = runs.paired(c2d, c2d, protocol="shuffled:cc", b_protocol="cc")
    out.append(Target("C2D: frames shuffled change nothing, CC mAP (within ±0.05)", "-", signed(d),
                      _all(d, lambda x: abs(x) < 0.05)))
    for m in ORDER_SENSITIVE:
        d = runs.paired((m, "id"), (m, "id"), b_protocol="shuffled:cc")
        out.append(Target(f"{m}: unshuffled above shuffled, CC mAP (>= +2.0)", "-", signed(d),
                          _all(d, lambda x: x >= 2.0)))
    for m in runs.models():
        d = runs.paired((m, "cal"), (m, "id"))
        if d:
            need = 4.0 if m == "baseline" else 0.0
            out.append(Target(f"{m}: CAL above ID only, CC mAP (> {need:+.1f})", "+2.3 to +5.7 (Table 5)",
                              signed(d), _all(d, lambda x, need=need: x > need)))
    d = runs.paired(("baseline", "cal"), c2d, protocol="general", metric="top1")
    out.append(Target("C2D: CAL's cost in general top-1 (>= -2.0)", "+4.3 (a gain)", signed(d),
                      _all(d, lambda x: x >= -2.0)))
    out += _objective_targets(runs) + _pseudo_label_targets(runs)
    spread = list(runs.values(("baseline", "cal")).values())
    out.append(Target("the main job (C2D + CAL): CC mAP spread over seeds (std <= 1.5)", "-",
                      mean_std(spread), None if len(spread) < 2 else statistics.stdev(spread) <= 1.5))
    return out


def _objective_targets(runs: Runs) -> List[Target]:
    means = {o: runs.values(("baseline", o)) for o in OBJECTIVE_ORDER}
    out = []
    for lower, upper in (("id+clothes_ce", "id"), ("id+neg_clothes_ce", "id"), ("id", "id+triplet"),
                         ("id+triplet", "cal")):
        d = runs.paired(("baseline", upper), ("baseline", lower))
        if means[lower] or means[upper]:
            out.append(Target(f"C2D objectives: {upper} above {lower}, CC mAP", "the paper's Table 3 order",
                              signed(d), _all(d, lambda x: x > 0)))
    return out


def _pseudo_label_targets(runs: Runs) -> List[Target]:
    c2d, true = ("baseline", "id"), ("baseline", "cal")
    if not runs.by.get(("baseline", "cal:cluster")):
        return []
    gain, base = runs.paired(("baseline", "cal:cluster"), c2d), runs.paired(true, c2d)
    seeds = sorted(set(gain) & set(base))
    share = statistics.fmean(gain[s] for s in seeds) / statistics.fmean(base[s] for s in seeds) if seeds else None
    shown = "no paired runs" if share is None else (
        f"{100 * share:.0f}% ({statistics.fmean(gain[s] for s in seeds):+.1f} of "
        f"{statistics.fmean(base[s] for s in seeds):+.1f}; seeds {', '.join(map(str, seeds))})")
    return [Target(f"C2D: CAL on cluster pseudo labels keeps >= {PSEUDO_SHARE:.0%} of CAL's CC-mAP gain with the "
                   "true labels", "- (issue 21)", shown, None if share is None else share >= PSEUDO_SHARE)]


def _pseudo_labels(runs: Runs) -> str:
    """C2D + CAL on each clothes-label source: the gain over ID only, the labels' agreement, their cost."""
    rows = []
    for source in ("annotated", *PSEUDO_LABELS):
        key = ("baseline", "cal" if source == "annotated" else f"cal:{source}")
        if not runs.by.get(key):
            continue
        info = [r.dataset.get("pseudo_clothes") or {} for r in runs.by[key].values()]
        agree = [mean_std([100 * i[k] for i in info if k in i]) if source != "annotated" else "100 (the truth)"
                 for k in ("ari", "purity")]
        classes = mean_std([i["classes"] for i in info if "classes" in i]) if source != "annotated" else "-"
        cost = [100 * i["seconds"] / r.timings["total_s"] for i, r in zip(info, runs.by[key].values())
                if "seconds" in i and r.timings.get("total_s")]
        rows.append([source, len(runs.by[key]), mean_std(list(runs.values(key).values())),
                     signed(runs.paired(key, ("baseline", "id"))),
                     signed(runs.paired(key, ("baseline", "id"), "general", "top1")), *agree, classes,
                     mean_std(cost) + " %" if cost else "-"])
    return render(["cal.clothes_labels", "seeds", "cc mAP", "Δ cc mAP over ID only (paired)", "Δ gen top1",
                   "ARI x 100", "purity x 100", "classes", "label time / run time"], rows)


def _zoo(runs: Runs) -> str:
    rows = []
    for m in runs.models():
        for o in ("id", "cal"):
            if not runs.by.get((m, o)):
                continue
            cells = [mean_std(list(runs.values((m, o), p, k).values()))
                     for p, k in (("general", "top1"), ("general", "mAP"), ("cc", "top1"), ("cc", "mAP"))]
            rows.append([m, o, len(runs.by[(m, o)]), *cells])
    return render(["model", "objective", "seeds", "gen top1", "gen mAP", "cc top1", "cc mAP"], rows)


def _versus(runs: Runs, pairs: Sequence[Tuple[str, Key, Key]], what: str) -> str:
    rows = [[label, signed(runs.paired(a, b, "cc", "mAP")), signed(runs.paired(a, b, "general", "top1"))]
            for label, a, b in pairs if runs.by.get(a) and runs.by.get(b)]
    return render([what, "Δ cc mAP (paired by seed)", "Δ gen top1"], rows)


def _variants(runs: Runs) -> str:
    rows = []
    for m in runs.models():
        if not runs.by.get((m, "id")):
            continue
        cells = [mean_std(list(runs.values((m, "id"), f"{v}:cc" if v != "whole" else "cc").values()))
                 for v in VARIANTS]
        reliance = runs.paired((m, "id"), (m, "id"), b_protocol="shuffled:cc")
        rows.append([m, *cells, signed(reliance)])
    return render(["model (ID only)", *[f"{v} cc mAP" for v in VARIANTS], "temporal reliance: whole - shuffled"],
                  rows)


def page(records: Sequence[RunRecord], instrument: str, command: str) -> str:
    """The Markdown page of ``instrument``'s runs among ``records``."""
    runs = Runs(records, instrument)
    c2d = ("baseline", "id")
    temporal = [(m, (m, "id"), c2d) for m in runs.models() if m != "baseline"]
    cal = [(m, (m, "cal"), (m, "id")) for m in runs.models()]
    objectives = [(o, ("baseline", o), c2d) for o in OBJECTIVE_ORDER if o != "id"]
    goals = targets(runs)
    met = sum(t.met is True for t in goals)
    parts = [
        f"# The embedded instrument ({instrument}): does it behave as the paper says?",
        f"Generated from run records only: `{command}`. Every comparison is paired by seed (the same seed's "
        "runs of the two settings); means in percent. The instrument, its knobs and how they were chosen on "
        "held-out training identities: [docs/embedded-dataset.md](../docs/embedded-dataset.md).",
        f"## Targets: {met} of {len(goals)} met",
        render(["target", "paper (CCVID)", "measured: mean (per seed)", ""], [t.row() for t in goals]),
        "## The model zoo", _zoo(runs),
        "## Temporal models against C2D (ID only)", _versus(runs, temporal, "model - C2D"),
        "## CAL against ID only", _versus(runs, cal, "model: CAL - ID only"),
        "## Test variants: what each model reads from the order of frames", _variants(runs),
        "## The paper's Table 3 objectives (C2D)", _versus(runs, objectives, "objective - ID only"),
    ]
    if any(runs.by.get(("baseline", f"cal:{s}")) for s in PSEUDO_LABELS):
        parts += ["## CAL without clothes labels: pseudo outfits (C2D)",
                  "The clothes classes CAL trains against, from the dataset (`annotated`) or computed from the "
                  "training split alone (`cal.clothes_labels`, [docs/pseudo-labels.md](../docs/pseudo-labels.md)); "
                  "agreement with the true outfits of the training tracklets (ARI within identities, purity) and "
                  "the labels' share of the run's time, from each record.", _pseudo_labels(runs)]
    return "\n\n".join(parts) + "\n"
