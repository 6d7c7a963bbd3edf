"""Image baseline of the paper (docs/reference-facts.md, A): 2-D backbone, global max + average pooling, BN neck.

For image datasets a sample is a one-frame tracklet (T = 1), so this is the
paper's image model: ResNet-50 (last stride 1) -> [global max, global average]
-> 4096-d -> BatchNorm1d. Given T > 1 frames, the pooled frame vectors are
averaged over time before the BN neck, which makes it a C2D model with the
image head.
"""
from __future__ import annotations

import torch
from einops import rearrange, reduce

from .backbones import ResNetBackbone
from .base import ModelOutput, TemporalModel
from .heads import ImageHead
from .registry import register_model


class ImageBaseline(TemporalModel):
    def __init__(self, backbone: ResNetBackbone):
        super().__init__()
        self.backbone = backbone
        self.head = ImageHead(backbone.out_channels)
        self.feature_dim = 2 * backbone.out_channels
        self.id_feature_dims = [self.feature_dim]

    def forward(self, clips: torch.Tensor) -> ModelOutput:
        b = clips.shape[0]
        maps = self.backbone(rearrange(clips, "b c t h w -> (b t) c h w"))
        pooled = torch.cat([maps.amax(dim=(2, 3)), maps.mean(dim=(2, 3))], dim=1)
        f = self.head.bn(reduce(pooled, "(b t) d -> b d", "mean", b=b))
        return ModelOutput(f, [f])


@register_model("image")
def build_image(backbone: ResNetBackbone, **_) -> ImageBaseline:
    """Image baseline: global max + avg pooling (4096-d on ResNet-50); T = 1 for image datasets."""
    return ImageBaseline(backbone)
