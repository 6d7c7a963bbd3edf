"""Frame readers: one interface over frame folders (PIL), images and video files (decord).

A reader returns ``uint8`` arrays of shape (T, H, W, 3), already resized to the
requested size, so that batches can be normalised in one tensor operation later.

Frames are decoded at their stored size (videos larger than the request are
scaled down by FFmpeg while decoding) and resized in one batched ``uint8``
operation (:func:`resize_frames`: bicubic with antialiasing, PIL's filter, or
bilinear with antialiasing, the reference's image pipeline; a reader's
``interpolation``). ``reader.open(t, size)`` returns a handle that reads several
index lists from one open file (a whole test video is decoded block by block
through it).
"""
from __future__ import annotations

import functools
import os
import threading
import warnings
from concurrent.futures import ThreadPoolExecutor
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np

from ccvid.capture import captured_stderr, decodable_width, decoder_reason, quiet_decord
from ccvid.records import DatasetError, Tracklet, open_image

Size = Tuple[int, int]  # (height, width)
INTERPOLATIONS = ("bicubic", "bilinear")

# torchvision 0.29 marks its image decoders deprecated (in favour of TorchCodec) and warns on every
# call; they still work, and PIL takes over if they are ever removed (see _decode_image).
warnings.filterwarnings("ignore", message="The image decoding and encoding capabilities of TorchVision",
                        category=DeprecationWarning)


# ----------------------------------------------------------------------------- resizing
def check_interpolation(interpolation: str) -> str:
    if interpolation not in INTERPOLATIONS:
        raise ValueError(f"interpolation must be one of {INTERPOLATIONS}, got {interpolation!r}")
    return interpolation


def resize_frames(frames: np.ndarray, size: Size, interpolation: str = "bicubic") -> np.ndarray:
    """uint8 (N, h, w, 3) -> uint8 (N, H, W, 3) in one batched operation.

    ``interpolation`` "bicubic" (default) or "bilinear", with antialiasing, on
    ``uint8`` channels-last data: torch's fast path, which follows PIL's
    ``Image.resize(BICUBIC)`` / ``Image.resize(BILINEAR)`` (outputs differ by at
    most 1). A torch without the uint8 kernel takes the float path, same filter.
    """
    check_interpolation(interpolation)
    size = (int(size[0]), int(size[1]))
    if frames.shape[1:3] == size:
        return frames
    import torch

    if not frames.flags.writeable or not frames.flags.c_contiguous:  # torch wants its own writable memory
        frames = np.array(frames, order="C")
    y = resize_tensor(torch.from_numpy(frames).permute(0, 3, 1, 2), size, interpolation)  # channels-last views
    return np.ascontiguousarray(y.permute(0, 2, 3, 1).numpy())


def resize_tensor(x, size: Size, interpolation: str = "bicubic"):
    """uint8 tensor (N, 3, h, w), on any device -> uint8 (N, 3, H, W): :func:`resize_frames`' filter.

    The uint8 kernel where the device has one (the CPU's, fastest on channels-last memory);
    elsewhere the float kernel, rounded and clamped back to uint8.
    """
    import torch.nn.functional as F

    size = (int(size[0]), int(size[1]))
    if tuple(x.shape[-2:]) == size:
        return x
    try:
        return F.interpolate(x, size=size, mode=interpolation, antialias=True, align_corners=False)
    except RuntimeError:  # no uint8 kernel here (CUDA, an older torch): float path, same filter
        y = F.interpolate(x.float(), size=size, mode=interpolation, antialias=True, align_corners=False)
        return y.round_().clamp_(0, 255).to(x.dtype)


# ----------------------------------------------------------------------------- images
def _decode_image(path: str) -> np.ndarray:
    """One image as uint8 (h, w, 3) at its stored size (any mode converted to RGB).

    JPEG and PNG go through torchvision's libjpeg-turbo / libpng decoder (about 1.8x
    faster than PIL on small person crops, same pixels); anything it cannot read
    (other formats, a corrupt file) falls back to PIL, whose error names the file.
    """
    if path.lower().endswith((".jpg", ".jpeg", ".png")):
        try:
            from torchvision.io import ImageReadMode, decode_image, read_file

            return decode_image(read_file(path), mode=ImageReadMode.RGB).permute(1, 2, 0).numpy()
        except Exception:  # unreadable by torchvision: let PIL decide (and name the file)
            pass
    return _decode_image_pil(path)


_BATCH_DECODE_MIN = 32


def _decode_many(paths: Sequence[str], threads: int = 1) -> List[np.ndarray]:
    """Decode several frames: JPEGs in one batched torchvision call (no per-frame Python decode),
    anything else (or any failure, so that the error names the file) frame by frame."""
    # the batched call pays a fixed cost that only long reads (whole test videos) win back: an 8-frame
    # training clip of small crops decodes faster frame by frame (measured per embedded epoch: 4.1 s
    # batched, 2.2 s with PIL, 1.75 s with _decode_image's per-frame torchvision call)
    if len(paths) >= _BATCH_DECODE_MIN and all(p.lower().endswith((".jpg", ".jpeg")) for p in paths):
        try:
            from torchvision.io import ImageReadMode, decode_jpeg, read_file

            return [x.permute(1, 2, 0).numpy() for x in decode_jpeg([read_file(p) for p in paths],
                                                                       mode=ImageReadMode.RGB)]
        except Exception:
            pass
    return _map(_decode_image, paths, threads)


def _decode_image_pil(path: str) -> np.ndarray:
    with open_image(path) as im:
        if im.mode != "RGB":
            im = im.convert("RGB")
        else:
            im.load()
        return np.asarray(im, dtype=np.uint8)


def _load_image(path: str, size: Size, interpolation: str = "bicubic") -> np.ndarray:
    """One image resized to ``size`` (uint8 (H, W, 3))."""
    return resize_frames(_decode_image(path)[None], size, interpolation)[0]


def _resize_all(decoded: Sequence[np.ndarray], size: Size, interpolation: str = "bicubic") -> np.ndarray:
    """Stack frames of possibly different sizes as (N, H, W, 3), resizing each size group in one batch."""
    groups: Dict[Tuple[int, int], List[int]] = {}
    for k, a in enumerate(decoded):
        groups.setdefault(a.shape[:2], []).append(k)
    if len(groups) == 1:
        return resize_frames(np.stack(decoded), size, interpolation)
    out = np.empty((len(decoded), size[0], size[1], 3), dtype=np.uint8)
    for ks in groups.values():
        out[ks] = resize_frames(np.stack([decoded[k] for k in ks]), size, interpolation)
    return out


_POOLS: Dict[int, Tuple[int, ThreadPoolExecutor]] = {}
_POOLS_LOCK = threading.Lock()


def _pool(threads: int) -> ThreadPoolExecutor:
    """A shared thread pool per size, recreated after a fork (DataLoader workers) since threads do not survive it."""
    with _POOLS_LOCK:
        pid, pool = _POOLS.get(threads, (None, None))
        if pid != os.getpid():
            pool = ThreadPoolExecutor(threads, thread_name_prefix="frames")
            _POOLS[threads] = (os.getpid(), pool)
        return pool


def _map(fn: Callable, items: Sequence, threads: int) -> List:
    if threads <= 1 or len(items) < 2:
        return [fn(x) for x in items]
    return list(_pool(threads).map(fn, items))


class FrameReader:
    """Reads frames of one tracklet. Subclasses implement :meth:`length` and :meth:`open`."""

    def length(self, t: Tracklet) -> int:
        raise NotImplementedError

    def open(self, t: Tracklet, size: Size) -> "FrameHandle":
        raise NotImplementedError

    def read(self, t: Tracklet, indices: Sequence[int], size: Size) -> np.ndarray:
        with self.open(t, size) as h:
            return h.read(indices)


class FrameHandle:
    """An open tracklet: ``len(handle)`` frames, ``handle.read(indices)`` -> uint8 (len(indices), H, W, 3)."""

    def __len__(self) -> int:
        raise NotImplementedError

    def read(self, indices: Sequence[int]) -> np.ndarray:
        raise NotImplementedError

    def close(self) -> None:
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def distinct_frames(source: str, indices: Sequence[int], n: int, holder: str = "folder") -> List[int]:
    """The sorted distinct frames a read of ``indices`` decodes; DatasetError naming ``source`` when one is
    outside the ``n`` frames of the folder or video (``holder``)."""
    bad = [i for i in indices if not 0 <= i < n]
    if bad:
        raise DatasetError(f"{source}: frame {bad[0]} requested but the {holder} has {n} frames")
    return sorted(set(int(i) for i in indices))


def _gather(frames: np.ndarray, unique: Sequence[int], indices: Sequence[int]) -> np.ndarray:
    """Frames decoded for ``unique`` (sorted, distinct) rearranged in the order of ``indices``."""
    if len(unique) == len(indices) and list(unique) == list(indices):
        return frames
    return frames[np.searchsorted(np.asarray(unique), np.asarray(indices))]


class _FolderHandle(FrameHandle):
    def __init__(self, t: Tracklet, size: Size, threads: int, interpolation: str = "bicubic"):
        self.t, self.size, self.threads, self.interpolation = t, size, threads, interpolation

    def __len__(self) -> int:
        return len(self.t.frames) if self.t.frames else 1

    def read(self, indices: Sequence[int]) -> np.ndarray:
        t, size = self.t, self.size
        if not t.frames:  # an image: a one-frame tracklet
            img = _load_image(t.source, size, self.interpolation)
            return np.broadcast_to(img, (len(indices),) + img.shape).copy()
        unique = distinct_frames(t.source, indices, len(t.frames))
        paths = [os.path.join(t.source, t.frames[i]) for i in unique]
        decoded = _decode_many(paths, self.threads)
        return _gather(_resize_all(decoded, size, self.interpolation), unique, indices)


class FolderReader(FrameReader):
    """Frame folders and single images, decoded with PIL (each distinct frame once; ``threads`` > 1
    decodes the frames of one read in a shared thread pool) and resized in one batch with the
    ``interpolation`` filter ("bicubic" or "bilinear", see :func:`resize_frames`)."""

    def __init__(self, threads: int = 1, interpolation: str = "bicubic"):
        self.threads, self.interpolation = threads, check_interpolation(interpolation)

    def length(self, t: Tracklet) -> int:
        return len(t.frames) if t.frames else 1

    def open(self, t: Tracklet, size: Size) -> FrameHandle:
        return _FolderHandle(t, size, self.threads, self.interpolation)


# ----------------------------------------------------------------------------- videos
def _after_fork_in_child() -> None:
    """A lock held by another thread at fork time would stay held in the child forever."""
    global _POOLS_LOCK
    _POOLS_LOCK = threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


@functools.lru_cache(maxsize=65536)
def _probe_cached(path: str, mtime_ns: int, nbytes: int) -> Optional[Size]:
    try:
        import av

        with av.open(path) as c:
            cc = c.streams.video[0].codec_context
            if cc.height > 0 and cc.width > 0:
                return int(cc.height), int(cc.width)
    except Exception:  # unreadable here: decord's open gives the error message
        return None
    return None


def video_size(path: str) -> Optional[Size]:
    """(height, width) of a video's frames from its header (PyAV), cached per file; None if unknown."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return _probe_cached(path, st.st_mtime_ns, st.st_size)


class _VideoHandle(FrameHandle):
    def __init__(self, vr, path: str, size: Size, interpolation: str = "bicubic"):
        self.vr, self.path, self.size, self.interpolation = vr, path, size, interpolation

    def __len__(self) -> int:
        return len(self.vr)

    def read(self, indices: Sequence[int]) -> np.ndarray:
        unique = distinct_frames(self.path, indices, len(self.vr), "video")
        try:
            frames = self.vr.get_batch(unique).asnumpy()
        except Exception as e:
            raise DatasetError(f"{self.path}: cannot decode frames ({decoder_reason(e)})") from None
        if len(frames) != len(unique):
            raise DatasetError(f"{self.path}: decoded {len(frames)} frames for {len(unique)} requested")
        return _gather(resize_frames(frames, self.size, self.interpolation), unique, indices)

    def close(self) -> None:
        self.vr = None


class VideoFileReader(FrameReader):
    """Video files through decord, frames fetched with ``get_batch``.

    A video stored at most as large as the requested size (the usual case for
    person crops read at 256x128) is decoded at its own size and resized in one
    batch with the ``interpolation`` filter (:func:`resize_frames`); a larger
    one is scaled down by FFmpeg at decode time, with FFmpeg's own filter
    whatever ``interpolation`` says (as is the width of a stored size that
    decord cannot copy, see :func:`decodable_width`). ``num_threads`` is
    decord's decoder thread count (0: FFmpeg's choice).
    """

    def __init__(self, num_threads: int = 1, interpolation: str = "bicubic"):
        self.num_threads, self.interpolation = num_threads, check_interpolation(interpolation)

    def _decode_size(self, path: str, size: Optional[Size]) -> Optional[Size]:
        """The size decord decodes at; None: the stored size."""
        if size is None:
            return None
        native = video_size(path)
        if native is not None and native[0] * native[1] <= size[0] * size[1]:
            if native[1] == decodable_width(native[1]):
                return None
            return native[0], decodable_width(native[1])
        return size[0], decodable_width(size[1])

    def _open(self, path: str, size: Optional[Size]):
        """A decord VideoReader decoding at ``size`` (None: the stored size)."""
        decord = quiet_decord()

        if not os.path.isfile(path):
            raise DatasetError(f"{path}: video file not found")
        if os.path.getsize(path) == 0:
            raise DatasetError(f"{path}: video file is empty")
        kwargs = {"num_threads": self.num_threads}
        if size is not None:
            kwargs.update(height=size[0], width=size[1])
        with captured_stderr() as captured:
            try:
                vr = decord.VideoReader(path, **kwargs)
            except Exception as e:  # decord raises its own DECORDError / RuntimeError
                failure = e
            else:
                failure = None
        if failure is not None:
            raise DatasetError(f"{path}: cannot decode video ({decoder_reason(failure, captured())})") from None
        if len(vr) == 0:
            raise DatasetError(f"{path}: video has no frames")
        return vr

    def length(self, t: Tracklet) -> int:
        return len(self._open(t.source, None))

    def open(self, t: Tracklet, size: Size) -> FrameHandle:
        return _VideoHandle(self._open(t.source, self._decode_size(t.source, size)), t.source, size,
                            self.interpolation)


def reader_for(t: Tracklet, video_threads: int = 1, folder_threads: int = 1,
               interpolation: str = "bicubic") -> FrameReader:
    """The reader of ``t``'s kind; ``interpolation`` is the filter of its batched resize (bicubic or bilinear)."""
    if t.kind == "video":
        return VideoFileReader(video_threads, interpolation)
    return FolderReader(folder_threads, interpolation)


def tracklet_length(t: Tracklet) -> int:
    """Number of frames, opening the video when the record does not know it."""
    return t.num_frames if t.num_frames is not None else reader_for(t).length(t)
