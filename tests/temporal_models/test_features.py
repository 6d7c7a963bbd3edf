"""Whole-video features: the mean of the clips' features, or the model's own aggregation (TCLNet's)."""
from typing import Optional

import pytest
import torch
import torch.nn.functional as F

from temporal_models.features import extract_features
from samplers import normalize_clips
from temporal_models import ModelOutput, build_model

CPU = torch.device("cpu")


class Dataset(list):
    num_videos = 3


class Loader(list):
    """Batches of (uint8 clips (N, T, H, W, 3), owner video of each clip); video 1's clips span two batches."""
    dataset = Dataset([None] * 5)


def loader(t=4, seed=0):
    g = torch.Generator().manual_seed(seed)
    batches = []
    for owners in ([0, 0, 1], [1, 2]):
        clips = (torch.rand(len(owners), t, 64, 32, 3, generator=g) * 255).to(torch.uint8)
        batches.append((clips, torch.tensor(owners)))
    return Loader(batches)


@pytest.fixture(scope="module")
def tclnet():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    torch.manual_seed(0)
    model = build_model("tclnet", backbone="resnet_tiny")
    g = torch.Generator().manual_seed(2)
    with torch.no_grad():  # running statistics far from (0, 1), so that BN is not nearly the identity
        for bn in model.bns:
            bn.running_mean.copy_(torch.randn(bn.num_features, generator=g))
            bn.running_var.copy_(torch.rand(bn.num_features, generator=g) + 0.5)
            bn.bias.copy_(0.1 * torch.randn(bn.num_features, generator=g))
    yield model.eval()
    torch.set_num_threads(before)


@torch.no_grad()
def old_extract_features(model, loader, device, max_clips=128, flip=False):
    """extract_features before ``aggregate`` existed, verbatim but for the progress bar."""
    model.eval()
    sums: Optional[torch.Tensor] = None
    num_videos = getattr(loader.dataset, "num_videos", len(loader.dataset))
    counts = torch.zeros(num_videos)
    for clips, owner in loader:
        feats = []
        for i in range(0, len(clips), max_clips):
            x = normalize_clips(clips[i:i + max_clips].to(device, non_blocking=True))
            f = ModelOutput.of(model(x)).features
            if flip:
                f = f + ModelOutput.of(model(x.flip(-1))).features
            feats.append(f.float().cpu())
        feats = torch.cat(feats)
        if sums is None:
            sums = torch.zeros(num_videos, feats.shape[1])
        sums.index_add_(0, owner, feats)
        counts.index_add_(0, owner, torch.ones(len(owner)))
    return F.normalize(sums / counts[:, None], dim=1)


@torch.no_grad()
def by_hand(model, batches, flip=False):
    """Mean of the pre-BN learner features per video -> each learner's BN (eval) -> normalise halves -> concat
    -> normalise (docs/reference-facts.md, B: TCLNet's test feature)."""
    pre = {0: [], 1: [], 2: []}
    for clips, owners in batches:
        x = normalize_clips(clips)
        maps = model(x).pre_features
        if flip:
            maps = (maps + model(x.flip(-1)).pre_features) / 2
        for f, v in zip(maps, owners.tolist()):
            pre[v].append(f)
    rows = []
    for v in range(3):
        mean = torch.stack(pre[v]).mean(dim=0, keepdim=True)
        c = mean.shape[1] // 2
        halves = [F.normalize(model.bns[i](mean[:, i * c:(i + 1) * c]), dim=1) for i in range(2)]
        rows.append(F.normalize(torch.cat(halves, dim=1), dim=1))
    return torch.cat(rows)


def test_tclnet_pre_features_are_the_learners_before_their_bn(tclnet):
    x = normalize_clips(loader()[0][0])
    with torch.no_grad():
        out = tclnet(x)
    c = tclnet.id_feature_dims[0]
    assert out.pre_features.shape == (3, 2 * c)
    for i in range(2):
        torch.testing.assert_close(tclnet.bns[i](out.pre_features[:, i * c:(i + 1) * c]), out.id_features[i])


def test_model_aggregation_is_tclnets_own_test_feature(tclnet):
    batches = loader()
    feats = extract_features(tclnet, batches, CPU, aggregate="model")
    expected = by_hand(tclnet, batches)
    assert feats.shape == (3, tclnet.feature_dim)
    torch.testing.assert_close(feats, expected, atol=1e-6, rtol=1e-5)
    mean = extract_features(tclnet, batches, CPU)
    assert not torch.allclose(mean[:2], expected[:2], atol=1e-4)  # videos of several clips differ
    torch.testing.assert_close(mean[2], expected[2], atol=1e-6, rtol=1e-5)  # one clip: the same feature
    one_by_one = extract_features(tclnet, batches, CPU, max_clips=1, aggregate="model")
    torch.testing.assert_close(one_by_one, expected, atol=1e-6, rtol=1e-5)
    flipped = extract_features(tclnet, batches, CPU, flip=True, aggregate="model")
    torch.testing.assert_close(flipped, by_hand(tclnet, batches, flip=True), atol=1e-6, rtol=1e-5)


@pytest.mark.parametrize("flip", [False, True])
def test_mean_aggregation_is_unchanged(tclnet, flip):
    batches = loader()
    torch.manual_seed(0)
    baseline = build_model("baseline", backbone="resnet_tiny").eval()
    for model in (tclnet, baseline):
        for max_clips in (128, 2):
            new = extract_features(model, batches, CPU, max_clips=max_clips, flip=flip)
            assert torch.equal(new, extract_features(model, batches, CPU, max_clips=max_clips, flip=flip,
                                                     aggregate="mean"))
            assert torch.equal(new, old_extract_features(model, batches, CPU, max_clips=max_clips, flip=flip))


def test_model_aggregation_needs_the_hook():
    torch.manual_seed(0)
    baseline = build_model("baseline", backbone="resnet_tiny")
    with pytest.raises(ValueError, match="C2D has no video_features hook"):
        extract_features(baseline, loader(), CPU, aggregate="model")
    with pytest.raises(ValueError, match="aggregate must be one of mean, model"):
        extract_features(baseline, loader(), CPU, aggregate="median")


def test_raw_features_for_gaitsets_euclidean_test():
    """``normalize=False``: each video's mean clip feature as it is (GaitSet's evaluator ranks raw features)."""
    batches = loader()
    torch.manual_seed(0)
    gait = build_model("gaitset", backbone="resnet_tiny").eval()
    raw = extract_features(gait, batches, CPU, normalize=False)
    with torch.no_grad():
        clips = [gait(normalize_clips(c)).features for c, _ in batches]
    per_clip = torch.cat(clips)
    owners = torch.cat([o for _, o in batches])
    expected = torch.stack([per_clip[owners == v].mean(0) for v in range(3)])
    torch.testing.assert_close(raw, expected, atol=1e-5, rtol=1e-5)
    assert not torch.allclose(raw.norm(dim=1), torch.ones(3))  # not unit vectors
    torch.testing.assert_close(extract_features(gait, batches, CPU), F.normalize(expected, dim=1), atol=1e-6,
                               rtol=1e-5)
