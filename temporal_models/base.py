"""The output contract shared by every temporal model.

``model(clips)`` takes float clips (B, 3, T, H, W) and returns a dict:

- ``"features"``: (B, D) the embedding. Test features are its per-video mean;
  the clothes classifier and CAL see it during training.
- ``"id_features"``: list of (B, d_i) tensors; the harness gives each its own
  identity classifier and ID loss (one entry for single-branch models; one per
  learner for multi-branch models such as TCLNet).
- ``"triplet_features"`` (optional): list of (B, d) or (B, P, d) tensors for
  triplet losses (a (B, P, d) tensor means one triplet loss per part P).

Models also expose ``feature_dim`` (D) and ``id_feature_dims`` ([d_i]) so the
harness can build classifiers before the first forward pass. Losses therefore
never need model-specific code.
"""
from __future__ import annotations

from typing import Dict, List

import torch
from torch import nn

ModelOutput = Dict[str, object]


class TemporalModel(nn.Module):
    feature_dim: int
    id_feature_dims: List[int]

    def forward(self, clips: torch.Tensor) -> ModelOutput:  # pragma: no cover - interface
        raise NotImplementedError
