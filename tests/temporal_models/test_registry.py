import pytest
import torch

from temporal_models import MODELS, UnknownNameError, WeightsError, build_model
from temporal_models.backbones import load_weights, resnet18
from temporal_models.registry import ModelRegistry


def test_unknown_name_suggests_close_matches():
    with pytest.raises(UnknownNameError, match="unknown model 'basline'; did you mean 'baseline'"):
        MODELS.get("basline")


def test_loss_recipes_come_from_the_decorator_or_a_factory_attribute():
    reg = ModelRegistry("thing")
    reg.register("a", losses={"triplet_weight": 1.0})(lambda: 1)

    def b():
        return 2
    b.loss_recipe = {"triplet_margin": 0.2}  # what an entry-point factory can carry
    reg.register("b")(b)
    reg.register("c")(lambda: 3)
    assert reg.loss_recipe("a") == {"triplet_weight": 1.0}
    assert reg.loss_recipe("b") == {"triplet_margin": 0.2} and reg.loss_recipe("c") == {}
    assert MODELS.loss_recipe("gaitset")["triplet_mining"] == "all"


def test_baseline_parameter_count_and_contract():
    m = build_model("baseline", "resnet50")
    assert sum(p.numel() for p in m.parameters()) == 23_512_128
    tiny = build_model("baseline", "resnet_tiny").eval()
    out = tiny(torch.randn(2, 3, 8, 64, 32))
    assert out.features.shape == (2, tiny.feature_dim)
    assert [f.shape[1] for f in out.id_features] == tiny.id_feature_dims


def test_baseline_is_frame_order_invariant_and_averages_frames():
    m = build_model("baseline", "resnet_tiny").eval()
    x = torch.randn(1, 3, 4, 64, 32)
    a = m(x).features
    b = m(x.flip(2)).features
    assert torch.allclose(a, b, atol=1e-5)


def test_weights_load_from_local_file_and_reject_mismatches(tmp_path):
    src = resnet18()
    path = tmp_path / "r18.pth"
    state = {**src.state_dict(), "fc.weight": torch.zeros(1000, 512), "fc.bias": torch.zeros(1000)}
    torch.save(state, path)
    dst = resnet18(pretrained=str(path))
    assert torch.equal(dst.conv1.weight, src.conv1.weight)
    with pytest.raises(WeightsError, match="weights do not fit resnet50"):
        build_model("baseline", "resnet50", pretrained=str(path))
    with pytest.raises(WeightsError, match="not found"):
        load_weights(src, str(tmp_path / "missing.pth"), "resnet18")


def test_imagenet_weights_never_download(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    with pytest.raises(WeightsError, match="no ImageNet weights for resnet18 in torchvision's cache"):
        resnet18(pretrained="imagenet")
