"""The run configuration: typed dataclasses nested by concern.

These dataclasses are the schema of every config file under ``configs/`` and of
the ``config`` section of a run record: OmegaConf builds a structured config from
them, so a file or an override with an unknown key or a value of the wrong type
is refused with the key's full name. Their defaults are the ``cpu`` preset (the
embedded dataset on a 2-core CPU in a few minutes).

A field's rule rides on the field itself (:func:`choice`, :func:`choices`, :func:`at_least`,
:func:`bounded`), and :func:`benchmark.config.check` reads every rule in one loop.
A set of allowed values is never written here: :func:`choice` names its owner,
the module that implements the values (``"samplers.clips:TRAIN_MODES"``, a tuple, a
dict or a :class:`~ccvid.base.Registry`), read when the config is checked, so that
this schema imports no torch and a new value is added in its owner alone
(``tests/test_architecture.py`` checks every owner and counts it as an import).

The names of the flat configuration used before sections existed (``lr``,
``cal_epsilon``, ``data_root``, ...) stay valid as aliases (:data:`FLAT_ALIASES`):
``--set lr=3e-4`` is ``optim.lr=3e-4``, and records written with the flat
layout are upgraded through the same table.
"""
from __future__ import annotations

import copy
import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any, Dict, Iterator, List, Optional, Tuple

# the loss fields a run takes: as given (suite), or filled by the model's own recipe (model; config.compose)
LOSS_RECIPES = ("suite", "model")


def choice(default: Any, owner: str, fold: bool = False) -> Any:
    """A field whose value is one of the names its ``owner`` ("module:ATTRIBUTE") implements.

    ``fold``: compared in lower case (words such as ``on`` that YAML reads as booleans).
    """
    return field(default=default, metadata={"owner": owner, "fold": fold})


def choices(owner: str) -> Any:
    """A list field (empty by default) each of whose items is one of the names its ``owner`` implements."""
    return field(default_factory=list, metadata={"owner": owner})


def at_least(default: int, low: int) -> Any:
    """An integer field with a lower bound."""
    return field(default=default, metadata={"min": low})


def bounded(default: Optional[float], low: float = -math.inf, high: float = math.inf, low_open: bool = False,
            high_open: bool = False) -> Any:
    """A finite number in an interval (open or closed at either end); null passes where the type allows it."""
    return field(default=default, metadata={"range": (low, high, low_open, high_open)})


@dataclass
class DataConfig:
    # "embedded" (generated) or a registered dataset (`benchmark datasets`)
    dataset: str = choice("embedded", "ccvid.registry:DATASETS")
    root: Optional[str] = None         # the dataset's folder (none for the embedded dataset)
    options: Dict[str, Any] = field(default_factory=dict)  # reader options, e.g. {split: val} for LaST
    backend: str = choice("auto", "ccvid.datasets.ccvid:BACKENDS")  # auto | frames | video
    synth: Dict[str, Any] = field(default_factory=dict)    # SynthConfig overrides for the embedded dataset
    cache_dir: Optional[str] = None    # where the embedded dataset is cached (default ~/.cache/ccreid-bench)
    val_ids: int = at_least(0, 0)      # >0: hold out that many training ids as query/gallery (tuning)
    val_seed: Optional[int] = 0        # which ids are held out (null: the run's seed)
    height: int = at_least(64, 1)
    width: int = at_least(32, 1)
    seq_len: int = at_least(8, 1)      # frames per clip
    stride: int = at_least(4, 1)       # frame step inside a clip
    # stride | tsn | stride-head (the CAL reference's: medium videos' segments from the start) | stride-distinct
    # (TCLNet's and AP3D's: distinct random frames) | set (GaitSet's: draws with replacement); samplers/clips.py
    sampling: str = choice("stride", "samplers.clips:TRAIN_MODES")
    dense_piece: int = at_least(64, 0)  # training videos are cut into pieces of this many frames (0: whole)
    flip: bool = True                  # random horizontal flip of training clips
    random_crop: float = bounded(0.0, 0.0, 1.0)     # image recipe: p of upscale-1.125-and-crop
    random_erasing: float = bounded(0.0, 0.0, 1.0)  # image recipe: p of random erasing
    num_ids: int = at_least(8, 1)      # P identities per batch
    clips_per_id: int = at_least(4, 1)  # K clips per identity
    # bicubic | bilinear (the reference's image pipeline)
    resize: str = choice("bicubic", "samplers.readers:INTERPOLATIONS")
    # the mean and std clips are normalised with: imagenet | clip (OpenAI CLIP's, which its encoders were trained on)
    normalize: str = choice("imagenet", "samplers.datasets:NORMALIZATIONS")
    # decode a small training set once into memory: auto (<= 1 GiB) | on | off
    cache_frames: str = choice("auto", "samplers.memory:CACHE_WORDS", fold=True)
    # cpu: loader workers decode training JPEGs | device: they read the bytes and the training device
    # decodes each batch (nvJPEG on CUDA)
    decode: str = choice("cpu", "samplers.encoded:DECODE_PLACES")
    # tile: every frame once, in stride-interleaved clips | chunks: consecutive seq_len-frame chunks
    # (TCLNet's own test sampling) | begin: the first clip only | all: one clip of every frame (GaitSet)
    test_clips: str = choice("tile", "samplers.clips:TEST_CLIPS")


@dataclass
class ModelConfig:
    name: str = choice("baseline", "temporal_models:MODELS")  # a registered temporal model (`benchmark models`)
    # a registered 2-D backbone, or timm:<name> for any model timm lists (a frame encoder for the frames_* models)
    backbone: str = choice("resnet_tiny", "temporal_models:BACKBONES")
    # a local weights file; "imagenet" for torchvision's cache (ResNets); "timm" for timm's local HF cache (timm:)
    pretrained: Optional[str] = None
    # stride of the last ResNet stage (1: the reference's last stride 1)
    res4_stride: int = choice(1, "temporal_models.backbones:RES4_STRIDES")
    # pytorch | reference: Non-Local's and TCLNet's extra convs drawn as the reference draws them,
    # N(0, sqrt(2 / out_channels))
    init: str = choice("pytorch", "temporal_models.nonlocal_block:INITS")
    # one frame's embedding in the frames_* models: auto (the encoder's own: timm's pooled embedding, a ResNet
    # map's spatial max) | cls | avg | max | cls+avg (class token; mean / max of the patch tokens or positions)
    frame_pool: str = choice("auto", "temporal_models.frames:FRAME_POOLS")


@dataclass
class OptimConfig:
    epochs: int = at_least(30, 1)
    lr: float = bounded(1e-3, 0.0, low_open=True)
    weight_decay: float = bounded(5e-4, 0.0)
    lr_steps: List[int] = field(default_factory=lambda: [10, 25])
    lr_gamma: float = bounded(0.1, 0.0, low_open=True)
    # the clothes classifier's learning rate (null: the same as lr, as the reference)
    clothes_lr: Optional[float] = bounded(1e-2, 0.0, low_open=True)
    optimizer: str = choice("adam", "benchmark.engine.optimizers:OPTIMIZERS")  # both optimisers' kind
    # multistep (lr_steps, lr_gamma) | constant
    scheduler: str = choice("multistep", "benchmark.engine.optimizers:SCHEDULERS")
    # a linear warm-up multiplying the schedule: warmup_factor x lr at epoch 0, the full rate from warmup_epochs on
    warmup_epochs: int = at_least(0, 0)
    warmup_factor: float = bounded(0.01, 0.0, 1.0, low_open=True)


@dataclass
class LossConfig:
    # suite: these fields as given | model: the model's own losses fill them
    recipe: str = choice("suite", "benchmark.config.schema:LOSS_RECIPES")
    # the ID (cross-entropy) loss's weight; 0: none (GaitSet's own recipe trains the triplet loss only)
    id_weight: float = bounded(1.0, 0.0)
    # ID loss label smoothing (0.1 in the image recipe)
    label_smoothing: float = bounded(0.0, 0.0, 1.0, high_open=True)
    triplet_weight: float = bounded(0.0, 0.0)
    triplet_margin: float = bounded(0.3, 0.0)
    triplet_distance: str = choice("cosine", "benchmark.engine.losses:TRIPLET_DISTANCES")  # cosine | euclidean
    # hard (batch-hard) | all (every triplet, mean over non-zero)
    triplet_mining: str = choice("hard", "benchmark.engine.losses:TRIPLET_MININGS")
    # the paper's Table 3 ablations, from cal.start_epoch: the backbone also minimises the clothes
    # classification loss ("w/ clothes classifier") / minimises minus it ("CAL(-L_C)")
    clothes_ce_weight: float = bounded(0.0, 0.0)
    neg_clothes_ce_weight: float = bounded(0.0, 0.0)


@dataclass
class CALConfig:
    enabled: bool = False              # the Clothes-based Adversarial Loss (`--cal`)
    epsilon: float = bounded(1.0, 0.0, 1.0, low_open=True)  # Eq. 5's epsilon
    scale: float = bounded(16.0, 0.0, 1e3, low_open=True)   # cosine logit scale s
    start_epoch: int = at_least(10, 0)  # first epoch with the CAL term
    clothes_start_epoch: int = at_least(0, 0)  # first epoch the clothes classifier learns
    # classifier (the paper) | memory (the reference's memory-bank variant)
    variant: str = choice("classifier", "benchmark.engine.objectives:CAL_VARIANTS")
    # memory variant: new = momentum * old + (1 - momentum) * written feature
    memory_momentum: float = bounded(0.0, 0.0, 1.0, high_open=True)
    # memory variant: last (the reference's: each raw feature written in batch order, so the last sample of a
    # class wins) | mean (the mean of the class's L2-normalised features in the batch)
    memory_write: str = choice("last", "benchmark.engine.losses:MEMORY_WRITES")
    # the clothes classes CAL and the clothes classifier use: annotated (the dataset's) | cluster (the model's
    # tracklet features clustered within each identity) | colour (upper / lower body colours, clustered) |
    # camera (identity x camera); from the training split only (docs/pseudo-labels.md)
    clothes_labels: str = choice("annotated", "benchmark.engine.pseudo_labels:CLOTHES_LABEL_SOURCES")
    # cluster: the labels are computed at cal.start_epoch and again every N epochs after it (0: never again)
    relabel_every: int = at_least(0, 0)


@dataclass
class EvalConfig:
    every: int = at_least(0, 0)        # evaluate every N epochs (0: only after the last one)
    clips_per_batch: int = at_least(128, 1)  # test clips per forward pass
    metric: str = choice("cosine", "benchmark.evaluation:METRICS")  # cosine | euclidean
    rerank: bool = False               # k-reciprocal re-ranking (k1=20, k2=6, lambda=0.3)
    flip: bool = False                 # test feature = f(x) + f(mirrored x) (image recipe)
    # mean: the mean of the clips' features | model: the model's own aggregation (TCLNet: BN after the
    # mean of pre-BN features)
    feature: str = choice("mean", "temporal_models.features:AGGREGATIONS")
    # multi: the whole gallery | single: one random gallery item per identity, mean and spread over
    # `draws` seeded draws (PRCC)
    shot: str = choice("multi", "benchmark.evaluation:SHOTS")
    draws: int = at_least(10, 1)
    # how each test video's clips are shown for the headline metrics: whole | first-frame (the paper's
    # baseline(F)) | shuffled | reversed | static (each clip's frames shuffled, reversed, or its middle one
    # repeated); extra_variants are also scored after the last epoch and kept in the record
    variant: str = choice("whole", "samplers.clips:TEST_VARIANTS")
    # L2-normalise each video's feature (false: GaitSet's evaluator, Euclidean distances of the raw features)
    normalize: bool = True
    extra_variants: List[str] = choices("samplers.clips:TEST_VARIANTS")
    # reported beside the last epoch: the epoch the reference would keep (best test top-1 of "cc" or
    # "general"; chosen on the test set)
    selection_rule: Optional[str] = choice(None, "benchmark.evaluation:SELECTION_RULES")
    # the test clips of the scores the rule picks by (null: data.test_clips); begin: TCLNet's code picks its
    # epoch on each video's first clip, and reports that epoch on data.test_clips
    selection_clips: Optional[str] = choice(None, "samplers.clips:TEST_CLIPS")


@dataclass
class SystemConfig:
    seed: int = 0
    device: str = "auto"               # auto | cpu | cuda | cuda:N
    threads: int = at_least(2, 0)      # torch threads (0: torch's default)
    workers: int = at_least(0, 0)      # DataLoader worker processes
    runs_dir: str = "runs"             # run folders go here
    save_checkpoint: bool = True       # model.pt at the end, and the training state (state.pt) every epoch
    # fp32 | bf16 (autocast; CPU or CUDA) | fp16 (autocast + gradient scaler; CUDA)
    precision: str = choice("fp32", "benchmark.engine.optimizers:PRECISIONS")
    channels_last: bool = False        # the model's 4-D weights in channels-last memory format
    sync_bn: bool = False              # under torchrun on GPUs: BatchNorm statistics over all ranks' batches


@dataclass
class Config:
    preset: str = "cpu"                # the built-in config the run started from
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    cal: CALConfig = field(default_factory=CALConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)
    system: SystemConfig = field(default_factory=SystemConfig)

    def to_dict(self) -> Dict[str, Any]:
        """Plain nested dict (lists, dicts, scalars): what a record and config.yaml hold."""
        return dataclasses.asdict(self)

    def flat(self) -> Dict[str, Any]:
        """``{"optim.lr": 0.001, ...}``: one entry per leaf field."""
        return dict(flatten(self.to_dict()))

    def replace(self, **dotted: Any) -> "Config":
        """A copy with dotted fields changed: ``cfg.replace(**{"cal.enabled": True})``."""
        new = copy.deepcopy(self)
        for key, value in dotted.items():
            section, _, name = key.rpartition(".")
            target = getattr(new, section) if section else new
            if not hasattr(target, name):
                raise KeyError(key)
            setattr(target, name, value)
        return new


SECTIONS: Tuple[str, ...] = ("data", "model", "optim", "loss", "cal", "eval", "system")


def flatten(d: Dict[str, Any], prefix: str = "") -> Iterator[Tuple[str, Any]]:
    """Leaf fields of a nested config dict as (dotted key, value); dict-valued fields stay whole."""
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict) and k in SECTIONS and not prefix:
            yield from flatten(v, f"{key}.")
        else:
            yield key, v


def leaf_keys() -> List[str]:
    """Every dotted field name of the schema."""
    return [k for k, _ in flatten(Config().to_dict())]


# The flat layout of format 1 records and of `--set` before sections existed -> dotted field.
FLAT_ALIASES: Dict[str, str] = {
    "dataset": "data.dataset", "data_root": "data.root", "dataset_options": "data.options",
    "backend": "data.backend", "synth": "data.synth", "cache_dir": "data.cache_dir", "val_ids": "data.val_ids",
    "val_seed": "data.val_seed", "height": "data.height", "width": "data.width", "seq_len": "data.seq_len",
    "stride": "data.stride", "sampling": "data.sampling", "dense_piece": "data.dense_piece", "flip": "data.flip",
    "random_crop": "data.random_crop", "random_erasing": "data.random_erasing", "num_ids": "data.num_ids",
    "clips_per_id": "data.clips_per_id", "cache_frames": "data.cache_frames",
    "model": "model.name", "backbone": "model.backbone", "pretrained": "model.pretrained",
    "res4_stride": "model.res4_stride",
    "epochs": "optim.epochs", "lr": "optim.lr", "weight_decay": "optim.weight_decay", "lr_steps": "optim.lr_steps",
    "lr_gamma": "optim.lr_gamma", "clothes_lr": "optim.clothes_lr",
    "loss_recipe": "loss.recipe", "label_smoothing": "loss.label_smoothing", "id_weight": "loss.id_weight",
    "triplet_weight": "loss.triplet_weight",
    "triplet_margin": "loss.triplet_margin", "triplet_distance": "loss.triplet_distance",
    "triplet_mining": "loss.triplet_mining",
    "cal": "cal.enabled", "cal_epsilon": "cal.epsilon", "cal_scale": "cal.scale", "cal_start_epoch": "cal.start_epoch",
    "clothes_start_epoch": "cal.clothes_start_epoch",
    "eval_every": "eval.every", "test_clips_per_batch": "eval.clips_per_batch", "metric": "eval.metric",
    "rerank": "eval.rerank", "test_flip": "eval.flip",
    "seed": "system.seed", "device": "system.device", "threads": "system.threads", "workers": "system.workers",
    "runs_dir": "system.runs_dir", "save_checkpoint": "system.save_checkpoint",
}
# flat fields that no longer exist: progress bars are a matter of the terminal, not of the experiment
RETIRED_FLAT_FIELDS = ("progress",)


def dotted_key(key: str) -> str:
    """A user's key (dotted, or a flat alias, or ``synth.X``) -> the schema's dotted key."""
    if key in FLAT_ALIASES:
        return FLAT_ALIASES[key]
    head, dot, rest = key.partition(".")
    if dot and head in ("synth", "dataset_options"):
        return f"{FLAT_ALIASES[head]}.{rest}"
    return key


def upgrade_config(d: Dict[str, Any]) -> Dict[str, Any]:
    """A config dict of any layout the suite wrote (flat format 1, or sectioned) -> sectioned.

    Flat keys move to their section through :data:`FLAT_ALIASES`; retired fields are
    dropped; fields the record lacks stay absent (they read as today's defaults).
    """
    out: Dict[str, Any] = {}
    for key, value in d.items():
        if key in RETIRED_FLAT_FIELDS:
            continue
        if key in SECTIONS and isinstance(value, dict):
            out.setdefault(key, {}).update(value)
            continue
        dotted = FLAT_ALIASES.get(key, key)
        section, _, name = dotted.rpartition(".")
        if section:
            out.setdefault(section, {})[name] = list(value) if isinstance(value, tuple) else value
        else:
            out[name] = value
    return out
