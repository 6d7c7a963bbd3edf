import copy
import math

import pytest
import torch
import torch.nn.functional as F

from benchmark.engine.losses import cal_loss, memory_cal_loss, update_clothes_memory
from benchmark.training.trainer import Trainer
from tests.benchmark.training.test_engine import batch, make_trainer, params

PID2CLOTHES = torch.tensor([[1.0, 1.0, 0.0, 0.0], [0.0, 0.0, 1.0, 1.0]])
# clothes 0..2 written (unit rows), clothes 3 never written: its row must be ignored
MEMORY = torch.tensor([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0], [0.0, -1.0]])
FILLED = torch.tensor([True, True, True, False])


def test_memory_cal_loss_hand_computed_with_an_unfilled_class():
    # scale 1, eps 0.5. Sample 1: f = (1, 0), pid 0, y = 0: cos = [1, 0, -1] over the filled
    #   classes, P = {0, 1}, N = {2} (3 is left out): sum_N e^z = e^-1
    #   log p0 = 1 - ln(e + e^-1), log p1 = -ln(1 + e^-1); q0 = 0.75, q1 = 0.25
    # Sample 2: f = (0, 2) (not unit), pid 1, y = 2: cos = [0, 1, 0], P = {2} (3 left out),
    #   N = {0, 1}: sum_N e^z = 1 + e; log p2 = -ln(2 + e), q2 = 0.5 + 0.5 / 1 = 1
    f = torch.tensor([[1.0, 0.0], [0.0, 2.0]])
    y = torch.tensor([0, 2])
    mask = PID2CLOTHES[torch.tensor([0, 1])]
    e = math.e
    loss1 = 0.75 * (math.log(e + 1 / e) - 1) + 0.25 * math.log(1 + 1 / e)
    loss2 = math.log(2 + e)
    got = memory_cal_loss(f, y, mask, MEMORY, FILLED, scale=1.0, epsilon=0.5)
    assert got.item() == pytest.approx((loss1 + loss2) / 2, abs=1e-6)
    # the memory's norm does not matter (z uses the cosine), nor does the unfilled row
    other = MEMORY * torch.tensor([[2.0], [0.5], [3.0], [0.0]])
    assert memory_cal_loss(f, y, mask, other, FILLED, scale=1.0, epsilon=0.5).item() == pytest.approx(got.item())
    # once every class is filled: cal_loss on the cosines with the memory
    full = torch.ones(4, dtype=torch.bool)
    cos = F.normalize(f, dim=1) @ MEMORY.t()
    assert torch.allclose(memory_cal_loss(f, y, mask, MEMORY, full, 16.0, 0.1), cal_loss(cos, y, mask, 16.0, 0.1))


def test_memory_cal_loss_trains_the_features_not_the_memory():
    f = torch.tensor([[1.0, 0.2], [0.3, 2.0]], requires_grad=True)
    memory = MEMORY.clone().requires_grad_(True)
    memory_cal_loss(f, torch.tensor([0, 2]), PID2CLOTHES[[0, 1]], memory, FILLED).backward()
    assert f.grad.abs().sum() > 0 and memory.grad is None


def test_memory_cal_loss_refuses_a_sample_whose_class_is_not_written():
    with pytest.raises(ValueError, match="not in the memory yet"):
        memory_cal_loss(torch.ones(1, 2), torch.tensor([3]), PID2CLOTHES[[1]], MEMORY, FILLED)


def test_mean_write_overwrites_until_full_then_uses_the_momentum():
    memory, filled = torch.zeros(3, 2), torch.zeros(3, dtype=torch.bool)
    r = 1 / math.sqrt(2)
    # step 1: class 0 = mean of the normalised (1, 0) and (0, 1), re-normalised; class 1 = (0, -1)
    update_clothes_memory(memory, filled, torch.tensor([[3.0, 0.0], [0.0, 1.0], [0.0, -2.0]]),
                          torch.tensor([0, 0, 1]), momentum=0.5, write="mean")
    assert torch.allclose(memory, torch.tensor([[r, r], [0.0, -1.0], [0.0, 0.0]]))
    assert filled.tolist() == [True, True, False]
    # step 2: class 2 still unfilled before the write, so class 0 is overwritten, not averaged
    update_clothes_memory(memory, filled, torch.tensor([[2.0, 0.0], [0.0, 5.0]]), torch.tensor([2, 0]), momentum=0.5,
                          write="mean")
    assert torch.allclose(memory, torch.tensor([[0.0, 1.0], [0.0, -1.0], [1.0, 0.0]]))
    assert filled.all()
    # step 3: full -> class 1 = normalise(0.5 (0, -1) + 0.5 (1, 0)); the others are untouched
    update_clothes_memory(memory, filled, torch.tensor([[4.0, 0.0]]), torch.tensor([1]), momentum=0.5, write="mean")
    assert torch.allclose(memory, torch.tensor([[0.0, 1.0], [r, -r], [1.0, 0.0]]))
    # momentum 0 overwrites
    update_clothes_memory(memory, filled, torch.tensor([[0.0, -3.0]]), torch.tensor([2]), momentum=0.0,
                          write="mean")
    assert torch.allclose(memory[2], torch.tensor([0.0, -1.0]))


def reference_write(memory, filled_before_the_batch, features, labels, momentum):
    """The reference's _update_memory as it runs: its dict is keyed by tensors, which hash by identity, so every
    sample is a group of one and is written on its own, in batch order (the mean of one feature is the feature)."""
    memory = memory.clone()
    for x, y in zip(features, labels):
        if filled_before_the_batch:
            memory[y] = momentum * memory[y] + (1.0 - momentum) * x
        else:
            memory[y] = x
    return memory


def test_the_reference_keys_its_groups_by_tensor_identity():
    labels = torch.tensor([0, 0, 1])
    groups = {}
    for y in labels:  # the reference's loop: `if y not in label_to_feat`
        groups.setdefault(y, []).append(y)
    assert len(groups) == 3  # one group per sample, not per class


def test_last_write_is_the_references_per_sample_write():
    memory, filled = torch.zeros(3, 2), torch.zeros(3, dtype=torch.bool)
    # step 1, not full: the last raw sample of a class wins (class 0 = (0, 1), not a mean, not normalised)
    x1, y1 = torch.tensor([[3.0, 0.0], [0.0, 1.0], [0.0, -2.0]]), torch.tensor([0, 0, 1])
    want = reference_write(memory, False, x1, y1, 0.5)
    update_clothes_memory(memory, filled, x1, y1, momentum=0.5)
    assert torch.equal(memory, want) and torch.equal(memory, torch.tensor([[0.0, 1.0], [0.0, -2.0], [0.0, 0.0]]))
    assert filled.tolist() == [True, True, False]
    x2, y2 = torch.tensor([[2.0, 0.0], [0.0, 5.0]]), torch.tensor([2, 0])
    update_clothes_memory(memory, filled, x2, y2, momentum=0.5)  # class 2 unfilled before: overwrite
    assert torch.equal(memory, torch.tensor([[0.0, 5.0], [0.0, -2.0], [2.0, 0.0]])) and filled.all()
    # full: momentum per sample, in order: class 1 gets 0.5 (0.5 (0, -2) + 0.5 (4, 0)) + 0.5 (0, 2) = (1, 0.5)
    x3, y3 = torch.tensor([[4.0, 0.0], [6.0, 6.0], [0.0, 2.0]]), torch.tensor([1, 2, 1])
    want = reference_write(memory, True, x3, y3, 0.5)
    update_clothes_memory(memory, filled, x3, y3, momentum=0.5)
    assert torch.allclose(memory, want) and torch.allclose(memory[1], torch.tensor([1.0, 0.5]))
    assert torch.allclose(memory[2], torch.tensor([4.0, 3.0])) and torch.equal(memory[0], torch.tensor([0.0, 5.0]))
    # momentum 0 once full: the last sample of the class again
    update_clothes_memory(memory, filled, torch.tensor([[1.0, 1.0], [7.0, 0.0]]), torch.tensor([0, 0]))
    assert torch.equal(memory[0], torch.tensor([7.0, 0.0]))
    with pytest.raises(ValueError, match="memory write must be one of last, mean"):
        update_clothes_memory(memory, filled, x1, y1, write="median")


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_last_write_equals_the_reference_loop_on_random_batches(seed):
    g = torch.Generator().manual_seed(seed)
    memory, filled = torch.zeros(5, 3), torch.zeros(5, dtype=torch.bool)
    want = memory.clone()
    for step in range(4):
        x = torch.randn(8, 3, generator=g)
        y = torch.randint(0, 5, (8,), generator=g)
        if step == 2:
            y[:5] = torch.arange(5)  # every class written: momentum from the next batch on
        want = reference_write(want, bool(filled.all()), x, y, 0.3)
        update_clothes_memory(memory, filled, x, y, momentum=0.3)
        assert torch.allclose(memory, want, atol=1e-6), step


def make_memory_trainer(**over):
    return make_trainer(cal=True, cal__variant="memory", **over)


def test_memory_variant_step_writes_the_batch_and_trains_the_model():
    tr = make_memory_trainer()
    clips, pids, clothes = batch()
    tr.model.train()
    with torch.no_grad():
        f = copy.deepcopy(tr.model)(clips).features
    before = params(tr.model)
    cls_before = tr.heads.clothes_classifier.weight.detach().clone()
    logs = tr.step(clips, pids, clothes, epoch=1)
    assert any(not torch.equal(before[k], v) for k, v in tr.model.state_dict().items())
    heads = tr.heads
    assert heads.clothes_memory_filled.tolist() == [True] * 5 + [False]  # the batch has clothes 0..4
    last = [max(i for i in range(len(clothes)) if clothes[i] == c) for c in range(5)]  # the reference's write
    assert torch.allclose(heads.clothes_memory[:5], f[last], atol=1e-5)
    assert torch.equal(heads.clothes_memory[5], torch.zeros(f.shape[1]))
    assert {"cal", "clothes_loss", "clothes_acc_within_id", "loss", "id_loss"} <= set(logs)
    # the clothes classifier still learns (the diagnostic) and CAL sends it no gradient
    assert not torch.equal(heads.clothes_classifier.weight, cls_before)
    assert heads.clothes_classifier.weight.grad is None
    # the memory is part of the heads' state: saved and deep-copied (forks) with them
    assert {"clothes_memory", "clothes_memory_filled"} <= set(heads.state_dict())
    assert torch.equal(copy.deepcopy(heads).clothes_memory, heads.clothes_memory)


def test_memory_variant_with_the_mean_write():
    tr = make_memory_trainer(cal__memory_write="mean")
    clips, pids, clothes = batch()
    tr.model.train()
    with torch.no_grad():
        f = copy.deepcopy(tr.model)(clips).features
    tr.step(clips, pids, clothes, epoch=1)
    want = torch.stack([F.normalize(F.normalize(f, dim=1)[clothes == c].mean(0), dim=0) for c in range(5)])
    assert torch.allclose(tr.heads.clothes_memory[:5], want, atol=1e-5)


def test_memory_variant_before_the_start_epoch_is_the_plain_step():
    clips, pids, clothes = batch()
    mem, plain = make_memory_trainer(), make_trainer(cal=True)
    a, b = mem.step(clips, pids, clothes, epoch=0), plain.step(clips, pids, clothes, epoch=0)
    assert a == b and "cal" not in a
    assert not mem.heads.clothes_memory_filled.any()  # written only with the CAL term
    assert all(torch.equal(v, plain.model.state_dict()[k]) for k, v in mem.model.state_dict().items())
    # from the start epoch the two variants differ
    mem.step(clips, pids, clothes, epoch=1)
    plain.step(clips, pids, clothes, epoch=1)
    assert any(not torch.equal(v, plain.model.state_dict()[k]) for k, v in mem.model.state_dict().items())


def _classifier_step_as_before(tr: Trainer, clips, pids, clothes, epoch):
    """The Trainer's step as it was before the memory variant existed (the classifier path)."""
    cfg = tr.cfg
    out = tr.model(clips)
    feats = out.features
    loss = sum(F.cross_entropy(cls(f), pids, label_smoothing=cfg.loss.label_smoothing)
               for cls, f in zip(tr.heads.id_classifiers, out.id_features))
    clothes_cls = tr.heads.clothes_classifier
    pos_mask = tr.pid2clothes[pids]
    clothes_loss = F.cross_entropy(cfg.cal.scale * clothes_cls(feats.detach()), clothes)
    if epoch >= cfg.cal.clothes_start_epoch:
        tr.clothes_optimizer.zero_grad(set_to_none=True)
        clothes_loss.backward()
        tr.clothes_optimizer.step()
    if cfg.cal.enabled and epoch >= cfg.cal.start_epoch:
        loss = loss + cal_loss(clothes_cls(feats), clothes, pos_mask, cfg.cal.scale, cfg.cal.epsilon)
    tr.optimizer.zero_grad(set_to_none=True)
    loss.backward()
    tr.optimizer.step()
    clothes_cls.zero_grad(set_to_none=True)


def test_classifier_variant_is_unchanged():
    clips, pids, clothes = batch()
    for epoch in (0, 1):
        new, old = make_trainer(cal=True), make_trainer(cal=True)
        assert new.cfg.cal.variant == "classifier"
        for _ in range(2):
            new.step(clips, pids, clothes, epoch)
            _classifier_step_as_before(old, clips, pids, clothes, epoch)
        for mod in ("model", "heads"):
            got, want = getattr(new, mod).state_dict(), getattr(old, mod).state_dict()
            assert all(torch.equal(got[k], want[k]) for k in want), mod
        assert not new.heads.clothes_memory_filled.any()


def test_records_of_the_memory_variant_from_before_the_write_switch_read_as_the_mean_they_ran():
    from benchmark.records import RunRecord
    old = {"format": "ccreid-bench/run-record/2", "metrics": {},
           "config": {"cal": {"enabled": True, "variant": "memory"}}}
    assert RunRecord.from_dict(old).config["cal"]["memory_write"] == "mean"
    plain = {**old, "config": {"cal": {"enabled": True}}}
    assert "memory_write" not in RunRecord.from_dict(plain).config["cal"]  # today's default: the reference's
