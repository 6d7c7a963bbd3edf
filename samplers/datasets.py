"""Torch datasets that turn tracklet records into uint8 clip tensors.

Clips come out as ``uint8`` tensors (T, H, W, 3); :func:`normalize_clips` turns a
whole batch into the model's float (B, 3, T, H, W) input in one operation.
"""
from __future__ import annotations

from typing import List, Sequence, Tuple

import numpy as np
import torch
from torch.utils.data import Dataset

from ccvid.records import Tracklet

from .clips import dense_pieces, tile_clip_indices, train_clip_indices
from .readers import Size, reader_for, tracklet_length

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def normalize_clips(clips: torch.Tensor, mean=IMAGENET_MEAN, std=IMAGENET_STD) -> torch.Tensor:
    """uint8 (..., T, H, W, 3) -> float (..., 3, T, H, W), ImageNet-normalised."""
    x = clips.to(torch.float32).div_(255.0)
    m = torch.tensor(mean, dtype=x.dtype, device=x.device)
    s = torch.tensor(std, dtype=x.dtype, device=x.device)
    x = (x - m) / s
    return x.movedim(-1, -4).contiguous()


class TrainClips(Dataset):
    """One random clip per (dense-sampled piece of a) training video, flipped with p=0.5.

    Items: (clip uint8 (T, H, W, 3), pid, camid, clothes). Randomness comes from a
    generator seeded by (seed, epoch, index), so a run is repeatable whatever the
    number of DataLoader workers.
    """

    def __init__(self, tracklets: Sequence[Tracklet], size: Size, seq_len: int = 8, stride: int = 4,
                 mode: str = "stride", dense_piece: int = 64, flip: bool = True, seed: int = 0):
        self.size, self.seq_len, self.stride, self.mode = size, seq_len, stride, mode
        self.flip, self.seed, self.epoch = flip, seed, 0
        self.items: List[Tuple[Tracklet, int, int]] = []
        for t in tracklets:
            for start, stop in dense_pieces(tracklet_length(t), dense_piece):
                self.items.append((t, start, stop))

    @property
    def pids(self) -> List[int]:
        return [t.pid for t, _, _ in self.items]

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, i: int):
        t, start, stop = self.items[i]
        rng = np.random.default_rng((self.seed, self.epoch, i))
        idx = [start + j for j in train_clip_indices(stop - start, self.seq_len, self.stride, self.mode, rng)]
        clip = reader_for(t).read(t, idx, self.size)
        if self.flip and rng.random() < 0.5:
            clip = clip[:, :, ::-1]
        return torch.from_numpy(np.ascontiguousarray(clip)), t.pid, t.camid, t.clothes


class WholeVideos(Dataset):
    """Whole test videos: each item is every clip of one video, decoded once.

    Items: (clips uint8 (N, T, H, W, 3), index). Every distinct frame is decoded
    once and the ceil(L/T) clips of REFERENCE C are gathered from memory.
    """

    def __init__(self, tracklets: Sequence[Tracklet], size: Size, seq_len: int = 8, stride: int = 4):
        self.tracklets = list(tracklets)
        self.size, self.seq_len, self.stride = size, seq_len, stride

    def __len__(self) -> int:
        return len(self.tracklets)

    def __getitem__(self, i: int):
        t = self.tracklets[i]
        clips = np.asarray(tile_clip_indices(tracklet_length(t), self.seq_len, self.stride))
        frames = reader_for(t).read(t, list(range(int(clips.max()) + 1)), self.size)
        return torch.from_numpy(frames[clips]), i


def collate_videos(batch):
    """Concatenate the clips of several videos; returns (clips, owner index per clip)."""
    clips = torch.cat([c for c, _ in batch])
    owner = torch.cat([torch.full((len(c),), i, dtype=torch.long) for c, i in batch])
    return clips, owner
