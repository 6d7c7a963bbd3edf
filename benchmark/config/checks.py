"""Every field checked before any work starts: one line naming the field, or a warning.

:func:`check` raises :class:`ConfigError` on the first field that cannot work
and returns the config with what it adjusted (threads beyond the machine's
cores are capped), plus the warnings to log. A setting that cannot take effect
is refused rather than ignored (``--cal`` with CAL starting after the last
epoch would record ``cal: true`` for a run that trained none).
"""
from __future__ import annotations

import math
import os
from typing import List, Optional, Sequence, Tuple

from .compose import ConfigError, did_you_mean
from .schema import Config

SAMPLING_MODES = ("stride", "tsn")
BACKENDS = ("auto", "frames", "video")


def _choice(key: str, value, allowed: Sequence[str]) -> None:
    if value not in allowed:
        raise ConfigError(f"{key}: expected {', '.join(allowed)}, got {value!r}{did_you_mean(value, allowed)}")


def _at_least(key: str, value: int, low: int) -> None:
    if value < low:
        raise ConfigError(f"{key}: must be >= {low}, got {value}")


def _finite(key: str, value: Optional[float], low: float = -math.inf, low_open: bool = False,
            high: float = math.inf, high_open: bool = False) -> None:
    if value is None:
        return
    if not math.isfinite(value):
        raise ConfigError(f"{key}: must be a finite number, got {value}")
    if value < low or (low_open and value == low) or value > high or (high_open and value == high):
        lo = "(" if low_open else "["
        hi = ")" if high_open else "]"
        raise ConfigError(f"{key}: must be in {lo}{low:g}, {high:g}{hi}, got {value:g}")


def _data(cfg: Config) -> None:
    d = cfg.data
    if d.dataset != "embedded":
        from ccvid.catalog import DATASETS
        if d.dataset not in DATASETS:
            hint = did_you_mean(d.dataset, list(DATASETS) + ["embedded"])
            raise ConfigError(f"data.dataset {d.dataset!r}: unknown dataset{hint} (see 'benchmark datasets')")
        if not d.root:
            raise ConfigError(f"data.dataset {d.dataset} needs --data-root DIR ({DATASETS[d.dataset].description})")
    elif d.root:
        raise ConfigError(f"data.root {d.root!r}: the embedded dataset is generated, it reads no folder "
                          "(give --dataset NAME for a dataset on disk)")
    _choice("data.backend", d.backend, BACKENDS)
    _choice("data.sampling", d.sampling, SAMPLING_MODES)
    _choice("data.resize", d.resize, ("bicubic", "bilinear"))
    _choice("data.cache_frames", str(d.cache_frames).lower(), ("auto", "on", "off", "true", "false"))
    _choice("data.test_clips", d.test_clips, ("tile", "chunks"))
    _choice("data.decode", d.decode, ("cpu", "device"))
    for key in ("height", "width", "seq_len", "stride", "num_ids", "clips_per_id"):
        _at_least(f"data.{key}", getattr(d, key), 1)
    _at_least("data.val_ids", d.val_ids, 0)
    _at_least("data.dense_piece", d.dense_piece, 0)
    for key in ("random_crop", "random_erasing"):
        _finite(f"data.{key}", getattr(d, key), 0.0, high=1.0)


def _model(cfg: Config) -> None:
    from temporal_models import BACKBONES, MODELS
    from temporal_models.backbones import IMAGENET_SPECS
    MODELS.get(cfg.model.name)          # unknown names: one line with close matches
    BACKBONES.get(cfg.model.backbone)
    _choice("model.res4_stride", cfg.model.res4_stride, (1, 2))
    _choice("model.init", cfg.model.init, ("pytorch", "reference"))
    p = cfg.model.pretrained
    if p and p not in IMAGENET_SPECS and not os.path.isfile(os.path.expanduser(p)):
        raise ConfigError(f"model.pretrained {p!r}: no such weights file (a local .pth, or one of "
                          f"{', '.join(IMAGENET_SPECS)})")


def _optim(cfg: Config) -> None:
    o = cfg.optim
    _at_least("optim.epochs", o.epochs, 1)
    _finite("optim.lr", o.lr, 0.0, low_open=True)
    _finite("optim.clothes_lr", o.clothes_lr, 0.0, low_open=True)
    _finite("optim.weight_decay", o.weight_decay, 0.0)
    _finite("optim.lr_gamma", o.lr_gamma, 0.0, low_open=True)
    if any(s < 1 for s in o.lr_steps) or list(o.lr_steps) != sorted(set(o.lr_steps)):
        raise ConfigError(f"optim.lr_steps: increasing epochs >= 1, got {list(o.lr_steps)}")


def _loss(cfg: Config) -> None:
    s = cfg.loss
    _choice("loss.recipe", s.recipe, ("suite", "model"))
    _choice("loss.triplet_distance", s.triplet_distance, ("cosine", "euclidean"))
    _choice("loss.triplet_mining", s.triplet_mining, ("hard", "all"))
    _finite("loss.label_smoothing", s.label_smoothing, 0.0, high=1.0, high_open=True)
    _finite("loss.triplet_weight", s.triplet_weight, 0.0)
    _finite("loss.triplet_margin", s.triplet_margin, 0.0)


def _cal(cfg: Config) -> None:
    c, epochs = cfg.cal, cfg.optim.epochs
    _finite("cal.epsilon", c.epsilon, 0.0, low_open=True, high=1.0)
    _finite("cal.scale", c.scale, 0.0, low_open=True, high=1e3)
    _at_least("cal.start_epoch", c.start_epoch, 0)
    _at_least("cal.clothes_start_epoch", c.clothes_start_epoch, 0)
    _choice("cal.variant", c.variant, ("classifier", "memory"))
    _finite("cal.memory_momentum", c.memory_momentum, 0.0, high=1.0, high_open=True)
    if c.enabled and c.start_epoch >= epochs:
        raise ConfigError(f"cal.start_epoch {c.start_epoch} >= optim.epochs {epochs}: CAL would never train "
                          "(lower cal.start_epoch or train longer)")
    if c.enabled and c.clothes_start_epoch >= epochs:
        raise ConfigError(f"cal.clothes_start_epoch {c.clothes_start_epoch} >= optim.epochs {epochs}: CAL would "
                          "push against a clothes classifier that never learns")


def _eval(cfg: Config) -> None:
    _at_least("eval.every", cfg.eval.every, 0)
    _at_least("eval.clips_per_batch", cfg.eval.clips_per_batch, 1)
    from ..evaluation.inputs import METRICS  # the metrics the evaluation library knows
    _choice("eval.metric", cfg.eval.metric, METRICS)
    _choice("eval.feature", cfg.eval.feature, ("mean", "model"))
    _choice("eval.shot", cfg.eval.shot, ("multi", "single"))
    _at_least("eval.draws", cfg.eval.draws, 1)
    if cfg.eval.selection_rule is not None:
        _choice("eval.selection_rule", cfg.eval.selection_rule, ("cc-top1", "general-top1"))


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
    _at_least("system.threads", s.threads, 0)
    _at_least("system.workers", s.workers, 0)
    _choice("system.precision", s.precision, ("fp32", "bf16", "fp16"))
    if s.precision == "fp16" and not (s.device.startswith("cuda") or s.device == "auto" and _cuda()):
        raise ConfigError("system.precision fp16: needs a CUDA device (use bf16 on the CPU)")
    cores = os.cpu_count() or 1
    if s.threads > cores:
        warnings.append(f"system.threads {s.threads} > {cores} cores on this machine: using {cores}")
        s.threads = cores
    if not s.runs_dir:
        raise ConfigError("system.runs_dir: must name a folder")


def check(cfg: Config) -> Tuple[Config, List[str]]:
    """Raise :class:`ConfigError` on the first field that cannot work; return (config, warnings)."""
    warnings: List[str] = []
    _data(cfg)
    _model(cfg)
    _optim(cfg)
    _loss(cfg)
    _cal(cfg)
    _eval(cfg)
    _system(cfg, warnings)
    return cfg, warnings
