"""From a config to a dataset and its loaders."""
from __future__ import annotations

import os
from typing import Optional

from torch.utils.data import DataLoader

from ccvid import ReIDDataset, read_ccvid
from ccvid.records import DatasetError
from ccvid.splits import validation_split
from samplers import IdentitySampler, WholeVideos, TrainClips, collate_videos

from ..config import Config


def default_cache_dir() -> str:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "ccreid-bench")


def embedded_root(cfg: Config, progress: bool = True) -> str:
    """Generate the embedded dataset once into the cache and return its folder."""
    from ccvid.synth import SynthConfig, ensure_dataset

    try:
        synth_cfg = SynthConfig(**cfg.synth)
    except (TypeError, ValueError) as e:
        raise DatasetError(f"synth: {e}") from None
    return str(ensure_dataset(os.path.join(cfg.cache_dir or default_cache_dir(), "embedded"), synth_cfg,
                              progress=progress))


def load_dataset(cfg: Config, progress: bool = True) -> ReIDDataset:
    if cfg.dataset == "embedded":
        root = embedded_root(cfg, progress)
        data = read_ccvid(root, backend=cfg.backend, name="embedded")
        data.meta["synth"] = dict(cfg.synth)
    else:
        from ccvid.catalog import get_dataset, read_dataset
        options = {"backend": cfg.backend} if get_dataset(cfg.dataset).kind == "video" else {}
        data = read_dataset(cfg.dataset, cfg.data_root, **{**options, **cfg.dataset_options})
    if cfg.val_ids:
        data = validation_split(data, cfg.val_ids, seed=cfg.seed if cfg.val_seed is None else cfg.val_seed)
    return data


def train_loader(cfg: Config, data: ReIDDataset) -> DataLoader:
    ds = TrainClips(data.train, (cfg.height, cfg.width), cfg.seq_len, cfg.stride, cfg.sampling,
                    cfg.dense_piece, cfg.flip, cfg.seed)
    sampler = IdentitySampler(ds.pids, cfg.clips_per_id, cfg.seed)
    return DataLoader(ds, batch_size=cfg.num_ids * cfg.clips_per_id, sampler=sampler, drop_last=True,
                      num_workers=cfg.workers, persistent_workers=cfg.workers > 0,
                      pin_memory=_pin(cfg))


def test_loader(cfg: Config, tracklets) -> DataLoader:
    ds = WholeVideos(tracklets, (cfg.height, cfg.width), cfg.seq_len, cfg.stride)
    return DataLoader(ds, batch_size=max(1, cfg.test_clips_per_batch // 8), shuffle=False,
                      num_workers=cfg.workers, collate_fn=collate_videos, pin_memory=_pin(cfg))


def _pin(cfg: Config) -> bool:
    import torch
    return cfg.device != "cpu" and torch.cuda.is_available()
