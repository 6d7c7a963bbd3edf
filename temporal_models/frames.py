"""Temporal heads over any frame encoder: a per-frame embedding, then a head over the frames, then the BN neck.

The frame encoder is any backbone: a ResNet of :mod:`.backbones` (its map pooled per frame) or a timm
encoder (``model.backbone=timm:<name>``, :mod:`.timm_encoders`: tokens). ``model.frame_pool`` says what
one frame's embedding is (:data:`FRAME_POOLS`):

    auto      the encoder's own: timm's pooled embedding (the class token after the final norm for CLIP
              ViTs and EVA02); a ResNet map's spatial max (C2D's)
    cls       the class token (encoders that have one)
    avg       the mean of the patch tokens / of the map's positions
    max       the maximum of the patch tokens / of the map's positions
    cls+avg   the class token and the mean of the patch tokens, concatenated (2D)

The three heads, registered as models (``benchmark run --model frames_mean model.backbone=timm:...``):

    frames_mean         the mean over frames (C2D's counterpart; the EVA02-L video baseline's pooling)
    frames_attention    attention pooling: a softmax over the frames of a learned score per frame
    frames_transformer  a one-layer pre-norm transformer over the per-frame embeddings with a learned
                        temporal position embedding, then the mean over frames

Each returns the embedding after a BatchNorm neck (:func:`.heads.bn_neck`) as ``features`` and its one
``id_features``, so CAL, the objectives and the test variants need nothing model-specific.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import nn

from ccvid.base import UserError

from .base import ModelOutput, TemporalModel
from .heads import bn_neck
from .registry import register_model

FRAME_POOLS = ("auto", "cls", "avg", "max", "cls+avg")


def frame_dim(backbone: nn.Module, pool: str) -> int:
    """The size of one frame's embedding under ``pool``; a UserError for a pool the encoder cannot give."""
    if pool not in FRAME_POOLS:
        raise UserError(f"model.frame_pool: expected {', '.join(FRAME_POOLS)}, got {pool!r}")
    tokens = hasattr(backbone, "tokens")
    if pool.startswith("cls") and not getattr(backbone, "has_class_token", False):
        raise UserError(f"model.frame_pool {pool}: the frame encoder has no class token (use auto, avg or max)")
    if pool == "auto" and tokens:
        return backbone.own_dim
    return 2 * backbone.out_channels if pool == "cls+avg" else backbone.out_channels


def frame_embeddings(backbone: nn.Module, pool: str, frames: torch.Tensor) -> torch.Tensor:
    """(N, 3, H, W) frames -> (N, D) embeddings under ``pool`` (see the module docstring)."""
    if not hasattr(backbone, "tokens"):  # a ResNet: (N, C, h, w) maps
        maps = backbone(frames)
        return maps.mean(dim=(2, 3)) if pool == "avg" else maps.amax(dim=(2, 3))
    feats = backbone.features(frames)
    if pool == "auto":
        return backbone.own(feats)
    tokens = feats.flatten(2).transpose(1, 2) if feats.dim() == 4 else feats
    patches = tokens[:, backbone.num_prefix_tokens:]
    if pool == "cls":
        return tokens[:, 0]
    if pool == "max":
        return patches.amax(dim=1)
    if pool == "avg":
        return patches.mean(dim=1)
    return torch.cat([tokens[:, 0], patches.mean(dim=1)], dim=1)


class MeanOverFrames(nn.Module):
    """(B, T, D) -> (B, D): the mean over frames."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.mean(dim=1)


class AttentionOverFrames(nn.Module):
    """(B, T, D) -> (B, D): frames weighted by a softmax over T of a small MLP's score per frame."""

    def __init__(self, dim: int):
        super().__init__()
        hidden = max(dim // 4, 1)
        self.score = nn.Sequential(nn.Linear(dim, hidden), nn.Tanh(), nn.Linear(hidden, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        weights = self.score(x).softmax(dim=1)  # (B, T, 1)
        return (weights * x).sum(dim=1)


class TransformerOverFrames(nn.Module):
    """(B, T, D) -> (B, D): learned temporal positions (resampled linearly for T != seq_len), ``layers``
    pre-norm transformer layers (heads: gcd(D, 8); feed-forward 2D; no dropout), then the mean over T."""

    def __init__(self, dim: int, seq_len: int, layers: int = 1):
        super().__init__()
        self.pos = nn.Parameter(torch.zeros(1, max(seq_len, 1), dim))
        nn.init.trunc_normal_(self.pos, std=0.02)
        layer = nn.TransformerEncoderLayer(dim, math.gcd(dim, 8), dim_feedforward=2 * dim, dropout=0.0,
                                           activation="gelu", batch_first=True, norm_first=True)
        self.encoder = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pos = self.pos
        if pos.shape[1] != x.shape[1]:
            pos = F.interpolate(pos.transpose(1, 2), size=x.shape[1], mode="linear",
                                align_corners=False).transpose(1, 2)
        return self.encoder(x + pos).mean(dim=1)


class FrameModel(TemporalModel):
    """Per-frame embeddings of any frame encoder -> a temporal head -> BatchNorm neck."""

    def __init__(self, backbone: nn.Module, temporal: nn.Module, dim: int, pool: str):
        super().__init__()
        self.backbone, self.temporal, self.pool = backbone, temporal, pool
        self.bn = bn_neck(dim)
        self.feature_dim = dim
        self.id_feature_dims = [dim]

    def forward(self, clips: torch.Tensor) -> ModelOutput:
        b = clips.shape[0]
        per_frame = frame_embeddings(self.backbone, self.pool, rearrange(clips, "b c t h w -> (b t) c h w"))
        f = self.bn(self.temporal(rearrange(per_frame, "(b t) d -> b t d", b=b)))
        return ModelOutput(f, [f])


@register_model("frames_mean", frame_encoders=True)
def build_frames_mean(backbone: nn.Module, frame_pool: str = "auto", **_) -> FrameModel:
    """Any frame encoder: per-frame embeddings averaged over the frames (C2D's counterpart)."""
    dim = frame_dim(backbone, frame_pool)
    return FrameModel(backbone, MeanOverFrames(), dim, frame_pool)


@register_model("frames_attention", frame_encoders=True)
def build_frames_attention(backbone: nn.Module, frame_pool: str = "auto", **_) -> FrameModel:
    """Any frame encoder: attention pooling over the frames (a learned score per frame, softmax over time)."""
    dim = frame_dim(backbone, frame_pool)
    return FrameModel(backbone, AttentionOverFrames(dim), dim, frame_pool)


@register_model("frames_transformer", frame_encoders=True)
def build_frames_transformer(backbone: nn.Module, seq_len: int = 8, frame_pool: str = "auto",
                             **_) -> FrameModel:
    """Any frame encoder: a one-layer temporal transformer over the per-frame embeddings, then their mean."""
    dim = frame_dim(backbone, frame_pool)
    return FrameModel(backbone, TransformerOverFrames(dim, seq_len), dim, frame_pool)
