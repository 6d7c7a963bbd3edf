"""The output contract shared by every temporal model.

``model(clips)`` takes float clips (B, 3, T, H, W) and returns a :class:`ModelOutput`:

- ``features``: (B, D) the embedding. Test features are its per-video mean;
  the clothes classifier and CAL see it during training.
- ``id_features``: list of (B, d_i) tensors; the harness gives each its own
  identity classifier and ID loss (one entry for single-branch models; one per
  learner for multi-branch models such as TCLNet).
- ``triplet_features`` (optional): list of (B, d) or (B, P, d) tensors for
  triplet losses (a (B, P, d) tensor means one triplet loss per part P); without
  them the triplet loss, when weighted, takes ``id_features``.
- ``pre_features`` (optional): (B, D') per-clip features before the model's own
  video-level step, for models that aggregate a video their own way: with
  ``eval.feature=model`` the harness averages them per video and calls the model's
  ``video_features(mean_pre) -> (N, D)`` (TCLNet: BN after the mean of pre-BN features).

Models also expose ``feature_dim`` (D) and ``id_feature_dims`` ([d_i]) so the
harness can build classifiers before the first forward pass. Losses therefore
never need model-specific code.

Plugins written before this class existed return the same fields as a dict
(``{"features": f, "id_features": [f]}``); :meth:`ModelOutput.of` accepts both.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import List, Mapping, Optional, Union

import torch
from torch import nn


@dataclass
class ModelOutput:
    features: torch.Tensor
    id_features: List[torch.Tensor]
    triplet_features: Optional[List[torch.Tensor]] = None
    pre_features: Optional[torch.Tensor] = None

    @classmethod
    def of(cls, out: Union["ModelOutput", Mapping[str, object]]) -> "ModelOutput":
        """A model's return value as a :class:`ModelOutput` (the dict form of older plugins accepted)."""
        if isinstance(out, cls):
            return out
        if isinstance(out, Mapping) and "features" in out:
            unknown = set(out) - {"features", "id_features", "triplet_features", "pre_features"}
            if unknown:
                raise TypeError(f"model output has unknown fields {sorted(unknown)}")
            return cls(out["features"], list(out.get("id_features") or [out["features"]]),
                       out.get("triplet_features"), out.get("pre_features"))
        raise TypeError(f"a model must return a ModelOutput (or a dict with 'features'), got {type(out).__name__}")


class TemporalModel(nn.Module):
    feature_dim: int
    id_feature_dims: List[int]

    def forward(self, clips: torch.Tensor) -> ModelOutput:  # pragma: no cover - interface
        raise NotImplementedError
