"""Features files: one ``.npz`` per side (query or gallery).

A file holds ``features`` (N x D, finite numbers), ``pids`` and ``camids``
(N each) and optionally ``clothes`` (N); other arrays are ignored. Arrays are
stored without pickling, so labels are numbers or fixed-width strings.
"""
from __future__ import annotations

import os
import stat
import uuid
from typing import Dict

import numpy as np

from .inputs import first_non_finite, to_numpy

__all__ = ["load_features_npz", "save_features_npz"]


def _checked(name: str, arrays: Dict[str, np.ndarray]) -> dict:
    """``{"features", "pids", "camids", "clothes"}`` from ``arrays`` (``clothes`` None when absent).

    One-line ``ValueError`` naming ``name`` for a missing array, mismatched shapes, no features, features that
    are not numbers or not finite (naming the row), or labels that are neither numbers nor strings.
    """
    for key in ("features", "pids", "camids"):
        if key not in arrays:
            raise ValueError(f"{name}: missing array '{key}'")
    feats = arrays["features"]
    if feats.ndim != 2:
        raise ValueError(f"{name}: array 'features' must be 2-D (N x D), got shape {feats.shape}")
    if feats.dtype.kind not in "biuf":
        raise ValueError(f"{name}: array 'features' must hold numbers, got dtype {feats.dtype}")
    if 0 in feats.shape:  # nothing to rank: every protocol would be undefined and look like a result
        raise ValueError(f"{name}: array 'features' is empty (shape {feats.shape}); a features file needs at "
                         "least one row of at least one number")
    bad = first_non_finite(feats)
    if bad is not None:
        row, col, value = bad
        raise ValueError(f"{name}: array 'features' row {row} is not finite ({value} in column {col})")
    out = {"features": feats}
    for key in ("pids", "camids", "clothes"):
        if key not in arrays:
            out[key] = None
            continue
        a = arrays[key]
        if a.ndim != 1:
            raise ValueError(f"{name}: array '{key}' must be 1-D, got shape {a.shape}")
        if a.dtype.kind not in "biufUSO":
            raise ValueError(f"{name}: array '{key}' must hold numbers or strings, got dtype {a.dtype}")
        if len(a) != len(feats):
            raise ValueError(f"{name}: array '{key}' has length {len(a)}, "
                             f"expected {len(feats)} (rows of 'features')")
        out[key] = a
    return out


def load_features_npz(path) -> dict:
    """Read ``features`` (N x D), ``pids``, ``camids`` and optional ``clothes``.

    Returns ``{"features", "pids", "camids", "clothes"}`` (``clothes`` is
    ``None`` when absent). Raises a one-line ``ValueError`` naming ``path``
    for an unreadable file, a missing array, mismatched shapes or non-finite
    features (naming the row); ``FileNotFoundError`` when nothing is there. A
    path that is not a regular file (a folder, a FIFO, a device) is refused
    before it is opened: a FIFO would block the read.
    """
    name = os.fspath(path)
    try:
        st = os.stat(name)
    except (FileNotFoundError, NotADirectoryError):
        raise FileNotFoundError(name) from None
    except (OSError, ValueError) as exc:
        raise ValueError(f"{name}: cannot read ({getattr(exc, 'strerror', None) or exc})") from None
    if not stat.S_ISREG(st.st_mode):
        raise ValueError(f"{name}: not a regular file ({_kind(st.st_mode)}); give a .npz file")
    try:
        with np.load(name, allow_pickle=False) as data:
            arrays = {k: data[k] for k in data.files}
    except FileNotFoundError:
        raise
    except Exception as exc:  # not an npz, corrupt archive, pickled arrays, ...
        msg = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ValueError(f"{name}: cannot read as .npz ({msg})") from None
    return _checked(name, arrays)


def _kind(mode: int) -> str:
    if stat.S_ISDIR(mode):
        return "a folder"
    if stat.S_ISFIFO(mode):
        return "a FIFO"
    return "a device or socket"


def save_features_npz(path, features, pids, camids, clothes=None) -> None:
    """Write what :func:`load_features_npz` reads: ``features``, ``pids``, ``camids`` (+ ``clothes``).

    Arrays or tensors. The file is written to ``path`` exactly (no ``.npz``
    suffix is added) and atomically: to a temporary file in the same folder,
    then renamed over ``path``, so a reader never sees a partial file. The
    arrays are checked first, with the messages of :func:`load_features_npz`;
    object arrays (which would need pickling) are refused.
    """
    name = os.fspath(path)
    given = {"features": features, "pids": pids, "camids": camids, "clothes": clothes}
    arrays = _checked(name, {k: to_numpy(v) for k, v in given.items() if v is not None})
    arrays = {k: v for k, v in arrays.items() if v is not None}
    for key, a in arrays.items():
        if a.dtype.kind == "O":
            raise ValueError(f"{name}: array '{key}' has dtype object; give numbers or strings")
    folder = os.path.dirname(os.path.abspath(name))
    tmp = os.path.join(folder, f".{os.path.basename(name)}.{uuid.uuid4().hex[:12]}.tmp")
    # O_EXCL: never reuse an existing file; mode 0o666 & ~umask like any new file
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez(f, **arrays)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, name)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
