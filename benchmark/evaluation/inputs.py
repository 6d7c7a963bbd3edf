"""Input handling shared by the evaluation modules.

The metric names, the default CMC ranks, array/tensor conversion, the feature-shape check, label
checks and the computation dtype rule: distances are computed in float32
unless either feature set is float64 (then both in float64). This module
imports nothing else of the package, so the other modules can all import it.
"""
from __future__ import annotations

from typing import Tuple

import numpy as np
import torch

__all__ = [
    "DEFAULT_RANKS",
    "METRICS",
    "as_tensor",
    "check_feature_pair",
    "check_label_pair",
    "check_metric",
    "check_ranks",
    "compute_dtype",
    "is_int",
    "to_numpy",
]

METRICS = ("cosine", "euclidean")
DEFAULT_RANKS = (1, 5, 10, 20)


def to_numpy(x) -> np.ndarray:
    """``x`` as a numpy array (a tensor is detached and moved to the CPU)."""
    if isinstance(x, torch.Tensor):
        return x.detach().cpu().numpy()
    return np.asarray(x)


def as_tensor(x) -> torch.Tensor:
    """``x`` as a tensor: a tensor is detached (same device), an array is wrapped without a copy."""
    if isinstance(x, torch.Tensor):
        return x.detach()
    return torch.from_numpy(np.asarray(x))


def compute_dtype(*tensors: torch.Tensor) -> torch.dtype:
    """float32 unless any of ``tensors`` is float64 (then float64)."""
    return torch.float64 if any(t.dtype == torch.float64 for t in tensors) else torch.float32


def is_int(x) -> bool:
    """A python or numpy integer, not a bool."""
    return isinstance(x, (int, np.integer)) and not isinstance(x, (bool, np.bool_))


def check_metric(metric) -> None:
    if metric not in METRICS:
        raise ValueError(f"metric must be one of {METRICS}, got {metric!r}")


def check_feature_pair(query_features, gallery_features) -> Tuple[int, int]:
    """(N_q, N_g) of two 2-D feature arrays of one dimension D; ValueError naming the fault otherwise."""
    shapes = []
    for name, f in (("query_features", query_features), ("gallery_features", gallery_features)):
        shape = tuple(f.shape) if hasattr(f, "shape") else np.shape(f)
        if len(shape) != 2:
            raise ValueError(f"{name} must be 2-D (N x D), got shape {shape}")
        shapes.append(shape)
    (n_q, d_q), (n_g, d_g) = shapes
    if d_q != d_g:
        raise ValueError(f"feature dimensions differ: query {d_q}, gallery {d_g}")
    return n_q, n_g


def check_ranks(ranks) -> Tuple[int, ...]:
    """The CMC ranks as a tuple of python ints; ValueError unless a non-empty list of integers >= 1."""
    ranks = tuple(ranks)
    if not ranks:
        raise ValueError("ranks must not be empty")
    for k in ranks:
        if not is_int(k) or k < 1:
            raise ValueError(f"ranks must be positive integers, got {ranks!r}")
    return tuple(int(k) for k in ranks)


def check_label_pair(name: str, q, g, n_q: int, n_g: int) -> Tuple[np.ndarray, np.ndarray]:
    """Query/gallery labels as int64 arrays of the right lengths.

    Non-integer labels (e.g. strings) are mapped to integers jointly over
    query and gallery, so equality is preserved.
    """
    q = to_numpy(q)
    g = to_numpy(g)
    if q.ndim != 1 or g.ndim != 1:
        raise ValueError(f"{name}: labels must be 1-D, got shapes {q.shape} and {g.shape}")
    if len(q) != n_q:
        raise ValueError(f"q_{name}: {len(q)} labels for {n_q} query features")
    if len(g) != n_g:
        raise ValueError(f"g_{name}: {len(g)} labels for {n_g} gallery features")
    if q.dtype.kind in "iub" and g.dtype.kind in "iub":
        return q.astype(np.int64), g.astype(np.int64)
    _, inverse = np.unique(np.concatenate([q.astype(object), g.astype(object)]).astype(str),
                           return_inverse=True)
    inverse = inverse.astype(np.int64).reshape(-1)
    return inverse[: len(q)], inverse[len(q):]
