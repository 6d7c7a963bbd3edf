"""Input handling shared by the evaluation modules.

The metric names, the default CMC ranks, array/tensor conversion, the feature-shape and finiteness
checks, label checks and the computation dtype rule: distances are computed in float32
unless either feature set is float64 (then both in float64). This module
imports nothing else of the package, so the other modules can all import it.

Labels are compared by value, so query and gallery labels must be of one kind:
numbers on both sides or strings on both sides. Floats are numbers when they
are whole (``3.0`` matches ``3``: ids written as floats by other codebases, e.g.
MATLAB, are compared as the integers they are); a fractional or non-finite
float label, or numbers on one side and strings on the other (which would
never match), is refused.
"""
from __future__ import annotations

from typing import Optional, Tuple

import numpy as np
import torch

__all__ = [
    "DEFAULT_RANKS",
    "METRICS",
    "as_tensor",
    "check_feature_pair",
    "check_finite_features",
    "check_label_pair",
    "check_metric",
    "check_ranks",
    "compute_dtype",
    "first_non_finite",
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
    """``x`` as a tensor: a tensor is detached (same device), an array is wrapped without a copy (but one of
    the other byte order, e.g. a big-endian file's, which torch cannot wrap: that is copied to native order)."""
    if isinstance(x, torch.Tensor):
        return x.detach()
    a = np.asarray(x)
    if not a.dtype.isnative:
        a = a.astype(a.dtype.newbyteorder("="))
    return torch.from_numpy(a)


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
    """(N_q, N_g) of two 2-D numeric feature arrays of one dimension D; ValueError naming the fault otherwise."""
    shapes = []
    for name, f in (("query_features", query_features), ("gallery_features", gallery_features)):
        shape = tuple(f.shape) if hasattr(f, "shape") else np.shape(f)
        if len(shape) != 2:
            raise ValueError(f"{name} must be 2-D (N x D), got shape {shape}")
        if isinstance(f, torch.Tensor):
            if f.is_complex():
                raise ValueError(f"{name} must be real numbers, got dtype {f.dtype}")
        elif np.asarray(f).dtype.kind not in "biuf":
            raise ValueError(f"{name} must be numbers, got dtype {np.asarray(f).dtype}")
        shapes.append(shape)
    (n_q, d_q), (n_g, d_g) = shapes
    if d_q != d_g:
        raise ValueError(f"feature dimensions differ: query {d_q}, gallery {d_g}")
    return n_q, n_g


def first_non_finite(features, block: int = 1 << 22) -> Optional[Tuple[int, int, float]]:
    """(row, column, value) of the first NaN or infinity of a 2-D array or tensor, or None.

    Scanned in blocks of rows (about ``block`` values each), so no full-size mask is ever held.
    """
    t = as_tensor(features)
    if not (t.is_floating_point() or t.is_complex()) or t.ndim != 2 or t.numel() == 0:
        return None
    step = max(1, block // max(1, t.shape[1]))
    for s in range(0, t.shape[0], step):
        bad = ~torch.isfinite(t[s:s + step])
        if bad.any():
            row, col = (int(i) for i in bad.nonzero()[0])
            return s + row, col, t[s + row, col].item()
    return None


def check_finite_features(name: str, features) -> None:
    """ValueError naming ``name``, the row and the column of the first NaN or infinity of ``features``."""
    found = first_non_finite(features)
    if found is not None:
        row, col, value = found
        raise ValueError(f"{name}: row {row} is not finite ({value} in column {col}); features must be finite")


def check_ranks(ranks) -> Tuple[int, ...]:
    """The CMC ranks as a tuple of python ints; ValueError unless a non-empty list of integers >= 1."""
    ranks = tuple(ranks)
    if not ranks:
        raise ValueError("ranks must not be empty")
    for k in ranks:
        if not is_int(k) or k < 1:
            raise ValueError(f"ranks must be positive integers, got {ranks!r}")
    return tuple(int(k) for k in ranks)


def _label_array(name: str, a: np.ndarray) -> np.ndarray:
    """``a`` as int64 (numbers) or str (strings); ValueError naming ``name`` for labels of neither kind or for a
    fractional or non-finite float."""
    if len(a) == 0:  # no labels: of no kind (an empty list is saved as floats)
        return np.zeros(0, np.int64)
    if a.dtype.kind == "O":  # python objects: numbers or strings underneath?
        a = np.asarray(a.tolist())
    if a.dtype.kind == "S":
        try:
            a = np.char.decode(a, "utf-8")
        except UnicodeDecodeError:
            raise ValueError(f"{name}: byte-string labels are not UTF-8") from None
    kind = a.dtype.kind
    if kind in "biu":
        return a.astype(np.int64)
    if kind == "U":
        return a.astype(str)
    if kind == "f":
        with np.errstate(invalid="ignore"):
            bad = np.flatnonzero(~np.isfinite(a) | (np.mod(a, 1) != 0) | (np.abs(a) >= 2.0 ** 63))
        if len(bad):
            raise ValueError(f"{name}: label {a[bad[0]].item()!r} at row {bad[0]} is not a whole number "
                             "(float labels are compared as integers)")
        return a.astype(np.int64)
    raise ValueError(f"{name}: labels must be numbers or strings, got dtype {a.dtype}")


def check_label_pair(name: str, q, g, n_q: int, n_g: int) -> Tuple[np.ndarray, np.ndarray]:
    """Query/gallery labels as int64 arrays of the right lengths.

    Numbers (integers, or floats that are whole numbers) are compared as integers; strings are
    mapped to integers jointly over query and gallery, so equality is preserved. Numbers on one
    side and strings on the other are refused: they would never match.
    """
    q = to_numpy(q)
    g = to_numpy(g)
    if q.ndim != 1 or g.ndim != 1:
        raise ValueError(f"{name}: labels must be 1-D, got shapes {q.shape} and {g.shape}")
    if len(q) != n_q:
        raise ValueError(f"q_{name}: {len(q)} labels for {n_q} query features")
    if len(g) != n_g:
        raise ValueError(f"g_{name}: {len(g)} labels for {n_g} gallery features")
    q = _label_array(f"q_{name}", q)
    g = _label_array(f"g_{name}", g)
    if q.dtype == np.int64 and g.dtype == np.int64:
        return q, g
    if (q.dtype == np.int64) != (g.dtype == np.int64) and len(q) and len(g):  # empty sides have no kind
        kinds = ["numbers" if a.dtype == np.int64 else "strings" for a in (q, g)]
        raise ValueError(f"{name}: query labels are {kinds[0]} but gallery labels are {kinds[1]}; they would "
                         "never match: give one kind on both sides")
    _, inverse = np.unique(np.concatenate([q.astype(str), g.astype(str)]), return_inverse=True)
    inverse = inverse.astype(np.int64).reshape(-1)
    return inverse[: len(q)], inverse[len(q):]
