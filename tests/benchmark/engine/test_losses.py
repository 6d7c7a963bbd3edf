import pytest
import math

import torch

from benchmark.engine.losses import cal_loss, triplet_loss, within_identity_clothes_accuracy

PID2CLOTHES = torch.tensor([[1.0, 1.0, 0.0, 0.0], [0.0, 0.0, 1.0, 1.0]])


def test_cal_loss_hand_computed():
    # scale 1 so that z = cos directly.
    # sample 1: z = [ln3, 0, 0, 0], y = 0, P = {0, 1}, N = {2, 3}: sum_N e^z = 2
    #   log p0 = ln3 - ln(3 + 2) = ln(3/5); log p1 = 0 - ln(1 + 2) = -ln3
    #   eps = 0.5: q0 = 0.5 + 0.25 = 0.75, q1 = 0.25 -> loss = 0.75 ln(5/3) + 0.25 ln3
    # sample 2: z = [ln2, 0, 0, 0], y = 2, P = {2, 3}, N = {0, 1}: sum_N e^z = 3
    #   log p2 = log p3 = -ln4 -> loss = ln4
    z = torch.tensor([[math.log(3), 0, 0, 0], [math.log(2), 0, 0, 0]])
    y = torch.tensor([0, 2])
    mask = PID2CLOTHES[torch.tensor([0, 1])]
    expected = (0.75 * math.log(5 / 3) + 0.25 * math.log(3) + math.log(4)) / 2
    got = cal_loss(z, y, mask, scale=1.0, epsilon=0.5)
    assert abs(got.item() - expected) < 1e-6
    # scale multiplies the cosines: scale 2 on z/2 is the same problem
    assert abs(cal_loss(z / 2, y, mask, scale=2.0, epsilon=0.5).item() - expected) < 1e-6


def test_cal_epsilon_one_weights_positives_equally():
    # eps = 1 (Eq. 4): q = 1/|P| on every positive, whatever y is
    z = torch.tensor([[1.0, -0.5, 0.3, 0.2]])
    mask = PID2CLOTHES[[0]]
    a = cal_loss(z, torch.tensor([0]), mask, 16, 1.0)
    b = cal_loss(z, torch.tensor([1]), mask, 16, 1.0)
    assert torch.allclose(a, b)


def test_cal_is_stable_for_large_scales():
    z = torch.tensor([[1.0, -1.0, 1.0, -1.0]])
    loss = cal_loss(z, torch.tensor([0]), PID2CLOTHES[[0]], scale=1000.0, epsilon=0.1)
    assert torch.isfinite(loss)


def test_triplet_batch_hard():
    f = torch.tensor([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0], [0.0, 1.0]])
    pids = torch.tensor([0, 0, 1, 1])
    assert triplet_loss(f, pids, margin=0.3).item() == 0.0  # positives at distance 0, negatives at 1
    g = torch.tensor([[1.0, 0.0], [0.0, 1.0], [0.0, 1.0], [1.0, 0.0]])
    # each anchor: hardest positive at 1, hardest negative at 0 -> 1 + 0.3
    assert abs(triplet_loss(g, pids, margin=0.3).item() - 1.3) < 1e-6


def test_triplet_euclidean_batch_all_and_batch_hard_by_hand():
    f = torch.tensor([[0.0], [1.0], [3.0], [3.5]])
    pids = torch.tensor([0, 0, 1, 1])
    # margin 2, d(a,p) - d(a,n) + 2 over every triplet: anchor 1 gives 1.0 (n=2) and 0.5 (n=3),
    # anchor 2 gives 0.5 (n=1), all others <= 0 -> sum 2.0 over 3 non-zero triplets (GaitSet's mean)
    loss = triplet_loss(f, pids, margin=2.0, distance="euclidean", mining="all")
    assert abs(loss.item() - 2.0 / 3.0) < 1e-5
    # batch-hard: anchors give 0, 1.0, 0.5, 0 -> mean 0.375
    hard = triplet_loss(f, pids, margin=2.0, distance="euclidean", mining="hard")
    assert abs(hard.item() - 0.375) < 1e-5
    # nothing violates a small margin: 0, not 0 / 0
    assert triplet_loss(f, pids, margin=0.1, distance="euclidean", mining="all").item() == 0.0


def test_euclidean_triplet_gradients_are_finite_with_duplicate_features():
    f = torch.tensor([[1.0, 2.0], [1.0, 2.0], [0.0, 0.0], [0.5, 0.0]], requires_grad=True)
    loss = triplet_loss(f, torch.tensor([0, 0, 1, 1]), margin=5.0, distance="euclidean", mining="all")
    loss.backward()
    assert loss.item() > 0 and torch.isfinite(f.grad).all() and f.grad.abs().sum() > 0


@pytest.mark.parametrize("kw, message", [(dict(distance="l1"), "triplet distance"),
                                         (dict(mining="semi"), "triplet mining")])
def test_triplet_rejects_unknown_options(kw, message):
    with pytest.raises(ValueError, match=message):
        triplet_loss(torch.randn(4, 2), torch.tensor([0, 0, 1, 1]), **kw)


def test_within_identity_clothes_accuracy_ignores_other_identities():
    logits = torch.tensor([[0.1, 0.2, 0.9, 0.0], [0.0, 0.0, 0.3, 0.1]])
    # sample 0 (id 0): best among {0,1} is 1 (0.9 of class 2 is another identity's) -> wrong for y=0
    # sample 1 (id 1): best among {2,3} is 2 -> right for y=2
    acc = within_identity_clothes_accuracy(logits, torch.tensor([0, 2]), PID2CLOTHES[[0, 1]])
    assert acc == 0.5
