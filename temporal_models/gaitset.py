"""GaitSet-style set model on RGB backbone maps (docs/reference-facts.md, B, last paragraph; inferred design).

    per-frame backbone maps (B*T, C, h, w)
    set pooling: max over the T frames            -> (B, C, h, w)   (order-free, any T >= 1)
    Horizontal Pyramid Pooling, bins {1,2,4,8,16}  -> P = 31 strips, each mean + max over its rows and width
    a separate FC per strip (C -> 256, Xavier, no bias) -> (B, P, 256)

Outputs:

- ``triplet_features`` = [(B, P, 256)]: the harness applies one triplet loss per part
  and averages them. GaitSet's own losses (that triplet alone: batch-all, Euclidean,
  margin 0.2, no ID loss) are this model's registered loss recipe, used with
  ``--set loss_recipe=model``; the suite's default recipe trains the ID loss and no triplet.
- ``features`` = the P parts flattened, (B, P*256) = 7936-d (GaitSet's test feature;
  no BatchNorm, as in GaitSet). Test features and CAL's clothes classifier use it;
  GaitSet's evaluator ranks them raw by Euclidean distance (``eval.normalize: false``,
  ``eval.metric: euclidean``), each video's set being all its frames (``data.test_clips: all``).
- ``id_features`` = [BN(global mean + max of the set-pooled map)], (B, C), so the
  ID loss (and its classifier) has a single pooled vector, as the brief asks.

Departures from GaitSet: an RGB ResNet replaces the six silhouette convs; there is
no Multilayer Global Pipeline (so 31 parts instead of 62); Xavier is applied to each
strip's (C, 256) matrix (GaitSet applies it to the whole (P, C, 256) tensor).

Maps shorter than 16 rows (e.g. resnet_tiny at 64x32: 4 rows): strips come from
adaptive pooling, so at a level with more bins than rows, neighbouring strips
repeat rows (4 rows into 16 bins: each row four times). All 31 parts are kept so that
``feature_dim`` does not depend on the input size, which the model does not know
when the harness builds its classifiers. A factory argument ``bins=(1, 2, 4)`` gives 7
parts without repetition for 4-row maps.
"""
from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F
from einops import rearrange, reduce
from torch import nn

from .backbones import ResNetBackbone
from .base import ModelOutput, TemporalModel
from .heads import bn_neck
from .registry import register_model


class HorizontalPyramidPooling(nn.Module):
    """(B, C, h, w) -> (B, P, C): for each bin count n, n horizontal strips, each mean + max."""

    def __init__(self, bins: Sequence[int] = (1, 2, 4, 8, 16)):
        super().__init__()
        self.bins = tuple(bins)
        self.num_parts = sum(self.bins)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        strips = [F.adaptive_avg_pool2d(x, (n, 1)) + F.adaptive_max_pool2d(x, (n, 1)) for n in self.bins]
        return rearrange(torch.cat(strips, dim=2), "b c p 1 -> b p c")


class GaitSetStyle(TemporalModel):
    def __init__(self, backbone: ResNetBackbone, bins: Sequence[int] = (1, 2, 4, 8, 16), part_dim: int = 256):
        super().__init__()
        self.backbone = backbone
        c = backbone.out_channels
        self.hpp = HorizontalPyramidPooling(bins)
        p = self.hpp.num_parts
        self.fc_bin = nn.Parameter(torch.empty(p, c, part_dim))
        for i in range(p):
            nn.init.xavier_uniform_(self.fc_bin.data[i])
        self.bn = bn_neck(c)
        self.num_parts = p
        self.feature_dim = p * part_dim
        self.id_feature_dims = [c]

    def forward(self, clips: torch.Tensor) -> ModelOutput:
        b = clips.shape[0]
        maps = self.backbone(rearrange(clips, "b c t h w -> (b t) c h w"))
        pooled = reduce(maps, "(b t) c h w -> b c h w", "max", b=b)  # set pooling
        parts = torch.einsum("bpc,pcd->bpd", self.hpp(pooled), self.fc_bin)
        global_vec = self.bn(pooled.mean(dim=(2, 3)) + pooled.amax(dim=(2, 3)))
        return ModelOutput(parts.flatten(1), [global_vec], triplet_features=[parts])


# GaitSet's own codebase (model/model.py): the per-part batch-all Euclidean triplet alone, margin 0.2, mean over
# non-zero; no ID loss (docs/reference-facts.md, B).
@register_model("gaitset", losses=dict(triplet_weight=1.0, triplet_margin=0.2, triplet_distance="euclidean",
                                        triplet_mining="all", id_weight=0.0))
def build_gaitset(backbone: ResNetBackbone, bins: Sequence[int] = (1, 2, 4, 8, 16), **_) -> GaitSetStyle:
    """GaitSet-style: set max pooling over frames, 31-part HPP, per-part FC; any T."""
    return GaitSetStyle(backbone, bins)
