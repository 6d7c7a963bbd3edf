"""Tests for benchmark.evaluation.rerank (k-reciprocal re-ranking, Zhong et al. CVPR 2017)."""
import math

import numpy as np
import pytest
import torch

from benchmark.evaluation import rerank
from benchmark.evaluation.rerank import k_reciprocal_distances, rerank_matrix
from tests.benchmark.evaluation.oracles import rerank_dense_reference


def random_problem(q, g, d, seed, dtype=np.float64, clusters=None):
    rng = np.random.default_rng(seed)
    if clusters:  # re-id like: identities with several noisy samples each
        centres = rng.normal(size=(clusters, d))
        x = centres[rng.integers(0, clusters, size=q + g)] + 0.7 * rng.normal(size=(q + g, d))
    else:
        x = rng.normal(size=(q + g, d))
    x = x.astype(dtype)
    return torch.from_numpy(x[:q].copy()), torch.from_numpy(x[q:].copy())


def original_normalised(qf, gf, metric):
    """d(q, g) / max over all N items of d(., q), float64."""
    x = torch.cat([qf, gf]).double()
    if metric == "cosine":
        x = torch.nn.functional.normalize(x, dim=1)
        d = (1.0 - x @ x.T).clamp_min(0)
    else:
        d = torch.cdist(x, x).pow(2)
    n_q = qf.shape[0]
    return (d[:n_q, n_q:] / d.max(0).values[:n_q, None]).numpy()


# ---------------------------------------------------------------------------
# sparse chunked implementation == dense reference
# ---------------------------------------------------------------------------
CASES = [
    # q, g, d, metric, chunk_size, k1, k2, lambda
    (7, 40, 8, "cosine", 3, 20, 6, 0.3),
    (13, 60, 5, "euclidean", 4, 20, 6, 0.3),
    (30, 100, 16, "cosine", 7, 10, 3, 0.5),
    (30, 100, 16, "euclidean", 11, 10, 3, 0.0),
    (23, 150, 12, "cosine", 5, 5, 1, 0.3),      # k2 == 1: no query expansion
    (9, 50, 6, "euclidean", 4, 3, 12, 0.3),     # k2 > k1 + 1
    (5, 20, 4, "cosine", 2, 40, 6, 0.3),        # k1 + 1 > N: clamped like slicing
    (17, 80, 10, "cosine", 17, 1, 2, 0.3),      # k1 = 1 (round(k1/2) = 0)
    (11, 90, 8, "euclidean", None, 7, 4, 0.7),  # default chunk size
]


@pytest.mark.parametrize("q,g,d,metric,chunk,k1,k2,lam", CASES)
def test_matches_dense_reference(q, g, d, metric, chunk, k1, k2, lam):
    qf, gf = random_problem(q, g, d, seed=q * 1000 + g)
    got = rerank_matrix(qf, gf, k1=k1, k2=k2, lambda_value=lam, metric=metric, chunk_size=chunk)
    ref = rerank_dense_reference(qf, gf, k1=k1, k2=k2, lambda_value=lam, metric=metric)
    assert got.dtype == torch.float32 and got.shape == (q, g)
    np.testing.assert_allclose(got.numpy(), ref, rtol=0, atol=1e-5)


@pytest.mark.parametrize("metric", ["cosine", "euclidean"])
def test_matches_reference_clustered_float32(metric):
    qf, gf = random_problem(40, 200, 32, seed=3, dtype=np.float32, clusters=25)
    got = rerank_matrix(qf, gf, k1=20, k2=6, lambda_value=0.3, metric=metric, chunk_size=9)
    ref = rerank_dense_reference(qf, gf, k1=20, k2=6, lambda_value=0.3, metric=metric)
    np.testing.assert_allclose(got.numpy(), ref, rtol=0, atol=1e-5)


def test_features_normalized_flag():
    qf, gf = random_problem(12, 70, 8, seed=5)
    qn = torch.nn.functional.normalize(qf, dim=1)
    gn = torch.nn.functional.normalize(gf, dim=1)
    a = rerank_matrix(qn, gn, k1=6, k2=3, features_normalized=True, chunk_size=5)
    b = rerank_matrix(qf, gf, k1=6, k2=3, chunk_size=5)
    ref = rerank_dense_reference(qn, gn, k1=6, k2=3, features_normalized=True)
    np.testing.assert_allclose(a.numpy(), ref, rtol=0, atol=1e-5)
    np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=0, atol=1e-5)


def test_tiny_internal_budgets(monkeypatch):
    """Force many pair slices, sparse row chunks and gather batches: same result."""
    qf, gf = random_problem(19, 120, 10, seed=11, clusters=15)
    ref = rerank_dense_reference(qf, gf, k1=8, k2=3, metric="cosine")
    monkeypatch.setattr(rerank, "_PAIR_BUDGET", 7)
    monkeypatch.setattr(rerank, "_SPARSE_ROWS", 13)
    monkeypatch.setattr(rerank, "_GATHER_ELEMENTS", 25)
    got = rerank_matrix(qf, gf, k1=8, k2=3, metric="cosine", chunk_size=6)
    np.testing.assert_allclose(got.numpy(), ref, rtol=0, atol=1e-5)


# ---------------------------------------------------------------------------
# block structure and memory behaviour
# ---------------------------------------------------------------------------
def test_blocks_cover_queries_in_order():
    qf, gf = random_problem(23, 64, 8, seed=2)
    full = rerank_matrix(qf, gf, k1=6, k2=2, chunk_size=23)
    blocks = list(k_reciprocal_distances(qf, gf, k1=6, k2=2, lambda_value=0.3, metric="cosine",
                                         features_normalized=False, chunk_size=5))
    assert [(s, e) for s, e, _ in blocks] == [(0, 5), (5, 10), (10, 15), (15, 20), (20, 23)]
    for s, e, b in blocks:
        assert b.dtype == torch.float32 and b.shape == (e - s, 64)
    np.testing.assert_allclose(torch.cat([b for _, _, b in blocks]).numpy(), full.numpy(),
                               rtol=0, atol=1e-6)


def test_never_builds_n_by_n(monkeypatch):
    qf, gf = random_problem(10, 50, 6, seed=4)
    n = 60
    shapes = []
    real = rerank._distance_block

    def spy(feats, sq, rows, cols):
        out = real(feats, sq, rows, cols)
        shapes.append(tuple(out.shape))
        return out

    monkeypatch.setattr(rerank, "_distance_block", spy)
    list(k_reciprocal_distances(qf, gf, k1=5, k2=2, chunk_size=7))
    assert shapes and all(r <= 7 for r, _ in shapes)
    assert sum(r for r, c in shapes if c == n) == n  # one pass over all rows


def test_empty_query_or_gallery():
    qf, gf = random_problem(4, 9, 3, seed=0)
    assert list(k_reciprocal_distances(qf[:0], gf)) == []
    assert rerank_matrix(qf[:0], gf).shape == (0, 9)
    blocks = list(k_reciprocal_distances(qf, gf[:0], chunk_size=3))
    assert [(s, e, tuple(b.shape)) for s, e, b in blocks] == [(0, 3, (3, 0)), (3, 4, (1, 0))]


def test_accepts_numpy_and_mixed_dtypes():
    qf, gf = random_problem(6, 30, 5, seed=8)
    a = rerank_matrix(qf.numpy(), gf.float(), k1=5, k2=2)
    ref = rerank_dense_reference(qf, gf, k1=5, k2=2)
    np.testing.assert_allclose(a.numpy(), ref, rtol=0, atol=1e-5)


# ---------------------------------------------------------------------------
# behaviour
# ---------------------------------------------------------------------------
def _distractor_problem():
    """2-D, euclidean. Identity 0: the query at (0.75, 0) and 4 gallery items in a
    tight ring around the origin (distance 0.65-0.85). Identity 1: a distractor
    at (1.3, 0), nearest to the query (0.55), whose own neighbourhood is a tight
    ring of 8 more identity-1 items around (1.7, 0). Identity 2: 8 unrelated items."""
    ring4 = np.linspace(0, 2 * np.pi, 4, endpoint=False)
    ring8 = np.linspace(0, 2 * np.pi, 8, endpoint=False)
    own = 0.1 * np.stack([np.cos(ring4), np.sin(ring4)], 1)
    other = np.array([1.7, 0.0]) + 0.1 * np.stack([np.cos(ring8), np.sin(ring8)], 1)
    far = np.array([0.0, 2.0]) + 0.1 * np.stack([np.cos(ring8), np.sin(ring8)], 1)
    gallery = np.concatenate([[[1.3, 0.0]], own, other, far])
    pids = np.array([1] + [0] * 4 + [1] * 8 + [2] * 8)
    query = np.array([[0.75, 0.0]])
    return torch.from_numpy(query), torch.from_numpy(gallery), pids


@pytest.mark.parametrize("k1,k2", [(5, 1), (6, 3)])
def test_reranking_fixes_distractor(k1, k2):
    qf, gf, pids = _distractor_problem()
    original = ((qf[:, None] - gf[None]) ** 2).sum(-1)[0].numpy()
    assert pids[original.argmin()] == 1  # the distractor is the plain nearest neighbour
    dist = rerank_matrix(qf, gf, k1=k1, k2=k2, lambda_value=0.3, metric="euclidean")[0].numpy()
    assert pids[dist.argmin()] == 0
    assert set(np.argsort(dist, kind="stable")[:4]) == {1, 2, 3, 4}  # the whole own cluster first
    ref = rerank_dense_reference(qf, gf, k1=k1, k2=k2, lambda_value=0.3, metric="euclidean")
    np.testing.assert_allclose(dist, ref[0], rtol=0, atol=1e-5)


@pytest.mark.parametrize("metric", ["cosine", "euclidean"])
def test_lambda_one_is_normalised_original(metric):
    qf, gf = random_problem(15, 70, 9, seed=6)
    got = rerank_matrix(qf, gf, k1=7, k2=3, lambda_value=1.0, metric=metric, chunk_size=4)
    np.testing.assert_allclose(got.numpy(), original_normalised(qf, gf, metric), rtol=0, atol=1e-6)


def test_lambda_zero_is_pure_jaccard_in_range():
    qf, gf = random_problem(10, 60, 6, seed=9)
    got = rerank_matrix(qf, gf, k1=6, k2=3, lambda_value=0.0).numpy()
    assert got.min() >= -1e-6 and got.max() <= 1 + 1e-6
    assert (np.abs(got - 1) < 1e-6).any()  # pairs with disjoint supports: Jaccard distance 1


# ---------------------------------------------------------------------------
# argument checks
# ---------------------------------------------------------------------------
@pytest.mark.parametrize("kwargs,match", [
    ({"k1": 0}, "k1 must be an integer >= 1"),
    ({"k1": -3}, "k1 must be an integer >= 1"),
    ({"k1": 2.5}, "k1 must be an integer >= 1"),
    ({"k2": 0}, "k2 must be an integer >= 1"),
    ({"lambda_value": -0.1}, r"lambda_value must be in \[0, 1\]"),
    ({"lambda_value": 1.5}, r"lambda_value must be in \[0, 1\]"),
    ({"lambda_value": math.nan}, r"lambda_value must be in \[0, 1\]"),
    ({"lambda_value": "x"}, r"lambda_value must be a number in \[0, 1\]"),
    ({"metric": "manhattan"}, "metric must be one of"),
    ({"chunk_size": 0}, "chunk_size must be a positive integer"),
])
def test_invalid_arguments(kwargs, match):
    qf, gf = random_problem(3, 8, 4, seed=1)
    with pytest.raises(ValueError, match=match):
        k_reciprocal_distances(qf, gf, **kwargs)  # raised at call time, not on first next()
    with pytest.raises(ValueError, match=match):
        rerank_matrix(qf, gf, **kwargs)
    if "chunk_size" not in kwargs:  # the reference has no chunks
        with pytest.raises(ValueError, match=match):
            rerank_dense_reference(qf, gf, **kwargs)


def test_mismatched_or_bad_shapes():
    qf, gf = random_problem(3, 8, 4, seed=1)
    with pytest.raises(ValueError, match="feature dimensions differ: query 4, gallery 5"):
        k_reciprocal_distances(qf, torch.zeros(8, 5))
    with pytest.raises(ValueError, match="feature dimensions differ"):
        rerank_dense_reference(qf, torch.zeros(8, 5))
    with pytest.raises(ValueError, match="query_features must be 2-D"):
        k_reciprocal_distances(qf[0], gf)
