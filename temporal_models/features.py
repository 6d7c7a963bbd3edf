"""Whole-video test features: every clip of a video through the model, averaged, L2-normalised (or raw)."""
from __future__ import annotations

from typing import Optional

import torch
import torch.nn.functional as F
from torch import nn

from ccvid.progress import bar
from samplers import normalize_clips
from samplers.datasets import NORMALIZATIONS
from temporal_models import ModelOutput

AGGREGATIONS = ("mean", "model")


@torch.no_grad()
def extract_features(model: nn.Module, loader, device: torch.device, desc: str = "features",
                     max_clips: int = 128, flip: bool = False, aggregate: str = "mean",
                     normalize: bool = True, normalization: str = "imagenet") -> torch.Tensor:
    """Average the clip features of each video, then L2-normalise: (num_videos, D).

    ``normalization``: the mean and std of :data:`samplers.datasets.NORMALIZATIONS` the clips are normalised
    with (``data.normalize``).
    ``normalize=False``: the averages as they are (GaitSet's evaluator ranks raw features by Euclidean
    distance).

    ``flip``: each clip's feature is f(clip) + f(mirrored clip) (the image recipe's test feature).
    ``aggregate``: "mean" averages the clips' ``features``; "model" averages their ``pre_features``
    and hands the means to the model's ``video_features`` hook (TCLNet: each learner's BN after
    the mean, as the reference tests it), then L2-normalises. With ``flip`` the two views'
    ``pre_features`` are averaged, not summed, since the hook need not be scale-free.
    """
    if aggregate not in AGGREGATIONS:
        raise ValueError(f"aggregate must be one of {', '.join(AGGREGATIONS)}, not {aggregate!r}")
    if aggregate == "model" and not callable(getattr(model, "video_features", None)):
        raise ValueError(f"{type(model).__name__} has no video_features hook for eval.feature=model; use mean")
    model.eval()
    sums: Optional[torch.Tensor] = None
    num_videos = getattr(loader.dataset, "num_videos", len(loader.dataset))  # items may be pieces of videos
    counts = torch.zeros(num_videos)
    for clips, owner in bar(loader, desc=desc):
        feats = []
        for i in range(0, len(clips), max_clips):
            x = normalize_clips(clips[i:i + max_clips].to(device, non_blocking=True), *NORMALIZATIONS[normalization])
            if aggregate == "model":
                f = _pre_features(model, x)
                if flip:
                    f = (f + _pre_features(model, x.flip(-1))) / 2
            else:
                f = ModelOutput.of(model(x)).features
                if flip:
                    f = f + ModelOutput.of(model(x.flip(-1))).features
            feats.append(f.float().cpu())
        feats = torch.cat(feats)
        if sums is None:
            sums = torch.zeros(num_videos, feats.shape[1])
        sums.index_add_(0, owner, feats)  # owner holds each clip's dataset index
        counts.index_add_(0, owner, torch.ones(len(owner)))
    if aggregate == "model":
        videos = []
        for i in range(0, num_videos, max_clips):
            mean = (sums[i:i + max_clips] / counts[i:i + max_clips, None]).to(device)
            videos.append(model.video_features(mean).float().cpu())
        out = torch.cat(videos)
    else:
        out = sums / counts[:, None]
    return F.normalize(out, dim=1) if normalize else out


def _pre_features(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    pre = ModelOutput.of(model(x)).pre_features
    if pre is None:
        raise ValueError(f"{type(model).__name__} returned no pre_features for eval.feature=model")
    return pre
