"""From a checked config to the parts of a training run: device, data, loader, model, heads, trainer.

:func:`build_training` is the one builder: ``benchmark run`` (a :class:`~.session.Session`) and
``benchmark profile train`` both train what it builds. Under several processes (torchrun) it also
waits for rank 0 to prepare the dataset, gives each rank its share of the batches and wraps the
model in DistributedDataParallel.
"""
from __future__ import annotations

import random
import time
from dataclasses import dataclass
from typing import Any, Dict, Optional

import numpy as np
import torch
from torch import nn

from ccvid import ReIDDataset
from temporal_models import build_model, resolve_weights, sha256_file

from ..config import Config, ConfigError
from . import clothes_labels, distributed
from .loaders import load_dataset, train_loader
from .trainer import Heads, Trainer


def pick_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def require_batches(cfg: Config, data: ReIDDataset, loader) -> None:
    """Refuse a training split that gives no P x K batch (it would train nothing and look like a result)."""
    if len(loader) == 0:
        raise ConfigError(
            f"data: the training split of {data.name} ({len(data.train)} tracklets, {data.num_train_pids} ids) "
            f"gives no batch of data.num_ids x data.clips_per_id = {cfg.data.num_ids} x {cfg.data.clips_per_id}; "
            "lower data.num_ids")


def build_model_and_heads(cfg: Config, data: ReIDDataset, device: torch.device):
    """The model (seeded, in its memory format) and its training heads, as every run builds them."""
    seed_everything(cfg.system.seed)
    m = cfg.model
    model = build_model(m.name, m.backbone, m.pretrained, m.res4_stride, cfg.data.seq_len, init=m.init,
                        img_size=(cfg.data.height, cfg.data.width), frame_pool=m.frame_pool).to(device)
    if cfg.system.channels_last:
        model = model.to(memory_format=torch.channels_last)
    return model, Heads(model, data.num_train_pids, data.num_train_clothes).to(device)


@dataclass
class TrainingParts:
    """What a run trains: ``model`` is the plain model (saved, evaluated); the trainer may hold it wrapped."""

    data: ReIDDataset
    loader: Any
    model: nn.Module
    trainer: Trainer
    weights: Dict[str, Optional[str]]  # the pretrained file and its SHA-256 (None without one)
    data_s: float                       # seconds spent reading the dataset and building its loader
    clothes_labels: Optional[clothes_labels.ClothesLabels] = None  # pseudo outfits (cal.clothes_labels)


def build_training(cfg: Config, device: torch.device) -> TrainingParts:
    """The parts of a run of ``cfg`` on ``device`` (see the module docstring)."""
    several = distributed.world_size() > 1
    t0 = time.perf_counter()
    if several and not distributed.is_main():
        torch.distributed.barrier()  # rank 0 prepares (e.g. generates) the dataset first
    data = load_dataset(cfg)
    if several and distributed.is_main():
        torch.distributed.barrier()
    pseudo = clothes_labels.prepare(cfg, data)  # None: the dataset's own clothes labels, as always
    if pseudo is not None:
        data = pseudo.data
    loader = train_loader(cfg, data if pseudo is None else pseudo.indexed)
    data_s = time.perf_counter() - t0
    require_batches(cfg, data, loader)
    model, heads = build_model_and_heads(cfg, data, device)
    weights = resolve_weights(cfg.model.pretrained, cfg.model.backbone)
    trained = model
    if several:
        loader = distributed.rank_loader(loader)
        if cfg.system.sync_bn:
            if device.type != "cuda":
                raise ConfigError("system.sync_bn: synchronised BatchNorm needs CUDA devices")
            model = torch.nn.SyncBatchNorm.convert_sync_batchnorm(model)
        trained = torch.nn.parallel.DistributedDataParallel(
            model, device_ids=[device.index] if device.type == "cuda" else None)
    trainer = Trainer(cfg, trained, heads, torch.from_numpy(data.pid2clothes), device)
    if pseudo is not None:
        trainer.clothes_of = torch.as_tensor(pseudo.labels, dtype=torch.long, device=device)
    if several:
        own = {id(p) for p in model.parameters()}
        trainer.sync = lambda optimizer: distributed.average_gradients(
            [p for g in optimizer.param_groups for p in g["params"] if id(p) not in own])
    return TrainingParts(data, loader, model, trainer,
                         {"weights": weights, "weights_sha256": sha256_file(weights) if weights else None}, data_s,
                         pseudo)
