"""Frame readers: one interface over frame folders (PIL), images and video files (decord).

A reader returns ``uint8`` arrays of shape (T, H, W, 3), already resized to the
requested size, so that batches can be normalised in one tensor operation later.
"""
from __future__ import annotations

import contextlib
import os
import re
import sys
import tempfile
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
from PIL import Image

from ccvid.records import DatasetError, Tracklet

Size = Tuple[int, int]  # (height, width)


def _load_image(path: str, size: Size) -> np.ndarray:
    try:
        with Image.open(path) as im:
            im = im.convert("RGB")
            if im.size != (size[1], size[0]):
                im = im.resize((size[1], size[0]), Image.BICUBIC)
            return np.asarray(im, dtype=np.uint8)
    except FileNotFoundError:
        raise DatasetError(f"{path}: frame file not found") from None
    except (OSError, ValueError) as e:
        raise DatasetError(f"{path}: cannot decode image ({e})") from None


class FrameReader:
    """Reads frames of one tracklet. Subclasses implement :meth:`length` and :meth:`read`."""

    def length(self, t: Tracklet) -> int:
        raise NotImplementedError

    def read(self, t: Tracklet, indices: Sequence[int], size: Size) -> np.ndarray:
        raise NotImplementedError


class FolderReader(FrameReader):
    """Frame folders and single images, decoded with PIL (each distinct frame once)."""

    def length(self, t: Tracklet) -> int:
        return len(t.frames) if t.frames else 1

    def read(self, t: Tracklet, indices: Sequence[int], size: Size) -> np.ndarray:
        if not t.frames:  # an image: a one-frame tracklet
            img = _load_image(t.source, size)
            return np.broadcast_to(img, (len(indices),) + img.shape).copy()
        unique = sorted(set(indices))
        decoded: Dict[int, np.ndarray] = {i: _load_image(os.path.join(t.source, t.frames[i]), size)
                                          for i in unique}
        return np.stack([decoded[i] for i in indices])


def _decord():
    """Import decord lazily (workers pay only when videos are read) with FFmpeg's own logging off,
    so a corrupt file gives our one-line error and not FFmpeg's lines on stderr."""
    import decord

    decord.logging.set_level(decord.logging.QUIET)
    return decord


def _reason(e: Exception, logged: str = "") -> str:
    """A short reason from decord's exception or log, without its "[time] /src/file.cc:123: " prefixes."""
    lines = [ln for ln in (logged + "\n" + str(e)).splitlines() if ln.strip()]
    for ln in lines:  # FFmpeg's own explanation is the most useful one, e.g. "Invalid data found ..."
        if ", " in ln and "ERROR opening" in ln:
            return ln.rsplit(", ", 1)[1].strip()[:200]
    text = lines[-1] if lines else type(e).__name__
    return re.sub(r"^\[[0-9:]+\] \S+:\d+: ", "", text).strip()[:200]


@contextlib.contextmanager
def _captured_stderr():
    """Route the process's fd 2 to a temporary file (decord and FFmpeg log there directly, not via Python)."""
    text: List[str] = []
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError):  # no usable fd 2 (rare embedded setups): capture nothing
        yield lambda: ""
        return
    with tempfile.TemporaryFile(mode="w+b") as tmp:
        os.dup2(tmp.fileno(), 2)
        try:
            yield lambda: "".join(text)
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            tmp.seek(0)
            text.append(tmp.read().decode("utf-8", "replace"))


def decodable_width(width: int) -> int:
    """decord 0.6 fails to copy frames whose RGB row is not a multiple of 32 bytes
    ("Check failed: from_size == to_size"): decode such widths at the next multiple of 32."""
    return -(-width // 32) * 32


def _resize_width(frames: np.ndarray, width: int) -> np.ndarray:
    import torch
    import torch.nn.functional as F

    x = torch.from_numpy(frames).permute(0, 3, 1, 2).float()
    x = F.interpolate(x, size=(frames.shape[1], width), mode="bicubic", antialias=True, align_corners=False)
    return x.round_().clamp_(0, 255).to(torch.uint8).permute(0, 2, 3, 1).numpy()


class VideoFileReader(FrameReader):
    """Video files through decord, resized at decode time, frames fetched with ``get_batch``."""

    def __init__(self, num_threads: int = 1):
        self.num_threads = num_threads

    def _open(self, path: str, size: Optional[Size]):
        decord = _decord()

        if not os.path.isfile(path):
            raise DatasetError(f"{path}: video file not found")
        if os.path.getsize(path) == 0:
            raise DatasetError(f"{path}: video file is empty")
        kwargs = {"num_threads": self.num_threads}
        if size is not None:
            kwargs.update(height=size[0], width=decodable_width(size[1]))
        with _captured_stderr() as captured:
            try:
                vr = decord.VideoReader(path, **kwargs)
            except Exception as e:  # decord raises its own DECORDError / RuntimeError
                failure = e
            else:
                failure = None
        if failure is not None:
            raise DatasetError(f"{path}: cannot decode video ({_reason(failure, captured())})") from None
        if len(vr) == 0:
            raise DatasetError(f"{path}: video has no frames")
        return vr

    def length(self, t: Tracklet) -> int:
        return len(self._open(t.source, None))

    def read(self, t: Tracklet, indices: Sequence[int], size: Size) -> np.ndarray:
        vr = self._open(t.source, size)
        n = len(vr)
        bad = [i for i in indices if i >= n]
        if bad:
            raise DatasetError(f"{t.source}: frame {bad[0]} requested but the video has {n} frames")
        unique = sorted(set(indices))
        try:
            frames = vr.get_batch(unique).asnumpy()
        except Exception as e:
            raise DatasetError(f"{t.source}: cannot decode frames ({_reason(e)})") from None
        if frames.shape[2] != size[1]:
            frames = _resize_width(frames, size[1])
        pos = {i: k for k, i in enumerate(unique)}
        return frames[[pos[i] for i in indices]]


def reader_for(t: Tracklet, video_threads: int = 1) -> FrameReader:
    return VideoFileReader(video_threads) if t.kind == "video" else FolderReader()


def tracklet_length(t: Tracklet) -> int:
    """Number of frames, opening the video when the record does not know it."""
    return t.num_frames if t.num_frames is not None else reader_for(t).length(t)
