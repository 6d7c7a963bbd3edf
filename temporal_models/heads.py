"""Heads and classifiers (docs/reference-facts.md, A): pooling + BatchNorm neck, ID and clothes classifiers."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from einops import reduce
from torch import nn


def bn_neck(dim: int) -> nn.BatchNorm1d:
    """BatchNorm1d with weight ~ N(1, 0.02) and bias 0, both trainable."""
    bn = nn.BatchNorm1d(dim)
    nn.init.normal_(bn.weight, 1.0, 0.02)
    nn.init.zeros_(bn.bias)
    return bn


class VideoHead(nn.Module):
    """(B, C, T, h, w) maps -> spatial max per frame -> mean over T -> BatchNorm1d."""

    def __init__(self, dim: int):
        super().__init__()
        self.bn = bn_neck(dim)

    def forward(self, maps: torch.Tensor) -> torch.Tensor:
        frames = reduce(maps, "b c t h w -> b c t", "max")
        return self.bn(frames.mean(dim=2))


class ImageHead(nn.Module):
    """(B, C, h, w) maps -> [global max, global average] -> BatchNorm1d(2C)."""

    def __init__(self, channels: int):
        super().__init__()
        self.bn = bn_neck(2 * channels)

    def forward(self, maps: torch.Tensor) -> torch.Tensor:
        pooled = torch.cat([maps.amax(dim=(2, 3)), maps.mean(dim=(2, 3))], dim=1)
        return self.bn(pooled)


class Classifier(nn.Linear):
    """Identity classifier: Linear, weight ~ N(0, 0.001), bias 0."""

    def __init__(self, dim: int, num_classes: int):
        super().__init__(dim, num_classes)
        nn.init.normal_(self.weight, 0.0, 0.001)
        nn.init.zeros_(self.bias)


class NormalizedClassifier(nn.Module):
    """Cosine classifier: rows uniform(-1, 1) then renormalised; returns cos(f, w_j) (no scale)."""

    def __init__(self, dim: int, num_classes: int):
        super().__init__()
        w = torch.empty(num_classes, dim).uniform_(-1, 1)
        self.weight = nn.Parameter(w.renorm(2, 0, 1e-5).mul(1e5))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(F.normalize(x, dim=1), F.normalize(self.weight, dim=1))
