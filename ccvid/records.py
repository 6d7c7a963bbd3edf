"""One record type for every dataset.

A :class:`Tracklet` is a sequence of frames (a folder of images, one video
file, or a single image) together with its person id, camera id and clothes
id. An image dataset is a dataset of one-frame tracklets.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".webp")
VIDEO_EXTENSIONS = (".mp4", ".avi", ".mkv", ".webm", ".mov")


class DatasetError(Exception):
    """A dataset on disk is missing or malformed. The message names the file (and line)."""


@dataclass(frozen=True)
class Tracklet:
    """A person track: frames + person id + camera id + clothes id.

    ``source`` is a folder of frames, a video file or a single image file.
    ``frames`` lists the frame files of a folder source (sorted); it is empty
    for a video or an image source. ``num_frames`` is known for folders and
    images, and may be ``None`` for a video until it is opened.
    """

    source: str
    pid: int
    camid: int
    clothes: int
    frames: Tuple[str, ...] = ()
    num_frames: Optional[int] = None

    @property
    def kind(self) -> str:
        if self.frames:
            return "frames"
        ext = os.path.splitext(self.source)[1].lower()
        if ext in VIDEO_EXTENSIONS:
            return "video"
        if ext in IMAGE_EXTENSIONS:
            return "image"
        return "frames"

    @classmethod
    def image(cls, path: str, pid: int, camid: int, clothes: int) -> "Tracklet":
        """An image is a one-frame tracklet."""
        return cls(source=path, pid=pid, camid=camid, clothes=clothes, num_frames=1)


@dataclass
class ReIDDataset:
    """Train / query / gallery splits of tracklets, with the label bookkeeping CAL needs."""

    name: str
    train: List[Tracklet]
    query: List[Tracklet]
    gallery: List[Tracklet]
    num_train_pids: int
    num_train_clothes: int
    pid2clothes: np.ndarray  # (num_train_pids, num_train_clothes) 0/1
    root: str = ""
    meta: Dict[str, object] = field(default_factory=dict)

    def summary(self) -> Dict[str, Dict[str, int]]:
        out = {}
        for split in ("train", "query", "gallery"):
            items: Sequence[Tracklet] = getattr(self, split)
            out[split] = {
                "ids": len({t.pid for t in items}),
                "tracklets": len(items),
                "clothes": len({(t.pid, t.clothes) for t in items}),
                # None when some lengths are unknown (video files not opened yet), never an undercount
                "frames": (None if any(t.num_frames is None for t in items)
                           else int(sum(t.num_frames for t in items))),
            }
        return out


def list_frames(folder: str) -> Tuple[str, ...]:
    """Sorted image files of a frame folder (file names only). Raises DatasetError when empty."""
    try:
        names = sorted(os.listdir(folder))
    except FileNotFoundError:
        raise DatasetError(f"{folder}: frame folder not found") from None
    frames = tuple(n for n in names if n.lower().endswith(IMAGE_EXTENSIONS))
    if not frames:
        raise DatasetError(f"{folder}: frame folder has no image files")
    return frames


def build_pid2clothes(train: Sequence[Tracklet], num_pids: int, num_clothes: int) -> np.ndarray:
    m = np.zeros((num_pids, num_clothes), dtype=np.float32)
    for t in train:
        m[t.pid, t.clothes] = 1.0
    return m
