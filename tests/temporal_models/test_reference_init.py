"""init="reference": Non-Local's and TCLNet's extra convs drawn N(0, sqrt(2 / out_channels)) as the
reference draws them; init="pytorch" (the default) unchanged, draw for draw."""
import copy
import math

import pytest
import torch

from temporal_models import BACKBONES, MODELS, build_model
from temporal_models.nonlocal_block import NonLocalBlock
from temporal_models.tclnet import TSB

NONLOCAL_MODELS = ["nonlocal", "ap3d_nl"]
pytestmark = pytest.mark.usefixtures("one_thread")


def clip(b=2, t=4, h=64, w=32, seed=0):
    return torch.randn(b, 3, t, h, w, generator=torch.Generator().manual_seed(seed))


def nonlocal_convs(model):
    blocks = [m for m in model.modules() if isinstance(m, NonLocalBlock)]
    assert blocks
    return blocks, [c for b in blocks for c in (b.theta, b.phi, b.g, b.W[0])]


def tclnet_convs(model):
    return [model.tsb.W[0], model.tse.reduce, model.tse.conv_erase[0]]


def assert_reference_scale(conv):
    """Mean 0 and std sqrt(2 / out_channels) within a statistical tolerance (>= 8k draws: ~1% error)."""
    w = conv.weight.detach().double()
    assert w.numel() >= 8192
    expected = math.sqrt(2.0 / conv.out_channels)
    assert w.std().item() == pytest.approx(expected, rel=0.06)
    assert abs(w.mean().item()) < 0.06 * expected


# ---------------------------------------------------------------- the scale of the draws

@pytest.mark.parametrize("name", NONLOCAL_MODELS)
def test_nonlocal_convs_have_the_reference_scale(name):
    torch.manual_seed(0)
    model = build_model(name, backbone="resnet18", init="reference")
    blocks, convs = nonlocal_convs(model)
    for conv in convs:
        assert_reference_scale(conv)
    for b in blocks:  # the output BN still starts at zero: the block starts as the identity
        assert b.W[1].weight.abs().max() == 0 and b.W[1].bias.abs().max() == 0
    torch.manual_seed(0)
    _, default = nonlocal_convs(build_model(name, backbone="resnet18"))
    for ref, pt in zip(convs, default):  # PyTorch's default (kaiming-uniform, a=sqrt(5)): std sqrt(1 / (3 fan_in))
        ratio = ref.weight.std().item() / pt.weight.std().item()
        expected = math.sqrt(2 / ref.out_channels) / math.sqrt(1 / (3 * ref.in_channels))
        assert ratio == pytest.approx(expected, rel=0.1)
        # theta, phi, g (C -> C/2): sqrt(12) ~ 3.5x the default; W's conv (C/2 -> C): sqrt(3) ~ 1.7x
        assert expected == pytest.approx(math.sqrt(12) if ref.out_channels < ref.in_channels else math.sqrt(3))


def test_nonlocal_biases_keep_pytorchs_default_draw():
    """The reference redraws only the weights (m.weight.data.normal_); its conv biases stay as built."""
    torch.manual_seed(0)
    ref = NonLocalBlock(256, init="reference")
    torch.manual_seed(0)
    default = NonLocalBlock(256)
    for a, b in zip((ref.theta, ref.phi, ref.g, ref.W[0]), (default.theta, default.phi, default.g, default.W[0])):
        assert torch.equal(a.bias, b.bias)
        assert not torch.equal(a.weight, b.weight)
        bound = 1 / math.sqrt(a.in_channels)
        assert a.bias.abs().max() <= bound and a.bias.abs().max() > 0
    with pytest.raises(ValueError, match="init must be one of pytorch, reference"):
        NonLocalBlock(8, init="kaiming")


def test_tclnet_convs_have_the_reference_scale():
    torch.manual_seed(0)
    model = build_model("tclnet", backbone="resnet18", init="reference")
    for conv in tclnet_convs(model):
        assert_reference_scale(conv)
        assert conv.bias is None  # no bias before BatchNorm (a documented deviation)
    for bn in (model.tsb.W[1], model.tse.conv_erase[1]):
        assert bn.weight.abs().max() == 0 and bn.bias.abs().max() == 0


# ---------------------------------------------------------------- still the identity at initialisation

@pytest.mark.parametrize("name", NONLOCAL_MODELS)
def test_reference_init_still_starts_equal_to_the_baseline(name):
    torch.manual_seed(0)
    weights = BACKBONES.get("resnet_tiny")()
    base = MODELS.get("baseline")(backbone=copy.deepcopy(weights))
    model = MODELS.get(name)(backbone=copy.deepcopy(weights), init="reference")
    model.head.load_state_dict(base.head.state_dict())
    x = clip(t=8)
    for train in (False, True):
        base.train(train)
        model.train(train)
        torch.testing.assert_close(model(x).features, base(x).features, atol=1e-5, rtol=1e-5)


def test_tclnets_redrawn_convs_are_inert_at_initialisation():
    """TSB's W conv and TSE's conv_erase feed zero BatchNorms: any weights there give the same output."""
    torch.manual_seed(0)
    tsb = TSB(8, init="reference")
    x = torch.randn(2, 3, 8, 4, 3)
    torch.testing.assert_close(tsb(x), x)
    model = build_model("tclnet", backbone="resnet_tiny", init="reference")
    other = copy.deepcopy(model)
    with torch.no_grad():
        other.tsb.W[0].weight.normal_()
        other.tse.conv_erase[0].weight.normal_()
    x = clip(t=4)
    for train in (False, True):
        model.train(train)
        other.train(train)
        a, b = model(x), other(x)
        torch.testing.assert_close(a.features, b.features)
        torch.testing.assert_close(a.pre_features, b.pre_features)


# ---------------------------------------------------------------- the default path is unchanged

# Built by the code before init existed, under torch.manual_seed(0) with resnet_tiny: the float64 sum of
# |every state_dict entry| and the next torch.rand(()) (which pins how many random numbers were drawn).
BEFORE = {"nonlocal": (15142.422405131518, 0.9259798526763916),
          "ap3d_nl": (15209.170066589671, 0.8998916149139404),
          "tclnet": (24256.960100763612, 0.9752455353736877)}


def seeded(build):
    torch.manual_seed(0)
    model = build()
    return model.state_dict(), torch.rand(()).item()


@pytest.mark.parametrize("name", sorted(BEFORE))
def test_pytorch_init_is_bit_identical_to_the_old_build(name):
    old_sum, old_next = BEFORE[name]
    explicit, explicit_next = seeded(lambda: build_model(name, backbone="resnet_tiny", init="pytorch"))
    implicit, implicit_next = seeded(lambda: build_model(name, backbone="resnet_tiny"))
    direct, direct_next = seeded(lambda: MODELS.get(name)(backbone=BACKBONES.get("resnet_tiny")()))
    assert list(explicit) == list(implicit) == list(direct)
    for k in explicit:
        assert torch.equal(explicit[k], implicit[k]) and torch.equal(explicit[k], direct[k]), k
    assert explicit_next == implicit_next == direct_next == old_next
    total = sum(v.double().abs().sum().item() for v in explicit.values())
    assert total == pytest.approx(old_sum, rel=1e-9, abs=0)
    reference, reference_next = seeded(lambda: build_model(name, backbone="resnet_tiny", init="reference"))
    assert reference_next != old_next  # the reference path draws more, and only when asked for


# ---------------------------------------------------------------- how build_model passes init

def test_build_model_passes_init_only_to_factories_that_take_it():
    seen = {}

    def named(backbone, seq_len=8, init="pytorch"):
        seen["named"] = init
        return MODELS.get("baseline")(backbone=backbone)

    def open_kwargs(backbone, **kwargs):
        seen["kwargs"] = kwargs.get("init")
        return MODELS.get("baseline")(backbone=backbone)

    def old_plugin(backbone, seq_len=8):  # written before init existed
        seen["old"] = True
        return MODELS.get("baseline")(backbone=backbone)

    names = {"_test_named": named, "_test_kwargs": open_kwargs, "_test_old": old_plugin}
    for key, factory in names.items():
        MODELS.register(key)(factory)
    try:
        for key in names:
            build_model(key, backbone="resnet_tiny", init="reference")
    finally:
        for key in names:
            MODELS._items.pop(key, None)
    assert seen == {"named": "reference", "kwargs": "reference", "old": True}
    with pytest.raises(ValueError, match="init must be one of"):
        build_model("baseline", backbone="resnet_tiny", init="Reference")
    build_model("i3d", backbone="resnet_tiny", init="reference")  # models without such convs accept it
