"""From a config to a dataset and its loaders."""
from __future__ import annotations

import logging
import multiprocessing
import sys
import time
from typing import Optional

from torch.utils.data import DataLoader

from ccvid import ReIDDataset, get_dataset, read_dataset
from ccvid.catalog import reader_options
from ccvid.splits import validation_split
from samplers import (MEMORY_BUDGET, IdentitySampler, WholeVideos, TrainClips, cache_mode, collate_clips,
                      collate_videos, memory_plan)

from ..config import Config, ConfigError

log = logging.getLogger(__name__)


# run-config fields a dataset reader receives when it has a parameter of that name
READER_FIELDS = ("backend", "synth", "cache_dir")


def load_dataset(cfg: Config) -> ReIDDataset:
    """The run's dataset through its registered reader (``data.options``, plus the ``data.*`` fields it names)."""
    d = cfg.data
    accepted = reader_options(get_dataset(d.dataset))
    fields = {k: getattr(d, k) for k in READER_FIELDS if k in accepted}
    if "synth" in fields:
        fields["synth"] = dict(d.synth)
    data = read_dataset(d.dataset, d.root, **{**fields, **d.options})
    if d.val_ids:
        data = validation_split(data, d.val_ids, seed=cfg.system.seed if d.val_seed is None else d.val_seed)
    return data


def train_loader(cfg: Config, data: ReIDDataset) -> DataLoader:
    d, seed = cfg.data, cfg.system.seed
    ds = TrainClips(data.train, (d.height, d.width), d.seq_len, d.stride, d.sampling, d.dense_piece, d.flip, seed,
                    interpolation=d.resize, encoded=d.decode == "device")
    workers = cfg.system.workers
    if ds.encoded:
        log.info("training JPEGs decoded in batches on the training device (data.decode=device); "
                 "the loader reads their bytes")
    else:
        _frames_in_memory(ds, d.cache_frames, MEMORY_BUDGET // _copies(workers))
    sampler = IdentitySampler(ds.pids, d.clips_per_id, seed)
    return DataLoader(ds, batch_size=d.num_ids * d.clips_per_id, sampler=sampler, drop_last=True,
                      num_workers=workers, persistent_workers=workers > 0, pin_memory=_pin(cfg),
                      collate_fn=collate_clips)


def _frames_in_memory(ds: TrainClips, mode, budget: int) -> None:
    """Decode the training frames once into memory when ``data.cache_frames`` (auto / on / off) says so.

    auto: frame folders and images whose decoded frames fit in ``budget`` bytes; the clips
    are the readers' clips pixel for pixel (samplers/memory.py), so a run's numbers do not change.
    """
    try:
        mode = cache_mode(mode)
    except ValueError as e:
        raise ConfigError(f"data.{e}") from None
    use, why = memory_plan(ds.tracklets, mode, budget)
    if not use:
        return
    t0 = time.perf_counter()
    frames = ds.load_into_memory(budget=budget if mode == "auto" else None)
    if frames is None:
        log.info("training frames read from disk: they outgrew the %s MiB budget of cache_frames=auto while "
                 "decoding", budget >> 20)
        return
    log.info(f"training frames in memory: {frames.num_frames:,} frames of {len(frames):,} tracklets, "
             f"{frames.nbytes / 2 ** 20:.0f} MiB decoded once in {time.perf_counter() - t0:.1f}s ({why})")


def _copies(workers: int) -> int:
    """Processes that hold the training frames: forked DataLoader workers share the parent's memory,
    spawned ones (macOS, Windows, forkserver) each unpickle a copy."""
    if workers <= 0:
        return 1
    method = multiprocessing.get_start_method(allow_none=True)
    if method is None:  # not chosen yet: the platform's default
        method = "fork" if sys.platform.startswith("linux") and sys.version_info < (3, 14) else "spawn"
    return 1 if method == "fork" else workers + 1


def test_loader(cfg: Config, tracklets, variant: Optional[str] = None) -> DataLoader:
    """Whole test videos in batches of clips, shown as test ``variant`` (default: ``eval.variant``)."""
    d = cfg.data
    ds = WholeVideos(tracklets, (d.height, d.width), d.seq_len, d.stride, test_clips=d.test_clips,
                     interpolation=d.resize, variant=variant or cfg.eval.variant)
    # test_clips "all": one clip of a video's every frame, whose length differs from video to video
    videos = 1 if d.test_clips == "all" else max(1, cfg.eval.clips_per_batch // 8)
    return DataLoader(ds, batch_size=videos, shuffle=False,
                      num_workers=cfg.system.workers, collate_fn=collate_videos, pin_memory=_pin(cfg))


def _pin(cfg: Config) -> bool:
    import torch
    return cfg.system.device != "cpu" and torch.cuda.is_available()
