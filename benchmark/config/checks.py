"""Every field checked before any work starts: one line naming the field, or a warning.

:func:`check` raises :class:`ConfigError` on the first field that cannot work
and returns the config with what it adjusted (threads beyond the machine's
cores are capped), plus the warnings to log. A setting that cannot take effect
is refused rather than ignored (``--cal`` with CAL starting after the last
epoch would record ``cal: true`` for a run that trained none).

The rules of single fields ride on the schema (:func:`~.schema.choice`,
:func:`~.schema.at_least`, :func:`~.schema.bounded`) and are read here in one
loop (:func:`check_fields`); a set of allowed values is read from its owner
(:func:`allowed`). The rules that relate fields follow, one function per section.
"""
from __future__ import annotations

import dataclasses
import importlib
import math
import os
from typing import Any, List, Sequence, Tuple

from ccvid.base import UserError, did_you_mean

from .compose import ConfigError
from .schema import SECTIONS, Config


def owner_value(owner: str) -> Any:
    """The object an owner reference ``"module:ATTRIBUTE"`` names (imported now, not with the schema)."""
    module, _, attribute = owner.partition(":")
    return getattr(importlib.import_module(module), attribute)


def allowed(owner: str) -> List[Any]:
    """The values an owner allows: a registry's names, a dict's keys or a sequence's items."""
    values = owner_value(owner)
    if hasattr(values, "names"):
        return list(values.names())
    return list(values)


def field_rules(key: str) -> dict:
    """The rule metadata of a dotted field (``{}`` when it has none)."""
    section, _, name = key.partition(".")
    return dict({f.name: f for f in dataclasses.fields(getattr(Config(), section))}[name].metadata)


def _choice(key: str, value: Any, owner: str, fold: bool) -> None:
    values = owner_value(owner)
    if hasattr(values, "get") and hasattr(values, "names"):  # a registry: its own one-line message
        try:
            values.get(value)
        except UserError as e:
            raise ConfigError(f"{key}: {e}") from None
        return
    names = list(values)
    if (str(value).lower() if fold else value) not in names:
        raise ConfigError(f"{key}: expected {', '.join(map(str, names))}, got {value!r}{did_you_mean(value, names)}")


def _at_least(key: str, value: int, low: int) -> None:
    if value < low:
        raise ConfigError(f"{key}: must be >= {low}, got {value}")


def _finite(key: str, value: Any, low: float = -math.inf, high: float = math.inf, low_open: bool = False,
            high_open: bool = False) -> None:
    if value is None:
        return
    if not math.isfinite(value):
        raise ConfigError(f"{key}: must be a finite number, got {value}")
    if value < low or (low_open and value == low) or value > high or (high_open and value == high):
        lo = "(" if low_open else "["
        hi = ")" if high_open else "]"
        raise ConfigError(f"{key}: must be in {lo}{low:g}, {high:g}{hi}, got {value:g}")


def check_fields(cfg: Config) -> None:
    """The rule of every field that has one, in the schema's order: the first that fails raises."""
    for section in SECTIONS:
        part = getattr(cfg, section)
        for f in dataclasses.fields(part):
            rules, key, value = f.metadata, f"{section}.{f.name}", getattr(part, f.name)
            if "owner" in rules and value is not None:
                for item in value if isinstance(value, list) else [value]:  # a list: each item
                    _choice(key, item, rules["owner"], rules.get("fold", False))
            if "min" in rules:
                _at_least(key, value, rules["min"])
            if "range" in rules:
                _finite(key, value, *rules["range"])


def _data(cfg: Config, warnings: List[str], need_root: bool) -> None:
    from ccvid.catalog import get_dataset

    from ..evaluation import PROTOCOLS
    d = cfg.data
    info = get_dataset(d.dataset)
    if info.needs_root and not d.root and not need_root:
        warnings.append(f"data.root: none given; a run of data.dataset {d.dataset} needs --data-root DIR "
                        f"({info.description})")
    elif info.needs_root and not d.root:
        raise ConfigError(f"data.dataset {d.dataset} needs --data-root DIR ({info.description})")
    if not info.needs_root and d.root:
        raise ConfigError(f"data.root {d.root!r}: the {d.dataset} dataset is generated, it reads no folder "
                          "(give --dataset NAME for a dataset on disk)")
    unknown = [p for p in info.protocols if p not in PROTOCOLS]
    if unknown:
        raise ConfigError(f"data.dataset {d.dataset}: its registration names protocol(s) {', '.join(unknown)}; "
                          f"the evaluation scores {', '.join(PROTOCOLS)}")


def _own_backbone(cfg: Config) -> None:
    """A model's optional package is installed; a model that brings its own network (pytorchvideo's) gets no
    ImageNet ResNet weights and a clip length it takes."""
    from temporal_models import MODELS
    from temporal_models.backbones import IMAGENET_SPECS
    m = cfg.model
    MODELS.require(m.name)  # one line naming the extra to install
    if not MODELS.owns_backbone(m.name):
        return
    if m.pretrained in IMAGENET_SPECS:
        raise ConfigError(f"model.pretrained {m.pretrained}: model {m.name} brings its own network; give its "
                          "Kinetics weights as a local file (--pretrained PATH) or none (model.pretrained=null)")
    multiple = MODELS.info(m.name).get("seq_len_multiple", 1)
    if cfg.data.seq_len % multiple:
        raise ConfigError(f"data.seq_len {cfg.data.seq_len}: model {m.name} needs a multiple of {multiple}")


def _model(cfg: Config) -> None:
    from temporal_models import BACKBONES, MODELS
    from temporal_models.backbones import IMAGENET_SPECS
    m, p = cfg.model, cfg.model.pretrained
    family = BACKBONES.family(m.backbone)
    words = family.words if family else tuple(IMAGENET_SPECS)
    if p and p not in words and not os.path.isfile(os.path.expanduser(p)):
        raise ConfigError(f"model.pretrained {p!r}: no such weights file (a local file, or one of {', '.join(words)} "
                          f"for model.backbone {m.backbone})")
    frames = MODELS.takes_frame_encoders(m.name)
    if family and not frames:
        raise ConfigError(f"model.backbone {m.backbone}: model {m.name} needs a ResNet-layout backbone "
                          f"(conv1 ... layer4); a {family.prefix}<name> frame encoder goes with "
                          f"{MODELS.frame_encoder_models()}")
    if m.frame_pool != "auto" and not frames:
        raise ConfigError(f"model.frame_pool {m.frame_pool}: model {m.name} has no per-frame embedding to pool "
                          "(only the frames_* models read it)")
    if m.frame_pool.startswith("cls") and not family:
        raise ConfigError(f"model.frame_pool {m.frame_pool}: the ResNet {m.backbone} has no class token "
                          "(use auto, avg or max)")
    if family and m.res4_stride != 1:
        raise ConfigError(f"model.res4_stride {m.res4_stride}: a ResNet setting; {m.backbone} has no res4 stage")


def _objectives() -> None:
    """Every registered objective's weight is a config field (a term a run cannot switch off would train unsaid)."""
    from ..engine import OBJECTIVES
    from .schema import leaf_keys
    fields = set(leaf_keys())
    for name in OBJECTIVES.names():
        weight = OBJECTIVES.info(name).get("weight")
        if weight is not None and weight not in fields:
            raise ConfigError(f"objective {name!r}: its weight field {weight!r} is not a config field")


def _loss(cfg: Config) -> None:
    """Every epoch trains the model on at least one term (``loss.id_weight`` 0 leaves the ID loss out)."""
    from ..engine import objective_terms
    for epoch in range(cfg.optim.epochs):
        if not objective_terms(cfg, epoch, "model"):
            raise ConfigError(f"loss.id_weight {cfg.loss.id_weight:g}: epoch {epoch + 1} would train the model on no "
                              "loss term (give loss.triplet_weight > 0, or --cal with cal.start_epoch 0)")


def _optim(cfg: Config) -> None:
    o = cfg.optim
    if any(s < 1 for s in o.lr_steps) or list(o.lr_steps) != sorted(set(o.lr_steps)):
        raise ConfigError(f"optim.lr_steps: increasing epochs >= 1, got {list(o.lr_steps)}")


def _cal(cfg: Config) -> None:
    c, epochs = cfg.cal, cfg.optim.epochs
    if c.enabled and c.start_epoch >= epochs:
        raise ConfigError(f"cal.start_epoch {c.start_epoch} >= optim.epochs {epochs}: CAL would never train "
                          "(lower cal.start_epoch or train longer)")
    if c.enabled and c.clothes_start_epoch >= epochs:
        raise ConfigError(f"cal.clothes_start_epoch {c.clothes_start_epoch} >= optim.epochs {epochs}: CAL would "
                          "push against a clothes classifier that never learns")
    if c.relabel_every and c.clothes_labels != "cluster":
        raise ConfigError(f"cal.relabel_every {c.relabel_every}: only cal.clothes_labels=cluster is refreshed "
                          f"(got {c.clothes_labels}; give cal.relabel_every=0)")
    _clothes_labels(cfg)


def _clothes_labels(cfg: Config) -> None:
    """A dataset registered without clothes labels takes CAL only from a pseudo-label source (the data's own
    check, every identity wearing one clothes id, follows when the dataset is read: training/build.py)."""
    from ccvid.catalog import get_dataset
    if cfg.cal.enabled and cfg.cal.clothes_labels == "annotated" and not get_dataset(cfg.data.dataset).clothes_labels:
        raise ConfigError(no_clothes_labels(cfg.data.dataset))


def no_clothes_labels(dataset: str) -> str:
    """The one line that refuses CAL on annotated clothes labels a dataset does not have."""
    return (f"cal.clothes_labels annotated: data.dataset {dataset} has no clothes labels; --cal needs a pseudo-label "
            "source: cal.clothes_labels=cluster | colour | camera")


def _device(name: str) -> None:
    import torch
    if name == "auto":
        return
    try:
        dev = torch.device(name)
    except (RuntimeError, ValueError):
        raise ConfigError(f"system.device {name!r}: unknown device (auto, cpu, cuda, cuda:N)") from None
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise ConfigError(f"system.device {name!r}: CUDA is not available on this machine (use auto or cpu)")
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise ConfigError(f"system.device {name!r}: this machine has {torch.cuda.device_count()} CUDA device(s)")
    elif dev.type != "cpu":
        raise ConfigError(f"system.device {name!r}: unsupported device type (auto, cpu, cuda, cuda:N)")


def _cuda() -> bool:
    import torch
    return torch.cuda.is_available()


def _system(cfg: Config, warnings: List[str]) -> None:
    s = cfg.system
    if not 0 <= s.seed < 2**32:
        raise ConfigError(f"system.seed: must be in [0, 2^32), got {s.seed}")
    _device(s.device)
    if s.precision == "fp16" and not (s.device.startswith("cuda") or s.device == "auto" and _cuda()):
        raise ConfigError("system.precision fp16: needs a CUDA device (use bf16 on the CPU)")
    cores = os.cpu_count() or 1
    if s.threads > cores:
        warnings.append(f"system.threads {s.threads} > {cores} cores on this machine: using {cores}")
        s.threads = cores
    if not s.runs_dir:
        raise ConfigError("system.runs_dir: must name a folder")


def check(cfg: Config, need_root: bool = True) -> Tuple[Config, List[str]]:
    """Raise :class:`ConfigError` on the first field that cannot work; return (config, warnings).

    ``need_root=False`` (a config printed, not run): a dataset's missing folder is a warning.
    """
    warnings: List[str] = []
    check_fields(cfg)
    _data(cfg, warnings, need_root)
    _own_backbone(cfg)
    _model(cfg)
    _objectives()
    _loss(cfg)
    _optim(cfg)
    _cal(cfg)
    _system(cfg, warnings)
    return cfg, warnings


def choices_of(key: str) -> Sequence[Any]:
    """The allowed values of a dotted field, from its owner (for command-line help and choices)."""
    return allowed(field_rules(key)["owner"])
