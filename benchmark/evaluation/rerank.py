"""k-reciprocal re-ranking (Zhong et al., CVPR 2017), memory-conscious.

"Re-ranking Person Re-identification with k-reciprocal Encoding". All
``N = Q + G`` query and gallery items are probes. With ``d`` the original
distance (``cosine``: ``1 - cos`` of L2-normalised features unless
``features_normalized``; ``euclidean``: squared euclidean), clamped at 0:

1. normalisation: ``dn(i, j) = d(i, j) / max_r d(r, i)``. This is what the
   original method does: it divides every column of the N x N matrix by its
   maximum over all N rows and then transposes it (``d`` is symmetric, so the
   max of column ``i`` is also the max of row ``i``). Ranking inside a row is
   unchanged by it. The column maxima are gathered in the same chunked pass
   as the neighbour lists. A column whose max is 0 (all items identical) is
   divided by 1 instead.
2. neighbours: ``nn[i]`` = the nearest items of ``i`` over all N, nearest
   first (``torch.topk`` on chunks of rows); ``N(i, k)`` = its first ``k + 1``
   entries (``i`` itself usually comes first). k-reciprocal set
   ``R(i, k) = {j in N(i, k) : i in N(j, k)}``, computed as the pattern of
   ``A_k * A_k^T`` with ``A_k`` the sparse 0/1 neighbour matrix.
3. expansion: ``R*(i) = R(i, k1)`` joined with ``R(c, round(k1/2))`` for every
   ``c in R(i, k1)`` with ``|R(c, round(k1/2)) & R(i, k1)| > 2/3 |R(c, round(k1/2))|``
   (the counts for all pairs come from one sparse product); ``V[i, j] =
   exp(-dn(i, j))`` over ``j in R*(i)``, normalised to sum 1 (scipy CSR). The
   distances of the expanded pairs are recomputed from the features, because
   they need not be among ``i``'s nearest neighbours.
4. local query expansion (``k2 > 1``): ``V[i] <- mean of V[j]`` over the ``k2``
   nearest items of ``i`` (first ``k2`` entries of ``nn[i]``), a sparse product.
5. Jaccard distance ``1 - m / (2 - m)`` with ``m(i, j) = sum_k min(V[i, k],
   V[j, k])`` (rows sum to 1, so ``sum_k max = 2 - m``). For a chunk of
   queries, every non-zero ``V[i, k]`` is joined with the non-zeros of column
   ``k`` of the gallery rows (CSC), so only pairs sharing a support element
   are touched, in slices of at most ``_PAIR_BUDGET`` pairs.
6. ``final = (1 - lambda) * jaccard + lambda * dn``, query rows x gallery
   columns.

``round`` is Python's (half to even), like ``np.around`` in the original code;
``k1 + 1`` or ``k2`` beyond N are clamped to N as slicing does there. Ties in
distance may pick neighbours in a different order than ``np.argsort``.

Memory, besides the features (N x D) and the output block: one
``chunk x N`` distance block (pass 1, one ``chunk x G`` block later), the
neighbour indices N x max(k1 + 1, k2) (int64), the sparse k-reciprocal sets
(<= N (k1 + 1) entries each), ``V`` with ``N * E`` entries (E = mean expanded
set size, at most ``(k1 + 1)(round(k1/2) + 1)``, in practice ~1-3 k1) and
after query expansion at most ``N * k2 * E`` entries (plus the gallery part
again as CSC), the ``chunk x G`` float64 Jaccard accumulator and the pair
buffers (``_PAIR_BUDGET`` pairs, ~50 bytes each). Nothing is N x N.
The test oracle, ``rerank_dense_reference`` (the plain O(N^2) dense version),
lives in ``tests/benchmark/evaluation/oracles.py``.
"""
from __future__ import annotations

from typing import Iterator, Optional, Tuple

import numpy as np
import scipy.sparse as sp
import torch

from .inputs import as_tensor, check_feature_pair, check_metric, compute_dtype, is_int

__all__ = ["k_reciprocal_distances", "rerank_matrix"]

# Target bytes of one (chunk x N) distance block when chunk_size is None.
_BLOCK_BYTES = 64 * 2**20
# Rows per chunk for the sparse set computations (steps 2-3).
_SPARSE_ROWS = 4096
# Most (query non-zero, gallery non-zero) pairs materialised at once in step 5.
_PAIR_BUDGET = 2**20
# Most feature elements gathered at once when computing listed pair distances.
_GATHER_ELEMENTS = 2**22


# --------------------------------------------------------------------------
# argument handling (also used by the test oracle)
# --------------------------------------------------------------------------
def _check_args(query_features, gallery_features, k1, k2, lambda_value, metric, chunk_size):
    if not is_int(k1) or k1 < 1:
        raise ValueError(f"k1 must be an integer >= 1, got {k1!r}")
    if not is_int(k2) or k2 < 1:
        raise ValueError(f"k2 must be an integer >= 1, got {k2!r}")
    if isinstance(lambda_value, bool):
        raise ValueError(f"lambda_value must be a number in [0, 1], got {lambda_value!r}")
    try:
        lam = float(lambda_value)
    except (TypeError, ValueError):
        raise ValueError(f"lambda_value must be a number in [0, 1], got {lambda_value!r}") from None
    if not 0.0 <= lam <= 1.0:  # also rejects nan
        raise ValueError(f"lambda_value must be in [0, 1], got {lambda_value!r}")
    check_metric(metric)
    if chunk_size is not None and (not is_int(chunk_size) or chunk_size < 1):
        raise ValueError(f"chunk_size must be a positive integer or None, got {chunk_size!r}")
    check_feature_pair(query_features, gallery_features)
    return int(k1), int(k2), lam


def _prepare_features(query_features, gallery_features, metric, features_normalized):
    """All N features stacked (queries first), their squared norms (euclidean) or None."""
    qf = as_tensor(query_features).cpu()
    gf = as_tensor(gallery_features).cpu()
    dtype = compute_dtype(qf, gf)
    feats = torch.cat([qf.to(dtype), gf.to(dtype)], dim=0).contiguous()
    if metric == "cosine":
        if not features_normalized:
            feats = torch.nn.functional.normalize(feats, p=2, dim=1)
        return feats, None
    return feats, feats.pow(2).sum(1)


def _distance_block(feats: torch.Tensor, sq: Optional[torch.Tensor], rows: slice,
                    cols: slice) -> torch.Tensor:
    """d(rows, cols), clamped at 0."""
    a, b = feats[rows], feats[cols]
    if sq is None:  # cosine: 1 - a.b
        d = torch.addmm(torch.ones((), dtype=feats.dtype), a, b.t(), alpha=-1.0)
    else:  # squared euclidean: |a|^2 + |b|^2 - 2 a.b
        d = torch.addmm(sq[cols].unsqueeze(0), a, b.t(), alpha=-2.0)
        d.add_(sq[rows].unsqueeze(1))
    return d.clamp_min_(0.0)


def _pair_distances(feats: torch.Tensor, sq: Optional[torch.Tensor], rows: np.ndarray,
                    cols: np.ndarray) -> np.ndarray:
    """d(rows[e], cols[e]) for listed pairs (float64), same formula as :func:`_distance_block`."""
    out = np.empty(len(rows), dtype=np.float64)
    batch = max(1, _GATHER_ELEMENTS // max(1, feats.shape[1]))
    for s in range(0, len(rows), batch):
        r = torch.from_numpy(rows[s:s + batch])
        c = torch.from_numpy(cols[s:s + batch])
        dot = (feats[r] * feats[c]).sum(1)
        if sq is None:
            d = 1.0 - dot
        else:
            d = sq[r] + sq[c] - 2.0 * dot
        out[s:s + batch] = d.clamp_min_(0.0).double().numpy()
    return out


# --------------------------------------------------------------------------
# steps 1-4: the sparse k-reciprocal feature V (N x N CSR, float64)
# --------------------------------------------------------------------------
def _neighbours_and_colmax(feats, sq, width: int, chunk: int) -> Tuple[np.ndarray, np.ndarray]:
    """``width`` nearest items of every row (N x width int64) and the column maxima of d."""
    n = feats.shape[0]
    nn = np.empty((n, width), dtype=np.int64)
    colmax = torch.zeros(n, dtype=feats.dtype)
    for s in range(0, n, chunk):
        e = min(n, s + chunk)
        d = _distance_block(feats, sq, slice(s, e), slice(0, n))
        torch.maximum(colmax, d.amax(0), out=colmax)
        nn[s:e] = torch.topk(d, width, dim=1, largest=False, sorted=True).indices.numpy()
        del d
    colmax = colmax.double().numpy()
    colmax[colmax <= 0] = 1.0
    return nn, colmax


def _reciprocal_sets(nn: np.ndarray, k: int) -> sp.csr_matrix:
    """0/1 CSR of R(i, k): j in N(i, k) and i in N(j, k) (N(i, k) = first k + 1 neighbours)."""
    n = nn.shape[0]
    m = min(k + 1, nn.shape[1])
    rows = np.repeat(np.arange(n, dtype=np.int64), m)
    a = sp.csr_matrix((np.ones(n * m, dtype=np.int32), (rows, nn[:, :m].reshape(-1))), shape=(n, n))
    r = a.multiply(a.T).tocsr()
    r.eliminate_zeros()
    r.sort_indices()
    return r


def _expanded_v(nn, k1, colmax, feats, sq) -> sp.csr_matrix:
    """Steps 2-3: V[i, j] = exp(-dn(i, j)) over the expanded k-reciprocal set, rows sum to 1."""
    n = nn.shape[0]
    r = _reciprocal_sets(nn, k1)
    rh = _reciprocal_sets(nn, int(round(k1 / 2.0)))
    rh_len = np.diff(rh.indptr).astype(np.int64)
    rh_t = rh.T.tocsr()
    parts = []
    for s in range(0, n, _SPARSE_ROWS):
        e = min(n, s + _SPARSE_ROWS)
        rc = r[s:e]
        # counts[i, c] = |R(i, k1) & R(c, k1/2)|, kept only for candidates c in R(i, k1)
        counts = (rc @ rh_t).multiply(rc).tocoo()
        ok = 3 * counts.data.astype(np.int64) > 2 * rh_len[counts.col]  # count > 2/3 |R(c, k1/2)|
        chosen = sp.csr_matrix((np.ones(int(ok.sum()), dtype=np.int32), (counts.row[ok], counts.col[ok])),
                               shape=(e - s, n))
        expanded = (rc + chosen @ rh).tocsr()  # pattern = union of the sets
        expanded.sum_duplicates()
        expanded.sort_indices()
        row_of = np.repeat(np.arange(s, e, dtype=np.int64), np.diff(expanded.indptr))
        cols = expanded.indices.astype(np.int64)
        w = np.exp(-_pair_distances(feats, sq, row_of, cols) / colmax[row_of])
        sums = np.add.reduceat(w, expanded.indptr[:-1]) if len(w) else np.zeros(0)
        w /= np.repeat(sums, np.diff(expanded.indptr))
        parts.append(sp.csr_matrix((w, expanded.indices, expanded.indptr), shape=(e - s, n)))
    return sp.vstack(parts, format="csr")


def _sparse_v(feats, sq, k1, k2, chunk) -> Tuple[sp.csr_matrix, np.ndarray]:
    """Steps 1-4: the (query-expanded) V and the column maxima of d."""
    n = feats.shape[0]
    width = min(n, max(k1 + 1, k2))
    nn, colmax = _neighbours_and_colmax(feats, sq, width, chunk)
    v = _expanded_v(nn, k1, colmax, feats, sq)
    if k2 != 1:  # the original skips query expansion for k2 == 1
        m = min(k2, n)
        rows = np.repeat(np.arange(n, dtype=np.int64), m)
        avg = sp.csr_matrix((np.full(n * m, 1.0 / m), (rows, nn[:, :m].reshape(-1))), shape=(n, n))
        v = (avg @ v).tocsr()
    v.sum_duplicates()
    v.eliminate_zeros()
    return v, colmax


# --------------------------------------------------------------------------
# step 5: sum_k min(V[i, k], V[j, k]) by a sparse join
# --------------------------------------------------------------------------
def _min_overlap(vq: sp.csr_matrix, vg_csc: sp.csc_matrix, n_g: int) -> np.ndarray:
    """(rows of vq) x n_g dense array of sum_k min(vq[i, k], vg[j, k])."""
    c = vq.shape[0]
    acc = np.zeros(c * n_g, dtype=np.float64)
    q_rows = np.repeat(np.arange(c, dtype=np.int64), np.diff(vq.indptr))
    ks = vq.indices.astype(np.int64)
    a = vq.data
    g_ptr = vg_csc.indptr.astype(np.int64)
    cnt = g_ptr[ks + 1] - g_ptr[ks]
    keep = cnt > 0
    q_rows, ks, a, cnt = q_rows[keep], ks[keep], a[keep], cnt[keep]
    if len(cnt) == 0:
        return acc.reshape(c, n_g)
    cum = np.cumsum(cnt)
    start = 0
    while start < len(cnt):
        base = cum[start - 1] if start else 0
        stop = max(start + 1, int(np.searchsorted(cum, base + _PAIR_BUDGET, side="right")))
        cs = cnt[start:stop]
        total = int(cum[stop - 1] - base)
        excl = cum[start:stop] - cs - base  # first pair slot of each non-zero
        pos = np.repeat(g_ptr[ks[start:stop]] - excl, cs) + np.arange(total, dtype=np.int64)
        j = vg_csc.indices[pos]
        w = np.minimum(np.repeat(a[start:stop], cs), vg_csc.data[pos])
        key = np.repeat(q_rows[start:stop] * n_g, cs) + j
        acc += np.bincount(key, weights=w, minlength=c * n_g)
        start = stop
    return acc.reshape(c, n_g)


# --------------------------------------------------------------------------
# public API
# --------------------------------------------------------------------------
@torch.inference_mode()
def k_reciprocal_distances(query_features, gallery_features, *, k1: int = 20, k2: int = 6,
                           lambda_value: float = 0.3, metric: str = "cosine",
                           features_normalized: bool = False,
                           chunk_size: Optional[int] = None
                           ) -> Iterator[Tuple[int, int, torch.Tensor]]:
    """Re-ranked query x gallery distances, in blocks of queries.

    Yields ``(start, stop, dist)`` in query order, covering every query, with
    ``dist`` the ``(stop - start) x G`` float32 distances of queries
    ``start..stop-1`` to the whole gallery. ``chunk_size`` is the number of
    rows per distance block (default: about 64 MiB of ``rows x N`` distances).
    Features are torch tensors (or arrays) on the CPU; the computation is done
    in float32 unless either side is float64. Arguments are checked when this
    is called, before the first block is asked for.
    """
    k1, k2, lam = _check_args(query_features, gallery_features, k1, k2, lambda_value, metric,
                              chunk_size)
    feats, sq = _prepare_features(query_features, gallery_features, metric, features_normalized)
    n_q = int(np.shape(query_features)[0]) if not hasattr(query_features, "shape") \
        else int(query_features.shape[0])
    return _blocks(feats, sq, n_q, k1, k2, lam, chunk_size)


def _blocks(feats, sq, n_q, k1, k2, lam, chunk_size):
    # torch.inference_mode does not follow into a generator's body
    with torch.inference_mode():
        n = feats.shape[0]
        n_g = n - n_q
        if n_q == 0:
            return
        if n_g == 0:
            for s in range(0, n_q, chunk_size or n_q):
                e = min(n_q, s + (chunk_size or n_q))
                yield s, e, torch.zeros((e - s, 0), dtype=torch.float32)
            return
        chunk = chunk_size or max(1, _BLOCK_BYTES // (n * feats.element_size()))
        v, colmax = _sparse_v(feats, sq, k1, k2, chunk)
        vg = v[n_q:].tocsc()
        vg.sort_indices()
        for s in range(0, n_q, chunk):
            e = min(n_q, s + chunk)
            m = _min_overlap(v[s:e], vg, n_g)
            jaccard = 1.0 - m / (2.0 - m)
            orig = _distance_block(feats, sq, slice(s, e), slice(n_q, n)).double().numpy()
            orig /= colmax[s:e, None]
            final = (1.0 - lam) * jaccard + lam * orig
            yield s, e, torch.from_numpy(final.astype(np.float32))


def rerank_matrix(query_features, gallery_features, *, k1: int = 20, k2: int = 6,
                  lambda_value: float = 0.3, metric: str = "cosine",
                  features_normalized: bool = False, chunk_size: Optional[int] = None) -> torch.Tensor:
    """The full Q x G float32 re-ranked distance matrix (for small problems and tests)."""
    n_g = int(np.shape(gallery_features)[0]) if not hasattr(gallery_features, "shape") \
        else int(gallery_features.shape[0])
    blocks = [b for _, _, b in k_reciprocal_distances(
        query_features, gallery_features, k1=k1, k2=k2, lambda_value=lambda_value, metric=metric,
        features_normalized=features_normalized, chunk_size=chunk_size)]
    if not blocks:
        return torch.zeros((0, n_g), dtype=torch.float32)
    return torch.cat(blocks, dim=0)
