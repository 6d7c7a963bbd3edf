"""Test oracles for benchmark.evaluation: slow, plain implementations of the same definitions.

* :func:`evaluate_reference`: :func:`benchmark.evaluation.metrics.evaluate` by a
  per-query numpy loop (full stable argsort of each query's distances);
* :func:`rerank_dense_reference`: k-reciprocal re-ranking on dense N x N
  matrices, as the original code does.

They share with the library only its argument checks (so they raise the same
errors) and the assembly of the result dict, never its algorithms. Test code,
not part of the library: tests import it as ``tests.benchmark.evaluation.oracles``.
"""
from __future__ import annotations

from typing import Dict, Optional, Sequence

import numpy as np

from benchmark.evaluation import metrics, rerank
from benchmark.evaluation.inputs import DEFAULT_RANKS, as_tensor, to_numpy

__all__ = ["evaluate_reference", "rerank_dense_reference"]


def evaluate_reference(query_features, gallery_features, q_pids, g_pids, q_camids, g_camids,
                       q_clothes=None, g_clothes=None, *, metric: str = "cosine",
                       ranks: Sequence[int] = DEFAULT_RANKS, chunk_size: Optional[int] = None,
                       device=None, features_normalized: bool = False
                       ) -> Dict[str, Optional[dict]]:
    """Same results as :func:`benchmark.evaluation.metrics.evaluate`, by a plain per-query numpy loop.

    ``chunk_size`` and ``device`` are accepted for signature compatibility and
    ignored.
    """
    n_q, n_g, labels, protocols, ranks = metrics._prepare(
        query_features, gallery_features, q_pids, g_pids, q_camids, g_camids,
        q_clothes, g_clothes, metric, ranks)
    qf = to_numpy(query_features).astype(np.float64)
    gf = to_numpy(gallery_features).astype(np.float64)
    if metric == "cosine" and not features_normalized:
        qf = qf / np.maximum(np.linalg.norm(qf, axis=1, keepdims=True), 1e-12)
        gf = gf / np.maximum(np.linalg.norm(gf, axis=1, keepdims=True), 1e-12)
    qp, gp = labels["pids"]
    qc, gc = labels["camids"]
    qk, gk = labels.get("clothes", (np.zeros(n_q, np.int64), np.zeros(n_g, np.int64)))

    stats = {p: {"valid": 0, "skipped": 0, "ap": 0.0, "inp": 0.0, "cmc": [0] * len(ranks)}
             for p in protocols}
    for i in range(n_q):
        if metric == "cosine":
            dist = -(gf @ qf[i])
        else:
            dist = ((gf - qf[i]) ** 2).sum(axis=1)
        order = np.argsort(dist, kind="stable")
        same_pid = gp[order] == qp[i]
        same_cam = gc[order] == qc[i]
        same_clo = gk[order] == qk[i]
        for p in protocols:
            if p == "general":
                good = same_pid & ~same_cam
                junk = same_pid & same_cam
            elif p == "cc":
                good = same_pid & ~same_cam & ~same_clo
                junk = same_pid & (same_cam | same_clo)
            else:
                good = same_pid & ~same_cam & same_clo
                junk = same_pid & (same_cam | ~same_clo)
            hits = np.flatnonzero(good[~junk])  # 0-based ranks in the junk-free list
            s = stats[p]
            if hits.size == 0:
                s["skipped"] += 1
                continue
            n = hits.size
            s["valid"] += 1
            s["ap"] += float(np.mean(np.arange(1, n + 1) / (hits + 1)))
            s["inp"] += n / (hits[-1] + 1)
            for j, k in enumerate(ranks):
                s["cmc"][j] += int(hits[0] < k)
    return {p: metrics._summarise(ranks, s["valid"], s["skipped"], s["cmc"], s["ap"], s["inp"])
            for p, s in stats.items()}


def rerank_dense_reference(query_features, gallery_features, *, k1: int = 20, k2: int = 6,
                            lambda_value: float = 0.3, metric: str = "cosine",
                            features_normalized: bool = False) -> np.ndarray:
    """Plain O(N^2) numpy version of :func:`benchmark.evaluation.rerank.rerank_matrix` (float64), Q x G.

    Follows the definition in the module docstring of :mod:`benchmark.evaluation.rerank` step by step.
    """
    k1, k2, lam = rerank._check_args(query_features, gallery_features, k1, k2, lambda_value, metric, None)
    qf = as_tensor(query_features).cpu().double().numpy()
    gf = as_tensor(gallery_features).cpu().double().numpy()
    n_q = qf.shape[0]
    x = np.concatenate([qf, gf], axis=0)
    n = x.shape[0]
    if metric == "cosine":
        if not features_normalized:
            x = x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)
        dist = 1.0 - x @ x.T
    else:
        dist = ((x[:, None, :] - x[None, :, :]) ** 2).sum(-1)
    dist = np.maximum(dist, 0.0)
    colmax = dist.max(axis=0)
    colmax[colmax <= 0] = 1.0
    dist = (dist / colmax[None, :]).T  # as the original: normalise columns, then transpose
    rank = np.argsort(dist, axis=1, kind="stable")

    def k_reciprocal(i, k):
        forward = rank[i, :k + 1]
        return [j for j in forward if i in rank[j, :k + 1]]

    half = int(round(k1 / 2.0))
    v = np.zeros((n, n))
    for i in range(n):
        r_i = k_reciprocal(i, k1)
        expanded = set(r_i)
        for c in r_i:
            r_c = k_reciprocal(c, half)
            if len(set(r_c) & set(r_i)) > 2.0 / 3.0 * len(r_c):
                expanded.update(r_c)
        idx = np.array(sorted(expanded))
        w = np.exp(-dist[i, idx])
        v[i, idx] = w / w.sum()
    if k2 != 1:
        v = np.stack([v[rank[i, :k2]].mean(axis=0) for i in range(n)])
    jaccard = np.zeros((n_q, n - n_q))
    for i in range(n_q):
        m = np.minimum(v[i][None, :], v[n_q:]).sum(axis=1)
        jaccard[i] = 1.0 - m / (2.0 - m)
    return (1.0 - lam) * jaccard + lam * dist[:n_q, n_q:]
