import numpy as np
import pytest
import torch

from benchmark.evaluation import evaluate, evaluate_single_shot
from benchmark.evaluation.single_shot import single_shot_indices

# 1-D features, squared euclidean distances; queries from camera 0, gallery from camera 1.
# Query of person 1 at 0, of person 2 at 10. Each person has a near item (a1 at 0.1, a2 at 10.1)
# and a far one (b1 at 6, b2 at 4); the gallery order is b2, a1, a2, b1.
QF = np.array([[0.0], [10.0]])
GF = np.array([[4.0], [0.1], [10.1], [6.0]])
Q_PIDS, G_PIDS = np.array([1, 2]), np.array([2, 1, 2, 1])
Q_CAMS, G_CAMS = np.array([0, 0]), np.array([1, 1, 1, 1])
B2, A1, A2, B1 = range(4)


def by_hand(picks):
    """(top1, mAP) of one single-shot gallery {item of person 1, item of person 2}.

    With a1 or a2 kept, each query's own item is ranked first: the distractor is farther
    (query 1: a1 0.1 vs b2 4 or a2 10.1; b1 6 vs a2 10.1; query 2 symmetric). With b1 and b2
    kept, each query meets the other person's far item first (4 < 6): rank 2, AP 1/2.
    """
    return (0.0, 0.5) if set(picks) == {B1, B2} else (1.0, 1.0)


def run(**kw):
    return evaluate_single_shot(QF, GF, Q_PIDS, G_PIDS, Q_CAMS, G_CAMS, metric="euclidean", device="cpu", **kw)


def test_each_draw_keeps_one_item_of_every_identity():
    for s in range(20):
        idx = single_shot_indices(G_PIDS, s)
        assert sorted(G_PIDS[idx]) == [1, 2] and list(idx) == sorted(idx)
    assert np.array_equal(single_shot_indices(G_PIDS, 3), single_shot_indices(torch.from_numpy(G_PIDS), 3))
    picks = {tuple(single_shot_indices(G_PIDS, s)) for s in range(40)}
    assert picks == {(A1, A2), (B2, A1), (A2, B1), (B2, B1)}  # every combination occurs


def test_mean_and_spread_over_the_seeded_draws_by_hand():
    draws, seed = 12, 5
    per_draw = [single_shot_indices(G_PIDS, seed + i) for i in range(draws)]
    hand = np.array([by_hand(p) for p in per_draw])
    assert len(set(hand[:, 0])) == 2  # this seed draws both outcomes
    for p, (top1, ap) in zip(per_draw, hand):  # the draw as scored by evaluate itself
        r = evaluate(QF, GF[p], Q_PIDS, G_PIDS[p], Q_CAMS, G_CAMS[p], metric="euclidean", device="cpu")["general"]
        assert (r["top1"], r["mAP"], r["mINP"], r["top5"]) == (top1, ap, ap, 1.0)

    got = run(draws=draws, seed=seed)
    assert list(got) == ["general"]
    g = got["general"]
    assert g["draws"] == draws
    assert g["top1"] == pytest.approx(hand[:, 0].mean(), abs=1e-12)
    assert g["mAP"] == pytest.approx(hand[:, 1].mean(), abs=1e-12)
    assert g["mINP"] == pytest.approx(hand[:, 1].mean(), abs=1e-12)
    assert g["top5"] == 1.0
    assert g["std"]["top1"] == pytest.approx(hand[:, 0].std(ddof=1), abs=1e-12)
    assert g["std"]["mAP"] == pytest.approx(hand[:, 1].std(ddof=1), abs=1e-12)
    assert g["std"]["top5"] == 0.0
    assert g["valid_queries"] == 2.0 and g["skipped_queries"] == 0.0
    assert set(g["std"]) == set(g) - {"std", "draws"}
    # the multi-shot result differs: query 1 ranks a1, b2, b1 -> AP (1 + 2/3) / 2
    multi = evaluate(QF, GF, Q_PIDS, G_PIDS, Q_CAMS, G_CAMS, metric="euclidean", device="cpu")["general"]
    assert multi["mAP"] == pytest.approx(5 / 6)


def test_draws_repeat_with_the_seed_and_change_with_it():
    assert run(draws=6, seed=1) == run(draws=6, seed=1)
    assert run(draws=6, seed=1) != run(draws=6, seed=7)  # draw i uses seed + i: seeds 1 and 2 would share 5 draws
    # tensors in, same result
    t = evaluate_single_shot(torch.from_numpy(QF), torch.from_numpy(GF), torch.from_numpy(Q_PIDS),
                             torch.from_numpy(G_PIDS), Q_CAMS, torch.from_numpy(G_CAMS), draws=6, seed=1,
                             metric="euclidean", device="cpu")
    assert t == run(draws=6, seed=1)


def test_one_draw_of_a_one_per_identity_gallery_is_the_multi_shot_result():
    g = torch.Generator().manual_seed(0)
    qf, gf = torch.randn(7, 5, generator=g), torch.randn(4, 5, generator=g)
    q_pids, g_pids = [0, 1, 2, 3, 0, 1, 2], [3, 1, 0, 2]
    q_cams, g_cams = [0, 0, 1, 1, 2, 2, 2], [1, 2, 0, 0]
    q_clo, g_clo = [0, 1, 2, 3, 4, 5, 2], [3, 5, 0, 6]
    multi = evaluate(qf, gf, q_pids, g_pids, q_cams, g_cams, q_clo, g_clo, device="cpu")
    single = evaluate_single_shot(qf, gf, q_pids, g_pids, q_cams, g_cams, q_clo, g_clo, draws=1, seed=9,
                                  device="cpu")
    assert list(single) == list(multi) == ["general", "cc", "sc"]
    for proto, m in multi.items():
        s = single[proto]
        if m is None:
            assert s is None
            continue
        assert s["draws"] == 1 and all(v is None for v in s["std"].values())  # one draw: no spread
        assert {k: v for k, v in s.items() if k not in ("std", "draws")} == m


def test_a_draw_without_a_valid_query_is_left_out_of_the_average():
    # the query's camera 0: a draw keeping the camera-0 item of its person has only junk for it
    qf, gf = np.array([[1.0, 0.0]]), np.array([[1.0, 0.1], [0.9, 0.3], [0.0, 1.0]])
    g_pids, g_cams = np.array([5, 5, 6]), np.array([0, 1, 1])
    draws = 10
    kept = [single_shot_indices(g_pids, i) for i in range(draws)]
    n_valid = sum(1 in k for k in kept)
    assert 0 < n_valid < draws
    r = evaluate_single_shot(qf, gf, [5], g_pids, [0], g_cams, draws=draws, device="cpu")["general"]
    assert r["draws"] == n_valid and r["top1"] == 1.0 and r["skipped_queries"] == 0.0
    none = evaluate_single_shot(qf, gf[[0, 2]], [5], g_pids[[0, 2]], [0], g_cams[[0, 2]], draws=3, device="cpu")
    assert none == {"general": None}  # undefined in every draw: undefined, never 0


@pytest.mark.parametrize("draws", [0, -1, 2.0, True])
def test_bad_draws_are_rejected(draws):
    with pytest.raises(ValueError, match=r"^draws must be a positive integer, got "):
        run(draws=draws)
