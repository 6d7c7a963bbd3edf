"""pytorchvideo's video networks as models that bring their own backbone: registration, recipes, parameter
counts against pytorchvideo's own builders and its model zoo, the suite's head, sizes, Kinetics weights."""
import importlib.util
import sys

import pytest
import torch

import temporal_models
from ccvid.base import UserError
from temporal_models import MODELS, ModelOutput, build_model
from temporal_models import video_networks as vn
from temporal_models.backbones import WeightsError
from temporal_models.registry import MissingDependencyError

pytestmark = pytest.mark.usefixtures("one_thread")
NETWORKS = ["x3d_s", "x3d_m", "slowfast_r50", "mvit_b"]


def clip(b=2, t=8, h=64, w=32, seed=0):
    return torch.randn(b, 3, t, h, w, generator=torch.Generator().manual_seed(seed))


def n_params(module):
    return sum(p.numel() for p in module.parameters())


# ---------------------------------------------------------------- without pytorchvideo (these always run)

def test_registered_with_their_own_backbone_and_kinetics_clips():
    # frames x step of the Kinetics-400 recipes in pytorchvideo's / PySlowFast's model zoos (SlowFast 8x8:
    # the fast pathway's 32 frames at step 2, alpha 4), written out here independently of the module
    expected = {"x3d_s": (13, 6), "x3d_m": (16, 5), "slowfast_r50": (32, 2), "mvit_b": (16, 4)}
    for name, (t, s) in expected.items():
        assert MODELS.owns_backbone(name) and MODELS.info(name)["requires"] == "pytorchvideo"
        assert MODELS.loss_recipe(name) == {"data.seq_len": t, "data.stride": s}  # what loss.recipe=model applies
    assert MODELS.owns_backbone("x3d_tiny") and MODELS.loss_recipe("x3d_tiny") == {}
    assert not MODELS.owns_backbone("baseline") and MODELS.loss_recipe("baseline") == {}


def test_without_the_extra_a_model_is_one_line_naming_it(monkeypatch):
    from benchmark.tools.model_table import model_rows, unavailable_models
    monkeypatch.setitem(sys.modules, "pytorchvideo", None)  # an import of it now fails, as when not installed
    with pytest.raises(MissingDependencyError, match=r"model 'x3d_tiny' needs pytorchvideo.*"
                                                     r"pip install 'ccreid-bench\[pytorchvideo\]'") as e:
        build_model("x3d_tiny", backbone="resnet_tiny")
    assert "\n" not in str(e.value) and isinstance(e.value, UserError)
    assert any("'mvit_b' needs pytorchvideo" in r for r in unavailable_models())
    built = []

    def fake_build(name, **_):  # record what `benchmark models` would build, cheaply
        built.append(name)
        return Mean()
    monkeypatch.setattr(temporal_models, "build_model", fake_build)
    _, rows = model_rows(None, height=4, width=4, seq_len=1, measure_speed=False)
    assert "baseline" in built and not {"x3d_s", "x3d_m", "slowfast_r50", "mvit_b", "x3d_tiny"} & set(built)
    assert [r[0] for r in rows] == sorted(set(built))


class Mean(torch.nn.Module):
    feature_dim, id_feature_dims = 3, [3]

    def forward(self, clips):
        f = clips.mean(dim=(2, 3, 4))
        return ModelOutput(f, [f])


# ---------------------------------------------------------------- with pytorchvideo

# every test below needs the extra (pip install -e ".[test]" installs it)
needs_pytorchvideo = pytest.mark.skipif(importlib.util.find_spec("pytorchvideo") is None,
                                        reason="the pytorchvideo extra is not installed")


@needs_pytorchvideo
@pytest.mark.parametrize("name", ["x3d_m", "slowfast_r50", "mvit_b"])
def test_parameter_counts_equal_pytorchvideos_own_and_its_model_zoo(name):
    """Both built on the meta device without weights: ours = pytorchvideo's - its Kinetics classifier + the BN neck."""
    with vn.parameters_on_meta():
        theirs = vn.build_pytorchvideo(name)
        ours = build_model(name, backbone="resnet50")
    assert {p.device.type for p in ours.parameters()} == {"meta"}
    classifier = theirs.head.proj if name == "mvit_b" else theirs.blocks[-1].proj
    d = ours.feature_dim
    assert classifier.in_features == d and classifier.out_features == 400
    assert n_params(ours.net) == n_params(theirs) - n_params(classifier)
    assert n_params(ours) == n_params(theirs) - (d * 400 + 400) + 2 * d
    # pytorchvideo's model zoo (Kinetics-400 table: X3D-M 3.79M, SlowFast R50 8x8 34.57M) and MViT-B 16x4's
    # 36.6M of its paper (pytorchvideo's table has no MViT row)
    published = {"x3d_m": 3.79, "slowfast_r50": 34.57, "mvit_b": 36.61}[name]
    assert round(n_params(theirs) / 1e6, 2) == published == vn.PUBLISHED_PARAMS_M[name]
    exact = {"x3d_m": 3_794_274, "slowfast_r50": 34_566_488, "mvit_b": 36_610_672}[name]
    assert n_params(theirs) == exact


@needs_pytorchvideo
def test_mvit_b_has_torchvisions_mvit_v1_b_parameter_count():
    import torchvision
    with vn.parameters_on_meta():
        theirs = vn.build_pytorchvideo("mvit_b")
        tv = torchvision.models.video.mvit_v1_b()
    assert n_params(theirs) == n_params(tv) == 36_610_672


@needs_pytorchvideo
@pytest.mark.parametrize("name", NETWORKS + ["x3d_tiny"])
def test_output_contract_on_embedded_clips(name):
    torch.manual_seed(0)
    model = build_model(name, backbone="resnet_tiny").train()
    out = model(clip(b=2, t=8))
    assert isinstance(out, ModelOutput) and model.id_feature_dims == [model.feature_dim]
    assert out.features.shape == (2, model.feature_dim) and out.id_features[0] is out.features
    assert torch.isfinite(out.features).all()
    assert isinstance(model.bn, torch.nn.BatchNorm1d) and model.bn.num_features == model.feature_dim
    assert not hasattr(model, "backbone")  # no 2-D backbone was built
    dims = {"x3d_s": 2048, "x3d_m": 2048, "slowfast_r50": 2304, "mvit_b": 768, "x3d_tiny": 128}
    assert model.feature_dim == dims[name]


@needs_pytorchvideo
def test_x3d_m_at_the_reid_input_size():
    torch.manual_seed(0)
    model = build_model("x3d_m", backbone="resnet50").eval()
    with torch.no_grad():
        out = model(clip(b=1, t=4, h=256, w=128))
    assert out.features.shape == (1, 2048)


@needs_pytorchvideo
def test_mvit_position_embedding_is_resized_to_the_reid_grid():
    torch.manual_seed(0)
    model = build_model("mvit_b", backbone="resnet50")
    enc = model.net.cls_positional_encoding
    assert tuple(enc.patch_embed_shape) == (8, 56, 56)  # built for 16x224x224 Kinetics clips
    pos = model.position_embedding(4, 64, 32)  # 8 frames of 256x128: patches of 2x4x4
    assert pos.shape == (1, 1 + 4 * 64 * 32, 96)  # the patch embedding is 96-d
    same = model.position_embedding(8, 56, 56)  # the built grid: pytorchvideo's own sum, unresized
    theirs = torch.cat([enc.pos_embed_class, enc.pos_embed_spatial.repeat(1, 8, 1)
                        + enc.pos_embed_temporal.repeat_interleave(56 * 56, dim=1)], dim=1)
    assert torch.equal(same, theirs)


@needs_pytorchvideo
def test_mvit_forward_equals_pytorchvideos_at_the_built_size():
    """A small MViT through our forward (resizable position embedding) and pytorchvideo's own, at its built size."""
    from pytorchvideo.models.vision_transformers import create_multiscale_vision_transformers
    torch.manual_seed(0)
    net = create_multiscale_vision_transformers(spatial_size=(32, 16), temporal_size=4, depth=2, patch_embed_dim=16,
                                                pool_q_stride_size=[[1, 1, 2, 2]], pool_kv_stride_adaptive=[1, 2, 2],
                                                pool_kvq_kernel=[3, 3, 3], embed_dim_mul=[[1, 2.0]],
                                                atten_head_mul=[[1, 2.0]])
    for p in net.cls_positional_encoding.parameters():
        torch.nn.init.normal_(p)  # pytorchvideo starts them at zero (then truncated normal); make them matter
    model = vn.MViT(net, "mvit_b").eval()
    head = torch.nn.Identity()
    x = clip(b=2, t=4, h=32, w=16)
    with torch.no_grad():
        ours = model.trunk(x)
        net.head = head
        theirs = net(x)[:, 0]
    assert torch.allclose(ours, theirs, atol=1e-6)
    with torch.no_grad():
        other = model.trunk(clip(b=2, t=8, h=64, w=32))  # another size: the embedding is resized
    assert other.shape == (2, 32)


@needs_pytorchvideo
def test_x3d_global_pool_equals_the_fixed_pool_at_the_built_size():
    torch.manual_seed(0)
    model = build_model("x3d_tiny", backbone="resnet_tiny").eval()
    theirs = vn.build_pytorchvideo("x3d_tiny").eval()  # built for 4x64x64 clips: its pool kernel covers them
    theirs.load_state_dict({**theirs.state_dict(), **model.net.state_dict()})
    x = clip(b=2, t=4, h=64, w=64)
    with torch.no_grad():
        head = theirs.blocks[-1]
        maps = x
        for block in theirs.blocks[:-1]:
            maps = block(maps)
        expected = head.pool(maps).flatten(1)
        assert torch.allclose(model.trunk(x), expected, atol=1e-5)
        assert model.trunk(clip(b=2, t=8, h=64, w=32)).shape == (2, 128)  # another size through the global pool


@needs_pytorchvideo
def test_slowfast_packs_every_fourth_frame_and_refuses_other_lengths():
    torch.manual_seed(0)
    model = build_model("slowfast_r50", backbone="resnet50", seq_len=8).eval()
    seen = []
    model.net.blocks[0].register_forward_pre_hook(lambda m, args: seen.append([p.clone() for p in args[0]]))
    x = clip(b=1, t=8)
    with torch.no_grad():
        model.trunk(x)
    slow, fast = seen[0]
    assert torch.equal(fast, x) and torch.equal(slow, x[:, :, [0, 7]])  # linspace(0, 7, 2)
    with pytest.raises(vn.ClipError, match="slowfast_r50 needs data.seq_len a multiple of 4"):
        build_model("slowfast_r50", backbone="resnet50", seq_len=6)


@needs_pytorchvideo
def test_the_kinetics_normalisation_is_applied():
    model = build_model("x3d_tiny", backbone="resnet_tiny")
    gray = torch.zeros(1, 3, 1, 1, 1)
    for c, (m, s) in enumerate(zip((0.485, 0.456, 0.406), (0.229, 0.224, 0.225))):
        gray[0, c] = (0.45 - m) / s  # the loader's ImageNet normalisation of a pixel of 0.45
    assert torch.allclose(model.kinetics_input(gray), torch.zeros_like(gray), atol=1e-6)


@needs_pytorchvideo
def test_backbone_is_ignored_for_resnet_names_and_refused_otherwise():
    torch.manual_seed(0)
    a = build_model("x3d_tiny", backbone="resnet50")
    torch.manual_seed(0)
    b = build_model("x3d_tiny", backbone="resnet_tiny", res4_stride=2)
    assert all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values()))
    with pytest.raises(UserError, match="'x3d_tiny' brings its own backbone; model.backbone 'timm:vit_tiny'"):
        build_model("x3d_tiny", backbone="timm:vit_tiny")


# ---------------------------------------------------------------- Kinetics weights from local files

def kinetics_file(tmp_path, model, classifier="blocks.5.proj.", drop=None, wrap=True):
    state = {k: v.clone() + 1 for k, v in model.net.state_dict().items()}
    state[classifier + "weight"] = torch.zeros(400, model.feature_dim)  # the Kinetics classifier, dropped
    state[classifier + "bias"] = torch.zeros(400)
    if drop:
        del state[drop]
    path = tmp_path / "X3D_M.pyth"
    torch.save({"model_state": state, "epoch": 1} if wrap else state, path)
    return path, state


@needs_pytorchvideo
def test_kinetics_weights_load_from_a_pyth_file_and_its_classifier_is_dropped(tmp_path):
    torch.manual_seed(0)
    fresh = build_model("x3d_m", backbone="resnet50")
    path, state = kinetics_file(tmp_path, fresh)
    loaded = build_model("x3d_m", backbone="resnet50", pretrained=str(path))
    for k, v in loaded.net.state_dict().items():
        assert torch.equal(v, state[k]), k
    assert not any(k.startswith("net.blocks.5.proj") for k in loaded.state_dict())


@needs_pytorchvideo
@pytest.mark.parametrize("case, message", [
    ("missing-key", r"weights do not fit x3d_m \(missing 1, unexpected 0, wrong shape 0 keys; first: blocks"),
    ("no-file", r"pretrained weights file not found \(pytorchvideo's X3D_M.pyth for x3d_m\)"),
    ("imagenet", r"x3d_m takes Kinetics-400 weights from a local file"),
    ("not-weights", r"not a state dict of x3d_m"),
])
def test_bad_kinetics_weights_are_one_line(tmp_path, case, message):
    torch.manual_seed(0)
    fresh = build_model("x3d_m", backbone="resnet50")
    if case == "missing-key":
        path, _ = kinetics_file(tmp_path, fresh, drop="blocks.1.res_blocks.0.branch2.conv_a.weight")
    elif case == "no-file":
        path = tmp_path / "nothing.pyth"
    elif case == "imagenet":
        path = "imagenet"
    else:
        path = tmp_path / "w.pt"
        torch.save({"model_state": {"a": 1}}, path)
    with pytest.raises(WeightsError, match=message) as e:
        build_model("x3d_m", backbone="resnet50", pretrained=str(path))
    assert "\n" not in str(e.value)


@needs_pytorchvideo
def test_the_tiny_network_has_no_weights_to_load(tmp_path):
    with pytest.raises(WeightsError, match="x3d_tiny has no pretrained weights"):
        build_model("x3d_tiny", backbone="resnet_tiny", pretrained=str(tmp_path / "w.pt"))
