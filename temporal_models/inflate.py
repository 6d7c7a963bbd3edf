"""2-D -> 3-D: run a 2-D ResNet on 5-D clips, and inflate a 2-D conv into a real 3-D one.

Two tools (docs/reference-facts.md, A):

- :func:`to_video` makes every ``Conv2d``, ``BatchNorm2d`` and ``MaxPool2d`` of a
  2-D module accept 5-D input (B, C, T, H, W) by folding time into the batch.
  This is the reference's "inflate with t = 1" done without copying kernels:
  a 1 x k x k Conv3d and a per-frame k x k Conv2d compute the same function
  with the same parameters, and BatchNorm keeps its 2-D statistics (the batch
  statistics over (B, T, H, W) equal those over (B*T, H, W)). Parameter names
  and shapes stay those of the 2-D backbone, so a 2-D state dict loads as is.
  The folded modules keep their activations in a (B, T, C, H, W) memory
  layout viewed as (B, C, T, H, W), so folding and unfolding are free views
  between consecutive per-frame layers.
- :func:`inflate_conv` turns a k x k ``Conv2d`` into a t x k x k ``Conv3d`` with the
  same spatial stride, padding and dilation, initialised by the "center" scheme
  (2-D kernel in the middle time slice, zeros elsewhere) or the "average" one
  (kernel repeated t times, divided by t).
"""
from __future__ import annotations

import torch
from einops import rearrange
from torch import nn


def _fold(module_forward, x: torch.Tensor) -> torch.Tensor:
    if x.dim() != 5:
        return module_forward(x)
    b = x.shape[0]
    y = module_forward(rearrange(x, "b c t h w -> (b t) c h w"))
    return rearrange(y, "(b t) c h w -> b c t h w", b=b)


class FrameConv2d(nn.Conv2d):
    """A Conv2d that also takes (B, C, T, H, W) and applies itself to every frame."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return _fold(super().forward, x)


class FrameBatchNorm2d(nn.BatchNorm2d):
    """A BatchNorm2d that also takes (B, C, T, H, W); statistics are over (B, T, H, W)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return _fold(super().forward, x)


class FrameMaxPool2d(nn.MaxPool2d):
    """A MaxPool2d that also takes (B, C, T, H, W): pooling (1, k, k) per frame."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return _fold(super().forward, x)


_FRAME_CLASSES = {nn.Conv2d: FrameConv2d, nn.BatchNorm2d: FrameBatchNorm2d, nn.MaxPool2d: FrameMaxPool2d}


def to_video(module: nn.Module) -> nn.Module:
    """Make every Conv2d / BatchNorm2d / MaxPool2d in ``module`` accept 5-D clips, in place.

    The frame classes add no state, so the conversion swaps the class of each
    submodule and keeps its parameters, buffers and hooks. Returns ``module``.
    """
    for m in module.modules():
        new = _FRAME_CLASSES.get(type(m))
        if new is not None:
            m.__class__ = new
    return module


def inflate_conv(conv: nn.Conv2d, time_dim: int = 3, time_padding: int | None = None,
                 time_stride: int = 1, init: str = "center") -> nn.Conv3d:
    """A t x k x k Conv3d from a k x k Conv2d, carrying its spatial stride / padding / dilation.

    ``init="center"``: the 2-D kernel in the middle slice, zeros elsewhere (the
    3-D conv then equals the 2-D one per frame; the I3D block in docs/reference-facts.md, B).
    ``init="average"``: the kernel repeated ``time_dim`` times and divided by it.
    ``time_padding`` defaults to ``time_dim // 2``.
    """
    if time_padding is None:
        time_padding = time_dim // 2
    if not isinstance(conv.padding, tuple):
        raise ValueError(f"cannot inflate a conv with padding={conv.padding!r}")
    conv3d = nn.Conv3d(conv.in_channels, conv.out_channels, (time_dim, *conv.kernel_size),
                       stride=(time_stride, *conv.stride), padding=(time_padding, *conv.padding),
                       dilation=(1, *conv.dilation), groups=conv.groups, bias=conv.bias is not None,
                       device=conv.weight.device, dtype=conv.weight.dtype)
    w2d = conv.weight.detach()
    with torch.no_grad():
        if init == "center":
            conv3d.weight.zero_()
            conv3d.weight[:, :, time_dim // 2] = w2d
        elif init == "average":
            conv3d.weight.copy_(w2d.unsqueeze(2).expand_as(conv3d.weight) / time_dim)
        else:
            raise ValueError(f"unknown inflation init {init!r}; use 'center' or 'average'")
        if conv.bias is not None:
            conv3d.bias.copy_(conv.bias.detach())
    return conv3d
