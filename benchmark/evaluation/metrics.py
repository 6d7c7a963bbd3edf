"""Re-identification ranking metrics: CMC top-k, mAP and mINP.

Protocols (REFERENCE section E). For a query, a gallery item of the same
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
loops. :func:`evaluate_reference` is a plain per-query loop used as the test
oracle.
"""
from __future__ import annotations

import os
from typing import Dict, Optional, Sequence, Tuple

import numpy as np
import torch

__all__ = [
    "PROTOCOLS",
    "evaluate",
    "evaluate_reference",
    "format_table",
    "load_features_npz",
]

PROTOCOLS = ("general", "cc", "sc")
METRICS = ("cosine", "euclidean")
DEFAULT_RANKS = (1, 5, 10, 20)

# Target size of one chunk's (chunk x gallery) working set: the distance
# block, its sorted copy and the same-person mask (budgeted as 8 bytes). Tests monkeypatch this to force tiny chunks.
_CHUNK_BYTES = 256 * 2**20


# --------------------------------------------------------------------------
# input handling (shared by both implementations)
# --------------------------------------------------------------------------
def _to_numpy(x) -> np.ndarray:
    if isinstance(x, torch.Tensor):
        return x.detach().cpu().numpy()
    return np.asarray(x)


def _check_ranks(ranks) -> Tuple[int, ...]:
    ranks = tuple(ranks)
    if not ranks:
        raise ValueError("ranks must not be empty")
    for k in ranks:
        if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
            raise ValueError(f"ranks must be positive integers, got {ranks!r}")
    return tuple(int(k) for k in ranks)


def _label_pair(name: str, q, g, n_q: int, n_g: int) -> Tuple[np.ndarray, np.ndarray]:
    """Query/gallery labels as int64 arrays of the right lengths.

    Non-integer labels (e.g. strings) are mapped to integers jointly over
    query and gallery, so equality is preserved.
    """
    q = _to_numpy(q)
    g = _to_numpy(g)
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


def _prepare(query_features, gallery_features, q_pids, g_pids, q_camids, g_camids,
             q_clothes, g_clothes, metric, ranks):
    if metric not in METRICS:
        raise ValueError(f"metric must be one of {METRICS}, got {metric!r}")
    ranks = _check_ranks(ranks)
    n_q, n_g = check_feature_pair(query_features, gallery_features)
    if (q_clothes is None) != (g_clothes is None):
        raise ValueError("give both q_clothes and g_clothes, or neither")
    labels = {
        "pids": _label_pair("pids", q_pids, g_pids, n_q, n_g),
        "camids": _label_pair("camids", q_camids, g_camids, n_q, n_g),
    }
    if q_clothes is not None:
        labels["clothes"] = _label_pair("clothes", q_clothes, g_clothes, n_q, n_g)
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

    def as_tensor(x):
        return x.detach() if isinstance(x, torch.Tensor) else torch.from_numpy(np.asarray(x))

    qf = as_tensor(query_features)
    gf = as_tensor(gallery_features)
    # float32 unless either side is float64 (then both in float64)
    dtype = torch.float64 if torch.float64 in (qf.dtype, gf.dtype) else torch.float32
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
        from .rerank import k_reciprocal_distances
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


# --------------------------------------------------------------------------
# reference implementation (test oracle)
# --------------------------------------------------------------------------
def evaluate_reference(query_features, gallery_features, q_pids, g_pids, q_camids, g_camids,
                       q_clothes=None, g_clothes=None, *, metric: str = "cosine",
                       ranks: Sequence[int] = DEFAULT_RANKS, chunk_size: Optional[int] = None,
                       device=None, features_normalized: bool = False
                       ) -> Dict[str, Optional[dict]]:
    """Same results as :func:`evaluate`, by a plain per-query numpy loop.

    ``chunk_size`` and ``device`` are accepted for signature compatibility and
    ignored.
    """
    n_q, n_g, labels, protocols, ranks = _prepare(
        query_features, gallery_features, q_pids, g_pids, q_camids, g_camids,
        q_clothes, g_clothes, metric, ranks)
    qf = _to_numpy(query_features).astype(np.float64)
    gf = _to_numpy(gallery_features).astype(np.float64)
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
    return {p: _summarise(ranks, s["valid"], s["skipped"], s["cmc"], s["ap"], s["inp"])
            for p, s in stats.items()}


# --------------------------------------------------------------------------
# presentation and I/O
# --------------------------------------------------------------------------
def format_table(results: Dict[str, Optional[dict]]) -> str:
    """Table of ``evaluate`` results in percent (1 decimal), one row per protocol."""
    from tabulate import tabulate

    rank_keys = None
    for r in results.values():
        if r is not None:
            rank_keys = [k for k in r if k.startswith("top")]
            break
    if rank_keys is None:
        rank_keys = [f"top{k}" for k in DEFAULT_RANKS]
    cols = rank_keys + ["mAP", "mINP"]
    rows = []
    for proto, r in results.items():
        if r is None:
            rows.append([proto] + ["undefined"] * len(cols) + [0])
        else:
            rows.append([proto] + [f"{100.0 * r[c]:.1f}" if c in r else "-" for c in cols]
                        + [r["valid_queries"]])
    return tabulate(rows, headers=["protocol"] + cols + ["valid"], tablefmt="simple",
                    disable_numparse=True, colalign=("left",) + ("right",) * (len(cols) + 1))


def load_features_npz(path) -> dict:
    """Read ``features`` (N x D), ``pids``, ``camids`` and optional ``clothes``.

    Returns ``{"features", "pids", "camids", "clothes"}`` (``clothes`` is
    ``None`` when absent). Raises a one-line ``ValueError`` naming ``path``
    for an unreadable file, a missing array or mismatched shapes.
    """
    name = os.fspath(path)
    try:
        with np.load(name, allow_pickle=False) as data:
            arrays = {k: data[k] for k in data.files}
    except FileNotFoundError:
        raise
    except Exception as exc:  # not an npz, corrupt archive, pickled arrays, ...
        msg = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ValueError(f"{name}: cannot read as .npz ({msg})") from None
    for key in ("features", "pids", "camids"):
        if key not in arrays:
            raise ValueError(f"{name}: missing array '{key}'")
    feats = arrays["features"]
    if feats.ndim != 2:
        raise ValueError(f"{name}: array 'features' must be 2-D (N x D), got shape {feats.shape}")
    out = {"features": feats}
    for key in ("pids", "camids", "clothes"):
        if key not in arrays:
            out[key] = None
            continue
        a = arrays[key]
        if a.ndim != 1:
            raise ValueError(f"{name}: array '{key}' must be 1-D, got shape {a.shape}")
        if len(a) != len(feats):
            raise ValueError(f"{name}: array '{key}' has length {len(a)}, "
                             f"expected {len(feats)} (rows of 'features')")
        out[key] = a
    return out
