"""Non-Local block, embedded-Gaussian form (docs/reference-facts.md, B), on (B, C, T, H, W) maps.

    theta, phi, g : 1x1x1 Conv3d C -> C/2, with bias
    phi, g        : followed by MaxPool3d((1, 2, 2)) (theta is not pooled)
    affinity      : softmax over key positions of theta^T phi, *no* 1/sqrt(d) scaling
    output        : x + BN(W(y)), W a 1x1x1 Conv3d C/2 -> C with bias, BN weight and bias = 0

Why not ``pytorchvideo.layers.nonlocal_net.NonLocal``: its "softmax" form scales
the affinity by dim_inner^-0.5 (its "dot_product" form divides by the number of
positions instead of a softmax), it pools the input *before* the phi / g
convolutions rather than after them, and ``create_nonlocal`` does not
zero-initialise the output BatchNorm, so the block would not start as the
identity. Each of these changes the reference design, so the block is written here.

phi's bias is kept although softmax makes it inert (it adds the same constant to every
key of a query), as is W's conv bias in front of BatchNorm: the reference has both, and
its parameter counts include them.

Initialisation (``init``):

- ``"pytorch"`` (default): every conv keeps PyTorch's default draw (kaiming-uniform with
  a=sqrt(5), bias uniform within 1/sqrt(fan_in)), as all committed results were trained.
- ``"reference"``: as the reference block draws them (docs/reference-facts.md, B), the
  weights of theta, phi, g and W's conv are redrawn from N(0, sqrt(2 / fan_out)), fan_out =
  out_channels x kernel size (out_channels for these 1x1x1 convs), about 3.5x PyTorch's
  scale. The conv biases keep PyTorch's default draw: the reference redraws only
  ``m.weight`` and leaves the biases as built (read in AP3D's and Simple-CCReID's
  NonLocalBlockND). The redraw happens after the default draw, so the parameters built
  before it, and the biases, are the same as with ``"pytorch"`` under one seed.

Either way W's BatchNorm starts at weight 0 and bias 0, so the block starts as the identity.
"""
from __future__ import annotations

import math

import torch
from einops import rearrange
from torch import nn


INITS = ("pytorch", "reference")


def check_init(init: str) -> str:
    if init not in INITS:
        raise ValueError(f"init must be one of {', '.join(INITS)}, not {init!r}")
    return init


def reference_init_(conv: nn.Module) -> None:
    """Redraw a conv's weight from N(0, sqrt(2 / fan_out)) as the reference codebases do; the bias is left alone."""
    fan_out = conv.out_channels * math.prod(conv.kernel_size)
    nn.init.normal_(conv.weight, 0.0, math.sqrt(2.0 / fan_out))


class NonLocalBlock(nn.Module):
    def __init__(self, channels: int, inter_channels: int | None = None, sub_sample: bool = True,
                 init: str = "pytorch"):
        super().__init__()
        check_init(init)
        inter = inter_channels or max(1, channels // 2)
        self.theta = nn.Conv3d(channels, inter, 1)
        self.phi = nn.Conv3d(channels, inter, 1)
        self.g = nn.Conv3d(channels, inter, 1)
        self.pool = nn.MaxPool3d((1, 2, 2)) if sub_sample else nn.Identity()
        self.W = nn.Sequential(nn.Conv3d(inter, channels, 1), nn.BatchNorm3d(channels))
        nn.init.zeros_(self.W[1].weight)  # the block starts as the identity
        nn.init.zeros_(self.W[1].bias)
        if init == "reference":  # after the default draw, so "pytorch" consumes the RNG as it always did
            for conv in (self.theta, self.phi, self.g, self.W[0]):
                reference_init_(conv)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _, _, t, h, w = x.shape
        theta = rearrange(self.theta(x), "b c t h w -> b (t h w) c")
        phi = rearrange(self.pool(self.phi(x)), "b c t h w -> b c (t h w)")
        g = rearrange(self.pool(self.g(x)), "b c t h w -> b (t h w) c")
        attention = torch.softmax(theta @ phi, dim=-1)  # (b, n_query, n_key)
        y = rearrange(attention @ g, "b (t h w) c -> b c t h w", t=t, h=h, w=w)
        return x + self.W(y)
