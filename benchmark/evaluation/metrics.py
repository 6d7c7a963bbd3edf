"""Re-identification ranking metrics: CMC top-k, mAP and mINP.

Protocols (docs/reference-facts.md, E). For a query, a gallery item of the same
person is

* ``general``: good if it comes from a different camera, junk otherwise;
* ``cc`` (clothes-changing): good if different camera *and* different
  clothes, junk if same camera *or* same clothes;
* ``sc`` (same-clothes): good if different camera *and* same clothes, junk if
  same camera *or* different clothes.

Items of other persons are negatives whatever their camera. Junk items are
removed from the ranked list before scoring. A query without any good item is
skipped (and counted); a protocol without any valid query is undefined and is
returned as ``None``, never as 0.

On the ranked, junk-free list (0-based positions ``r_0 < r_1 < ...`` of the
``n`` good items):

* CMC(k) = fraction of valid queries with ``r_0 < k``;
* AP = (1/n) * sum_i (i + 1) / (r_i + 1)   (non-interpolated);
* INP = n / (r_{n-1} + 1);   mAP / mINP average over valid queries.

The gallery is ranked by ascending distance with a stable sort, so equal
distances keep gallery order. ``metric="cosine"`` uses ``-cos`` (features are
L2-normalised first unless ``features_normalized``); ``metric="euclidean"``
uses the squared euclidean distance.

:func:`evaluate` processes queries in chunks (one matrix product and one
values-only sort per chunk, shared by the three protocols) and never holds the
full query x gallery matrix. Only the same-person entries of a chunk are
ranked (binary search in the sorted row, plus a count of equal distances at
earlier gallery indices, which is what a stable sort gives) and turned into a
sparse list, on which every protocol is scored without per-query Python
loops. The test oracle, ``evaluate_reference`` (a plain per-query loop), lives
in ``tests/benchmark/evaluation/oracles.py``.

Input checks are in :mod:`.inputs`, the text table in :mod:`.report` and the
features files in :mod:`.features_io`.
"""
from __future__ import annotations

from typing import Dict, Optional, Sequence

import numpy as np
import torch

from .inputs import (
    DEFAULT_RANKS,
    METRICS,
    as_tensor,
    check_feature_pair,
    check_finite_features,
    check_label_pair,
    check_metric,
    check_ranks,
    compute_dtype,
)
from .rerank import k_reciprocal_distances

__all__ = [
    "METRICS",
    "PROTOCOLS",
    "evaluate",
]

PROTOCOLS = ("general", "cc", "sc")
CLOTHES_PROTOCOLS = ("cc", "sc")  # the protocols that need clothes labels

# Target size of one chunk's (chunk x gallery) working set: the distance
# block, its sorted copy and the same-person mask (budgeted as 8 bytes). Tests monkeypatch this to force tiny chunks.
_CHUNK_BYTES = 256 * 2**20


# --------------------------------------------------------------------------
# argument handling (also used by the test oracle)
# --------------------------------------------------------------------------
def _prepare(query_features, gallery_features, q_pids, g_pids, q_camids, g_camids,
             q_clothes, g_clothes, metric, ranks):
    check_metric(metric)
    ranks = check_ranks(ranks)
    n_q, n_g = check_feature_pair(query_features, gallery_features)
    check_finite_features("query_features", query_features)
    check_finite_features("gallery_features", gallery_features)
    if (q_clothes is None) != (g_clothes is None):
        raise ValueError("give both q_clothes and g_clothes, or neither")
    labels = {
        "pids": check_label_pair("pids", q_pids, g_pids, n_q, n_g),
        "camids": check_label_pair("camids", q_camids, g_camids, n_q, n_g),
    }
    if q_clothes is not None:
        labels["clothes"] = check_label_pair("clothes", q_clothes, g_clothes, n_q, n_g)
    protocols = PROTOCOLS if "clothes" in labels else ("general",)
    return n_q, n_g, labels, protocols, ranks


def _summarise(ranks, n_valid, n_skipped, cmc_hits, ap_sum, inp_sum) -> Optional[dict]:
    if n_valid == 0:
        return None
    out = {f"top{k}": float(h) / n_valid for k, h in zip(ranks, cmc_hits)}
    out["mAP"] = float(ap_sum) / n_valid
    out["mINP"] = float(inp_sum) / n_valid
    out["valid_queries"] = int(n_valid)
    out["skipped_queries"] = int(n_skipped)
    return out


# --------------------------------------------------------------------------
# fast chunked implementation
# --------------------------------------------------------------------------
def _auto_chunk_size(n_gallery: int, dist_itemsize: int) -> int:
    """Rows per chunk so that distances + int64 sort indices fit ``_CHUNK_BYTES``."""
    per_row = max(1, n_gallery) * (dist_itemsize + 8)
    return max(1, int(_CHUNK_BYTES // per_row))


def _distance_block(q: torch.Tensor, g: torch.Tensor, g_aux: Optional[torch.Tensor],
                    metric: str) -> torch.Tensor:
    """(chunk x gallery) distances.

    cosine: ``q`` is L2-normalised; ``g_aux`` is ``-1/|g|`` per gallery row, or
    ``None`` when ``g`` is already normalised (scaling the product column-wise
    avoids a normalised copy of the whole gallery). euclidean: ``g_aux`` is
    ``|g|^2`` and the result is the squared distance.
    """
    if metric == "cosine":
        d = torch.mm(q, g.t())
        return d.neg_() if g_aux is None else d.mul_(g_aux.unsqueeze(0))
    # squared euclidean: |q|^2 + |g|^2 - 2 q.g
    d = torch.addmm(g_aux.unsqueeze(0), q, g.t(), alpha=-2.0)
    return d.add_(q.pow(2).sum(1, keepdim=True))


def _segment_exclusive_cumsum(flags: torch.Tensor, seg_base_index: torch.Tensor) -> torch.Tensor:
    """Per-entry count of set ``flags`` earlier in the same row segment.

    Entries are in row-major order; ``seg_base_index[e]`` is the flat index of
    the first entry of ``e``'s row.
    """
    f = flags.long()
    excl = torch.cumsum(f, 0) - f
    return excl - excl[seg_base_index]


def _sorted_rows(dist: torch.Tensor) -> torch.Tensor:
    """Each row's distances in ascending order (values only).

    On the CPU numpy's vectorised sort is about 10x faster than ``torch.sort``,
    which also builds indices that are not needed here.
    """
    if dist.device.type == "cpu":
        return torch.from_numpy(np.sort(dist.numpy(), axis=1))
    return torch.sort(dist, dim=1).values


def _ranked_positions(dist: torch.Tensor, rows: torch.Tensor, gidx: torch.Tensor,
                      tie_block: int = 256) -> torch.Tensor:
    """0-based position of gallery item ``gidx[e]`` in the stable ranking of row ``rows[e]``.

    position = #(distances < d) + #(earlier gallery items with a distance equal to d),
    which is exactly the index a stable sort would give; only the listed entries
    (the same-person ones) are ranked, so no (chunk x gallery) index matrix is built.
    """
    c = dist.shape[0]
    sorted_d = _sorted_rows(dist)
    values = dist[rows, gidx]
    counts = torch.bincount(rows, minlength=c)
    width = int(counts.max()) if len(rows) else 0
    slot = torch.arange(len(rows), device=dist.device) - (torch.cumsum(counts, 0) - counts)[rows]
    padded = torch.full((c, max(width, 1)), float("inf"), dtype=dist.dtype, device=dist.device)
    padded[rows, slot] = values
    lower = torch.searchsorted(sorted_d, padded, right=False)[rows, slot]
    upper = torch.searchsorted(sorted_d, padded, right=True)[rows, slot]
    pos = lower.clone()
    tied = torch.nonzero(upper - lower > 1).flatten()  # equal distances elsewhere in the row: count earlier ones
    for s in range(0, len(tied), tie_block):
        e = tied[s:s + tie_block]
        earlier = torch.arange(dist.shape[1], device=dist.device)[None, :] < gidx[e, None]
        pos[e] += ((dist[rows[e]] == values[e, None]) & earlier).sum(dim=1)
    return pos


def _score_chunk(dist: torch.Tensor, q_lab: dict, g_lab: dict, protocols, ranks, acc: dict) -> None:
    """Add one chunk's CMC / AP / INP sums to ``acc`` for every protocol.

    ``dist``: (c x G) distances. Only same-person entries matter to every protocol,
    so they alone are ranked (:func:`_ranked_positions`) and put in ranked order.
    """
    c, n_g = dist.shape
    dev = dist.device
    rows, gidx = (q_lab["pids"][:, None] == g_lab["pids"][None, :]).nonzero(as_tuple=True)
    cols = _ranked_positions(dist, rows, gidx)
    order = torch.argsort(rows * n_g + cols)  # row-major, ranked order within each row
    rows, cols, gidx = rows[order], cols[order], gidx[order]
    counts = torch.bincount(rows, minlength=c)
    starts = torch.cumsum(counts, 0) - counts
    base = starts[rows]
    same_cam = q_lab["camids"][rows] == g_lab["camids"][gidx]
    if "clothes" in q_lab:
        same_clo = q_lab["clothes"][rows] == g_lab["clothes"][gidx]
    for proto in protocols:
        if proto == "general":
            good = ~same_cam
            junk = same_cam
        elif proto == "cc":
            good = ~same_cam & ~same_clo
            junk = same_cam | same_clo
        else:  # sc
            good = ~same_cam & same_clo
            junk = same_cam | ~same_clo
        # position of each entry in the junk-free ranked list
        pos = cols - _segment_exclusive_cumsum(junk, base)
        ordinal = _segment_exclusive_cumsum(good, base) + 1  # i + 1 for good hits
        g_rows = rows[good]
        g_pos = pos[good]
        g_ord = ordinal[good]
        n_good = torch.bincount(g_rows, minlength=c)
        valid = n_good > 0
        ap = torch.zeros(c, dtype=torch.float64, device=dev)
        ap.index_add_(0, g_rows, g_ord.double() / (g_pos + 1).double())
        first = torch.full((c,), n_g, dtype=torch.long, device=dev)
        first.scatter_reduce_(0, g_rows, g_pos, reduce="amin")
        last = torch.zeros(c, dtype=torch.long, device=dev)
        last.scatter_reduce_(0, g_rows, g_pos, reduce="amax")
        nv = n_good[valid].double()
        a = acc[proto]
        a["valid"] += int(valid.sum())
        a["skipped"] += int(c - valid.sum())
        a["ap"] += float((ap[valid] / nv).sum())
        a["inp"] += float((nv / (last[valid] + 1).double()).sum())
        fv = first[valid]
        for j, k in enumerate(ranks):
            a["cmc"][j] += int((fv < k).sum())


@torch.inference_mode()
def evaluate(query_features, gallery_features, q_pids, g_pids, q_camids, g_camids,
             q_clothes=None, g_clothes=None, *, metric: str = "cosine",
             ranks: Sequence[int] = DEFAULT_RANKS, chunk_size: Optional[int] = None,
             device=None, features_normalized: bool = False,
             rerank: bool = False, rerank_params: Optional[dict] = None) -> Dict[str, Optional[dict]]:
    """Score a query set against a gallery under the re-id protocols.

    ``rerank``: rank by k-reciprocal re-ranked distances (:mod:`benchmark.evaluation.rerank`,
    parameters ``k1``, ``k2``, ``lambda_value`` in ``rerank_params``), computed on the
    CPU in the same query chunks.

    Returns ``{"general": r, "cc": r, "sc": r}`` (``cc``/``sc`` only when both
    clothes arrays are given); ``r`` is ``None`` when no query is valid, else a
    dict with ``top<k>`` per rank, ``mAP``, ``mINP`` (fractions) and
    ``valid_queries`` / ``skipped_queries``.
    """
    n_q, n_g, labels, protocols, ranks = _prepare(
        query_features, gallery_features, q_pids, g_pids, q_camids, g_camids,
        q_clothes, g_clothes, metric, ranks)
    if device is None:
        device = "cuda" if torch.cuda.is_available() else "cpu"
    device = torch.device(device)

    qf = as_tensor(query_features)
    gf = as_tensor(gallery_features)
    dtype = compute_dtype(qf, gf)
    qf = qf.to(device=device, dtype=dtype)
    gf = gf.to(device=device, dtype=dtype)
    normalize_q = metric == "cosine" and not features_normalized
    if metric == "euclidean":
        g_aux = gf.pow(2).sum(1)
    elif features_normalized:
        g_aux = None
    else:  # same eps rule as torch.nn.functional.normalize
        g_aux = torch.linalg.vector_norm(gf, dim=1).clamp_min_(1e-12).reciprocal_().neg_()

    q_lab = {k: torch.from_numpy(v[0]).to(device) for k, v in labels.items()}
    g_lab = {k: torch.from_numpy(v[1]).to(device) for k, v in labels.items()}

    if chunk_size is None:
        chunk_size = _auto_chunk_size(n_g, qf.element_size())
    chunk_size = int(chunk_size)
    if chunk_size < 1:
        raise ValueError(f"chunk_size must be >= 1, got {chunk_size}")

    acc = {p: {"valid": 0, "skipped": 0, "ap": 0.0, "inp": 0.0, "cmc": [0] * len(ranks)}
           for p in protocols}
    if n_g == 0:  # every query lacks a good item
        for p in protocols:
            acc[p]["skipped"] = n_q
    elif rerank:
        blocks = k_reciprocal_distances(qf.cpu(), gf.cpu(), metric=metric, features_normalized=features_normalized,
                                        chunk_size=chunk_size, **(rerank_params or {}))
        for s, e, dist in blocks:
            _score_chunk(dist.to(device), {k: v[s:e] for k, v in q_lab.items()}, g_lab, protocols, ranks, acc)
    else:
        for s in range(0, n_q, chunk_size):
            e = min(n_q, s + chunk_size)
            qc = qf[s:e]
            if normalize_q:
                qc = torch.nn.functional.normalize(qc, p=2, dim=1)
            dist = _distance_block(qc, gf, g_aux, metric)
            _score_chunk(dist, {k: v[s:e] for k, v in q_lab.items()}, g_lab, protocols, ranks, acc)
            del dist

    return {p: _summarise(ranks, acc[p]["valid"], acc[p]["skipped"], acc[p]["cmc"],
                          acc[p]["ap"], acc[p]["inp"])
            for p in protocols}
