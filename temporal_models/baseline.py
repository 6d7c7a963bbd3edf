"""C2D baseline: per-frame 2-D backbone, spatial max pool, temporal average pool, BN neck."""
from __future__ import annotations

import torch
from einops import rearrange

from .backbones import ResNetBackbone
from .base import ModelOutput, TemporalModel
from .heads import VideoHead
from .registry import register_model


class C2D(TemporalModel):
    def __init__(self, backbone: ResNetBackbone):
        super().__init__()
        self.backbone = backbone
        self.head = VideoHead(backbone.out_channels)
        self.feature_dim = backbone.out_channels
        self.id_feature_dims = [self.feature_dim]

    def forward(self, clips: torch.Tensor) -> ModelOutput:
        b = clips.shape[0]
        maps = self.backbone(rearrange(clips, "b c t h w -> (b t) c h w"))
        f = self.head(rearrange(maps, "(b t) c h w -> b c t h w", b=b))
        return ModelOutput(f, [f])


@register_model("baseline")
def build_baseline(backbone: ResNetBackbone, **_) -> C2D:
    """C2D (paper's video baseline): frame features averaged over time."""
    return C2D(backbone)
