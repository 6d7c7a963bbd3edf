"""From a config to a dataset and its loaders."""
from __future__ import annotations

import os

from torch.utils.data import DataLoader

from ccvid import ReIDDataset, read_ccvid
from ccvid.records import DatasetError
from ccvid.splits import validation_split
from samplers import IdentitySampler, WholeVideos, TrainClips, collate_videos

from ..config import Config


def default_cache_dir() -> str:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "ccreid-bench")


def embedded_root(cfg: Config) -> str:
    """Generate the embedded dataset once into the cache and return its folder."""
    from ccvid.synth import SynthConfig, ensure_dataset

    try:
        synth_cfg = SynthConfig(**cfg.data.synth)
    except (TypeError, ValueError) as e:
        raise DatasetError(f"data.synth: {e}") from None
    return str(ensure_dataset(os.path.join(cfg.data.cache_dir or default_cache_dir(), "embedded"), synth_cfg))


def load_dataset(cfg: Config) -> ReIDDataset:
    d = cfg.data
    if d.dataset == "embedded":
        data = read_ccvid(embedded_root(cfg), backend=d.backend, name="embedded")
        data.meta["synth"] = dict(d.synth)
    else:
        from ccvid.catalog import get_dataset, read_dataset
        options = {"backend": d.backend} if get_dataset(d.dataset).kind == "video" else {}
        data = read_dataset(d.dataset, d.root, **{**options, **d.options})
    if d.val_ids:
        data = validation_split(data, d.val_ids, seed=cfg.system.seed if d.val_seed is None else d.val_seed)
    return data


def train_loader(cfg: Config, data: ReIDDataset) -> DataLoader:
    d, seed = cfg.data, cfg.system.seed
    ds = TrainClips(data.train, (d.height, d.width), d.seq_len, d.stride, d.sampling, d.dense_piece, d.flip, seed,
                    interpolation=d.resize)
    sampler = IdentitySampler(ds.pids, d.clips_per_id, seed)
    workers = cfg.system.workers
    return DataLoader(ds, batch_size=d.num_ids * d.clips_per_id, sampler=sampler, drop_last=True,
                      num_workers=workers, persistent_workers=workers > 0, pin_memory=_pin(cfg))


def test_loader(cfg: Config, tracklets) -> DataLoader:
    d = cfg.data
    ds = WholeVideos(tracklets, (d.height, d.width), d.seq_len, d.stride, test_clips=d.test_clips,
                     interpolation=d.resize)
    return DataLoader(ds, batch_size=max(1, cfg.eval.clips_per_batch // 8), shuffle=False,
                      num_workers=cfg.system.workers, collate_fn=collate_videos, pin_memory=_pin(cfg))


def _pin(cfg: Config) -> bool:
    import torch
    return cfg.system.device != "cpu" and torch.cuda.is_available()
