"""A temporal model from outside the repository: C2D with spatial *mean* pooling per frame.

Importing this module registers ``tinyplug``; the entry point in pyproject.toml makes
the benchmark import it. Only the public ``temporal_models`` API is used.
"""
import torch
from einops import rearrange, reduce

from temporal_models import TemporalModel, register_model
from temporal_models.heads import bn_neck


class MeanC2D(TemporalModel):
    def __init__(self, backbone):
        super().__init__()
        self.backbone = backbone
        self.bn = bn_neck(backbone.out_channels)
        self.feature_dim = backbone.out_channels
        self.id_feature_dims = [self.feature_dim]

    def forward(self, clips: torch.Tensor):
        maps = self.backbone(rearrange(clips, "b c t h w -> (b t) c h w"))
        f = self.bn(reduce(maps, "(b t) c h w -> b c", "mean", b=clips.shape[0]))
        return {"features": f, "id_features": [f]}


@register_model("tinyplug")
def build(backbone, seq_len=8, **kwargs):
    return MeanC2D(backbone)
