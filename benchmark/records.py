"""The run record: one typed, versioned, self-describing JSON file per run.

A record says what ran (the resolved config, dataset summary, model), what came
out (metrics, per-epoch history, timings) and on what (package versions, git
commit, machine). Leaderboards are made from records only.

Formats, oldest first; :func:`upgrade` turns any of them into the current one:

- ``ccreid-bench/run-record/1``: the config was one flat dict (``lr``, ``cal_epsilon``, ...).
- ``ccreid-bench/run-record/2``: the config is nested by section (``optim.lr``,
  ``cal.epsilon``, ...; see :mod:`benchmark.config.schema`); a record names its run
  folder's files (``files``), the weights it started from (``model.weights`` with
  their SHA-256) and, apart from the last-epoch headline, the epoch the reference's
  selection rule would keep (``reference_selection``, chosen on the test set).
- ``ccreid-bench/run-record/3``: a record names its ``objective`` (``id``, ``cal``, ``id+triplet``, ...;
  :mod:`benchmark.config.ablations`: what published rows are matched on) and keeps the metrics of every test
  variant that was scored (``variants``: ``whole``, ``first-frame``, ``shuffled``, ...); the embedded dataset's
  records name the generator version (``dataset.instrument``). Older records read as objective from their config
  and no variants. A record may list ``evaluations`` of its saved model on other datasets (``benchmark test RUN
  --dataset NAME``; none in older records).
"""
from __future__ import annotations

import dataclasses
import datetime as _dt
import json
import math
import os
import platform
import subprocess
from dataclasses import dataclass, field
from importlib import metadata
from typing import Any, Dict, List, Optional

from ccvid.base import UserError
from ccvid.files import write_atomically

from .config.ablations import objective_name
from .config.schema import flatten, upgrade_config

FORMAT_PREFIX = "ccreid-bench/run-record/"
SCHEMA_VERSION = 3
RECORD_FORMAT = f"{FORMAT_PREFIX}{SCHEMA_VERSION}"
PACKAGES = ("ccreid-bench", "torch", "torchvision", "decord", "numpy", "einops", "pillow", "av", "omegaconf")


class RecordError(UserError, ValueError):
    """A file that is not a run record of any known format; the message names it."""


@dataclass
class RunRecord:
    """One run. ``metrics`` maps a protocol (general / cc / sc) to its scores, or None where undefined."""

    config: Dict[str, Any]                 # the resolved config, nested by section
    metrics: Dict[str, Optional[Dict[str, Any]]]
    run_id: str = ""                       # the run folder's name
    history: List[Dict[str, Any]] = field(default_factory=list)
    timings: Dict[str, float] = field(default_factory=dict)
    dataset: Dict[str, Any] = field(default_factory=dict)
    model: Dict[str, Any] = field(default_factory=dict)
    created: Optional[str] = None
    selection: str = "last epoch"          # the headline metrics are the last epoch's
    # the epoch the reference's rule would keep (best test top-1 of a protocol): chosen on the TEST set,
    # reported apart from the headline so a published number chosen that way can be compared with it
    reference_selection: Optional[Dict[str, Any]] = None
    objective: str = ""                    # the named objective (benchmark/config/ablations.py): id, cal, ...
    # the metrics of each test variant scored (eval.variant, eval.extra_variants, `benchmark test --variants`)
    variants: Dict[str, Dict[str, Optional[Dict[str, Any]]]] = field(default_factory=dict)
    # evaluations of this run's saved model on other datasets (`benchmark test RUN --dataset NAME [--best]`): each
    # names the dataset, the checkpoint (model.pt, the last epoch, or best.pt and the epoch its rule kept) and
    # its metrics; not this run's own result (VC-Clothes' SC / CC columns are such evaluations of a full-set run)
    evaluations: List[Dict[str, Any]] = field(default_factory=list)
    forked_at_epoch: Optional[int] = None
    versions: Dict[str, Optional[str]] = field(default_factory=dict)
    git: Dict[str, Any] = field(default_factory=dict)
    machine: Dict[str, Any] = field(default_factory=dict)
    checkpoint: Optional[str] = None
    files: Dict[str, str] = field(default_factory=dict)
    status: str = "complete"               # complete | failed (never averaged into a leaderboard)
    error: Optional[str] = None            # why a failed run failed
    format: str = RECORD_FORMAT
    path: Optional[str] = None             # where it was read from or written to (not stored)

    @property
    def seed(self) -> int:
        return int(self.config.get("system", {}).get("seed", 0))

    @property
    def cal(self) -> bool:
        return bool(self.config.get("cal", {}).get("enabled", False))

    def to_dict(self) -> Dict[str, Any]:
        d = dataclasses.asdict(self)
        d.pop("path")
        return {"format": d.pop("format"), **d}

    @classmethod
    def from_dict(cls, raw: Dict[str, Any], path: Optional[str] = None) -> "RunRecord":
        """A record of any known format (upgraded); :class:`RecordError` names what is wrong."""
        where = path or "record"
        d = upgrade(raw, where)
        names = {f.name for f in dataclasses.fields(cls)}
        if not d.get("run_id") and path:
            d["run_id"] = os.path.basename(os.path.dirname(os.path.abspath(path)))
        try:
            return cls(**{k: v for k, v in d.items() if k in names and k != "path"}, path=path)
        except TypeError as e:
            raise RecordError(f"{where}: not a run record ({e})") from None


def upgrade(raw: Any, where: str = "record") -> Dict[str, Any]:
    """Any format the suite ever wrote -> a dict of the current format (the input is not changed)."""
    if not isinstance(raw, dict):
        raise RecordError(f"{where}: not a run record (a JSON {type(raw).__name__}, not an object)")
    fmt = raw.get("format")
    if not isinstance(fmt, str) or not fmt.startswith(FORMAT_PREFIX):
        raise RecordError(f"{where}: not a run record (format {fmt!r})")
    try:
        version = int(fmt[len(FORMAT_PREFIX):])
    except ValueError:
        raise RecordError(f"{where}: unknown run-record format {fmt!r}") from None
    if version > SCHEMA_VERSION:
        raise RecordError(f"{where}: run-record format {version} is newer than this suite's ({SCHEMA_VERSION}); "
                          "upgrade ccreid-bench")
    d = dict(raw)
    if not isinstance(d.get("config"), dict):
        raise RecordError(f"{where}: not a run record (no config object)")
    if not isinstance(d.get("metrics"), dict):
        raise RecordError(f"{where}: not a run record (no metrics object)")
    if version == 1:
        d["config"] = upgrade_config(d["config"])
        d.pop("seed", None)  # v1 repeated the seed beside the config
        d["files"] = {}
    if version < 3:
        d.setdefault("objective", objective_name(dict(flatten(d["config"]))))
        d.setdefault("variants", {})
        cal = d["config"].get("cal")
        if isinstance(cal, dict) and cal.get("variant") == "memory":  # before cal.memory_write: the mean
            d["config"]["cal"] = {"memory_write": "mean", **cal}
    d["format"] = RECORD_FORMAT
    d.pop("_path", None)
    return d


def read_record(path: str) -> RunRecord:
    """Read one ``record.json`` (any known format)."""
    if os.path.exists(path) and not os.path.isfile(path):  # a folder, a FIFO (a read would hang), a device
        raise RecordError(f"{path}: not a regular file (a record.json is expected)")
    try:
        with open(path, encoding="utf-8") as fh:
            raw = json.load(fh)
    except FileNotFoundError:
        raise RecordError(f"{path}: record not found") from None
    except json.JSONDecodeError as e:
        raise RecordError(f"{path}: not a JSON run record ({e.msg} at line {e.lineno})") from None
    except (OSError, UnicodeDecodeError) as e:
        raise RecordError(f"{path}: cannot read record ({type(e).__name__})") from None
    return RunRecord.from_dict(raw, path)


def record_paths(paths: List[str]) -> List[str]:
    """``record.json`` files named, or found under folders (recursively, sorted)."""
    out = []
    for p in paths:
        if os.path.isfile(p):
            out.append(p)
        elif os.path.isdir(p):
            out += sorted(os.path.join(d, f) for d, _, fs in os.walk(p) for f in fs if f == "record.json")
        else:
            raise RecordError(f"{p}: no such file or folder")
    return out


def load_records(paths: List[str]) -> List[RunRecord]:
    """Records from files or folders (searched recursively for ``record.json``)."""
    return [read_record(f) for f in record_paths(paths)]


def write_record(record: RunRecord, run_dir: str) -> str:
    """Write ``record.json`` atomically into ``run_dir`` (strict JSON: no NaN) and return its path."""
    path = os.path.join(run_dir, "record.json")
    text = json.dumps(_strict(record.to_dict()), indent=2, sort_keys=False, allow_nan=False) + "\n"
    write_atomically(path, lambda f: f.write(text.encode("utf-8")))
    record.path = path
    return path


def _strict(obj: Any) -> Any:
    """Non-finite floats become None: a record is strict JSON that every reader parses."""
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, dict):
        return {k: _strict(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_strict(v) for v in obj]
    return obj


# ----------------------------------------------------------------------------- provenance
def package_versions() -> Dict[str, Optional[str]]:
    out = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    return out


def git_state(path: Optional[str] = None) -> Dict[str, Any]:
    path = path or os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=path, capture_output=True, text=True,
                                timeout=5).stdout.strip() or None
        dirty = bool(subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=path,
                                    capture_output=True, text=True, timeout=5).stdout.strip())
    except (OSError, subprocess.SubprocessError):
        return {"commit": None, "dirty": None}
    return {"commit": commit, "dirty": dirty if commit else None}


def machine() -> Dict[str, Any]:
    import torch

    info: Dict[str, Any] = {"platform": platform.platform(), "processor": platform.processor() or None,
                            "cpu_count": os.cpu_count(), "torch_threads": torch.get_num_threads(),
                            "cuda": torch.cuda.is_available()}
    if torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name(0)
    return info


def new_run_id(model: str, cal: bool, dataset: str, seed: int) -> str:
    stamp = _dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    return f"{stamp}-{model}{'-cal' if cal else ''}-{dataset}-s{seed}"


def now_iso() -> str:
    return _dt.datetime.now().astimezone().isoformat(timespec="seconds")
