"""Training clips as JPEG bytes, decoded in batches on the training device (``data.decode: device``).

Where JPEG decoding in the loader workers bounds a GPU's training, the workers
can hand over each clip's files undecoded instead: :class:`TrainClips` with
``encoded=True`` returns an :class:`EncodedClip` (the bytes of the clip's
distinct frames, the order that rebuilds the clip from them, the flip) and
:func:`collate_clips` gathers a batch into :class:`EncodedClips`. The trainer
then calls :meth:`EncodedClips.decode` with its device: every JPEG of the batch
in one ``torchvision.io.decode_jpeg`` call (nvJPEG on CUDA, libjpeg-turbo on the
CPU), the resize on the device (:func:`~samplers.readers.resize_tensor`, the
readers' filter), the gather into clips and the flips. The result is the
uint8 (B, T, H, W, 3) batch the readers would have given: the same clips (frame
indices and flips come from :meth:`TrainClips.clip_indices`); on the CPU the
same pixels, on CUDA within the decoder's and resize kernel's rounding of them
(nvJPEG's IDCT is not libjpeg-turbo's, and CUDA resizes in float).

JPEG frame folders and JPEG images only: video files are decoded by decord in
the workers, and a PNG has no device decoder; :func:`check_encodable` names the
first file that cannot go this way, before any training.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import List, Sequence

import torch
from torch.utils.data import default_collate

from ccvid.records import DatasetError, Tracklet, frame_paths, read_file_bytes

from .readers import Size, resize_tensor

JPEG_SUFFIXES = (".jpg", ".jpeg")

# data.decode: where training JPEGs are decoded: cpu (the loader workers) or device (in batches, here)
DECODE_PLACES = ("cpu", "device")


def check_encodable(tracklets: Sequence[Tracklet]) -> None:
    """Raise :class:`DatasetError` naming the first tracklet whose frames are not JPEG files."""
    for t in tracklets:
        if t.kind == "video":
            raise DatasetError(f"{t.source}: a video file; data.decode=device decodes JPEG frames only "
                               f"(use data.decode=cpu, or data.backend=frames where the release has frame folders)")
        for p in frame_paths(t):
            if not p.lower().endswith(JPEG_SUFFIXES):
                raise DatasetError(f"{p}: not a JPEG file; data.decode=device decodes JPEG frames only "
                                   f"(use data.decode=cpu)")


def read_bytes(path: str) -> torch.Tensor:
    """A frame file's bytes as a uint8 tensor, with one line naming the file when it cannot be read
    (a FIFO or a device is refused, never opened: a read could hang)."""
    data = read_file_bytes(path, "frame file")
    if not data:
        raise DatasetError(f"{path}: frame file is empty")
    return torch.frombuffer(bytearray(data), dtype=torch.uint8)


@dataclass
class EncodedClip:
    """One training clip before decoding: the bytes of its distinct frames and how to rebuild it."""

    files: List[torch.Tensor]   # encoded JPEG bytes of the clip's distinct frames
    paths: List[str]            # their files, for error messages
    order: List[int]            # the clip's frames as positions in ``files``
    flip: bool
    size: Size
    interpolation: str


class EncodedClips:
    """A batch of :class:`EncodedClip`; :meth:`decode` gives the uint8 (B, T, H, W, 3) batch on a device."""

    def __init__(self, clips: Sequence[EncodedClip]):
        if not clips:
            raise ValueError("an empty batch")
        self.clips = list(clips)
        self.size, self.interpolation = clips[0].size, clips[0].interpolation

    def __len__(self) -> int:
        return len(self.clips)

    def pin_memory(self, device=None) -> "EncodedClips":
        return self  # the decoder reads the bytes on the host whatever the device: nothing to pin

    def decode(self, device) -> torch.Tensor:
        from torchvision.io import ImageReadMode, decode_jpeg

        device = torch.device(device)
        data = [f for c in self.clips for f in c.files]
        paths = [p for c in self.clips for p in c.paths]
        try:
            images = decode_jpeg(data, mode=ImageReadMode.RGB, device=device)
        except RuntimeError as e:
            raise _culprit(data, paths, e, device) from None
        frames = self._resized(images, device)
        index, start = [], 0
        for c in self.clips:
            index.extend(start + k for k in c.order)
            start += len(c.files)
        b, t = len(self.clips), len(self.clips[0].order)
        h, w = self.size
        clips = frames[torch.tensor(index, device=device)].permute(0, 2, 3, 1).reshape(b, t, h, w, 3)
        flips = torch.tensor([c.flip for c in self.clips], device=device)
        if bool(flips.any()):
            clips[flips] = clips[flips].flip(3)
        return clips

    def _resized(self, images: Sequence[torch.Tensor], device: torch.device) -> torch.Tensor:
        """Decoded (3, h, w) frames of any sizes -> uint8 (N, 3, H, W), each size group resized in one call.

        Channels-last memory, as the readers' resize sees it, so that the CPU gives their pixels exactly.
        """
        h, w = self.size
        out = torch.empty((len(images), 3, h, w), dtype=torch.uint8, device=device)
        groups = {}
        for k, x in enumerate(images):
            groups.setdefault(tuple(x.shape[1:]), []).append(k)
        for ks in groups.values():
            batch = torch.stack([images[k] for k in ks]).contiguous(memory_format=torch.channels_last)
            out[ks] = resize_tensor(batch, (h, w), self.interpolation)
        return out.contiguous(memory_format=torch.channels_last)


def _culprit(data: Sequence[torch.Tensor], paths: Sequence[str], error: Exception, device) -> DatasetError:
    """The batch failed to decode: find the file (one by one on the CPU) so that the error names it."""
    from torchvision.io import ImageReadMode, decode_jpeg

    for d, p in zip(data, paths):
        try:
            decode_jpeg(d, mode=ImageReadMode.RGB)
        except RuntimeError as e:
            return DatasetError(f"{p}: cannot decode JPEG ({str(e).splitlines()[0][:200]})")
    return DatasetError(f"cannot decode a batch of {len(data)} JPEGs on {device} "
                        f"({str(error).splitlines()[0][:200]}); data.decode=cpu decodes them in the loader")


def collate_clips(batch):
    """A batch of :class:`TrainClips` items: clips stacked, or gathered as :class:`EncodedClips` when encoded."""
    if batch and isinstance(batch[0][0], EncodedClip):
        rest = default_collate([item[1:] for item in batch])
        return (EncodedClips([item[0] for item in batch]), *rest)
    return default_collate(batch)
