"""``benchmark sweep``: the spec of a run matrix, each run's identity, the records that say it is done, its lock.

A spec (YAML) names the matrix configs x datasets x seeds x models x objectives::

    runs_dir: results/zoo           # where the run folders go (required)
    configs: [cpu]                  # presets (configs/NAME.yaml: cpu, paper, ccvid/ap3d) or YAML files (required)
    models: [baseline, ap3d]        # optional: each sets model.name (default: the config's own)
    objectives: [id, cal]           # named objectives: id, cal, id+triplet, id+clothes_ce, ... (required)
    seeds: [0, 1, 2]                # system.seed (required)
    datasets:                       # optional: data.dataset and data.root (default: the config's own)
      - {dataset: ccvid, root: /data/CCVID}
    overrides: ["cal.epsilon=1.0"]  # optional KEY=VALUE words, applied to every run
    variants:                       # optional: named sets of KEY=VALUE words, one more axis of the matrix
      annotated: []                 #   (an empty set: the config as it is)
      cluster: ["cal.clothes_labels=cluster"]
    resources:                      # optional: each submitted job's share (--executor slurm | submitit-local)
      partition: gpu
      gpus_per_node: 1
      timeout_min: 600

Paths are relative to the current folder, as on the command line. Every cell of the
matrix is one ``benchmark run`` command line (:meth:`Cell.words`); the command
composes and checks its config the way ``benchmark run`` does.

Identity: a run is the short SHA-256 of its resolved config (the config a record
holds) with ``system.runs_dir`` removed, taken through today's schema (fields a
record of an older version lacks count at today's defaults). A run is done when
a record of the same identity under ``runs_dir`` says ``complete``.

Locks: before a run starts, ``runs_dir/.locks/<identity>.lock`` is created with
``O_CREAT | O_EXCL`` (atomic on a local disk and on NFS v3+), holding host, pid and
start time; whoever created it runs the run and removes it afterwards. A lock older
than ``stale_after`` seconds (a machine that died) may be taken over: it is renamed
aside (one taker wins the rename), checked to be the lock judged stale, and created
again with ``O_EXCL``.
"""
from __future__ import annotations

import copy
import hashlib
import json
import os
import re
import socket
import time
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Tuple

from ccvid.base import did_you_mean

from ..config import ConfigError, from_dict, presets
from ..config.ablations import NAMED_OBJECTIVES, OBJECTIVE_FIELDS
from ..config.compose import OVERRIDE_WORD, line_of, load_yaml, preset_path
from ..records import RecordError, now_iso, read_record, record_paths

OBJECTIVES = tuple(NAMED_OBJECTIVES)
REQUIRED = ("runs_dir", "configs", "objectives", "seeds")
OPTIONAL = ("models", "datasets", "overrides", "variants", "resources")
# what the matrix itself sets; an override of one of these would make the matrix lie
MATRIX_FIELDS = {"model.name": "models", "system.seed": "seeds", "data.dataset": "datasets", "data.root": "datasets",
                 "system.runs_dir": "runs_dir", **{key: "objectives" for key in OBJECTIVE_FIELDS}}
IDENTITY_DROPPED = ("system.runs_dir",)
LOCKS = ".locks"


class SpecError(ConfigError):
    """A bad sweep spec: one line naming the file and the key."""


# --------------------------------------------------------------------------- the spec
@dataclass(frozen=True)
class Cell:
    """One run of the matrix: what its ``benchmark run`` command says."""

    config: str                     # the config file (a preset's own file for a preset name)
    config_name: str                # as the spec names it
    model: Optional[str]
    objective: str                  # a named objective: id, cal, id+triplet, ... (benchmark/config/ablations.py)
    seed: int
    dataset: Optional[str] = None
    root: Optional[str] = None
    variant: Optional[str] = None   # the name of the spec's variant (its words: ``variant_words``)
    variant_words: Tuple[str, ...] = ()

    def words(self, runs_dir: str, overrides: List[str]) -> List[str]:
        """The ``benchmark run`` arguments of this run."""
        out = ["--config", self.config]
        out += ["--model", self.model] if self.model else []
        out += ["--objective", self.objective]
        out += ["--seed", str(self.seed)]
        out += ["--dataset", self.dataset] if self.dataset else []
        out += ["--data-root", self.root] if self.root else []
        out += ["--runs-dir", runs_dir, *overrides, *self.variant_words]
        return out


@dataclass
class Spec:
    path: str
    runs_dir: str
    configs: List[str]
    objectives: List[str]
    seeds: List[int]
    models: List[Optional[str]] = field(default_factory=lambda: [None])
    datasets: List[Optional[Tuple[str, Optional[str]]]] = field(default_factory=lambda: [None])
    overrides: List[str] = field(default_factory=list)
    variants: Dict[str, Tuple[str, ...]] = field(default_factory=dict)   # name -> KEY=VALUE words
    resources: Dict[str, Any] = field(default_factory=dict)   # checked by :func:`_resources`

    def cells(self) -> List[Cell]:
        """The matrix, paired where it helps a stopped sweep: configs, datasets, seeds, models, then id / cal,
        then the variants."""
        variants = list(self.variants.items()) or [(None, ())]
        return [Cell(config_file(name), name, model, objective, seed, *(dataset or (None, None)), variant, words)
                for name in self.configs for dataset in self.datasets for seed in self.seeds
                for model in self.models for objective in self.objectives for variant, words in variants]


def read_spec(path: str) -> Spec:
    """Read and check a sweep spec; :class:`SpecError` names the file and the key."""
    data = _load(path)
    for key in data:
        if key not in REQUIRED + OPTIONAL:
            raise _error(path, key, f"unknown key{did_you_mean(key, REQUIRED + OPTIONAL)} (keys: "
                                    f"{', '.join(REQUIRED + OPTIONAL)})")
    for key in REQUIRED:
        if key not in data:
            raise _error(path, key, "missing (required: " + ", ".join(REQUIRED) + ")")
    runs_dir = data["runs_dir"]
    if not isinstance(runs_dir, str) or not runs_dir.strip():
        raise _error(path, "runs_dir", f"expected a folder name, got {runs_dir!r}")
    spec = Spec(path, runs_dir, _words(path, data, "configs"), _words(path, data, "objectives"),
                _seeds(path, data))
    for objective in spec.objectives:
        if objective not in OBJECTIVES:
            raise _error(path, "objectives", f"expected {', '.join(OBJECTIVES)}, got {objective!r}"
                                             f"{did_you_mean(objective, OBJECTIVES)}")
    for name in spec.configs:
        _config_exists(path, name)
    if "models" in data:
        spec.models = list(_words(path, data, "models"))
    if "datasets" in data:
        spec.datasets = _datasets(path, data)
    if "overrides" in data:
        spec.overrides = _overrides(path, data["overrides"], "overrides")
    if "variants" in data:
        spec.variants = _variants(path, data["variants"])
    if "resources" in data:
        spec.resources = _resources(path, data["resources"])
    return spec


def _load(path: str) -> Dict[str, Any]:
    if not os.path.isfile(path):
        raise SpecError(f"{path}: no such sweep spec (a YAML file)")
    data = load_yaml(path, "the sweep spec", SpecError)
    if not isinstance(data, dict):
        raise SpecError(f"{path}: a sweep spec is a mapping of keys ({', '.join(REQUIRED + OPTIONAL)}), "
                        f"not a {type(data).__name__}")
    return data


def _error(path: str, key: str, problem: str) -> SpecError:
    return SpecError(f"{path}{line_of(path, key)}: {key}: {problem}")


def _list(path: str, data: Dict[str, Any], key: str) -> List[Any]:
    value = data[key]
    if not isinstance(value, list):
        raise _error(path, key, f"expected a list, got {type(value).__name__} {value!r}")
    if not value:
        raise _error(path, key, "empty list" + ("; leave the key out for the config's own" if key in OPTIONAL
                                                else ""))
    seen = [v for i, v in enumerate(value) if v in value[:i]]
    if seen:
        raise _error(path, key, f"{seen[0]!r} is listed twice")
    return value


def _words(path: str, data: Dict[str, Any], key: str) -> List[str]:
    value = _list(path, data, key)
    for v in value:
        if not isinstance(v, str) or not v.strip() or v.startswith("-"):
            raise _error(path, key, f"expected names, got {v!r}")
    return value


def _seeds(path: str, data: Dict[str, Any]) -> List[int]:
    value = _list(path, data, "seeds")
    for v in value:
        if isinstance(v, bool) or not isinstance(v, int) or v < 0:
            raise _error(path, "seeds", f"expected whole numbers >= 0, got {v!r}")
    return value


def _datasets(path: str, data: Dict[str, Any]) -> List[Optional[Tuple[str, Optional[str]]]]:
    out = []
    for item in _list(path, data, "datasets"):
        item = {"dataset": item} if isinstance(item, str) else item
        if not isinstance(item, dict) or set(item) - {"dataset", "root"} or not isinstance(item.get("dataset"), str):
            raise _error(path, "datasets", f"expected {{dataset: NAME, root: FOLDER}} items, got {item!r}")
        root = item.get("root")
        if root is not None and (not isinstance(root, str) or not root.strip() or root.startswith("-")):
            raise _error(path, "datasets", f"{item['dataset']}: root: expected a folder, got {root!r}")
        if not item["dataset"].strip() or item["dataset"].startswith("-"):
            raise _error(path, "datasets", f"expected a dataset name, got {item['dataset']!r}")
        out.append((item["dataset"], root))
    return out


def _overrides(path: str, value: Any, key: str, empty_ok: bool = False) -> List[str]:
    """KEY=VALUE words under ``key`` (``overrides``, or ``variants.NAME``), none of them a field the matrix sets."""
    from ..config import dotted_key
    value = _list(path, {key: value}, key) if not (empty_ok and value == []) else []
    for v in value:
        if not isinstance(v, str) or not OVERRIDE_WORD.match(v):
            raise _error(path, key, f"expected KEY=VALUE words, got {v!r}")
        owner = MATRIX_FIELDS.get(dotted_key(v.split("=", 1)[0].strip()))
        if owner:
            raise _error(path, key, f"{v!r}: the matrix sets that field (use the key {owner!r})")
    return value


def _variants(path: str, value: Any) -> Dict[str, Tuple[str, ...]]:
    """``variants:``: a mapping of names to lists of KEY=VALUE words (an empty list: the config as it is)."""
    if not isinstance(value, dict) or not value:
        raise _error(path, "variants", f"expected a mapping of names to lists of KEY=VALUE words, got {value!r}")
    out = {}
    for name, words in value.items():
        if not isinstance(name, str) or not re.match(r"^[A-Za-z0-9][A-Za-z0-9_.+-]*$", name):
            raise _error(path, "variants", f"expected names (letters, digits, _ . + -), got {name!r}")
        out[name] = tuple(_overrides(path, words, f"variants.{name}", empty_ok=True))
    return out


# what each submitted job asks for (`benchmark sweep --executor slurm | submitit-local`); a job trains one run in
# one process, so one node, one task and at most one GPU
RESOURCES = {
    "partition": "the Slurm partition",
    "timeout_min": "each job's time limit in minutes (default 1440)",
    "gpus_per_node": "0 or 1",
    "cpus_per_task": "CPU cores per job",
    "mem_gb": "memory per job in GB",
    "array_parallelism": "at most this many jobs of the array at a time (Slurm)",
    "setup": "shell lines run before each job (module load ..., source venv/bin/activate)",
    "slurm": "more sbatch options, {option: value} (account, qos, constraint, exclude, mail-user, ...)",
}
WHOLE_AT_LEAST = {"timeout_min": 1, "gpus_per_node": 0, "cpus_per_task": 1, "array_parallelism": 1}
# sbatch options that the keys above, or submitit itself, already write: `slurm:` may not set them again
SBATCH_OWNED = {"partition": "resources.partition", "time": "resources.timeout_min",
                "gpus_per_node": "resources.gpus_per_node", "cpus_per_task": "resources.cpus_per_task",
                "mem": "resources.mem_gb", **{k: "the sweep (one job per run)" for k in (
                    "array", "job_name", "nodes", "ntasks", "ntasks_per_node", "output", "error", "open_mode",
                    "signal")}}
SBATCH_OPTION = re.compile(r"^[A-Za-z][A-Za-z0-9_-]*$")


def _resources(path: str, value: Any) -> Dict[str, Any]:
    """The spec's ``resources:`` mapping, checked key by key (see :data:`RESOURCES`)."""
    if not isinstance(value, dict):
        raise _error(path, "resources", f"expected a mapping of {', '.join(RESOURCES)}, got "
                                        f"{type(value).__name__} {value!r}")
    for key, v in value.items():
        where = f"resources.{key}"
        if key not in RESOURCES:
            raise _error(path, where, f"unknown key{did_you_mean(str(key), tuple(RESOURCES))} (resources: "
                                      f"{', '.join(RESOURCES)})")
        if key in WHOLE_AT_LEAST and (isinstance(v, bool) or not isinstance(v, int) or v < WHOLE_AT_LEAST[key]):
            raise _error(path, where, f"expected a whole number >= {WHOLE_AT_LEAST[key]}, got {v!r}")
        if key == "gpus_per_node" and v > 1:
            raise _error(path, where, f"expected 0 or 1, got {v}: a job trains one run in one process on one "
                                      "device (several GPUs per run: torchrun, docs/long-runs.md)")
        if key == "mem_gb" and (isinstance(v, bool) or not isinstance(v, (int, float)) or not v > 0):
            raise _error(path, where, f"expected a number of GB > 0, got {v!r}")
        if key == "partition" and (not isinstance(v, str) or not v.strip() or len(v.split()) > 1):
            raise _error(path, where, f"expected a partition name, got {v!r}")
        if key == "setup" and (not isinstance(v, list) or not all(isinstance(x, str) and x.strip() for x in v)):
            raise _error(path, where, f"expected a list of shell lines, got {v!r}")
        if key == "slurm":
            _sbatch_options(path, v)
    return dict(value)


def _sbatch_options(path: str, value: Any) -> None:
    if not isinstance(value, dict):
        raise _error(path, "resources.slurm", f"expected a mapping of sbatch options, got {type(value).__name__} "
                                              f"{value!r}")
    for option, v in value.items():
        where = f"resources.slurm.{option}"
        if not isinstance(option, str) or not SBATCH_OPTION.match(option):
            raise _error(path, "resources.slurm", f"expected sbatch option names, got {option!r}")
        owner = SBATCH_OWNED.get(option.replace("-", "_"))
        if owner:
            raise _error(path, where, f"set by {owner}")
        if v is not True and (isinstance(v, bool) or not isinstance(v, (str, int, float)) or str(v).strip() == ""):
            raise _error(path, where, f"expected a value (or true for a bare flag), got {v!r}")


def config_file(name: str) -> str:
    """A spec's config entry -> the file ``benchmark run --config`` reads (a preset's, relative when inside .)."""
    if name.endswith((".yaml", ".yml", ".json")) or os.path.isfile(name):
        return name
    path = str(preset_path(name))
    rel = os.path.relpath(path)
    return path if rel.startswith(os.pardir) else rel


def _config_exists(path: str, name: str) -> None:
    if name.endswith((".yaml", ".yml", ".json")) or os.path.isfile(name):
        if not os.path.isfile(name):
            raise _error(path, "configs", f"{name}: no such config file")
        return
    known = presets()
    if name not in known:
        raise _error(path, "configs", f"{name!r}: neither a preset nor a YAML file{did_you_mean(name, known)} "
                                      f"(presets: {', '.join(known)})")


# --------------------------------------------------------------------------- identity and records
def identity(config: Dict[str, Any]) -> str:
    """The run's identity: 12 hex digits of the SHA-256 of its resolved config without ``system.runs_dir``."""
    d = copy.deepcopy(config)
    for key in IDENTITY_DROPPED:
        section, _, name = key.partition(".")
        (d.get(section) or {}).pop(name, None)
    blob = json.dumps(d, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()[:12]


def record_identity(config: Dict[str, Any]) -> Optional[str]:
    """A record's config taken through today's schema, then :func:`identity`; None if it no longer fits."""
    try:
        return identity(from_dict(config).to_dict())
    except ConfigError:
        return None


class RecordIndex:
    """Complete records under ``runs_dir`` by identity; :meth:`refresh` reads only records not yet known complete."""

    def __init__(self, runs_dir: str):
        self.runs_dir = runs_dir
        self.done: Dict[str, str] = {}        # identity -> record path
        self._complete: set = set()

    def refresh(self) -> "RecordIndex":
        if not os.path.isdir(self.runs_dir):
            return self
        for path in record_paths([self.runs_dir]):
            if path in self._complete:
                continue
            try:
                record = read_record(path)
            except RecordError:
                continue
            if record.status != "complete":
                continue                       # failed (or resumed later): not done
            self._complete.add(path)
            ident = record_identity(record.config)
            if ident:
                self.done.setdefault(ident, path)
        return self


# --------------------------------------------------------------------------- locks
class LockHeld(Exception):
    """Someone else holds the lock of a run."""

    def __init__(self, holder: Dict[str, Any]):
        super().__init__(describe(holder))
        self.holder = holder


def lock_path(runs_dir: str, ident: str) -> str:
    return os.path.join(runs_dir, LOCKS, f"{ident}.lock")


def describe(holder: Dict[str, Any]) -> str:
    """``host:pid since 2026-01-02T03:04:05+00:00`` (what a lock says of its holder)."""
    who = f"{holder.get('host', '?')}:{holder.get('pid', '?')}"
    return f"{who} since {holder.get('started', '?')}"


def _create(path: str, ident: str, name: str) -> None:
    fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
    written = False
    try:
        body = {"host": socket.gethostname(), "pid": os.getpid(), "started": now_iso(), "time": time.time(),
                "run": name, "identity": ident}
        os.write(fd, (json.dumps(body) + "\n").encode("utf-8"))
        os.fsync(fd)
        written = True
    finally:
        os.close(fd)
        if not written:  # stopped (SIGTERM, Ctrl-C) half way: leave no lock that nobody holds
            os.remove(path)


def release_if_mine(runs_dir: str, ident: str) -> None:
    """Remove the run's lock when this process holds it (a job stopped between taking and guarding it)."""
    path = lock_path(runs_dir, ident)
    try:
        _, holder, _ = _read(path)
    except (OSError, ValueError):
        return
    if holder.get("pid") == os.getpid() and holder.get("host") == socket.gethostname():
        release(path)


def _read(path: str) -> Tuple[str, Dict[str, Any], float]:
    """(text, holder, age in seconds) of an existing lock; FileNotFoundError when it went away."""
    with open(path, encoding="utf-8", errors="replace") as fh:
        text = fh.read()
    mtime = os.stat(path).st_mtime
    try:
        holder = json.loads(text)
    except ValueError:
        holder = None
    if not isinstance(holder, dict):   # being written right now, or damaged: judge by the file's time
        holder = {"started": time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(mtime))}
    started = holder.get("time")
    age = time.time() - (started if isinstance(started, (int, float)) else mtime)
    return text, holder, age


def _set_aside(path: str, text: str) -> bool:
    """Move the stale lock away; False when another taker moved it first or it was renewed meanwhile."""
    aside = f"{path}.stale-{socket.gethostname()}-{os.getpid()}"
    try:
        os.rename(path, aside)
    except FileNotFoundError:
        return False
    with open(aside, encoding="utf-8", errors="replace") as fh:
        moved = fh.read()
    if moved != text:                  # a fresh lock of someone who took over first: put it back
        os.replace(aside, path)
        return False
    os.remove(aside)
    return True


def take_lock(runs_dir: str, ident: str, name: str, stale_after: float) -> Tuple[str, Optional[Dict[str, Any]]]:
    """Create the run's lock: (its path, the stale holder taken over or None); :class:`LockHeld` when held."""
    path = lock_path(runs_dir, ident)
    try:
        os.makedirs(os.path.dirname(path), exist_ok=True)
    except OSError as e:
        raise ConfigError(f"system.runs_dir {runs_dir!r}: cannot create {LOCKS} there ({e.strerror or e})") from None
    holder: Dict[str, Any] = {}
    for _ in range(3):
        try:
            _create(path, ident, name)
            return path, None
        except FileExistsError:
            pass
        try:
            text, holder, age = _read(path)
        except FileNotFoundError:
            continue                   # released meanwhile: try again
        if age <= stale_after:
            raise LockHeld(holder)
        if _set_aside(path, text):
            try:
                _create(path, ident, name)
                return path, holder
            except FileExistsError:
                continue
    raise LockHeld(holder)


def lock_holder(runs_dir: str, ident: str, stale_after: float) -> Optional[Dict[str, Any]]:
    """The holder of a run's live lock (not stale), or None; takes nothing."""
    try:
        _, holder, age = _read(lock_path(runs_dir, ident))
    except FileNotFoundError:
        return None
    return holder if age <= stale_after else None


def release(path: str) -> None:
    try:
        os.remove(path)
    except FileNotFoundError:
        pass
