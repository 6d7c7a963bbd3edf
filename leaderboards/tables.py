"""Leaderboard tables generated only from run records.

Runs are grouped by everything that defines an experiment except the seed
(dataset, model, backbone, CAL on/off, and any other config field that differs
between runs); each cell is the mean +- standard deviation over the seeds of a group.
"""
from __future__ import annotations

import functools
import statistics
from collections import defaultdict
from typing import Any, Dict, Iterable, List, Optional, Sequence, Tuple

from tabulate import tabulate

from benchmark.config import Config, flatten
from benchmark.records import RunRecord
from ccvid.base import UserError

DEFAULT_COLUMNS: Tuple[Tuple[str, str], ...] = (
    ("general", "top1"), ("general", "mAP"), ("cc", "top1"), ("cc", "mAP"))
# settings of the machine, not of the experiment
IGNORED_FIELDS = {"system.seed", "system.runs_dir", "system.device", "system.threads", "system.workers",
                  "system.save_checkpoint", "data.cache_dir", "eval.clips_per_batch"}
IDENTITY_FIELDS = ("data.dataset", "model.name", "model.backbone", "cal.enabled")
CAL_FIELDS = {"cal.enabled", "cal.epsilon", "cal.start_epoch", "cal.scale"}  # meaningless without CAL


class LeaderboardError(UserError, ValueError):
    """A leaderboard option or output the user can fix (a bad column, an unknown format, nothing to draw);
    one line naming the option or file. ``leaderboard`` reports every :class:`UserError` in one place."""


def completed(records: List[RunRecord]) -> List[RunRecord]:
    """The records of runs that completed: a failed run's record is never averaged in."""
    return [r for r in records if r.status == "complete"]


def _metric(record: RunRecord, protocol: str, name: str, selection: str = "last") -> Optional[float]:
    """A metric of the last epoch (the headline), or of the epoch the reference's rule kept (``reference``)."""
    metrics = record.metrics if selection == "last" else (record.reference_selection or {}).get("metrics")
    proto = (metrics or {}).get(protocol)
    if proto is None or proto.get(name) is None:
        return None
    return float(proto[name])


def config_of(record: RunRecord) -> Dict[str, Any]:
    """The record's config as dotted fields, with today's default for every field added after it was written.

    A new config field's default keeps the old behaviour (the suite's rule for adding one),
    so an older record ran with it: without this, the same experiment recorded before and
    after a field was added would split into two leaderboard rows.
    """
    return {**_defaults(), **dict(flatten(record.config))}


@functools.lru_cache(maxsize=1)
def _defaults() -> Dict[str, Any]:
    return Config().flat()


def experiment_key(record: RunRecord, varying: Sequence[str]) -> Tuple:
    """What defines an experiment; CAL's own settings read "-" for runs without CAL."""
    cfg = config_of(record)
    return tuple((k, "-" if k in CAL_FIELDS and k != "cal.enabled" and not cfg["cal.enabled"]
                  else _freeze(cfg.get(k)))
                 for k in (*IDENTITY_FIELDS, *varying))


def _freeze(v):
    if isinstance(v, dict):
        return tuple(sorted((k, _freeze(x)) for k, x in v.items()))
    if isinstance(v, list):
        return tuple(_freeze(x) for x in v)
    return v


def varying_fields(records: Iterable[RunRecord]) -> List[str]:
    """Config fields (besides the identity ones and the seed) that differ between records."""
    values: Dict[str, set] = defaultdict(set)
    for r in records:
        for k, v in config_of(r).items():
            if k not in IGNORED_FIELDS and k not in IDENTITY_FIELDS:
                values[k].add(repr(_freeze(v)))
    return sorted(k for k, v in values.items() if len(v) > 1)


def mean_std(values: List[float]) -> Tuple[float, float]:
    return statistics.fmean(values), (statistics.stdev(values) if len(values) > 1 else 0.0)


def fmt(values: List[Optional[float]], scale: float = 100.0, signed: bool = False) -> str:
    vals = [v for v in values if v is not None]
    if not vals:
        return "undefined"
    m, s = mean_std([v * scale for v in vals])
    text = f"{m:+.1f}" if signed else f"{m:.1f}"
    return text + (f" ± {s:.1f}" if len(vals) > 1 else "")


def group_experiments(records: List[RunRecord],
                      selection: str = "last") -> Tuple[List[str], List[Tuple[Tuple, List[RunRecord]]]]:
    """(config fields that vary, [(experiment key, its runs)] in a stable order) of the completed records.

    ``selection="reference"`` keeps only the records whose reference rule chose an epoch with metrics.
    """
    records = completed(records)
    if selection == "reference":
        records = [r for r in records if r.reference_selection and r.reference_selection.get("metrics")]
    varying = varying_fields(records)
    groups: Dict[Tuple, List[RunRecord]] = defaultdict(list)
    for r in records:
        groups[experiment_key(r, varying)].append(r)
    return varying, sorted(groups.items(), key=lambda kv: repr(kv[0]))


def off_default(cfg: Dict[str, Any], varying: Sequence[str]) -> List[str]:
    """``field=value`` for the varying fields where this experiment is set and off the suite's default."""
    return [f"{k}={_show(cfg[k])}" for k in varying
            if k in cfg and _show(cfg[k]) != "-" and cfg[k] != _freeze(_defaults().get(k))]


def leaderboard_rows(records: List[RunRecord], columns=DEFAULT_COLUMNS,
                     selection: str = "last") -> Tuple[List[str], List[List[str]]]:
    """Mean ± std over seeds per experiment. ``selection="reference"``: the epochs the reference's rule kept
    (chosen on the test set), for the records that name a rule; a column says which epochs."""
    varying, groups = group_experiments(records, selection)
    extra = ["rule", "epochs kept"] if selection == "reference" else []
    headers = ["dataset", "model", "backbone", "CAL", *varying, "seeds", *extra,
               *[column_header(p, m) for p, m in columns], "train min"]
    rows = []
    for key, runs in groups:
        cfg = dict(key)
        kept = [] if selection == "last" else [
            ",".join(sorted({r.reference_selection["rule"] for r in runs})),
            ",".join(str(r.reference_selection["epoch"]) for r in runs)]
        rows.append([cfg["data.dataset"], cfg["model.name"], cfg["model.backbone"],
                     "yes" if cfg["cal.enabled"] else "no", *[_show(cfg[k]) for k in varying], len(runs), *kept,
                     *[fmt([_metric(r, p, m, selection) for r in runs]) for p, m in columns],
                     f"{statistics.fmean(r.timings['train_s'] for r in runs) / 60:.1f}"])
    return headers, rows


Pair = Tuple[int, RunRecord, RunRecord]  # (seed, CAL record, ID-only record)


def cal_pairs(records: List[RunRecord]) -> Tuple[List[str], List[Tuple[Dict[str, Any], List[Pair]]]]:
    """CAL runs paired by seed with the ID-only run of the same experiment.

    Returns (varying fields, [(experiment without "cal", [(seed, CAL, ID-only), ...]), ...]),
    experiments with at least one pair, in a stable order.
    """
    records = completed(records)
    varying = varying_fields(records)
    plain: Dict[Tuple, Dict[int, RunRecord]] = defaultdict(dict)
    for r in records:
        if not r.cal:
            plain[_without_cal(experiment_key(r, varying))][r.seed] = r
    by_key: Dict[Tuple, Dict[int, Tuple[RunRecord, RunRecord]]] = defaultdict(dict)
    for r in records:
        if r.cal:
            key = experiment_key(r, varying)
            partner = plain.get(_without_cal(key), {}).get(r.seed)
            if partner is not None:
                by_key[tuple(kv for kv in key if kv[0] != "cal.enabled")][r.seed] = (r, partner)
    groups = [(dict(key), [(s, *seeds[s]) for s in sorted(seeds)])
              for key, seeds in sorted(by_key.items(), key=lambda kv: repr(kv[0]))]
    return varying, groups


def cal_gain_rows(records: List[RunRecord], columns=DEFAULT_COLUMNS) -> Tuple[List[str], List[List[str]]]:
    """CAL minus no-CAL, paired by seed (and by every other config field)."""
    varying, groups = cal_pairs(records)
    headers = ["dataset", "model", "backbone", *varying, "paired seeds",
               *[f"Δ {column_header(p, m)}" for p, m in columns], "Δ cc mAP per seed"]
    rows = []
    for cfg, pairs in groups:
        deltas = []
        for p, m in columns:
            deltas.append(fmt([_diff(_metric(a, p, m), _metric(b, p, m)) for _, a, b in pairs], signed=True))
        per_seed = ", ".join(
            f"s{s}: {100 * d:+.1f}" if d is not None else f"s{s}: undefined"
            for s, d in ((s, _diff(_metric(a, 'cc', 'mAP'), _metric(b, 'cc', 'mAP'))) for s, a, b in pairs))
        rows.append([cfg["data.dataset"], cfg["model.name"], cfg["model.backbone"], *[_show(cfg[k]) for k in varying],
                     len(pairs), *deltas, per_seed])
    return headers, rows


def _without_cal(key: Tuple) -> Tuple:
    return tuple((k, "-") if k in CAL_FIELDS and k != "cal.enabled" else (k, v) for k, v in key if k != "cal.enabled")


def _diff(a: Optional[float], b: Optional[float]) -> Optional[float]:
    return None if a is None or b is None else a - b


def _show(v) -> str:
    if isinstance(v, tuple):
        return ",".join(_show(x) if not isinstance(x, tuple) else f"{x[0]}={_show(x[1])}" for x in v) or "-"
    return str(v)


def render(headers: List[str], rows: List[List[str]], fmt_name: str = "github") -> str:
    return tabulate(rows, headers=headers, tablefmt=fmt_name, disable_numparse=True)


PROTOCOL_NAMES = ("general", "cc", "sc")
METRIC_NAMES = ("top1", "top5", "top10", "top20", "mAP", "mINP")


def parse_columns(spec: str) -> Tuple[Tuple[str, str], ...]:
    """``"general.top1,cc.mAP,sc.mAP"`` -> ((protocol, metric), ...); :class:`LeaderboardError` names a bad entry."""
    out = []
    for item in (s.strip() for s in spec.split(",") if s.strip()):
        protocol, _, metric = item.partition(".")
        if protocol not in PROTOCOL_NAMES or metric not in METRIC_NAMES:
            raise LeaderboardError(f"--columns {item!r}: expected PROTOCOL.METRIC with PROTOCOL in "
                             f"{'/'.join(PROTOCOL_NAMES)} and METRIC in {'/'.join(METRIC_NAMES)}")
        out.append((protocol, metric))
    if not out:
        raise LeaderboardError("--columns: name at least one PROTOCOL.METRIC")
    return tuple(out)


def column_header(protocol: str, metric: str) -> str:
    return f"{protocol if protocol != 'general' else 'gen'} {metric}"


def sort_rows(headers: List[str], rows: List[List[str]], column: Tuple[str, str]) -> List[List[str]]:
    """Rows by the mean of ``column``, highest first; undefined values last."""
    name = column_header(*column)
    if name not in headers:
        raise LeaderboardError(f"--sort {'.'.join(column)}: not a column of this table (add it to --columns)")
    j = headers.index(name)

    def key(row):
        text = str(row[j]).split(" ")[0]
        try:
            return (0, -float(text))
        except ValueError:
            return (1, 0.0)
    return sorted(rows, key=key)


def shared_settings(records: List[RunRecord]) -> str:
    """A caption naming every setting that is the same in every row but not the suite's default."""
    records = completed(records)
    if not records:
        return ""
    configs = [config_of(r) for r in records]
    defaults = _defaults()
    shared = []
    for k in sorted(configs[0]):
        if k in IGNORED_FIELDS or k in IDENTITY_FIELDS or k == "preset":
            continue
        values = {repr(_freeze(c.get(k))) for c in configs}
        if len(values) == 1 and _freeze(configs[0].get(k)) != _freeze(defaults.get(k)):
            if k in CAL_FIELDS and not all(c["cal.enabled"] for c in configs):
                continue
            shared.append(f"{k}={_show(_freeze(configs[0].get(k)))}")
    text = "Every row: the last epoch (the suite's headline), mean ± std over seeds"
    return text + (f"; settings off the default in every row: {', '.join(shared)}." if shared else ".")
