"""AP3D's Appearance-Preserving Module (APM) and the APP3D-C block (docs/reference-facts.md, B).

APP3D-C replaces a bottleneck's 3x3 ``conv2``::

    s   = spatial 1x3x3 conv (the 2-D weights, carrying the block's stride)
    out = s + temporal(APM(s))       temporal: Conv3d (3,1,1), stride (3,1,1), no bias, zero init

so at initialisation the block is the 2-D one. APM (neighbourhood 3) aligns the
previous and next frame to the centre frame position by position, then
interleaves [aligned previous, centre, aligned next] into a 3T-long sequence
that the stride-3 temporal conv brings back to T.
"""
from __future__ import annotations

from typing import Tuple

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import nn

from .inflate import FrameConv2d


class APM(nn.Module):
    """Appearance-Preserving Module on (B, C, T, H, W) maps.

    Alignment: a 1x1x1 conv (no bias) maps C -> C/16, features are L2-normalised
    over channels; time is zero-padded by one frame at each end. For each frame
    and neighbour (t-1, t+1), ``temperature`` x cosine similarity of every centre
    position to every neighbour position, softmax over the neighbour positions,
    and the neighbour is rebuilt at each centre position as the softmax-weighted
    sum of its raw C-channel features. At the clip ends the neighbour is the
    zero padding: its similarities are all 0, the softmax is uniform and the
    rebuilt neighbour is exactly zero.

    Contrastive attention (``contrastive=True``, the default): two 1x1x1 convs
    (C -> C/16, no bias) embed the detached centre and the detached rebuilt
    neighbour; their product goes through a 1x1x1 conv (C/16 -> 1, no bias) and a
    sigmoid, and that gate multiplies the rebuilt neighbour.
    """

    def __init__(self, channels: int, reduction: int = 16, temperature: float = 4.0, contrastive: bool = True):
        super().__init__()
        inner = max(1, channels // reduction)
        self.temperature = temperature
        self.semantic_mapping = nn.Conv3d(channels, inner, 1, bias=False)
        self.contrastive = contrastive
        if contrastive:
            self.x_mapping = nn.Conv3d(channels, inner, 1, bias=False)
            self.n_mapping = nn.Conv3d(channels, inner, 1, bias=False)
            self.contrastive_att = nn.Conv3d(inner, 1, 1, bias=False)

    def align(self, x: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        """The previous and next frames rebuilt at the centre frame's positions (no gate), each (B, C, T, H, W)."""
        _, _, t, h, w = x.shape
        key = F.normalize(self.semantic_mapping(x), dim=1)
        key_pad = F.pad(key, (0, 0, 0, 0, 1, 1))  # zero frame before the first and after the last
        raw_pad = F.pad(x, (0, 0, 0, 0, 1, 1))
        query = rearrange(key, "b k t h w -> b t (h w) k")
        rebuilt = []
        for start in (0, 2):  # padded index start + i is frame i - 1 (previous) or i + 1 (next)
            n_key = rearrange(key_pad[:, :, start:start + t], "b k t h w -> b t k (h w)")
            n_raw = rearrange(raw_pad[:, :, start:start + t], "b c t h w -> b t (h w) c")
            attention = torch.softmax(self.temperature * (query @ n_key), dim=-1)  # (b, t, hw, hw)
            rebuilt.append(rearrange(attention @ n_raw, "b t (h w) c -> b c t h w", h=h, w=w))
        return rebuilt[0], rebuilt[1]

    def gate(self, centre: torch.Tensor, neighbour: torch.Tensor) -> torch.Tensor:
        """Contrastive attention (B, 1, T, H, W) in (0, 1); its embeddings see detached inputs."""
        product = self.x_mapping(centre.detach()) * self.n_mapping(neighbour.detach())
        return torch.sigmoid(self.contrastive_att(product))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, C, T, H, W) -> (B, C, 3T, H, W): [previous', centre, next'] for every frame."""
        prev, nxt = self.align(x)
        if self.contrastive:
            prev = prev * self.gate(x, prev)
            nxt = nxt * self.gate(x, nxt)
        return rearrange(torch.stack([prev, x, nxt], dim=3), "b c t n h w -> b c (t n) h w")


class APP3DC(nn.Module):
    """APP3D-C: ``spatial(x) + temporal(APM(spatial(x)))``; equals the 2-D conv at initialisation."""

    def __init__(self, conv2d: nn.Conv2d, temperature: float = 4.0, contrastive: bool = True):
        super().__init__()
        self.spatial = conv2d
        if type(conv2d) is nn.Conv2d:  # per-frame on 5-D input; keeps the 2-D parameters
            conv2d.__class__ = FrameConv2d
        c = conv2d.out_channels
        self.apm = APM(c, temperature=temperature, contrastive=contrastive)
        self.temporal = nn.Conv3d(c, c, (3, 1, 1), stride=(3, 1, 1), bias=False)
        nn.init.zeros_(self.temporal.weight)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s = self.spatial(x)
        return s + self.temporal(self.apm(s))
