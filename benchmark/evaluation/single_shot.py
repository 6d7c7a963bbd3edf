"""Single-shot evaluation: one random gallery item per identity, mean and spread over seeded draws.

Later PRCC papers report single-shot numbers: in each draw the gallery keeps one
item per identity, chosen at random, and the queries are scored against that
reduced gallery with :func:`.metrics.evaluate` (the reference code, multi-shot,
keeps the whole gallery). The draws are averaged.

"One per identity" is one item per gallery *identity*, not per (identity,
camera): the PRCC gallery (camera A) holds one camera only, and the literature
keeps one image per person. On a gallery that shares cameras with the queries a
draw can thus leave a query with only a junk item of its identity; that query is
skipped in that draw (and counted).

Draw ``i`` (0-based) uses ``numpy.random.default_rng(seed + i)`` (:func:`single_shot_indices`),
so the draws depend on ``seed``, the gallery identities and the order of each
identity's items in the gallery, and on nothing else.
"""
from __future__ import annotations

from typing import Dict, Optional

import numpy as np
import torch

from .inputs import as_tensor, check_feature_pair, is_int, to_numpy
from .metrics import evaluate

__all__ = ["evaluate_single_shot", "single_shot_indices"]


def single_shot_indices(g_pids, draw_seed: int) -> np.ndarray:
    """Gallery indices of one draw: one item per identity, uniformly among that identity's items.

    The identities are taken in ascending label order and each draws with
    ``numpy.random.default_rng(draw_seed).integers``; an identity's candidates are its
    items in gallery order. Returns the chosen indices in ascending (gallery) order.
    """
    g_pids = to_numpy(g_pids)
    if g_pids.ndim != 1:
        raise ValueError(f"g_pids must be 1-D, got shape {g_pids.shape}")
    if len(g_pids) == 0:
        return np.zeros(0, dtype=np.int64)
    order = np.argsort(g_pids, kind="stable")
    _, starts, counts = np.unique(g_pids[order], return_index=True, return_counts=True)
    offsets = np.random.default_rng(draw_seed).integers(0, counts)
    return np.sort(order[starts + offsets]).astype(np.int64)


def _take(x, idx: np.ndarray):
    """Rows ``idx`` of an array or tensor (a tensor stays on its device)."""
    if isinstance(x, torch.Tensor):
        return x.detach()[torch.from_numpy(idx).to(x.device)]
    return to_numpy(x)[idx]


def evaluate_single_shot(query_features, gallery_features, q_pids, g_pids, q_camids, g_camids,
                         q_clothes=None, g_clothes=None, *, draws: int = 10, seed: int = 0,
                         **evaluate_kwargs) -> Dict[str, Optional[dict]]:
    """:func:`.metrics.evaluate` on ``draws`` single-shot galleries (:func:`single_shot_indices`).

    ``evaluate_kwargs`` (``metric``, ``ranks``, ``rerank``, ``device``, ...) go to every
    :func:`.metrics.evaluate` call. Returns the same ``{protocol: r}`` dict: ``r`` holds
    each metric (``top<k>``, ``mAP``, ``mINP``) as its mean over the draws, and also
    ``valid_queries`` / ``skipped_queries`` as their *means* over the draws (floats);
    ``r["std"]`` holds the sample standard deviation (ddof 1) of each of these over the
    draws, each ``None`` when fewer than two draws are averaged; ``r["draws"]`` is the
    number of draws averaged. A draw in which a protocol has no valid query is left
    out of that protocol's averages (so ``r["draws"]`` can be below ``draws``); a
    protocol undefined in every draw is ``None``.
    """
    if not is_int(draws) or draws < 1:
        raise ValueError(f"draws must be a positive integer, got {draws!r}")
    if not is_int(seed):
        raise ValueError(f"seed must be an integer, got {seed!r}")
    _, n_g = check_feature_pair(query_features, gallery_features)
    g_pid_arr = to_numpy(g_pids)
    if g_pid_arr.ndim != 1 or len(g_pid_arr) != n_g:
        raise ValueError(f"g_pids: expected {n_g} labels in a 1-D array, got shape {g_pid_arr.shape}")
    gallery = as_tensor(gallery_features)

    runs = []
    for i in range(draws):
        idx = single_shot_indices(g_pid_arr, int(seed) + i)
        runs.append(evaluate(query_features, _take(gallery, idx), q_pids, g_pid_arr[idx], q_camids,
                             _take(g_camids, idx), q_clothes,
                             None if g_clothes is None else _take(g_clothes, idx), **evaluate_kwargs))
    return {proto: _aggregate([r[proto] for r in runs if r[proto] is not None]) for proto in runs[0]}


def _aggregate(results) -> Optional[dict]:
    """Mean of each metric over per-draw results, plus ``std`` (sample, ddof 1) and ``draws``."""
    if not results:
        return None
    out: dict = {}
    std: dict = {}
    for key in results[0]:
        values = np.array([r[key] for r in results], dtype=np.float64)
        out[key] = float(values.mean())
        std[key] = float(values.std(ddof=1)) if len(values) > 1 else None
    out["std"] = std
    out["draws"] = len(results)
    return out
