"""Tests for benchmark.evaluation.metrics (CMC / mAP / mINP under general, cc and sc protocols)."""
import math

import numpy as np
import pytest
import torch

from benchmark.evaluation import PROTOCOLS, evaluate, format_table, metrics
from tests.benchmark.evaluation.oracles import evaluate_reference

BOTH = (evaluate, evaluate_reference)


def assert_results_close(a, b, tol=1e-6):
    assert a.keys() == b.keys()
    for proto in a:
        ra, rb = a[proto], b[proto]
        if ra is None or rb is None:
            assert ra is None and rb is None, (proto, ra, rb)
            continue
        assert ra.keys() == rb.keys()
        for key in ra:
            if key in ("valid_queries", "skipped_queries"):
                assert ra[key] == rb[key], (proto, key, ra[key], rb[key])
            else:
                assert abs(ra[key] - rb[key]) <= tol, (proto, key, ra[key], rb[key])


# ---------------------------------------------------------------------------
# hand-computed cases
# ---------------------------------------------------------------------------
# 1-D features with the euclidean metric, so distances are easy: gallery at
# x = 1..5 (g0..g4).
GEN_G = np.arange(1, 6, dtype=np.float32)[:, None]
GEN_G_PIDS = [1, 2, 1, 3, 1]
GEN_G_CAMS = [0, 1, 1, 0, 2]


@pytest.mark.parametrize("fn", BOTH)
def test_general_hand_computed(fn):
    # query A: x=0, pid 1, cam 0.  Order g0 g1 g2 g3 g4.
    #   g0 pid1 cam0 -> junk (removed), g2 and g4 good.
    #   junk-free list: g1 g2 g3 g4 -> good at ranks 1, 3.
    #   AP = (1/2)(1/2 + 2/4) = 1/2; INP = 2/4 = 1/2; first hit rank 1.
    #   (Without junk removal good would be at 2, 4 -> AP 0.4333: the junk matters.)
    # query C: x=3, pid 1, cam 1.  d = 4,1,0,1,4 -> stable order g2 g1 g3 g0 g4
    #   (ties g1/g3 and g0/g4 kept in gallery order).  g2 same cam -> junk.
    #   junk-free: g1 g3 g0 g4 -> good at 2, 3.  AP = (1/2)(1/3 + 2/4) = 5/12;
    #   INP = 2/4 = 1/2; first hit rank 2.
    # query D: x=5, pid 1, cam 0.  Order g4 g3 g2 g1 g0; g0 junk.
    #   junk-free: g4 g3 g2 g1 -> good at 0, 2.  AP = (1/2)(1 + 2/3) = 5/6;
    #   INP = 2/3; first hit rank 0.
    # query E: pid 9 has no gallery item -> skipped.
    # top1 = 1/3, top5 = 3/3, mAP = (1/2 + 5/12 + 5/6)/3 = 7/12,
    # mINP = (1/2 + 1/2 + 2/3)/3 = 5/9.
    q = np.array([[0.0], [3.0], [5.0], [0.0]], dtype=np.float32)
    res = fn(q, GEN_G, [1, 1, 1, 9], GEN_G_PIDS, [0, 1, 0, 0], GEN_G_CAMS,
             metric="euclidean")
    assert list(res) == ["general"]
    r = res["general"]
    assert r["top1"] == pytest.approx(1 / 3)
    assert r["top5"] == pytest.approx(1.0)
    assert r["top10"] == pytest.approx(1.0)
    assert r["top20"] == pytest.approx(1.0)
    assert r["mAP"] == pytest.approx(7 / 12)
    assert r["mINP"] == pytest.approx(5 / 9)
    assert r["valid_queries"] == 3
    assert r["skipped_queries"] == 1
    assert all(isinstance(r[k], float) for k in ("top1", "top5", "mAP", "mINP"))
    assert isinstance(r["valid_queries"], int)


@pytest.mark.parametrize("fn", BOTH)
def test_ties_keep_gallery_order(fn):
    # All gallery features identical: the ranking is the gallery order.
    # pids [2, 1, 2, 1], cams all 1, query pid 1 cam 0 -> good at ranks 1 and 3.
    # AP = (1/2)(1/2 + 2/4) = 1/2, INP = 2/4, top1 = 0, top5 = 1.
    g = np.ones((4, 3), dtype=np.float32)
    q = np.ones((1, 3), dtype=np.float32)
    for metric in ("cosine", "euclidean"):
        r = fn(q, g, [1], [2, 1, 2, 1], [0], [1, 1, 1, 1], metric=metric,
               ranks=(1, 2, 5))["general"]
        assert r == {"top1": 0.0, "top2": 1.0, "top5": 1.0, "mAP": 0.5, "mINP": 0.5,
                     "valid_queries": 1, "skipped_queries": 0}


@pytest.mark.parametrize("fn", BOTH)
def test_cc_sc_hand_computed(fn):
    # Gallery at x = 1..6, query(ies) at x = 0: ranked in gallery order.
    #        pid cam clothes   q1 (pid1 cam0 clo0): general / cc / sc
    # g0      1   1    0       good / junk (same clothes) / good
    # g1      2   1    5       negative
    # g2      1   0    1       junk / junk (same cam) / junk
    # g3      1   2    1       good / good / junk (other clothes)
    # g4      3   0    0       negative
    # g5      1   1    1       good / good / junk
    # q1 general: list g0 g1 g3 g4 g5 -> good 0,2,4: AP = (1 + 2/3 + 3/5)/3 = 34/45, INP 3/5
    # q1 cc:      list g1 g3 g4 g5    -> good 1,3:   AP = (1/2 + 2/4)/2 = 1/2,   INP 2/4
    # q1 sc:      list g0 g1 g4       -> good 0:     AP = 1,                     INP 1
    # q2 (pid2 cam0 clo5): only g1 (cam1, clothes 5) is pid 2.
    #   general: good at 1 -> AP 1/2, INP 1/2;  cc: g1 same clothes -> junk -> skipped;
    #   sc: good at 1 -> AP 1/2, INP 1/2.
    g = np.arange(1, 7, dtype=np.float64)[:, None]
    q = np.zeros((2, 1))
    res = fn(q, g, [1, 2], [1, 2, 1, 1, 3, 1], [0, 0], [1, 1, 0, 2, 0, 1],
             [0, 5], [0, 5, 1, 1, 0, 1], metric="euclidean")
    assert list(res) == list(PROTOCOLS)
    gen, cc, sc = res["general"], res["cc"], res["sc"]
    assert gen["top1"] == pytest.approx(0.5) and gen["top5"] == pytest.approx(1.0)
    assert gen["mAP"] == pytest.approx((34 / 45 + 1 / 2) / 2)
    assert gen["mINP"] == pytest.approx((3 / 5 + 1 / 2) / 2)
    assert (gen["valid_queries"], gen["skipped_queries"]) == (2, 0)
    assert cc["top1"] == 0.0 and cc["top5"] == pytest.approx(1.0)
    assert cc["mAP"] == pytest.approx(0.5) and cc["mINP"] == pytest.approx(0.5)
    assert (cc["valid_queries"], cc["skipped_queries"]) == (1, 1)
    assert sc["top1"] == pytest.approx(0.5) and sc["top5"] == pytest.approx(1.0)
    assert sc["mAP"] == pytest.approx(0.75) and sc["mINP"] == pytest.approx(0.75)
    assert (sc["valid_queries"], sc["skipped_queries"]) == (2, 0)


@pytest.mark.parametrize("fn", BOTH)
def test_no_valid_query_is_none_not_zero(fn):
    # Every same-pid gallery item wears the query's clothes: no cc positive.
    rng = np.random.default_rng(0)
    q = rng.normal(size=(3, 4))
    g = rng.normal(size=(6, 4))
    res = fn(q, g, [0, 1, 2], [0, 0, 1, 1, 2, 2], [0, 0, 0], [1, 2, 1, 2, 1, 2],
             [10, 11, 12], [10, 10, 11, 11, 12, 12])
    assert res["cc"] is None
    assert res["general"] is not None and res["general"]["valid_queries"] == 3
    assert res["sc"] is not None and res["sc"]["mAP"] > 0
    # all gallery items on the query's camera: nothing is valid at all
    res = fn(q, g, [0, 1, 2], [0, 0, 1, 1, 2, 2], [1, 1, 1], [1] * 6)
    assert res == {"general": None}
    # empty gallery / empty query set
    assert fn(q, g[:0], [0, 1, 2], [], [0, 0, 0], []) == {"general": None}
    assert fn(q[:0], g, [], [0, 0, 1, 1, 2, 2], [], [1] * 6) == {"general": None}


def test_format_table():
    q = np.array([[0.0], [3.0], [5.0], [0.0]])
    res = evaluate(q, GEN_G, [1, 1, 1, 9], GEN_G_PIDS, [0, 1, 0, 0], GEN_G_CAMS,
                   [0, 0, 0, 0], [0, 0, 0, 0, 0], metric="euclidean")
    assert res["cc"] is None
    text = format_table(res)
    lines = text.splitlines()
    assert "top1" in lines[0] and "mAP" in lines[0] and "mINP" in lines[0] and "valid" in lines[0]
    gen = next(line for line in lines if line.startswith("general"))
    assert "33.3" in gen and "100.0" in gen and "58.3" in gen and "55.6" in gen
    cc = next(line for line in lines if line.startswith("cc"))
    assert "undefined" in cc and "0.0" not in cc


# ---------------------------------------------------------------------------
# randomised agreement with the reference
# ---------------------------------------------------------------------------
def _tie_features(rng, n, d, metric):
    """Features with many exact ties whose distances are exact in float32.

    euclidean: small integers. cosine: entries in {-1, 0, 1} with exactly four
    non-zeros (norm 2), so normalised entries and all dot products are exact
    dyadic numbers; a few all-zero rows too.
    """
    if metric == "euclidean":
        return rng.integers(-2, 3, size=(n, d)).astype(np.float32)
    x = np.zeros((n, d), dtype=np.float32)
    for i in range(n):
        if rng.random() < 0.05:
            continue
        idx = rng.choice(d, size=4, replace=False)
        x[i, idx] = rng.choice([-1.0, 1.0], size=4)
    return x


def _random_problem(rng, metric):
    n_q = int(rng.integers(1, 25))
    n_g = int(rng.integers(1, 60))
    d = int(rng.integers(4, 7)) if metric == "cosine" else int(rng.integers(1, 4))
    n_pid = int(rng.integers(1, 6))
    return dict(
        qf=_tie_features(rng, n_q, d, metric),
        gf=_tie_features(rng, n_g, d, metric),
        qp=rng.integers(0, n_pid, n_q), gp=rng.integers(0, n_pid, n_g),
        qc=rng.integers(0, 3, n_q), gc=rng.integers(0, 3, n_g),
        qk=rng.integers(0, 3, n_q), gk=rng.integers(0, 3, n_g),
    )


@pytest.mark.parametrize("metric", ["cosine", "euclidean"])
def test_random_agreement_with_reference(metric):
    rng = np.random.default_rng(12345 if metric == "cosine" else 54321)
    seen_none = seen_defined = 0
    for trial in range(50):
        p = _random_problem(rng, metric)
        args = (p["qf"], p["gf"], p["qp"], p["gp"], p["qc"], p["gc"], p["qk"], p["gk"])
        ranks = (1, 2, 5) if trial % 2 else (1, 5, 10, 20)
        ref = evaluate_reference(*args, metric=metric, ranks=ranks)
        n_q = len(p["qp"])
        for chunk in (1, 3, n_q, n_q + 5, None):
            if chunk == 1 and trial % 3:
                continue  # chunk 1 is slow-ish; run it on a third of the problems
            got = evaluate(*args, metric=metric, ranks=ranks, chunk_size=chunk)
            assert_results_close(got, ref)
        seen_none += sum(r is None for r in ref.values())
        seen_defined += sum(r is not None for r in ref.values())
    assert seen_none > 0 and seen_defined > 0  # both branches exercised


def test_tensor_inputs_and_float64():
    rng = np.random.default_rng(7)
    p = _random_problem(rng, "euclidean")
    args = (p["qf"], p["gf"], p["qp"], p["gp"], p["qc"], p["gc"], p["qk"], p["gk"])
    ref = evaluate_reference(*args, metric="euclidean")
    targs = [torch.as_tensor(a) for a in args]
    assert_results_close(evaluate(*targs, metric="euclidean"), ref)
    targs[0], targs[1] = targs[0].double(), targs[1].double()
    assert_results_close(evaluate(*targs, metric="euclidean", device="cpu"), ref)
    # string labels are matched by equality
    sargs = list(args)
    sargs[2:4] = [np.array([f"id{v}" for v in a]) for a in args[2:4]]
    assert_results_close(evaluate(*sargs, metric="euclidean"), ref)


def test_cosine_equals_euclidean_on_normalised_features():
    rng = np.random.default_rng(3)
    q = rng.normal(size=(40, 16))
    g = rng.normal(size=(150, 16))
    q /= np.linalg.norm(q, axis=1, keepdims=True)
    g /= np.linalg.norm(g, axis=1, keepdims=True)
    labels = (rng.integers(0, 8, 40), rng.integers(0, 8, 150), rng.integers(0, 4, 40),
              rng.integers(0, 4, 150), rng.integers(0, 3, 40), rng.integers(0, 3, 150))
    cos = evaluate(q, g, *labels, metric="cosine")
    assert_results_close(cos, evaluate(q, g, *labels, metric="euclidean"))
    assert_results_close(cos, evaluate(q, g, *labels, metric="cosine", features_normalized=True))
    # cosine ignores the feature scale
    assert_results_close(cos, evaluate(3.0 * q, 0.5 * g, *labels, metric="cosine"))
    assert_results_close(cos, evaluate_reference(q, g, *labels, metric="euclidean"))


def test_average_precision_matches_sklearn():
    """mAP checked against an independent AP implementation (scikit-learn).

    General protocol with every gallery item on another camera than every query,
    so nothing is junk and AP is plain ranking AP over the whole gallery; float64
    features with continuous values, so there are no ties.
    """
    sk_metrics = pytest.importorskip("sklearn.metrics")
    rng = np.random.default_rng(21)
    n_q, n_g, d, n_pid = 30, 240, 6, 12
    centres = rng.normal(size=(n_pid, d))
    g_pids = np.concatenate([np.arange(n_pid), rng.integers(0, n_pid, n_g - n_pid)])
    q_pids = rng.integers(0, n_pid, n_q)  # every query pid has gallery items
    g = centres[g_pids] + 0.8 * rng.normal(size=(n_g, d))
    q = centres[q_pids] + 0.8 * rng.normal(size=(n_q, d))
    q_cams, g_cams = np.zeros(n_q, int), rng.integers(1, 4, n_g)
    for metric in ("euclidean", "cosine"):
        if metric == "cosine":
            qn = q / np.linalg.norm(q, axis=1, keepdims=True)
            gn = g / np.linalg.norm(g, axis=1, keepdims=True)
            dist = -(qn @ gn.T)
        else:
            dist = ((q[:, None, :] - g[None, :, :]) ** 2).sum(-1)
        relevant = q_pids[:, None] == g_pids[None, :]
        aps = [sk_metrics.average_precision_score(relevant[i], -dist[i]) for i in range(n_q)]
        r = evaluate(q, g, q_pids, g_pids, q_cams, g_cams, metric=metric, chunk_size=7)["general"]
        assert (r["valid_queries"], r["skipped_queries"]) == (n_q, 0)
        assert abs(r["mAP"] - float(np.mean(aps))) <= 1e-6, (metric, r["mAP"], np.mean(aps))
        assert 0.2 < r["mAP"] < 0.9  # a non-trivial ranking: neither perfect nor hopeless
        assert r["top1"] == pytest.approx(float(np.mean(relevant[np.arange(n_q), dist.argmin(1)])))
        # the comparison can fail: a slightly different ranking gives a different mAP
        swapped = dist.copy()
        swapped[:, [0, 1]] = swapped[:, [1, 0]]
        worse = np.mean([sk_metrics.average_precision_score(relevant[i], -swapped[i]) for i in range(n_q)])
        assert abs(worse - r["mAP"]) > 1e-4


def test_small_chunks_bounded_memory(monkeypatch):
    rng = np.random.default_rng(11)
    n_q, n_g, d = 300, 5000, 8
    q = rng.integers(-2, 3, size=(n_q, d)).astype(np.float32)
    g = rng.integers(-2, 3, size=(n_g, d)).astype(np.float32)
    labels = (rng.integers(0, 100, n_q), rng.integers(0, 100, n_g), rng.integers(0, 6, n_q),
              rng.integers(0, 6, n_g), rng.integers(0, 3, n_q), rng.integers(0, 3, n_g))
    ref = evaluate_reference(q, g, *labels, metric="euclidean")

    blocks = []
    real_block = metrics._distance_block

    def spy(qc, gc, g_aux, metric):
        out = real_block(qc, gc, g_aux, metric)
        blocks.append(tuple(out.shape))
        return out

    monkeypatch.setattr(metrics, "_distance_block", spy)
    # explicit chunk size
    assert_results_close(evaluate(q, g, *labels, metric="euclidean", chunk_size=7), ref)
    assert blocks and max(b[0] for b in blocks) == 7 and all(b[1] == n_g for b in blocks)
    assert len(blocks) == math.ceil(n_q / 7)
    # automatic chunk size driven by the byte budget (float32 dist + int64 index)
    blocks.clear()
    monkeypatch.setattr(metrics, "_CHUNK_BYTES", 7 * n_g * (4 + 8))
    assert metrics._auto_chunk_size(n_g, 4) == 7
    assert_results_close(evaluate(q, g, *labels, metric="euclidean"), ref)
    assert max(b[0] for b in blocks) == 7 and len(blocks) == math.ceil(n_q / 7)


def test_default_chunk_budget_is_about_256mb():
    assert metrics._CHUNK_BYTES == 256 * 2**20
    rows = metrics._auto_chunk_size(120_000, 4)
    assert rows * 120_000 * 12 <= 256 * 2**20 < (rows + 1) * 120_000 * 12
    assert metrics._auto_chunk_size(10**9, 4) == 1


# ---------------------------------------------------------------------------
# argument checks
# ---------------------------------------------------------------------------
def test_argument_errors():
    q, g = np.zeros((2, 3)), np.zeros((4, 3))
    with pytest.raises(ValueError, match="metric"):
        evaluate(q, g, [0, 1], [0, 1, 0, 1], [0, 0], [1, 1, 1, 1], metric="l1")
    with pytest.raises(ValueError, match="q_pids"):
        evaluate(q, g, [0], [0, 1, 0, 1], [0, 0], [1, 1, 1, 1])
    with pytest.raises(ValueError, match="g_camids"):
        evaluate(q, g, [0, 1], [0, 1, 0, 1], [0, 0], [1, 1, 1])
    with pytest.raises(ValueError, match="both q_clothes and g_clothes"):
        evaluate(q, g, [0, 1], [0, 1, 0, 1], [0, 0], [1, 1, 1, 1], [0, 0])
    with pytest.raises(ValueError, match="dimensions"):
        evaluate(q, np.zeros((4, 2)), [0, 1], [0, 1, 0, 1], [0, 0], [1, 1, 1, 1])
    with pytest.raises(ValueError, match="ranks"):
        evaluate(q, g, [0, 1], [0, 1, 0, 1], [0, 0], [1, 1, 1, 1], ranks=(0, 5))
    with pytest.raises(ValueError, match="chunk_size"):
        evaluate(q, g, [0, 1], [0, 1, 0, 1], [0, 0], [1, 1, 1, 1], chunk_size=0)
