"""Training frames decoded once into memory: a small frame-folder training set read without JPEG decoding.

A training epoch reads one random clip per video, and reads it again (other
frames, same files) the next epoch: on a small dataset of small crops (the
embedded default: 1146 tracklets of 32 JPEGs of 64x32) decoding is a third of
each epoch. :class:`MemoryFrames` decodes every frame of the training
tracklets once, at its stored size, with the decoder a training clip's read uses
(:func:`~samplers.readers._decode_image`), into one flat ``uint8`` buffer, and cuts
clips out of it by the reader's own steps (the clip's distinct frames,
:func:`~samplers.readers._resize_all` to the requested size, the same gather),
so a clip is pixel for pixel the clip :class:`~samplers.readers.FolderReader`
returns: only the decoding moves (a read of 32 distinct JPEGs or more decodes
them in one batched torchvision call, the same libjpeg-turbo decoder with the
same pixels). Frames keep their stored size (crops of one
dataset may differ) and are resized per clip as before: a batched resize of 8
small frames costs about a tenth of a millisecond, and the stored size is the
smaller one when crops are read upscaled (64x32 JPEGs at 256x128 take 1/16 of
the memory).

Which datasets are "small" (:func:`memory_plan`): frame folders and images only
(video files stay on decord, which decodes a clip's frames without decoding
whole videos), and in ``auto`` mode only when the decoded frames are estimated
under a budget (:data:`MEMORY_BUDGET`, 1 GiB; the embedded default takes 225 MB).
The estimate reads one header per tracklet (its first frame's size times its
frame count), and the decoding stops and gives up, leaving the readers in
charge, if the frames outgrow the budget anyway. ``on`` decodes whatever the
size; ``off`` never.
"""
from __future__ import annotations

from typing import Optional, Sequence, Tuple

import numpy as np

from ccvid.records import Tracklet, frame_paths, open_image

from .readers import Size, _decode_image, _gather, _resize_all, distinct_frames

MEMORY_BUDGET = 1 << 30  # bytes of decoded uint8 pixels "auto" keeps in memory
CACHE_MODES = ("auto", "on", "off")
_WORDS = {"auto": "auto", "on": "on", "true": "on", "yes": "on", "off": "off", "false": "off", "no": "off"}
CACHE_WORDS = tuple(_WORDS)  # what data.cache_frames accepts (in any case)


def cache_mode(value) -> str:
    """A ``data.cache_frames`` value (auto / on / off, or a boolean) as one of :data:`CACHE_MODES`."""
    if isinstance(value, bool):
        return "on" if value else "off"
    mode = _WORDS.get(str(value).strip().lower())
    if mode is None:
        raise ValueError(f"cache_frames must be one of {CACHE_MODES} (or true/false), got {value!r}")
    return mode


def cacheable(t: Tracklet) -> bool:
    """Frame folders and images can be held in memory; video files stay with decord."""
    return t.kind in ("frames", "image")


def _stored_size(path: str) -> Tuple[int, int]:
    """(height, width) from an image's header (PIL reads no pixels)."""
    with open_image(path) as im:
        w, h = im.size
    return h, w


def estimate_bytes(tracklets: Sequence[Tracklet], stop_above: Optional[int] = None) -> int:
    """Decoded bytes of every frame, from each tracklet's first frame's stored size times its frame count.

    Reads one header per tracklet; stops counting once past ``stop_above``.
    """
    total = 0
    for t in tracklets:
        paths = frame_paths(t)
        h, w = _stored_size(paths[0])
        total += len(paths) * h * w * 3
        if stop_above is not None and total > stop_above:
            break
    return total


def memory_plan(tracklets: Sequence[Tracklet], mode="auto", budget: int = MEMORY_BUDGET) -> Tuple[bool, str]:
    """(decode the training frames into memory?, why) under ``mode`` (auto / on / off) and ``budget`` bytes."""
    mode = cache_mode(mode)
    if mode == "off":
        return False, "cache_frames is off"
    if not tracklets:
        return False, "no training tracklets"
    if not all(cacheable(t) for t in tracklets):
        return False, "video files are decoded by decord clip by clip"
    if mode == "on":
        return True, "cache_frames is on"
    est = estimate_bytes(tracklets, stop_above=budget)
    if est > budget:
        return False, f"the decoded frames would take over {_mb(budget)} (budget of cache_frames=auto)"
    return True, f"about {_mb(est)} decoded, under the {_mb(budget)} budget of cache_frames=auto"


def _mb(n: int) -> str:
    return f"{n / 2 ** 30:.1f} GiB" if n >= 2 ** 30 else f"{n / 2 ** 20:.0f} MiB"


class MemoryFrames:
    """Every frame of some frame-folder / image tracklets, decoded once at its stored size.

    ``pixels``: one flat ``uint8`` buffer; frame ``g`` is ``pixels[offsets[g]:offsets[g + 1]]``
    as (h, w, 3) with ``shapes[g] == (h, w)``; tracklet ``k`` holds frames
    ``first[k]:first[k + 1]``. :meth:`read` returns what
    ``FolderReader(interpolation=...).read(tracklets[k], indices, size)`` returns.
    """

    def __init__(self, pixels: np.ndarray, offsets: np.ndarray, shapes: np.ndarray, first: np.ndarray,
                 sources: Sequence[str], images: Sequence[bool]):
        self.pixels, self.offsets, self.shapes, self.first = pixels, offsets, shapes, first
        self.sources, self.images = list(sources), list(images)

    @classmethod
    def decode(cls, tracklets: Sequence[Tracklet], budget: Optional[int] = None) -> Optional["MemoryFrames"]:
        """Decode every frame of ``tracklets`` with the decoder a training clip's read uses, frame by frame.

        Returns None when the frames outgrow ``budget`` bytes (decoding stops there). One
        thread: the decoder holds the GIL for most of a small frame's time (two threads
        measured no faster), and torch ops in helper threads slow the training thread's later.
        """
        bad = [t.source for t in tracklets if not cacheable(t)]
        if bad:
            raise ValueError(f"{bad[0]}: only frame folders and images can be decoded into memory")
        counts = [len(t.frames) if t.frames else 1 for t in tracklets]
        first = np.zeros(len(tracklets) + 1, dtype=np.int64)
        np.cumsum(counts, out=first[1:])
        n = int(first[-1])
        offsets = np.zeros(n + 1, dtype=np.int64)
        shapes = np.zeros((n, 2), dtype=np.int32)
        # sized from the first tracklet's first frame, grown if the crops are larger (rarely: once or twice)
        capacity = n * int(np.prod(_stored_size(frame_paths(tracklets[0])[0]))) * 3 if n else 0
        if budget is not None:
            capacity = min(capacity, budget)
        pixels = np.empty(capacity, dtype=np.uint8)
        at = g = 0

        for t in tracklets:
            for path in frame_paths(t):
                f = _decode_image(path)
                end = at + f.size
                if budget is not None and end > budget:
                    return None
                if end > len(pixels):
                    grown = max(end, len(pixels) * 3 // 2)
                    bigger = np.empty(min(grown, budget) if budget is not None else grown, dtype=np.uint8)
                    bigger[:at] = pixels[:at]
                    pixels = bigger
                pixels[at:end] = f.reshape(-1)
                shapes[g] = f.shape[:2]
                at, g = end, g + 1
                offsets[g] = at
        pixels = pixels[:at]  # the unused tail was never written: no memory behind it
        return cls(pixels, offsets, shapes, first, [t.source for t in tracklets], [not t.frames for t in tracklets])

    @property
    def nbytes(self) -> int:
        return int(self.pixels.nbytes)

    @property
    def num_frames(self) -> int:
        return len(self.shapes)

    def __len__(self) -> int:
        return len(self.first) - 1

    def frame(self, g: int) -> np.ndarray:
        """Frame ``g`` as a read-only (h, w, 3) view of the buffer."""
        h, w = self.shapes[g]
        view = self.pixels[self.offsets[g]:self.offsets[g + 1]].reshape(int(h), int(w), 3)
        view.flags.writeable = False
        return view

    def read(self, k: int, indices: Sequence[int], size: Size, interpolation: str = "bicubic") -> np.ndarray:
        """Frames ``indices`` of tracklet ``k`` as uint8 (len(indices), H, W, 3): the folder reader's clip."""
        start = int(self.first[k])
        if self.images[k]:  # an image is every frame asked of it, as its reader has it
            img = _resize_all([self.frame(start)], size, interpolation)[0]
            return np.broadcast_to(img, (len(indices),) + img.shape).copy()
        unique = distinct_frames(self.sources[k], indices, int(self.first[k + 1]) - start)
        return _gather(_resize_all([self.frame(start + i) for i in unique], size, interpolation), unique, indices)
