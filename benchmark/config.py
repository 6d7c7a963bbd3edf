"""Run configuration: one flat dataclass, named presets, ``KEY=VALUE`` overrides.

Presets:
- ``cpu`` (default): the embedded dataset on a 2-core CPU in a few minutes:
  ``resnet_tiny``, 64x32, 30 epochs of 8 ids x 4 clips, Adam 1e-3 with steps at
  10 and 25, CAL from epoch 10 (the first step, as in the paper) with eps 1.0,
  the clothes classifier's Adam at lr 1e-2.
  eps and the start were chosen on 20 held-out training identities
  (``benchmark cal-sweep --val-ids 20``), never on the test split; see README.
- ``paper``: the video recipe of the paper / reference code (REFERENCE C):
  ResNet-50 (last stride 1), 256x128, 8 frames stride 4, 8 ids x 4 clips,
  Adam 3.5e-4 (wd 5e-4) for 150 epochs with steps at 40/80/120, CAL from epoch
  50 with eps 0.1 and scale 16, evaluation every 10 epochs.
- ``image``: the image recipe (LTCC, PRCC, VC-Clothes, LaST, DeepChange):
  the ``image`` model (ResNet-50, global max + average pooling, 4096-d), 384x192,
  8 ids x 8 images, random crop / flip / erasing (p 0.5 each), label-smoothed (0.1)
  ID loss, 60 epochs with steps at 20/40, CAL from epoch 25 (eps 0.1), evaluation
  every 5 epochs, test features of the image plus its mirror. LaST and DeepChange
  take 16 ids x 4 images, LaST adds the triplet loss (weight 1).

Loss recipe: every model trains with the same losses by default (``loss_recipe=suite``),
so that a comparison of models is a comparison of architectures. ``loss_recipe=model``
fills the loss fields a model registered as its own codebase's (TCLNet: cosine
batch-hard triplet, margin 0.4, per learner; GaitSet: Euclidean batch-all triplet,
margin 0.2, per part); fields given with ``--set`` still win.
"""
from __future__ import annotations

import dataclasses
import json
from dataclasses import asdict, dataclass, field, fields
from typing import Any, Dict, List, Optional, Tuple


class ConfigError(ValueError):
    """A bad option or override; the message names it."""


@dataclass
class Config:
    preset: str = "cpu"
    # data
    dataset: str = "embedded"          # "embedded" (generated) or a catalog name (`benchmark datasets`)
    data_root: Optional[str] = None
    dataset_options: Dict[str, Any] = field(default_factory=dict)  # reader options, e.g. {"split": "val"} for LaST
    backend: str = "auto"              # auto | frames | video
    synth: Dict[str, Any] = field(default_factory=dict)  # SynthConfig overrides for the embedded dataset
    cache_dir: Optional[str] = None    # where the embedded dataset is cached (default ~/.cache/ccreid-bench)
    val_ids: int = 0                   # >0: hold out that many training ids as query/gallery (tuning), test set unused
    val_seed: Optional[int] = 0        # which ids are held out (None: the run's seed)
    height: int = 64
    width: int = 32
    seq_len: int = 8
    stride: int = 4
    sampling: str = "stride"           # stride | tsn
    dense_piece: int = 64
    flip: bool = True
    random_crop: float = 0.0           # image recipe: p of upscale-1.125-and-crop
    random_erasing: float = 0.0        # image recipe: p of random erasing
    test_flip: bool = False            # test feature = f(x) + f(flipped x) (image recipe)
    # model
    model: str = "baseline"
    backbone: str = "resnet_tiny"
    pretrained: Optional[str] = None   # path to ImageNet weights, or "imagenet" for torchvision's cache
    res4_stride: int = 1
    # optimisation
    num_ids: int = 8                   # P identities per batch
    clips_per_id: int = 4              # K clips per identity
    epochs: int = 30
    lr: float = 1e-3
    weight_decay: float = 5e-4
    lr_steps: Tuple[int, ...] = (10, 25)
    lr_gamma: float = 0.1
    clothes_lr: Optional[float] = 1e-2  # clothes classifier's Adam lr (None: same as lr, as the reference)
    label_smoothing: float = 0.0       # ID loss label smoothing (0.1 in the image recipe)
    triplet_weight: float = 0.0
    triplet_margin: float = 0.3
    triplet_distance: str = "cosine"   # cosine | euclidean
    triplet_mining: str = "hard"       # hard (batch-hard) | all (every triplet, mean over non-zero)
    loss_recipe: str = "suite"         # suite: these fields as given | model: the model's own losses fill them
    # CAL
    cal: bool = False
    cal_epsilon: float = 1.0
    cal_scale: float = 16.0
    cal_start_epoch: int = 10
    clothes_start_epoch: int = 0
    # evaluation
    eval_every: int = 0                # 0: only after the last epoch
    test_clips_per_batch: int = 128
    metric: str = "cosine"
    rerank: bool = False               # k-reciprocal re-ranking (k1=20, k2=6, lambda=0.3) at test
    # system
    seed: int = 0
    device: str = "auto"
    threads: int = 2
    workers: int = 0
    runs_dir: str = "runs"
    save_checkpoint: bool = True
    progress: bool = True

    def to_dict(self) -> Dict[str, Any]:
        d = asdict(self)
        d["lr_steps"] = list(self.lr_steps)
        return d

    @classmethod
    def from_dict(cls, d: Dict[str, Any]) -> "Config":
        names = {f.name for f in fields(cls)}
        unknown = sorted(set(d) - names)
        if unknown:
            raise ConfigError(f"unknown config field {unknown[0]!r}")
        d = dict(d)
        if "lr_steps" in d:
            d["lr_steps"] = tuple(d["lr_steps"])
        return cls(**d)


PRESETS: Dict[str, Dict[str, Any]] = {
    "cpu": {},
    "paper": dict(
        dataset="ccvid", backbone="resnet50", pretrained="imagenet", height=256, width=128,
        epochs=150, lr=3.5e-4, weight_decay=5e-4, lr_steps=(40, 80, 120), cal_epsilon=0.1,
        cal_start_epoch=50, clothes_start_epoch=0, clothes_lr=None, eval_every=10, workers=4, threads=0,
        test_clips_per_batch=64,
    ),
    "image": dict(
        dataset="ltcc", model="image", backbone="resnet50", pretrained="imagenet", height=384, width=192,
        seq_len=1, epochs=60, lr=3.5e-4, weight_decay=5e-4, lr_steps=(20, 40), cal_epsilon=0.1,
        cal_start_epoch=25, clothes_start_epoch=0, clothes_lr=None, eval_every=5, num_ids=8, clips_per_id=8,
        label_smoothing=0.1, random_crop=0.5, random_erasing=0.5, test_flip=True, workers=4, threads=0,
        test_clips_per_batch=128,
    ),
}

# The reference's per-dataset changes to a preset (REFERENCE C): applied before --set overrides.
DATASET_DEFAULTS: Dict[Tuple[str, str], Dict[str, Any]] = {
    ("image", "last"): dict(num_ids=16, clips_per_id=4, triplet_weight=1.0),
    ("image", "deepchange"): dict(num_ids=16, clips_per_id=4),
}


def _parse_value(raw: str, annotation: str, key: str) -> Any:
    """Parse ``raw`` by the field's annotation (``int``, ``Optional[float]``, ``Tuple[int, ...]`` ...)."""
    optional = annotation.startswith("Optional[")
    base = annotation[len("Optional["):-1] if optional else annotation
    if optional and raw.lower() in ("none", "null", ""):
        return None
    try:
        if base == "bool":
            if raw.lower() in ("1", "true", "yes", "on"):
                return True
            if raw.lower() in ("0", "false", "no", "off"):
                return False
            raise ValueError
        if base == "int":
            return int(raw)
        if base == "float":
            return float(raw)
        if base.startswith("Tuple"):
            return tuple(int(x) for x in raw.replace(",", " ").split())
        if base.startswith("Dict"):
            value = json.loads(raw)
            if not isinstance(value, dict):
                raise ValueError
            return value
    except (ValueError, json.JSONDecodeError):
        raise ConfigError(f"{key}: cannot parse {raw!r} as {annotation}") from None
    return raw


def json_or_text(raw: str) -> Any:
    """``0.5`` -> 0.5, ``false`` -> False, ``abc`` -> "abc" (values of free-form knobs such as synth.*)."""
    try:
        return json.loads(raw)
    except json.JSONDecodeError:
        return raw


def apply_overrides(cfg: Config, overrides: List[str]) -> Config:
    """Apply ``KEY=VALUE`` strings; ``synth.KEY=VALUE`` sets an embedded-dataset knob."""
    names = {f.name: f for f in fields(cfg)}
    for item in overrides:
        if "=" not in item:
            raise ConfigError(f"--set {item!r}: expected KEY=VALUE")
        key, raw = item.split("=", 1)
        key = key.strip()
        if key.startswith("synth."):
            cfg.synth = {**cfg.synth, key[len("synth."):]: json_or_text(raw)}
            continue
        if key not in names:
            import difflib
            close = difflib.get_close_matches(key, names, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise ConfigError(f"--set {key}: unknown config field{hint}")
        setattr(cfg, key, _parse_value(raw.strip(), str(names[key].type), key))
    return cfg


def make_config(preset: str = "cpu", overrides: Optional[List[str]] = None, **fields_) -> Config:
    """Preset, then keyword fields (None = not given), then ``KEY=VALUE`` overrides.

    The preset's per-dataset defaults (:data:`DATASET_DEFAULTS`) fill every field
    that was not given explicitly.
    """
    if preset not in PRESETS:
        raise ConfigError(f"--preset {preset!r}: unknown preset; choose from {', '.join(PRESETS)}")
    cfg = dataclasses.replace(Config(), preset=preset, **PRESETS[preset])
    given = {k for k, v in fields_.items() if v is not None}
    for k in given:
        setattr(cfg, k, fields_[k])
    cfg = apply_overrides(cfg, overrides or [])
    given |= {item.split("=", 1)[0].strip() for item in overrides or []}
    for k, v in DATASET_DEFAULTS.get((preset, cfg.dataset), {}).items():
        if k not in given:
            setattr(cfg, k, v)
    if cfg.loss_recipe == "model":
        for k, v in model_loss_recipe(cfg.model).items():
            if k not in given:
                setattr(cfg, k, v)
    return cfg


def model_loss_recipe(model: str) -> Dict[str, Any]:
    """The config fields of ``model``'s registered loss recipe (its own codebase's losses), checked."""
    from temporal_models import MODELS

    recipe = MODELS.loss_recipe(model)
    names = {f.name for f in fields(Config)}
    for k in recipe:
        if k not in names or k in ("model", "loss_recipe"):
            raise ConfigError(f"model {model!r}: its loss recipe sets {k!r}, which is not a config field it may set")
    return recipe


def validate(cfg: Config) -> None:
    if cfg.dataset != "embedded":
        from ccvid.catalog import DATASETS
        if cfg.dataset not in DATASETS:
            import difflib
            close = difflib.get_close_matches(cfg.dataset, list(DATASETS) + ["embedded"], n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise ConfigError(f"--dataset {cfg.dataset!r}: unknown dataset{hint} (see 'benchmark datasets')")
        if not cfg.data_root:
            raise ConfigError(f"--dataset {cfg.dataset} needs --data-root DIR ({DATASETS[cfg.dataset].description})")
    for name in ("random_crop", "random_erasing"):
        if not 0.0 <= getattr(cfg, name) <= 1.0:
            raise ConfigError(f"{name}: a probability in [0, 1], got {getattr(cfg, name)}")
    if not 0.0 <= cfg.label_smoothing < 1.0:
        raise ConfigError(f"label_smoothing: must be in [0, 1), got {cfg.label_smoothing}")
    if cfg.backend not in ("auto", "frames", "video"):
        raise ConfigError(f"backend: expected auto, frames or video, got {cfg.backend!r}")
    if not 0.0 < cfg.cal_epsilon <= 1.0:
        raise ConfigError(f"cal_epsilon: must be in (0, 1], got {cfg.cal_epsilon}")
    if cfg.epochs < 1:
        raise ConfigError(f"epochs: must be >= 1, got {cfg.epochs}")
    for name, allowed in (("loss_recipe", ("suite", "model")), ("triplet_distance", ("cosine", "euclidean")),
                          ("triplet_mining", ("hard", "all"))):
        if getattr(cfg, name) not in allowed:
            raise ConfigError(f"{name}: expected {' or '.join(allowed)}, got {getattr(cfg, name)!r}")
    if cfg.metric not in ("cosine", "euclidean"):
        raise ConfigError(f"metric: expected cosine or euclidean, got {cfg.metric!r}")
