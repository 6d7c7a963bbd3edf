"""The temporal model zoo: contract, exact sizes, identity at initialisation, APM, TCLNet, GaitSet."""
import copy

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from temporal_models import BACKBONES, MODELS, ModelOutput, build_model
from temporal_models.ap3d import APM, APP3DC
from temporal_models.inflate import inflate_conv, to_video
from temporal_models.tclnet import TSB, TSE

ZOO = ["baseline", "i3d", "nonlocal", "ap3d", "ap3d_nl", "tclnet", "gaitset"]
VIDEO_RESNETS = ["i3d", "nonlocal", "ap3d", "ap3d_nl"]
pytestmark = pytest.mark.usefixtures("one_thread")


def clip(b=2, t=8, h=64, w=32, seed=0):
    return torch.randn(b, 3, t, h, w, generator=torch.Generator().manual_seed(seed))


def tensors(out):
    return [out.features, *out.id_features, *(out.triplet_features or [])]


def check_contract(model, out, b):
    assert isinstance(out, ModelOutput)
    assert out.features.shape == (b, model.feature_dim)
    assert [f.shape for f in out.id_features] == [(b, d) for d in model.id_feature_dims]
    for t in out.triplet_features or []:
        assert t.dim() in (2, 3) and t.shape[0] == b
    assert all(torch.isfinite(t).all() for t in tensors(out))


# ---------------------------------------------------------------- contract and sizes

def test_zoo_is_registered():
    assert set(ZOO) <= set(MODELS.names())


@pytest.mark.parametrize("name", ZOO)
def test_contract_for_4_8_16_frames(name):
    torch.manual_seed(0)
    model = build_model(name, backbone="resnet_tiny")
    for t, train in ((4, True), (8, False), (16, True)):
        model.train(train)
        check_contract(model, model(clip(t=t)), 2)


@pytest.mark.parametrize("name", ZOO)
def test_contract_with_resnet18(name):
    torch.manual_seed(0)
    model = build_model(name, backbone="resnet18").train()
    check_contract(model, model(clip(t=4)), 2)


def test_parameter_counts_match_the_reference_exactly():
    expected = {"baseline": 23_512_128, "i3d": 27_640_896, "ap3d": 24_243_328,
                "nonlocal": 30_870_592, "ap3d_nl": 31_601_792}
    for name, n in expected.items():
        model = build_model(name, backbone="resnet50")  # built only, never run
        assert sum(p.numel() for p in model.parameters()) == n, name
        assert model.feature_dim == 2048 and model.id_feature_dims == [2048]
        if name == "ap3d_nl":
            assert model.placement == {"conv3d": {2: [0, 2], 3: [0, 2, 4]}, "nonlocal": {2: [1, 3], 3: [1, 3, 5]}}
            assert isinstance(model.backbone.layer2[0].conv2, APP3DC)
            assert len(model.backbone.layer2) == 6 and len(model.backbone.layer3) == 9
        del model
    tcl = build_model("tclnet", backbone="resnet50")
    assert tcl.feature_dim == 4096 and tcl.id_feature_dims == [2048, 2048]
    assert len(tcl.tse.shared) == 2 and len(tcl.tse.branches) == 2
    del tcl
    image = build_model("image", backbone="resnet50")
    # docs/reference-facts.md, A: the 4096-d image model
    assert sum(p.numel() for p in image.parameters()) == 23_516_224
    assert image.feature_dim == 4096 and image.id_feature_dims == [4096]
    del image


def test_block_placement_on_shallow_backbones():
    r18 = build_model("ap3d_nl", backbone="resnet18")
    assert r18.placement == {"conv3d": {2: [0], 3: [0]}, "nonlocal": {2: [1], 3: [1]}}
    tiny = build_model("ap3d_nl", backbone="resnet_tiny")
    assert tiny.placement == {"conv3d": {2: [0], 3: [0]}, "nonlocal": {2: [0], 3: [0]}}
    i3d = build_model("i3d", backbone="resnet18")
    conv2 = i3d.backbone.layer2[0].conv2
    assert isinstance(conv2, nn.Conv3d) and conv2.kernel_size == (3, 3, 3) and conv2.padding == (1, 1, 1)
    assert type(i3d.backbone.layer2[0].conv1) is not nn.Conv3d  # only conv2 is replaced


# ---------------------------------------------------------------- identity at initialisation

@pytest.mark.parametrize("backbone", ["resnet_tiny", "resnet18"])
@pytest.mark.parametrize("name", VIDEO_RESNETS)
def test_starts_equal_to_the_baseline(name, backbone):
    torch.manual_seed(0)
    weights = BACKBONES.get(backbone)()
    base = MODELS.get("baseline")(backbone=copy.deepcopy(weights))
    model = MODELS.get(name)(backbone=copy.deepcopy(weights))
    model.head.load_state_dict(base.head.state_dict())
    x = clip(t=8 if backbone == "resnet_tiny" else 4)
    for train in (False, True):  # eval: running statistics; train: batch statistics of the same maps
        base.train(train)
        model.train(train)
        torch.testing.assert_close(model(x).features, base(x).features, atol=1e-5, rtol=1e-5)


def test_inflation_schemes():
    torch.manual_seed(0)
    conv = nn.Conv2d(4, 6, 3, stride=2, padding=1)
    frames = torch.randn(2, 4, 5, 9, 7)
    per_frame = to_video(copy.deepcopy(conv))(frames)
    centre = inflate_conv(conv, 3, init="center")
    assert centre.stride == (1, 2, 2) and centre.padding == (1, 1, 1)
    torch.testing.assert_close(centre(frames), per_frame, atol=1e-5, rtol=1e-5)
    still = frames[:, :, :1].expand_as(frames).contiguous()  # a clip of identical frames
    average = inflate_conv(conv, 3, init="average")
    inner = to_video(copy.deepcopy(conv))(still)[:, :, 1:-1]
    torch.testing.assert_close(average(still)[:, :, 1:-1], inner, atol=1e-5, rtol=1e-5)


# ---------------------------------------------------------------- APM

def structured_apm(temperature, c=64):
    """An APM whose semantic embedding reads the first c/16 channels, which one-hot encode the position."""
    apm = APM(c, temperature=temperature)
    k = apm.semantic_mapping.out_channels
    with torch.no_grad():
        apm.semantic_mapping.weight.zero_()
        apm.semantic_mapping.weight[:, :k, 0, 0, 0] = torch.eye(k)
    return apm, k


def positions_clip(k, t=4, seed=0):
    """(1, 16k, t, 2, k//2) frames: channels < k one-hot the position, the rest random; all frames identical."""
    g = torch.Generator().manual_seed(seed)
    h, w = 2, k // 2
    frame = torch.randn(1, 16 * k, 1, h, w, generator=g)
    frame[:, :k] = 3 * torch.eye(k).reshape(1, k, 1, h, w)
    return frame.expand(1, 16 * k, t, h, w).contiguous()


def test_apm_with_sharp_attention_aligns_identical_frames_to_the_centre():
    apm, k = structured_apm(temperature=100.0)
    x = positions_clip(k)
    prev, nxt = apm.align(x)
    torch.testing.assert_close(prev[:, :, 1:], x[:, :, 1:], atol=1e-4, rtol=0)
    torch.testing.assert_close(nxt[:, :, :-1], x[:, :, :-1], atol=1e-4, rtol=0)


def test_apm_recovers_a_frame_whose_positions_moved():
    apm, k = structured_apm(temperature=100.0)
    x = positions_clip(k, t=3)
    perm = torch.randperm(k, generator=torch.Generator().manual_seed(1))
    flat = x.flatten(3)
    moved = flat.clone()
    moved[:, :, 1] = flat[:, :, 1, perm]  # frame 1: the same content at shuffled positions
    moved = moved.view_as(x)
    prev, nxt = apm.align(moved)
    torch.testing.assert_close(nxt[:, :, 0], moved[:, :, 0], atol=1e-4, rtol=0)  # frame 1 re-aligned to 0
    torch.testing.assert_close(prev[:, :, 2], moved[:, :, 2], atol=1e-4, rtol=0)


def test_apm_rebuilds_neighbours_as_softmax_weighted_sums():
    torch.manual_seed(0)
    apm = APM(32)  # temperature 4
    x = torch.randn(2, 32, 1, 3, 2).expand(2, 32, 4, 3, 2).contiguous()  # identical frames
    prev, nxt = apm.align(x)
    key = F.normalize(apm.semantic_mapping(x), dim=1)[:, :, 0].flatten(2)  # (b, k, hw)
    raw = x[:, :, 0].flatten(2)  # (b, c, hw)
    weights = torch.softmax(4.0 * key.transpose(1, 2) @ key, dim=-1)  # (b, hw centre, hw neighbour)
    expected = (weights @ raw.transpose(1, 2)).transpose(1, 2).reshape(2, 32, 3, 2)
    for i in range(1, 4):
        torch.testing.assert_close(prev[:, :, i], expected, atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(nxt[:, :, i - 1], expected, atol=1e-5, rtol=1e-5)
    assert weights.max() < 0.99  # not one-hot at temperature 4: alignment is a blend


def test_apm_pads_the_clip_ends_with_zeros_and_interleaves():
    torch.manual_seed(0)
    apm = APM(32)
    x = torch.randn(2, 32, 5, 4, 2)
    prev, nxt = apm.align(x)
    assert prev[:, :, 0].abs().max() == 0 and nxt[:, :, -1].abs().max() == 0
    assert prev[:, :, 1:].abs().amax(dim=(0, 1, 3, 4)).min() > 0
    out = apm(x)
    assert out.shape == (2, 32, 15, 4, 2)
    torch.testing.assert_close(out[:, :, 1::3], x)  # centre frames in the middle of each triple
    assert out[:, :, 0].abs().max() == 0 and out[:, :, -1].abs().max() == 0
    gate = apm.gate(x, prev)
    torch.testing.assert_close(out[:, :, 0::3], prev * gate)
    assert gate.shape == (2, 1, 5, 4, 2) and ((gate > 0) & (gate < 1)).all()


# ---------------------------------------------------------------- gradients

def perturb_zero_parameters(model, scale=0.05):
    with torch.no_grad():
        for p in model.parameters():
            if p.abs().max() == 0:  # zero-initialised gates and projections
                p.add_(scale * torch.randn_like(p))


def structurally_zero(name, train):
    """Parameters of the reference design whose gradient is mathematically zero (rounding noise only).

    Non-Local's phi bias adds, for each query, the same constant to every key's logit, and
    softmax ignores it. In train mode, a per-channel constant in front of BatchNorm is removed
    by the batch mean: Non-Local's g bias (constant over positions after the attention
    average) and W's conv bias. They are kept because the reference's parameter counts include them.
    """
    return name.endswith("phi.bias") or (train and (name.endswith("g.bias") or name.endswith("W.0.bias")))


@pytest.mark.parametrize("name", ZOO)
def test_gradients_reach_every_parameter(name):
    torch.manual_seed(0)
    model = build_model(name, backbone="resnet_tiny")
    perturb_zero_parameters(model)
    x = clip(t=4)
    for train in (True, False):
        model.zero_grad(set_to_none=True)
        model.train(train)
        g = torch.Generator().manual_seed(1)
        loss = sum((t * torch.randn(t.shape, generator=g)).sum() for t in tensors(model(x)))
        loss.backward()
        grads = {n: p.grad for n, p in model.named_parameters() if p.requires_grad}
        assert all(v is not None and torch.isfinite(v).all() for v in grads.values())
        largest = max(v.abs().max() for v in grads.values())
        for pname, grad in grads.items():
            size = grad.abs().max()
            if structurally_zero(pname, train):
                assert size < 1e-5 * largest, pname
            else:
                assert size > 0, pname
                if not train:  # eval: no batch-statistics noise, a clear margin above rounding
                    assert size > 1e-6 * largest, pname


# ---------------------------------------------------------------- TCLNet

def test_tclnet_outputs_and_even_frames():
    torch.manual_seed(0)
    model = build_model("tclnet", backbone="resnet_tiny").eval()
    out = model(clip(t=8))
    a, b = out.id_features
    assert out.triplet_features[0] is a and out.triplet_features[1] is b
    torch.testing.assert_close(out.features, torch.cat([F.normalize(a, dim=1), F.normalize(b, dim=1)], 1))
    with pytest.raises(ValueError, match="even"):
        model(clip(t=5))


def test_tsb_starts_as_identity_and_reads_only_other_frames():
    torch.manual_seed(0)
    tsb = TSB(8)
    x = torch.randn(2, 3, 8, 4, 3)
    torch.testing.assert_close(tsb(x), x)
    x[:, 1] = torch.randn(2, 8, 1, 1)  # frame 1 constant over positions
    x2 = x[:, :2]
    gathered = tsb.aggregate(x2)
    torch.testing.assert_close(gathered[:, 0], x2[:, 1, :, 0, 0])  # frame 0 sees only frame 1


def test_tse_erases_the_most_salient_three_row_band():
    layer4 = build_model("baseline", backbone="resnet_tiny").backbone.layer4
    tse = TSE(layer4)
    scores = torch.zeros(2, 8, 4)
    scores[0, 2:5] = 1.0  # rows 2..4 salient
    scores[1, 6:] = 2.0  # the band must stay inside the map: rows 5..7
    mask = tse.band_mask(scores)
    assert mask[0, :, 0].tolist() == [1, 1, 0, 0, 0, 1, 1, 1]
    assert mask[1, :, 0].tolist() == [1, 1, 1, 1, 1, 0, 0, 0]
    assert (mask == mask[:, :, :1]).all()  # full-width bands


# ---------------------------------------------------------------- GaitSet-style

def test_gaitset_is_order_free_and_takes_any_length():
    torch.manual_seed(0)
    model = build_model("gaitset", backbone="resnet_tiny").eval()
    x = clip(t=5)
    out = model(x)
    shuffled = model(x[:, :, torch.tensor([3, 0, 4, 2, 1])])
    for u, v in zip(tensors(out), tensors(shuffled)):
        torch.testing.assert_close(u, v)
    parts = out.triplet_features[0]
    assert parts.shape == (2, 31, 256) and model.feature_dim == 31 * 256
    torch.testing.assert_close(out.features, parts.flatten(1))
    for t in (1, 3):
        check_contract(model, model(clip(t=t)), 2)


# ---------------------------------------------------------------- model table

def test_model_rows_small():
    from benchmark.tools.model_table import model_rows

    headers, rows = model_rows(["baseline", "ap3d"], backbone="resnet_tiny", height=64, width=32, seq_len=4,
                               repeats=1)
    assert headers[:4] == ["model", "parameters", "GFLOPs/clip", "clips/s"]
    (b_name, b_params, b_gflops, b_speed, b_losses, b_mem), (a_name, a_params, a_gflops, a_speed, _, a_mem) = rows
    assert headers[5] == "train MiB/clip" and a_mem > b_mem > 0  # AP3D keeps more activations than C2D
    assert b_losses == "-"  # the baseline has no loss recipe of its own
    assert (b_name, a_name) == ("baseline", "ap3d")
    assert b_params == sum(p.numel() for p in build_model("baseline", backbone="resnet_tiny").parameters())
    assert a_params > b_params and a_gflops > b_gflops > 0 and b_speed > 0 and a_speed > 0
    _, rows = model_rows(["baseline"], backbone="resnet_tiny", height=64, width=32, seq_len=8,
                         measure_speed=False)
    assert rows[0][3] is None and rows[0][2] == pytest.approx(2 * b_gflops, rel=1e-3)  # linear in T
    _, rows = model_rows(["tclnet"], backbone="resnet_tiny", height=64, width=32, measure_speed=False)
    assert rows[0][4] == "triplet weight=1.0 margin=0.4 distance=cosine mining=hard"
