"""Published numbers as data, and our runs beside them.

``leaderboards/published/`` holds one YAML file per source (a paper, a dataset's release table). A file::

    short: CAL (CVPR 2022)            # the name the comparison table shows
    source: <full citation>
    url: <address>                    # optional, where the source states one
    selection: <how the reported epoch/number was chosen, or "unknown">
    evaluation: <protocols and test procedure>
    note: ...                         # optional
    todo: ...                         # optional: what is still missing
    rows:
      - dataset: ccvid                # a catalog name (`benchmark datasets`)
        model: ap3d                   # the suite's model registry name where one exists, else the method's own tag
        objective: id                 # see OBJECTIVES
        label: "AP3D [11]"            # the source's own name for the row
        metrics: {general: {top1: 80.9, mAP: 79.2}, cc: {top1: 80.1, mAP: 77.7}}   # percent, as printed
        # optional: table, note, todo, selection / evaluation / scored (override the file's),
        # requires: {eval.shot: multi}  (config fields a record must have to be compared with the row)

``scored`` says what one query or gallery item of the number was (:data:`SCORED`): ``tracklet`` (the default:
one feature per tracklet, as the suite scores; an image is a one-frame tracklet), ``frame`` (every frame an item
of its own) or ``unknown``. The comparison shows a number that is not tracklet-level with its kind beside it
and computes no gap for it: it does not measure the same thing as ours.

A row whose source prints a gain instead of a number (the CAL paper's "+CAL" rows) gives ``gain_over`` (the
label of a row of the same file and dataset) and ``gain`` instead of ``metrics``; the loader adds the two
printed numbers (rounded to 0.1) and marks the row derived. A value the source leaves out ("-") is left out.

Matching: a published row is shown beside an experiment of our records with the same dataset
(``data.dataset``), model (``model.name``) and objective (the record's: ``id``, ``cal``, ``id+triplet``, ...), and with
every ``requires`` field equal. Gaps are ours minus published, in points.
"""
from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Sequence, Tuple

import yaml

from benchmark.config.ablations import objective_name
from benchmark.records import RunRecord
from ccvid.base import UserError
from ccvid.catalog import DATASETS, get_dataset

from .tables import (DEFAULT_COLUMNS, PROTOCOL_NAMES, _defaults, _metric, _show, backbone_shown, column_header,
                     config_of, fmt, group_experiments, mean_std)

FOLDER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "published")
PROTOCOLS = PROTOCOL_NAMES
METRICS = ("top1", "mAP")
OBJECTIVES = {
    "id": "without CAL: the ID loss, or a registered model's own losses (TCLNet, GaitSet), as the suite runs "
          "them with cal.enabled false",
    "cal": "with CAL",
    "own": "a method outside the suite, trained with its own objective",
    "id+clothes_ce": "ablation: the backbone also minimises the clothes classification loss",
    "id+neg_clothes_ce": "ablation: the adversarial term is minus the clothes classification loss (PAR's form)",
    "id+triplet": "ablation: triplet loss instead of CAL",
}
FILE_KEYS = {"short": True, "source": True, "url": False, "selection": True, "evaluation": True, "note": False,
             "todo": False, "scored": False, "rows": True}
ROW_KEYS = {"dataset", "model", "objective", "label", "metrics", "gain_over", "gain", "table", "note", "todo",
            "selection", "evaluation", "requires", "scored"}
SCORED = {"tracklet": "one feature per tracklet (its clips' features averaged), as the suite scores",
          "frame": "every frame scored as an item of its own: not comparable with tracklet-level numbers",
          "unknown": "the source does not say what an item was"}
COLUMNS = DEFAULT_COLUMNS
SC_COLUMNS: Tuple[Tuple[str, str], ...] = (("sc", "top1"), ("sc", "mAP"))
NO_MATCH = "no published row matches these records (dataset, model, objective)"


class PublishedError(UserError, ValueError):
    """A published-numbers file that does not follow the schema; the message is one line naming the file."""


@dataclass(frozen=True)
class PublishedRow:
    dataset: str
    model: str
    objective: str
    label: str
    metrics: Dict[str, Dict[str, float]]   # percent; derived for a gain row
    short: str                             # the source's short name
    source: str
    selection: str
    evaluation: str
    file: str
    scored: str = "tracklet"               # see SCORED
    url: Optional[str] = None
    table: Optional[str] = None
    note: Optional[str] = None
    todo: Optional[str] = None
    requires: Dict[str, Any] = field(default_factory=dict)
    gain_over: Optional[str] = None        # a gain row: the label of the row its printed gain is added to
    gain: Optional[Dict[str, Dict[str, float]]] = None

    @property
    def derived(self) -> bool:
        return self.gain_over is not None

    def value(self, protocol: str, metric: str) -> Optional[float]:
        return (self.metrics.get(protocol) or {}).get(metric)


# ----------------------------------------------------------------------------- loading
def load_published(folder: Optional[str] = None) -> List[PublishedRow]:
    """Every row of every ``*.yaml`` / ``*.yml`` file in ``folder`` (default: the suite's), files in name order.

    :class:`PublishedError` (one line naming the file and the field) for a file that breaks the schema.
    """
    folder = folder or FOLDER
    if not os.path.isdir(folder):
        raise PublishedError(f"{folder}: no such folder of published numbers")
    rows: List[PublishedRow] = []
    for name in sorted(os.listdir(folder)):
        path = os.path.join(folder, name)
        if name.endswith((".yaml", ".yml")) and os.path.isfile(path):
            rows += load_file(path)
    return rows


def load_file(path: str) -> List[PublishedRow]:
    try:
        with open(path, encoding="utf-8") as fh:
            raw = yaml.safe_load(fh)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        problem = getattr(e, "problem", None) or type(e).__name__
        raise PublishedError(f"{path}: not valid YAML ({problem}{where})") from None
    except (OSError, UnicodeDecodeError) as e:
        raise PublishedError(f"{path}: cannot read ({type(e).__name__})") from None
    try:
        return _parse(raw, path)
    except PublishedError as e:
        raise PublishedError(f"{path}: {e}") from None


def _parse(raw: Any, path: str) -> List[PublishedRow]:
    if not isinstance(raw, dict):
        raise PublishedError(f"expected a mapping with {', '.join(k for k, req in FILE_KEYS.items() if req)}, "
                             f"got {type(raw).__name__}")
    unknown = sorted(set(map(str, raw)) - set(FILE_KEYS))
    if unknown:
        raise PublishedError(f"unknown field(s) {', '.join(unknown)} (known: {', '.join(FILE_KEYS)})")
    for key, required in FILE_KEYS.items():
        if key == "rows":
            continue
        if required and key not in raw:
            raise PublishedError(f"{key}: missing")
        if key in raw:
            _text(raw[key], key)
    if not isinstance(raw.get("rows"), list) or not raw["rows"]:
        raise PublishedError("rows: expected a non-empty list of rows")
    header = {k: raw.get(k) for k in ("short", "source", "url", "selection", "evaluation", "scored")}
    parsed: List[Dict[str, Any]] = []
    seen = set()
    for i, row in enumerate(raw["rows"]):
        where = f"rows[{i}]"
        r = _row(row, where)
        key = (r["dataset"], r["model"], r["objective"], r["label"])
        if key in seen:
            raise PublishedError(f"{where}: a second row for dataset {key[0]}, model {key[1]}, objective {key[2]}, "
                                 f"label {key[3]!r}")
        seen.add(key)
        parsed.append(r)
    by_label = {(r["dataset"], r["label"]): r for r in parsed if "metrics" in r}
    out = []
    for i, r in enumerate(parsed):
        if "gain" in r:
            base = by_label.get((r["dataset"], r["gain_over"]))
            if base is None:
                raise PublishedError(f"rows[{i}].gain_over: no row of dataset {r['dataset']} labelled "
                                     f"{r['gain_over']!r} with metrics in this file")
            r["metrics"] = _add(base["metrics"], r["gain"], f"rows[{i}].gain")
        out.append(PublishedRow(
            short=header["short"], source=header["source"], url=header["url"], file=path,
            selection=r.pop("selection", header["selection"]), evaluation=r.pop("evaluation", header["evaluation"]),
            scored=_scored(r.pop("scored", header["scored"] or "tracklet"), f"rows[{i}].scored"), **r))
    return out


def _row(row: Any, where: str) -> Dict[str, Any]:
    if not isinstance(row, dict):
        raise PublishedError(f"{where}: expected a mapping, got {type(row).__name__}")
    unknown = sorted(set(map(str, row)) - ROW_KEYS)
    if unknown:
        raise PublishedError(f"{where}: unknown field(s) {', '.join(unknown)} (known: {', '.join(sorted(ROW_KEYS))})")
    for key in ("dataset", "model", "objective", "label"):
        if key not in row:
            raise PublishedError(f"{where}.{key}: missing")
        _text(row[key], f"{where}.{key}")
    for key in ("table", "note", "todo", "selection", "evaluation", "gain_over", "scored"):
        if key in row:
            _text(row[key], f"{where}.{key}")
    dataset = row["dataset"]
    if dataset not in DATASETS:
        raise PublishedError(f"{where}.dataset: {dataset!r} is not a catalog name "
                             f"(known: {', '.join(sorted(DATASETS))})")
    if row["objective"] not in OBJECTIVES:
        raise PublishedError(f"{where}.objective: {row['objective']!r}: expected one of {', '.join(OBJECTIVES)}")
    has_metrics, has_gain = "metrics" in row, "gain" in row or "gain_over" in row
    if has_metrics == has_gain:
        raise PublishedError(f"{where}: give either metrics, or gain_over and gain (a printed gain over another row)")
    if has_gain and not ("gain" in row and "gain_over" in row):
        raise PublishedError(f"{where}: gain and gain_over go together")
    allowed = get_dataset(dataset).protocols
    out = {k: row[k] for k in ("dataset", "model", "objective", "label", "table", "note", "todo", "selection",
                               "evaluation", "gain_over", "scored") if k in row}
    if has_metrics:
        out["metrics"] = _metrics(row["metrics"], f"{where}.metrics", allowed, low=0.0)
    else:
        out["gain"] = _metrics(row["gain"], f"{where}.gain", allowed, low=-100.0)
    requires = row.get("requires", {})
    if not isinstance(requires, dict):
        raise PublishedError(f"{where}.requires: expected a mapping of dotted config fields (eval.shot: multi)")
    for k in requires:
        if k not in _defaults():
            raise PublishedError(f"{where}.requires.{k}: not a config field (dotted, e.g. eval.shot)")
    out["requires"] = dict(requires)
    return out


def _scored(value: str, where: str) -> str:
    if value not in SCORED:
        raise PublishedError(f"{where}: {value!r}: expected one of {', '.join(SCORED)}")
    return value


def _text(value: Any, where: str) -> None:
    if not isinstance(value, str) or not value.strip():
        raise PublishedError(f"{where}: expected text, got {type(value).__name__} {value!r:.40}")


def _metrics(value: Any, where: str, allowed: Sequence[str], low: float) -> Dict[str, Dict[str, float]]:
    if not isinstance(value, dict) or not value:
        raise PublishedError(f"{where}: expected a mapping of protocols ({', '.join(PROTOCOLS)})")
    out: Dict[str, Dict[str, float]] = {}
    for proto, scores in value.items():
        if proto not in PROTOCOLS:
            raise PublishedError(f"{where}.{proto}: unknown protocol (known: {', '.join(PROTOCOLS)})")
        if proto not in allowed:
            raise PublishedError(f"{where}.{proto}: the dataset has no {proto} protocol "
                                 f"(it has {', '.join(allowed)})")
        if not isinstance(scores, dict) or not scores:
            raise PublishedError(f"{where}.{proto}: expected a mapping of metrics ({', '.join(METRICS)})")
        out[proto] = {}
        for name, v in scores.items():
            if name not in METRICS:
                raise PublishedError(f"{where}.{proto}.{name}: unknown metric (known: {', '.join(METRICS)})")
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
                raise PublishedError(f"{where}.{proto}.{name}: expected a number in percent, got {v!r:.40}")
            if not low <= v <= 100:
                raise PublishedError(f"{where}.{proto}.{name}: {v} is outside [{low:g}, 100] (percent)")
            out[proto][name] = float(v)
    return out


def _add(base: Dict[str, Dict[str, float]], gain: Dict[str, Dict[str, float]], where: str):
    out: Dict[str, Dict[str, float]] = {}
    for proto, scores in gain.items():
        for name, g in scores.items():
            b = (base.get(proto) or {}).get(name)
            if b is None:
                raise PublishedError(f"{where}.{proto}.{name}: the row of gain_over has no {proto} {name}")
            out.setdefault(proto, {})[name] = round(b + g, 1)
    return out


# ----------------------------------------------------------------------------- comparison
def objective_of(record: RunRecord) -> str:
    """The record's named objective (``id``, ``cal``, ``id+triplet``, ...; older records: from their config)."""
    return record.objective or objective_name(config_of(record))


def matches(row: PublishedRow, cfg: Dict[str, Any], objective: str) -> bool:
    """Whether a published row describes the experiment with dotted config ``cfg`` and ``objective``."""
    required = {"eval.variant": "whole", **row.requires}  # a published number is of whole videos unless it says
    return (row.dataset == cfg.get("data.dataset") and row.model == cfg.get("model.name")
            and row.objective == objective and all(cfg.get(k) == v for k, v in required.items()))


def comparison_rows(records: List[RunRecord], published: List[PublishedRow],
                    selection: str = "last") -> Tuple[List[str], List[List[Any]]]:
    """One row per (experiment of ours, matching published row): ours (mean ± std over seeds), published, gap.

    ``selection="reference"``: ours at the epochs the reference's rule kept (chosen on the test set), for the
    records that name a rule. No match: rows is empty.
    """
    varying, groups = group_experiments(records, selection)
    pairs = []
    for key, runs in groups:
        cfg = config_of(runs[0])
        pairs += [(dict(key), runs, row) for row in published if matches(row, cfg, objective_of(runs[0]))]
    columns = COLUMNS + (SC_COLUMNS if any(row.metrics.get("sc") for _, _, row in pairs) else ())
    headers = ["dataset", "model", "backbone", "objective", *varying, "seeds", "published", "source", "selection",
               "scored", *[f"{side} {column_header(p, m)}" for p, m in columns for side in ("ours", "pub", "Δ")]]
    rows = []
    for cfg, runs, row in pairs:
        cells = []
        for p, m in columns:
            values = [v for v in (_metric(r, p, m, selection) for r in runs) if v is not None]
            pub = row.value(p, m)
            cells += [fmt(values), *_published_cells(pub, values, row.scored)]
        label = row.label + (f" (= {row.gain_over} + printed gain)" if row.derived else "")
        rows.append([cfg["data.dataset"], cfg["model.name"], backbone_shown(cfg, runs[0]), objective_of(runs[0]),
                     *[_show(cfg[k]) for k in varying], len(runs), label, row.short, row.selection, row.scored,
                     *cells])
    return headers, rows


def _published_cells(pub: Optional[float], values: List[float], scored: str) -> List[str]:
    """The published number and the gap: a number not scored per tracklet says so in its cell and has no gap."""
    if pub is None:
        return ["-", "-"]
    if scored != "tracklet":
        return [f"{pub:.1f} ({scored})", "n/c"]
    return [f"{pub:.1f}", "-" if not values else f"{mean_std([100 * v for v in values])[0] - pub:+.1f}"]


def sources(rows: List[PublishedRow]) -> List[str]:
    """One line per source shown: short name, citation, url."""
    seen: Dict[str, str] = {}
    for r in rows:
        seen.setdefault(r.short, f"{r.short}: {' '.join(r.source.split())}" + (f" {r.url}" if r.url else ""))
    return list(seen.values())


__all__ = ["PublishedError", "PublishedRow", "SCORED", "load_published", "load_file", "comparison_rows", "matches",
           "objective_of", "sources", "NO_MATCH", "FOLDER", "OBJECTIVES"]
