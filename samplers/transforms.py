"""Batch-level training augmentations of the image recipe (docs/reference-facts.md, C), on normalised clips.

They act on a whole float batch (B, 3, T, H, W) after :func:`normalize_clips`, one
decision per sample applied to every frame of its clip, so they work for images
(T = 1) and videos alike and run on the GPU when the batch lives there. A
``torch.Generator`` makes them repeatable from the run's seed.

- :func:`random_crop`: with probability ``p``, upscale by 1.125 (bilinear) and crop a
  random window of the original size back out (the reference's ``RandomCroping``).
- :func:`random_erasing`: with probability ``p``, replace one random rectangle of
  area 2-40 % of the frame and aspect ratio in [0.3, 1/0.3] by the constants
  (0.4914, 0.4822, 0.4465), written into the normalised tensor as the reference
  does; up to 100 tries to find a rectangle that fits, as in the reference.
"""
from __future__ import annotations

import math
from typing import Optional, Sequence

import torch
import torch.nn.functional as F

ERASE_VALUES = (0.4914, 0.4822, 0.4465)


def _uniform(gen: Optional[torch.Generator], lo: float = 0.0, hi: float = 1.0) -> float:
    return lo + (hi - lo) * torch.rand((), generator=gen).item()


def random_crop(x: torch.Tensor, p: float, gen: Optional[torch.Generator] = None,
                scale: float = 1.125) -> torch.Tensor:
    """(B, 3, T, H, W) -> same shape; each sample cropped from its 1.125x upscale with probability p."""
    if p <= 0:
        return x
    b, c, t, h, w = x.shape
    big_h, big_w = int(round(h * scale)), int(round(w * scale))
    out = x.clone()
    for i in range(b):
        if _uniform(gen) >= p:
            continue
        frames = x[i].transpose(0, 1)  # (T, 3, H, W)
        up = F.interpolate(frames, size=(big_h, big_w), mode="bilinear", align_corners=False)
        top = int(round(_uniform(gen, 0, big_h - h)))
        left = int(round(_uniform(gen, 0, big_w - w)))
        out[i] = up[:, :, top:top + h, left:left + w].transpose(0, 1)
    return out


def random_erasing(x: torch.Tensor, p: float, gen: Optional[torch.Generator] = None,
                   area: Sequence[float] = (0.02, 0.4), min_aspect: float = 0.3,
                   values: Sequence[float] = ERASE_VALUES) -> torch.Tensor:
    """(B, 3, T, H, W) -> same shape; one rectangle per chosen sample set to ``values``."""
    if p <= 0:
        return x
    b, c, t, h, w = x.shape
    fill = torch.tensor(values, dtype=x.dtype, device=x.device).view(c, 1, 1, 1)
    out = x.clone()
    for i in range(b):
        if _uniform(gen) >= p:
            continue
        for _ in range(100):
            target = _uniform(gen, *area) * h * w
            aspect = _uniform(gen, min_aspect, 1.0 / min_aspect)
            eh, ew = int(round(math.sqrt(target * aspect))), int(round(math.sqrt(target / aspect)))
            if 0 < eh < h and 0 < ew < w:
                top = int(_uniform(gen, 0, h - eh))
                left = int(_uniform(gen, 0, w - ew))
                out[i, :, :, top:top + eh, left:left + ew] = fill
                break
    return out
