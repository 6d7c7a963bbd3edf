"""From config files, presets, a recorded run and ``key=value`` overrides to one checked :class:`Config`.

Order, later wins:

1. the schema's defaults (the ``cpu`` preset);
2. a config file: ``configs/<preset>.yaml`` for ``--preset NAME``, or ``--config FILE``;
   a file may start from others with ``_base_: other.yaml`` (or a list), paths relative to it
   or, failing that, to ``configs/``;
3. overrides ``key=value`` (dotted, e.g. ``optim.lr=3e-4``, or a flat alias such as ``lr=3e-4``).

Then two kinds of defaults fill the fields that were not *given* (set by an
override or by a user's own file, as opposed to the built-in presets):

- a preset's per-dataset changes (``_dataset_defaults_`` in a file, e.g. the image
  recipe's 16 ids x 4 images for LaST), for the run's dataset;
- with ``loss.recipe=model``, the loss fields the model registered as its own.

``--config RUN/record.json`` re-runs a recorded run: its resolved config is taken
whole (every field counts as given) and overrides still apply.
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Set, Tuple

import yaml
from omegaconf import OmegaConf
from omegaconf.errors import OmegaConfBaseException

from ccvid.base import UserError, did_you_mean

from .schema import FLAT_ALIASES, SECTIONS, Config, dotted_key, flatten, leaf_keys


class ConfigError(UserError, ValueError):
    """A bad config file, option or override; the message names it in one line."""


CONFIG_DIR = Path(__file__).resolve().parents[2] / "configs"
LIST_FIELDS = {"optim.lr_steps", "eval.extra_variants"}


def presets() -> List[str]:
    """Names of the built-in configs: ``cpu``, ``paper``, ``image`` and the recipes ``<dataset>/<name>``."""
    if not CONFIG_DIR.is_dir():
        return []
    return sorted(p.relative_to(CONFIG_DIR).with_suffix("").as_posix() for p in CONFIG_DIR.rglob("*.yaml"))


def preset_path(name: str) -> Path:
    path = CONFIG_DIR / f"{name}.yaml"
    if not path.is_file():
        known = presets()
        if not known:
            raise ConfigError(f"--preset {name}: no built-in configs found in {CONFIG_DIR}")
        raise ConfigError(f"--preset {name!r}: unknown preset{did_you_mean(name, known)}; choose from "
                          f"{', '.join(known)}")
    return path


# --------------------------------------------------------------------------- files
def load_yaml(path, what: str, error: type = ConfigError) -> Any:
    """The YAML in ``path``; ``error`` with one line naming the file (and the line of a syntax error) otherwise.

    ``what`` names the file in messages ("config file", "the sweep spec").
    """
    try:
        with open(path, encoding="utf-8") as fh:
            text = fh.read()
    except FileNotFoundError:
        raise error(f"{path}: {what} not found") from None
    except (OSError, UnicodeDecodeError) as e:
        raise error(f"{path}: cannot read {what} ({type(e).__name__})") from None
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f":{mark.line + 1}" if mark is not None else ""
        problem = getattr(e, "problem", None) or "invalid YAML"
        raise error(f"{path}{where}: {problem}") from None


def _read_yaml(path: Path) -> Dict[str, Any]:
    if path.exists() and not path.is_file():  # a folder, a FIFO (a read would hang) or a device
        raise ConfigError(f"{path}: not a regular file (a YAML config file is expected)")
    data = load_yaml(path, "config file")
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: a config file holds a mapping of sections, not a {type(data).__name__}")
    return data


def line_of(path, key: str) -> str:
    """':N' for the first line of ``path`` that sets the leaf of ``key`` (best effort, for messages)."""
    leaf = str(key).rsplit(".", 1)[-1]
    try:
        with open(path, encoding="utf-8") as fh:
            lines = fh.read().splitlines()
        for i, line in enumerate(lines, 1):
            if re.match(rf"\s*{re.escape(leaf)}\s*:", line):
                return f":{i}"
    except (OSError, UnicodeDecodeError):
        pass
    return ""


class _Layer:
    """One source of values: a file (with its path, for messages) or the overrides."""

    def __init__(self, values: Dict[str, Any], origin: str, path: Optional[Path] = None, builtin: bool = False,
                 dataset_defaults: Optional[Dict[str, Any]] = None):
        self.values, self.origin, self.path, self.builtin = values, origin, path, builtin
        self.dataset_defaults = dataset_defaults or {}


def _file_layers(path: Path, seen: Tuple[Path, ...] = ()) -> List[_Layer]:
    """``path`` and its ``_base_`` files, bases first."""
    path = path.resolve()
    if path in seen:
        raise ConfigError(f"{path}: _base_ includes itself ({' -> '.join(p.name for p in (*seen, path))})")
    data = _read_yaml(path)
    bases = data.pop("_base_", [])
    per_dataset = data.pop("_dataset_defaults_", {}) or {}
    if not isinstance(per_dataset, dict):
        raise ConfigError(f"{path}{line_of(path, '_dataset_defaults_')}: _dataset_defaults_ maps dataset names "
                          "to sections")
    layers: List[_Layer] = []
    for base in [bases] if isinstance(bases, str) else list(bases):
        candidate = path.parent / str(base)
        if not candidate.exists() and (CONFIG_DIR / str(base)).is_file():
            candidate = CONFIG_DIR / str(base)  # `_base_: paper.yaml` from a user's own folder
        layers += _file_layers(candidate, (*seen, path))
    builtin = CONFIG_DIR.resolve() in path.parents
    layers.append(_Layer(_normalise_file(data, path), str(path), path, builtin, per_dataset))
    return layers


def _normalise_file(data: Dict[str, Any], path: Path) -> Dict[str, Any]:
    """Accept flat alias keys at the top of a file (``lr: 3e-4``) beside sections."""
    out: Dict[str, Any] = {}
    for key, value in data.items():
        if key in SECTIONS and isinstance(value, dict):
            out.setdefault(key, {}).update(value)
        elif key == "preset":
            out[key] = value
        else:
            _set(out, dotted_key(str(key)), value)
    return out


def _set(tree: Dict[str, Any], dotted: str, value: Any) -> None:
    *parents, leaf = dotted.split(".")
    for p in parents:
        tree = tree.setdefault(p, {})
    tree[leaf] = value


# --------------------------------------------------------------------------- overrides
OVERRIDE_WORD = re.compile(r"^[A-Za-z_][\w.]*=")  # a KEY=VALUE word on a command line or in a sweep spec


def parse_overrides(items: Sequence[str], option: str = "override", aliases: bool = True) -> Dict[str, Any]:
    """``["optim.lr=3e-4", "seed=1", "synth.clothes_strength=0.5"]`` -> a nested dict of YAML-typed values.

    ``aliases=False`` keeps keys as given (for other dataclasses, e.g. the embedded dataset's knobs).
    """
    out: Dict[str, Any] = {}
    for item in items:
        if "=" not in item:
            raise ConfigError(f"{option} {item!r}: expected KEY=VALUE")
        key, raw = (s.strip() for s in item.split("=", 1))
        dotted = dotted_key(key) if aliases else key
        if dotted in LIST_FIELDS and raw and not raw.startswith("["):
            raw = "[" + ", ".join(raw.replace(",", " ").split()) + "]"
        try:
            value = yaml.safe_load(raw) if raw else ""
        except yaml.YAMLError:
            value = raw
        if value is None and raw.lower() not in ("null", "none", "~", ""):
            value = raw
        if isinstance(value, str) and value.lower() == "none":
            value = None
        _set(out, dotted, value)
    return out


def _given_keys(values: Dict[str, Any]) -> Set[str]:
    return {k for k, _ in flatten(values)}


# --------------------------------------------------------------------------- merge
def _merge(layers: Sequence[_Layer]) -> Config:
    merged = OmegaConf.structured(Config)
    for layer in layers:
        try:
            merged = OmegaConf.merge(merged, OmegaConf.create(layer.values))
        except OmegaConfBaseException as e:
            raise ConfigError(_explain(e, layer)) from None
    try:
        return OmegaConf.to_object(merged)
    except OmegaConfBaseException as e:  # a missing mandatory value
        raise ConfigError(_explain(e, layers[-1])) from None


def _explain(e: OmegaConfBaseException, layer: _Layer) -> str:
    key = getattr(e, "full_key", "") or ""
    msg = str(getattr(e, "msg", e)).splitlines()[0]
    if "not in" in msg or "Key '" in msg and "not" in msg:
        msg = "unknown config field" + did_you_mean(key, leaf_keys() + list(FLAT_ALIASES))
    where = f"{layer.path}{line_of(layer.path, key)}: " if layer.path else f"{layer.origin} "
    return f"{where}{key}: {msg}"


def compose(preset: Optional[str] = None, config: Optional[str] = None, overrides: Sequence[str] = (),
            option: str = "override", recorded: Optional[Dict[str, Any]] = None,
            values: Optional[Dict[str, Any]] = None) -> Config:
    """The resolved config of a run; see the module docstring for the order. Not yet checked.

    ``recorded``: the (upgraded) config of a run record, taken whole instead of a file;
    ``config`` then only names it in messages. ``values``: typed fields (dotted keys or
    flat aliases) applied before the text overrides, as the command-line flags are.
    """
    if preset and (config or recorded is not None):
        raise ConfigError("give either --preset NAME or --config FILE, not both")
    layers: List[_Layer] = []
    from_record = recorded is not None
    if from_record:
        layers.append(_Layer(recorded, config or "record"))
    elif config:
        layers += _file_layers(Path(config))
    else:
        layers += _file_layers(preset_path(preset or "cpu"))
    typed = _nest({dotted_key(k): v for k, v in (values or {}).items()})
    given_values = parse_overrides(overrides, option)
    layers += [_Layer(typed, "values"), _Layer(given_values, option)]
    cfg = _merge(layers)
    if from_record:
        return cfg
    given = _given_keys(given_values) | _given_keys(typed)
    for layer in layers:
        if not layer.builtin and layer.path is not None:
            given |= _given_keys(layer.values)
    per_dataset: Dict[str, Any] = {}
    for layer in layers:
        per_dataset.update(layer.dataset_defaults)
    if cfg.data.dataset == "embedded" and cfg.data.root and "data.dataset" not in given:
        cfg.data.dataset = "ccvid"   # a bare --data-root means a CCVID-layout folder
    fills = dict(flatten(per_dataset.get(cfg.data.dataset, {}) or {}))
    if cfg.loss.recipe == "model":
        fills.update(model_loss_recipe(cfg.model.name))
    fills = {dotted_key(k): v for k, v in fills.items() if dotted_key(k) not in given}
    if fills:
        cfg = _merge([_Layer(cfg.to_dict(), "resolved"), _Layer(_nest(fills), "per-dataset / loss-recipe defaults")])
    return cfg


def _nest(flat: Dict[str, Any]) -> Dict[str, Any]:
    out: Dict[str, Any] = {}
    for k, v in flat.items():
        _set(out, k, v)
    return out


def model_loss_recipe(model: str) -> Dict[str, Any]:
    """The dotted config fields of ``model``'s registered loss recipe (its own codebase's losses), checked."""
    from temporal_models import MODELS

    recipe = MODELS.loss_recipe(model)
    names = set(leaf_keys())
    out = {}
    for k, v in recipe.items():
        dotted = dotted_key(k)
        if dotted not in names or dotted in ("model.name", "loss.recipe"):
            raise ConfigError(f"model {model!r}: its loss recipe sets {k!r}, which is not a config field it may set")
        out[dotted] = v
    return out


def to_yaml(cfg: Config) -> str:
    """The resolved config as YAML (what ``config.yaml`` of a run folder holds)."""
    return OmegaConf.to_yaml(OmegaConf.structured(cfg), sort_keys=False)


def from_dict(d: Dict[str, Any], origin: str = "config") -> Config:
    """A nested config dict (a record's, a checkpoint's) -> Config, missing fields at today's defaults."""
    return _merge([_Layer(d, origin)])


def make_config(preset: str = "cpu", overrides: Sequence[str] = (), **fields: Any) -> Config:
    """A preset, then typed ``fields`` (flat or ``section__name``; None = not given), then text overrides.

    The library form of ``benchmark run --preset P --FLAG ... KEY=VALUE``; not yet checked
    (:func:`benchmark.config.check`).
    """
    values = {k.replace("__", "."): v for k, v in fields.items() if v is not None}
    return compose(preset, overrides=overrides, values=values)
