import copy

import torch
import torch.nn.functional as F

from benchmark.config import make_config
from benchmark.training.trainer import Heads, Trainer
from temporal_models import build_model

NUM_PIDS, NUM_CLOTHES = 3, 6
PID2CLOTHES = torch.tensor([[1, 1, 0, 0, 0, 0], [0, 0, 1, 1, 0, 0], [0, 0, 0, 0, 1, 1]], dtype=torch.float32)


def make_trainer(cal, **over):
    torch.manual_seed(0)
    cfg = make_config("cpu", cal=cal, cal_start_epoch=1, lr=1e-2, **over)
    model = build_model("baseline", "resnet_tiny")
    heads = Heads(model, NUM_PIDS, NUM_CLOTHES)
    return Trainer(cfg, model, heads, PID2CLOTHES, torch.device("cpu"))


def batch():
    g = torch.Generator().manual_seed(1)
    clips = torch.randn(6, 3, 8, 32, 16, generator=g)
    pids = torch.tensor([0, 0, 1, 1, 2, 2])
    clothes = torch.tensor([0, 1, 2, 3, 4, 4])
    return clips, pids, clothes


def params(module):
    return {k: v.detach().clone() for k, v in module.state_dict().items()}


def changed(before, module):
    after = module.state_dict()
    return {k for k in before if not torch.equal(before[k], after[k])}


def test_clothes_step_trains_only_the_clothes_classifier_on_detached_features():
    tr = make_trainer(cal=True)
    clips, pids, clothes = batch()
    # expected clothes classifier after step 1: Adam on CE(16 * cos(f.detach())) alone
    ref_cls = copy.deepcopy(tr.heads.clothes_classifier)
    ref_opt = torch.optim.Adam(ref_cls.parameters(), lr=tr.cfg.optim.lr, weight_decay=tr.cfg.optim.weight_decay)
    tr.model.train()
    model_copy = copy.deepcopy(tr.model)
    with torch.no_grad():
        f = model_copy(clips).features
    F.cross_entropy(16 * ref_cls(f), clothes).backward()
    ref_opt.step()

    tr.step(clips, pids, clothes, epoch=1)
    assert torch.allclose(tr.heads.clothes_classifier.weight, ref_cls.weight, atol=1e-6)
    assert tr.heads.clothes_classifier.weight.grad is None  # CAL's gradient was discarded


def test_backbone_step_uses_cal_only_from_its_start_epoch():
    clips, pids, clothes = batch()
    runs = {}
    for cal, epoch in ((False, 1), (True, 0), (True, 1)):
        tr = make_trainer(cal=cal)
        before = params(tr.model)
        logs = tr.step(clips, pids, clothes, epoch=epoch)
        assert changed(before, tr.model)  # the backbone stepped
        runs[(cal, epoch)] = (params(tr.model), logs)
    off, before_start, on = runs[(False, 1)][0], runs[(True, 0)][0], runs[(True, 1)][0]
    assert all(torch.equal(off[k], before_start[k]) for k in off)  # before the start: ID loss only
    assert any(not torch.equal(off[k], on[k]) for k in off)  # after: CAL changes the update
    assert "cal" in runs[(True, 1)][1] and "cal" not in runs[(True, 0)][1]


def test_id_classifiers_follow_the_models_id_features():
    tr = make_trainer(cal=False)
    assert len(tr.heads.id_classifiers) == len(tr.model.id_feature_dims) == 1
    before = params(tr.heads)
    tr.step(*batch(), epoch=0)
    assert any(k.startswith("id_classifiers") for k in changed(before, tr.heads))


def test_triplet_settings_reach_the_per_part_loss():
    from benchmark.engine.losses import triplet_loss
    from benchmark.engine.objectives import Batch, triplet
    from temporal_models import ModelOutput

    def term(tr, parts, pids):
        out = ModelOutput(features=parts[:, 0], id_features=[parts[:, 0]], triplet_features=[parts])
        return triplet(Batch(tr.cfg, 0, out, pids, pids, None, tr.heads))

    tr = make_trainer(cal=False, triplet_margin=0.2, triplet_distance="euclidean", triplet_mining="all")
    g = torch.Generator().manual_seed(2)
    parts, pids = torch.randn(6, 3, 4, generator=g), torch.tensor([0, 0, 1, 1, 2, 2])
    want = sum(triplet_loss(parts[:, p], pids, 0.2, "euclidean", "all") for p in range(3)) / 3
    assert torch.allclose(term(tr, parts, pids), want)
    hard = term(make_trainer(cal=False, triplet_margin=0.2), parts, pids)
    assert not torch.allclose(hard, want)  # the default (cosine, batch-hard) is another loss


def test_label_smoothing_enters_the_id_loss():
    plain, smooth = make_trainer(cal=False), make_trainer(cal=False, label_smoothing=0.1)
    clips, pids, clothes = batch()
    a = plain.step(clips, pids, clothes, epoch=0)["id_loss"]
    b = smooth.step(clips, pids, clothes, epoch=0)["id_loss"]
    assert a != b


def test_augment_repeats_per_epoch_and_iteration_and_is_off_by_default():
    clips = batch()[0]
    off = make_trainer(cal=False)
    assert torch.equal(off.augment(clips, 0, 0), clips)
    tr = make_trainer(cal=False, random_crop=0.5, random_erasing=0.5)
    first = tr.augment(clips, 3, 7)
    assert torch.equal(first, tr.augment(clips, 3, 7))  # a fork at any epoch repeats the same draws
    assert not torch.equal(first, tr.augment(clips, 3, 8))
    assert not torch.equal(first, clips)


def test_flip_features_are_the_sum_of_a_clip_and_its_mirror():
    from temporal_models.features import extract_features

    torch.manual_seed(0)
    model = build_model("image", "resnet_tiny").eval()
    clips = (torch.rand(3, 1, 32, 16, 3) * 255).to(torch.uint8)  # uint8 (N, T, H, W, 3) as the loader gives
    loader = [(clips, torch.tensor([0, 1, 2]))]

    class Loader(list):
        dataset = [None] * 3
    feats = extract_features(model, Loader(loader), torch.device("cpu") , flip=True)
    from samplers import normalize_clips
    x = normalize_clips(clips)
    with torch.no_grad():
        expected = F.normalize(model(x).features + model(x.flip(-1)).features, dim=1)
    assert torch.allclose(feats, expected, atol=1e-5)
    plain = extract_features(model, Loader(loader), torch.device("cpu"))
    assert not torch.allclose(plain, expected, atol=1e-3)
