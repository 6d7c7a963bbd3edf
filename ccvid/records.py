"""One record type for every dataset.

A :class:`Tracklet` is a sequence of frames (a folder of images, one video
file, or a single image) together with its person id, camera id and clothes
id. An image dataset is a dataset of one-frame tracklets.
"""
from __future__ import annotations

import contextlib
import os
import stat
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

from .base import UserError

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".webp")
VIDEO_EXTENSIONS = (".mp4", ".avi", ".mkv", ".webm", ".mov")


class DatasetError(UserError):
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


def file_kind(mode: int) -> str:
    """What a non-regular file is, for messages: "a folder", "a FIFO (named pipe)", ..."""
    for test, name in ((stat.S_ISDIR, "a folder"), (stat.S_ISFIFO, "a FIFO (named pipe)"),
                       (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
                       (stat.S_ISSOCK, "a socket")):
        if test(mode):
            return name
    return "a special file"


def stat_file(path: str) -> Optional[os.stat_result]:
    """``os.stat(path)`` (links followed), or None when nothing is there; other failures raise DatasetError."""
    try:
        return os.stat(path)
    except (FileNotFoundError, NotADirectoryError, ValueError):  # ValueError: a NUL byte in the path
        return None
    except OSError as e:
        raise DatasetError(f"{path}: cannot read ({e.strerror or type(e).__name__})") from None


def require_regular_file(path: str, what: str = "file") -> os.stat_result:
    """Refuse a missing path or one that is not a regular file (a FIFO or a device is never opened: a read
    could hang); return its stat."""
    st = stat_file(path)
    if st is None:
        raise DatasetError(f"{path}: {what} not found")
    if not stat.S_ISREG(st.st_mode):
        raise DatasetError(f"{path}: {what} is {file_kind(st.st_mode)}, not a regular file")
    return st


def read_file_bytes(path: str, what: str = "file") -> bytes:
    """The bytes of a regular file (refused unopened when missing, a folder, a FIFO or a device); any OSError
    is a one-line DatasetError naming it."""
    require_regular_file(path, what)
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError as e:
        raise DatasetError(f"{path}: cannot read {what} ({e.strerror or type(e).__name__})") from None


def frame_paths(t: Tracklet) -> List[str]:
    """Every frame file of a frame folder; the file itself for an image or a video."""
    return [os.path.join(t.source, f) for f in t.frames] if t.frames else [t.source]


@contextlib.contextmanager
def open_image(path: str):
    """``PIL.Image.open(path)`` as a context; a missing file, or one PIL cannot open or decode inside the
    block, is a one-line DatasetError naming it."""
    from PIL import Image

    try:
        with Image.open(path) as im:
            yield im
    except FileNotFoundError:
        raise DatasetError(f"{path}: frame file not found") from None
    except (OSError, ValueError, SyntaxError) as e:
        raise DatasetError(f"{path}: cannot decode image ({e})") from None


def image_names(folder: str, what: str = "frame folder", entry: str = "frame file",
                allow_empty: bool = False) -> List[str]:
    """Sorted names of the image files of ``folder`` (other files are ignored); DatasetError naming the
    folder (as ``what``) when it is missing, not a folder, unreadable or, unless ``allow_empty``, holds no
    image, or naming an image-named entry (as ``entry``) that is not a regular file (a FIFO, a device, a
    folder, a broken link: never opened)."""
    names = []
    try:
        with os.scandir(folder) as entries:
            for e in entries:
                if not e.name.lower().endswith(IMAGE_EXTENSIONS):
                    continue
                if not e.is_file():  # from the directory listing, no extra stat (links are followed)
                    st = stat_file(e.path)
                    kind = "a broken link" if st is None else file_kind(st.st_mode)
                    raise DatasetError(f"{e.path}: {entry} is {kind}, not a regular file")
                names.append(e.name)
    except FileNotFoundError:
        raise DatasetError(f"{folder}: {what} not found") from None
    except NotADirectoryError:
        raise DatasetError(f"{folder}: {what} is not a folder") from None
    except OSError as e:
        raise DatasetError(f"{folder}: cannot list {what} ({e.strerror or type(e).__name__})") from None
    if not names and not allow_empty:
        raise DatasetError(f"{folder}: {what} has no image files")
    return sorted(names)


def list_frames(folder: str) -> Tuple[str, ...]:
    """Sorted image files of a frame folder (file names only); see :func:`image_names` for what is refused."""
    return tuple(image_names(folder))


def build_pid2clothes(train: Sequence[Tracklet], num_pids: int, num_clothes: int) -> np.ndarray:
    m = np.zeros((num_pids, num_clothes), dtype=np.float32)
    for t in train:
        m[t.pid, t.clothes] = 1.0
    return m
