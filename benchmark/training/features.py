"""Whole-video test features: every clip of a video through the model, averaged, L2-normalised."""
from __future__ import annotations

from typing import Optional

import torch
import torch.nn.functional as F
from torch import nn

from ccvid.progress import bar
from samplers import normalize_clips
from temporal_models import ModelOutput


@torch.no_grad()
def extract_features(model: nn.Module, loader, device: torch.device, desc: str = "features",
                     max_clips: int = 128, flip: bool = False) -> torch.Tensor:
    """Average the clip features of each video, then L2-normalise: (num_videos, D).

    ``flip``: each clip's feature is f(clip) + f(mirrored clip) (the image recipe's test feature).
    """
    model.eval()
    sums: Optional[torch.Tensor] = None
    num_videos = getattr(loader.dataset, "num_videos", len(loader.dataset))  # items may be pieces of videos
    counts = torch.zeros(num_videos)
    for clips, owner in bar(loader, desc=desc):
        feats = []
        for i in range(0, len(clips), max_clips):
            x = normalize_clips(clips[i:i + max_clips].to(device, non_blocking=True))
            f = ModelOutput.of(model(x)).features
            if flip:
                f = f + ModelOutput.of(model(x.flip(-1))).features
            feats.append(f.float().cpu())
        feats = torch.cat(feats)
        if sums is None:
            sums = torch.zeros(num_videos, feats.shape[1])
        sums.index_add_(0, owner, feats)  # owner holds each clip's dataset index
        counts.index_add_(0, owner, torch.ones(len(owner)))
    return F.normalize(sums / counts[:, None], dim=1)
