"""5-D video ResNets from a 2-D backbone: I3D, Non-Local, AP3D and AP3D + Non-Local (docs/reference-facts.md, B).

The whole 2-D backbone is made to run on (B, C, T, H, W) clips (:func:`inflate.to_video`:
per-frame convs, BatchNorm with its 2-D statistics, per-frame max-pool), then

- chosen blocks get their ``conv2`` (the 3x3 of a Bottleneck, or the second 3x3 of a
  BasicBlock; conv1, conv3 and downsample are never touched) replaced by a 3x3x3
  centre-initialised conv (I3D) or an APP3D-C block (AP3D);
- Non-Local blocks are inserted after chosen blocks.

Block choice, per stage (layer2, layer3), ResNet-50 indices::

    3-D conv2:  layer2 {0, 2}; layer3 {0, 2, 4}
    Non-Local:  layer2 {1, 3}; layer3 {1, 3, 5}

A backbone with fewer blocks per stage (resnet18: 2, resnet_tiny: 1) uses the
indices that exist; when none exists in a stage, block 0 gets the 3-D conv and
the stage's last block gets the Non-Local block (resnet18: 3-D conv in block 0,
Non-Local after block 1; resnet_tiny: both on block 0).

Every replacement starts as the identity of the 2-D model (I3D: centre init;
AP3D: zero temporal conv; Non-Local: zero BatchNorm), so a video model built from
the same 2-D weights as ``baseline`` gives the same features at initialisation,
in eval and in train mode. The head is the baseline's :class:`VideoHead`.

``init="reference"`` draws the Non-Local blocks' convs as the reference does (see
:mod:`.nonlocal_block`); it changes nothing in a model without Non-Local blocks.
"""
from __future__ import annotations

from typing import Dict, Optional, Sequence

import torch
from torch import nn

from .ap3d import APP3DC
from .backbones import ResNetBackbone
from .base import ModelOutput, TemporalModel
from .heads import VideoHead
from .inflate import inflate_conv, to_video
from .nonlocal_block import NonLocalBlock, check_init
from .registry import register_model

# stage (1-based, torchvision naming) -> ResNet-50 block indices
CONV3D_BLOCKS: Dict[int, Sequence[int]] = {2: (0, 2), 3: (0, 2, 4)}
NONLOCAL_BLOCKS: Dict[int, Sequence[int]] = {2: (1, 3), 3: (1, 3, 5)}


def pick_blocks(reference: Sequence[int], num_blocks: int, fallback: int) -> list:
    """The reference indices that exist in a stage of ``num_blocks``, else ``[fallback]``."""
    found = [i for i in reference if i < num_blocks]
    return found or [fallback % num_blocks]


def _block_width(block: nn.Module) -> int:
    for name in ("bn3", "bn2"):
        if hasattr(block, name):
            return getattr(block, name).num_features
    raise TypeError(f"cannot tell the output width of {type(block).__name__}")


class VideoResNet(TemporalModel):
    """A 2-D ResNetBackbone turned 5-D, with 3-D conv2 blocks and Non-Local blocks where asked."""

    def __init__(self, backbone: ResNetBackbone, conv3d: Optional[str] = None, nonlocal_: bool = False,
                 conv3d_blocks: Dict[int, Sequence[int]] = CONV3D_BLOCKS,
                 nonlocal_blocks: Dict[int, Sequence[int]] = NONLOCAL_BLOCKS,
                 inflate_init: str = "center", apm_temperature: float = 4.0, contrastive: bool = True,
                 init: str = "pytorch"):
        super().__init__()
        check_init(init)
        if conv3d not in (None, "i3d", "ap3d"):
            raise ValueError(f"conv3d must be None, 'i3d' or 'ap3d', not {conv3d!r}")
        self.backbone = to_video(backbone)
        self.placement: Dict[str, Dict[int, list]] = {"conv3d": {}, "nonlocal": {}}
        for stage in sorted(set(conv3d_blocks) | set(nonlocal_blocks)):
            layer: nn.Sequential = getattr(self.backbone, f"layer{stage}")
            blocks = list(layer)
            if conv3d and stage in conv3d_blocks:
                idx = pick_blocks(conv3d_blocks[stage], len(blocks), 0)
                self.placement["conv3d"][stage] = idx
                for i in idx:
                    conv2 = blocks[i].conv2
                    if conv3d == "i3d":
                        blocks[i].conv2 = inflate_conv(conv2, 3, init=inflate_init)
                    else:
                        blocks[i].conv2 = APP3DC(conv2, apm_temperature, contrastive)
            new_layer = []
            nl_idx = []
            if nonlocal_ and stage in nonlocal_blocks:
                nl_idx = pick_blocks(nonlocal_blocks[stage], len(blocks), -1)
                self.placement["nonlocal"][stage] = nl_idx
            for i, block in enumerate(blocks):
                new_layer.append(block)
                if i in nl_idx:
                    new_layer.append(NonLocalBlock(_block_width(block), init=init))
            setattr(self.backbone, f"layer{stage}", nn.Sequential(*new_layer))
        self.head = VideoHead(self.backbone.out_channels)
        self.feature_dim = self.backbone.out_channels
        self.id_feature_dims = [self.feature_dim]

    def forward(self, clips: torch.Tensor) -> ModelOutput:
        f = self.head(self.backbone(clips))  # ResNetBackbone.forward runs on 5-D once converted
        return ModelOutput(f, [f])


@register_model("i3d")
def build_i3d(backbone: ResNetBackbone, **kwargs) -> VideoResNet:
    """I3D: 3x3x3 conv2 (centre init, temporal padding 1) in layer2 {0,2} and layer3 {0,2,4}."""
    kwargs.pop("seq_len", None)
    return VideoResNet(backbone, conv3d="i3d", **kwargs)


@register_model("nonlocal")
def build_nonlocal(backbone: ResNetBackbone, **kwargs) -> VideoResNet:
    """C2D + Non-Local blocks after layer2 {1,3} and layer3 {1,3,5}."""
    kwargs.pop("seq_len", None)
    return VideoResNet(backbone, nonlocal_=True, **kwargs)


@register_model("ap3d")
def build_ap3d(backbone: ResNetBackbone, **kwargs) -> VideoResNet:
    """AP3D: APP3D-C conv2 (APM + zero-init temporal conv) in layer2 {0,2} and layer3 {0,2,4}."""
    kwargs.pop("seq_len", None)
    return VideoResNet(backbone, conv3d="ap3d", **kwargs)


@register_model("ap3d_nl")
def build_ap3d_nl(backbone: ResNetBackbone, **kwargs) -> VideoResNet:
    """AP3D + Non-Local: both placements of the table in docs/reference-facts.md, B."""
    kwargs.pop("seq_len", None)
    return VideoResNet(backbone, conv3d="ap3d", nonlocal_=True, **kwargs)
