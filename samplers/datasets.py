"""Torch datasets that turn tracklet records into uint8 clip tensors.

Clips come out as ``uint8`` tensors (T, H, W, 3); :func:`normalize_clips` turns a
whole batch into the model's float (B, 3, T, H, W) input in one operation.
"""
from __future__ import annotations

from typing import List, Optional, Sequence, Tuple

import numpy as np
import torch
from torch.utils.data import Dataset

from ccvid.records import Tracklet, frame_paths

from .clips import TEST_CLIPS, TEST_VARIANTS, dense_pieces, eval_clip_indices, train_clip_indices, variant_clip_indices
from .encoded import EncodedClip, check_encodable, read_bytes
from .memory import MemoryFrames
from .readers import Size, check_interpolation, distinct_frames, reader_for, tracklet_length

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)  # OpenAI CLIP's (timm's OPENAI_CLIP_MEAN / _STD)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)
# data.normalize: the (mean, std) each name stands for
NORMALIZATIONS = {"imagenet": (IMAGENET_MEAN, IMAGENET_STD), "clip": (CLIP_MEAN, CLIP_STD)}


def normalize_clips(clips: torch.Tensor, mean=IMAGENET_MEAN, std=IMAGENET_STD,
                    out: Optional[torch.Tensor] = None) -> torch.Tensor:
    """uint8 (..., T, H, W, 3) -> float (..., 3, T, H, W), ImageNet-normalised.

    ``x * (1 / (255 std)) - mean / std`` in place in one channel-first float buffer:
    the reference's ``((x / 255) - mean) / std`` in two passes over memory instead
    of four (values agree to 5e-7). ``out`` (float32, the output shape, on the same
    device) is reused when given: a fresh buffer of hundreds of MB costs as much in
    page faults as the arithmetic.
    """
    p = clips.movedim(-1, -4)
    if out is None:
        out = torch.empty(p.shape, dtype=torch.float32, device=clips.device)
    elif out.shape != p.shape or out.dtype != torch.float32 or not out.is_contiguous():
        raise ValueError(f"out must be a contiguous float32 tensor of shape {tuple(p.shape)}")
    shape = (3, 1, 1, 1)  # broadcast over (T, H, W)
    m = torch.tensor(mean, dtype=torch.float64).view(shape)
    s = torch.tensor(std, dtype=torch.float64).view(shape)
    scale = (1.0 / (255.0 * s)).to(device=out.device, dtype=torch.float32)
    shift = (-m / s).to(device=out.device, dtype=torch.float32)
    out.copy_(p)
    return out.mul_(scale).add_(shift)


class TrainClips(Dataset):
    """One random clip per (dense-sampled piece of a) training video, flipped with p=0.5.

    Items: (clip uint8 (T, H, W, 3), pid, camid, clothes). Randomness comes from a
    generator seeded by (seed, epoch, index), so a run is repeatable whatever the
    number of DataLoader workers. ``interpolation``: the resize filter, "bicubic"
    (default) or "bilinear" (the reference's image pipeline).

    :meth:`load_into_memory` decodes every frame once (frame folders and images,
    :mod:`samplers.memory`); clips are then cut from memory, equal to the readers'
    clips pixel for pixel, with the same randomness.

    ``encoded=True`` (JPEG frames only, checked here): items carry an
    :class:`~samplers.encoded.EncodedClip` (the clip's JPEG bytes) in place of the
    clip, for :func:`~samplers.encoded.collate_clips` and a decode on the training
    device (:mod:`samplers.encoded`); same clips, same randomness.
    """

    def __init__(self, tracklets: Sequence[Tracklet], size: Size, seq_len: int = 8, stride: int = 4,
                 mode: str = "stride", dense_piece: int = 64, flip: bool = True, seed: int = 0,
                 video_threads: int = 1, interpolation: str = "bicubic", encoded: bool = False):
        self.size, self.seq_len, self.stride, self.mode = size, seq_len, stride, mode
        self.video_threads, self.interpolation = video_threads, check_interpolation(interpolation)
        self.flip, self.seed, self.epoch = flip, seed, 0
        self.tracklets = list(tracklets)
        self.encoded = encoded
        if encoded:
            check_encodable(self.tracklets)
        self.memory: Optional[MemoryFrames] = None
        self.items: List[Tuple[Tracklet, int, int]] = []
        self._owner: List[int] = []  # the position in ``tracklets`` of each item's video
        for k, t in enumerate(self.tracklets):
            for start, stop in dense_pieces(tracklet_length(t), dense_piece):
                self.items.append((t, start, stop))
                self._owner.append(k)

    @property
    def pids(self) -> List[int]:
        return [t.pid for t, _, _ in self.items]

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def load_into_memory(self, budget: Optional[int] = None) -> Optional[MemoryFrames]:
        """Decode every frame of the training videos once; later clips are read from memory.

        Returns the frames held (None, and the readers stay in charge, when they outgrow
        ``budget`` bytes).
        """
        self.memory = MemoryFrames.decode(self.tracklets, budget)
        return self.memory

    def __len__(self) -> int:
        return len(self.items)

    def clip_indices(self, i: int) -> Tuple[Tracklet, List[int], bool]:
        """(tracklet, frame indices, flip?) of item ``i`` this epoch: what :meth:`__getitem__` reads."""
        t, start, stop = self.items[i]
        rng = np.random.default_rng((self.seed, self.epoch, i))
        idx = [start + j for j in train_clip_indices(stop - start, self.seq_len, self.stride, self.mode, rng)]
        return t, idx, bool(self.flip and rng.random() < 0.5)

    def __getitem__(self, i: int):
        t, idx, flip = self.clip_indices(i)
        if self.encoded:
            return self._encoded(t, idx, flip), t.pid, t.camid, t.clothes
        if self.memory is not None:
            clip = self.memory.read(self._owner[i], idx, self.size, self.interpolation)
        else:
            clip = reader_for(t, self.video_threads, interpolation=self.interpolation).read(t, idx, self.size)
        if flip:
            clip = clip[:, :, ::-1]
        return torch.from_numpy(np.ascontiguousarray(clip)), t.pid, t.camid, t.clothes

    def _encoded(self, t: Tracklet, idx: Sequence[int], flip: bool) -> EncodedClip:
        files = frame_paths(t)
        if t.frames:
            unique = distinct_frames(t.source, idx, len(files))
        else:  # an image: every frame of the clip is the one image
            unique, idx = [0], [0] * len(idx)
        paths = [files[i] for i in unique]
        order = [unique.index(i) for i in idx]
        return EncodedClip([read_bytes(p) for p in paths], paths, order, flip, self.size, self.interpolation)


def clip_chunks(clips: Sequence[Sequence[int]], max_frames: int) -> List[Tuple[List[int], List[int]]]:
    """Group consecutive clips so that each group uses at most ``max_frames`` distinct frames.

    Returns (sorted distinct frames, clip positions) per group. With the test tiling
    (every ``seq_len * stride`` block gives its own clips) and ``max_frames`` a
    multiple of the block, groups are runs of whole blocks plus the remainder; with
    consecutive chunks, runs of ``max_frames // seq_len`` chunks.
    """
    groups: List[Tuple[List[int], List[int]]] = []
    frames: set = set()
    rows: List[int] = []
    for k, c in enumerate(clips):
        grown = frames | set(c)
        if rows and len(grown) > max_frames:
            groups.append((sorted(frames), rows))
            frames, rows = set(c), []
        else:
            frames = grown
        rows.append(k)
    if rows:
        groups.append((sorted(frames), rows))
    return groups


class WholeVideos(Dataset):
    """Whole test videos: each item is every clip of one video, each frame decoded once.

    Items: (clips uint8 (N, T, H, W, 3), video index). ``test_clips`` chooses the
    clips (:func:`samplers.clips.eval_clip_indices`): "tile" (default; docs/reference-facts.md, C),
    ceil(L/T) clips using every frame once in stride-interleaved clips; "chunks", consecutive
    T-frame chunks with the last one loop-padded (TCLNet's own test sampling); "begin", the first
    clip only; "all", one clip of all L frames (so T = L, and items of different videos differ in T:
    batch them one video at a time).
    They are gathered block by block (a block of ``seq_len * stride`` frames
    gives its own clips): decoding holds at most ``max_frames`` frames at a time
    (rounded down to a multiple of the block, default 256), whatever the video's
    length, besides the item's output, and the output is the same as decoding the
    whole video at once. The bound is on frames in flight per item: the item
    itself holds ceil(L / T) clips, about L frames.

    ``max_clips`` (default: none) also bounds the item: a long video becomes items
    of at most that many clips, all carrying the same video index, whose clip
    features the harness averages per video (``num_videos`` videos, ``len()``
    items). A harness that sizes its per-video sums by ``len(dataset)`` (as
    ``benchmark.engine.extract_features`` does) must use ``num_videos`` first.
    ``threads``: JPEG decoding threads for frame folders, decord threads for videos.
    ``interpolation``: the resize filter, "bicubic" (default) or "bilinear". ``variant``: how the clips
    are shown (:func:`samplers.clips.variant_clip_indices`: whole, first-frame, shuffled, reversed, static).
    """

    def __init__(self, tracklets: Sequence[Tracklet], size: Size, seq_len: int = 8, stride: int = 4,
                 max_frames: int = 256, max_clips: Optional[int] = None, threads: int = 1,
                 test_clips: str = "tile", interpolation: str = "bicubic", variant: str = "whole"):
        if test_clips not in TEST_CLIPS:
            raise ValueError(f"test_clips must be one of {TEST_CLIPS}, got {test_clips!r}")
        if variant not in TEST_VARIANTS:
            raise ValueError(f"variant must be one of {', '.join(TEST_VARIANTS)}, got {variant!r}")
        self.variant = variant
        self.tracklets = list(tracklets)
        self.size, self.seq_len, self.stride = size, seq_len, stride
        self.test_clips, self.interpolation = test_clips, check_interpolation(interpolation)
        block = seq_len * stride
        self.max_frames = max(block, int(max_frames) // block * block)
        self.max_clips, self.threads = max_clips, threads
        if max_clips is not None and max_clips < 1:
            raise ValueError("max_clips must be at least 1")
        self.items: List[Tuple[int, int, Optional[int]]] = []
        for v, t in enumerate(self.tracklets):
            if max_clips is None:
                self.items.append((v, 0, None))
            else:
                n = len(self.clip_indices(tracklet_length(t), v))
                self.items.extend((v, a, min(a + max_clips, n)) for a in range(0, n, max_clips))

    @property
    def num_videos(self) -> int:
        return len(self.tracklets)

    def clip_indices(self, length: int, video: int = 0) -> List[List[int]]:
        """The frame indices of every clip of video number ``video`` of ``length`` frames, under ``test_clips``
        and the test variant."""
        clips = eval_clip_indices(length, self.seq_len, self.stride, self.test_clips)
        return variant_clip_indices(clips, self.variant, video)

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, i: int):
        v, first, last = self.items[i]
        t = self.tracklets[v]
        reader = reader_for(t, video_threads=self.threads, folder_threads=self.threads,
                            interpolation=self.interpolation)
        with reader.open(t, self.size) as h:
            length = t.num_frames if t.num_frames is not None else len(h)
            clips = self.clip_indices(length, v)[first:last]
            frames_per_clip = len(clips[0]) if clips else self.seq_len  # test_clips "all": the video's length
            out = np.empty((len(clips), frames_per_clip, self.size[0], self.size[1], 3), dtype=np.uint8)
            for frames, rows in clip_chunks(clips, self.max_frames):
                decoded = h.read(frames)
                pos = np.searchsorted(np.asarray(frames), np.asarray([clips[r] for r in rows]))
                np.take(decoded, pos, axis=0, out=out[rows[0]:rows[-1] + 1])  # rows are consecutive
        return torch.from_numpy(out), v


def collate_videos(batch):
    """Concatenate the clips of several videos; returns (clips, owner index per clip)."""
    clips = torch.cat([c for c, _ in batch])
    owner = torch.cat([torch.full((len(c),), i, dtype=torch.long) for c, i in batch])
    return clips, owner
