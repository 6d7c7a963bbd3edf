"""timm frame encoders (temporal_models/timm_encoders.py): names checked against timm's list, the input size,
parameter counts equal to timm's own (built on the meta device, no weights), local weights only, recorded."""
import os

import pytest
import torch

from ccvid.base import UserError, UnknownNameError
from temporal_models import BACKBONES, WeightsError, build_model, resolve_weights, sha256_file
from temporal_models.timm_encoders import cached_file, hub_repo

timm = pytest.importorskip("timm")

VITB = "vit_base_patch16_clip_224.openai"
EVA02L = "eva02_large_patch14_clip_224.merged2b"


def test_any_name_timm_lists_passes_and_a_typo_suggests():
    assert f"timm:{VITB}" in BACKBONES and "timm:test_vit" in BACKBONES and "timm:resnet18" in BACKBONES
    with pytest.raises(UnknownNameError) as e:
        BACKBONES.get("timm:vit_base_patch16_clip_224.opena")
    assert "did you mean 'timm:vit_base_patch16_clip_224.openai'" in str(e.value) and "\n" not in str(e.value)
    with pytest.raises(UnknownNameError, match="did you mean 'timm:eva02_large_patch14_clip_224.merged2b'"):
        BACKBONES.get("timm:eva02_large_patch14_clip_224.merged2b_s4b_b131k")  # open_clip's tag, not timm's
    assert "timm:vit_nonsense" not in BACKBONES and "resnet50" in BACKBONES


@pytest.mark.parametrize("name, expected", [(VITB, 85_799_424), (EVA02L, 303_317_952)])
def test_parameter_counts_equal_timms_own_built_on_meta(name, expected):
    with torch.device("meta"):
        own = timm.create_model(name, pretrained=False, num_classes=0)
        model = build_model("frames_mean", f"timm:{name}", img_size=(224, 224), frame_pool="cls")
    assert next(model.parameters()).is_meta  # nothing allocated, nothing downloaded
    encoder = sum(p.numel() for p in model.backbone.parameters())
    assert encoder == sum(p.numel() for p in own.parameters()) == expected
    dim = own.num_features
    assert sum(p.numel() for p in model.parameters()) == encoder + 2 * dim  # + the BN neck's weight and bias


def test_the_position_embedding_has_the_runs_grid():
    with torch.device("meta"):
        tall = build_model("frames_mean", f"timm:{VITB}", img_size=(256, 128))
    assert tall.backbone.net.pos_embed.shape == (1, 1 + 16 * 8, 768)  # 256x128 / 16: a 16x8 grid + class token


def test_local_weights_load_resampled_and_recorded(tmp_path):
    torch.manual_seed(0)
    source = timm.create_model("test_vit", num_classes=10)  # timm's own layout at its own size, with a head
    path = str(tmp_path / "w.pth")
    torch.save(source.state_dict(), path)
    model = build_model("frames_mean", "timm:test_vit", pretrained=path, img_size=(64, 32))
    net = model.backbone.net
    assert torch.equal(net.blocks[0].attn.qkv.weight, source.blocks[0].attn.qkv.weight)
    assert net.pos_embed.shape == (1, 1 + 4 * 2, 64) != source.pos_embed.shape  # resampled as timm does
    assert torch.equal(net.pos_embed[:, 0], source.pos_embed[:, 0])  # the class token's position kept
    assert resolve_weights(path, "timm:test_vit") == path and len(sha256_file(path)) == 64


def test_a_suite_checkpoint_gives_its_encoder(tmp_path):
    torch.manual_seed(0)
    stage1 = build_model("frames_mean", "timm:test_vit", img_size=(64, 32))
    path = str(tmp_path / "model.pt")
    torch.save({"model": "frames_mean", "config": {}, "state_dict": stage1.state_dict()}, path)
    stage2 = build_model("frames_transformer", "timm:test_vit", pretrained=path, img_size=(64, 32))
    for a, b in zip(stage1.backbone.parameters(), stage2.backbone.parameters()):
        assert torch.equal(a, b)


def test_weights_that_do_not_fit_are_one_line(tmp_path):
    path = str(tmp_path / "other.pth")
    torch.save(timm.create_model("test_vit2", num_classes=0).state_dict(), path)
    with pytest.raises(WeightsError) as e:
        build_model("frames_mean", "timm:test_vit", pretrained=path, img_size=(64, 32))
    assert str(e.value).startswith(f"{path}: weights do not fit timm:test_vit") and "\n" not in str(e.value)
    with pytest.raises(WeightsError, match="not found"):
        build_model("frames_mean", "timm:test_vit", pretrained=str(tmp_path / "none.pth"))
    with pytest.raises(UserError, match="res4 stage"):
        build_model("frames_mean", "timm:test_vit", res4_stride=2)


def fake_hub_file(cache, repo, tensors):
    """A file in the Hugging Face hub cache layout (refs/main -> snapshots/<rev>/model.safetensors)."""
    from safetensors.torch import save_file
    folder = cache / f"models--{repo.replace('/', '--')}"
    (folder / "refs").mkdir(parents=True)
    (folder / "refs" / "main").write_text("abc123")
    (folder / "snapshots" / "abc123").mkdir(parents=True)
    path = folder / "snapshots" / "abc123" / "model.safetensors"
    save_file({k: v.contiguous() for k, v in tensors.items()}, str(path))
    return str(path)


def test_the_cache_word_reads_timms_local_hub_cache_and_never_downloads(tmp_path, monkeypatch):
    import huggingface_hub
    monkeypatch.setattr(huggingface_hub, "hf_hub_download", lambda *a, **k: pytest.fail("a download"))
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    name = "test_vit.r160_in1k"
    with pytest.raises(WeightsError) as e:
        cached_file(name)
    assert f"no weights of {hub_repo(name)} in the local Hugging Face cache ({tmp_path / 'hub'}" in str(e.value)
    torch.manual_seed(0)
    source = timm.create_model(name, num_classes=1000)
    path = fake_hub_file(tmp_path / "hub", hub_repo(name), source.state_dict())
    assert resolve_weights("timm", f"timm:{name}") == path
    model = build_model("frames_mean", f"timm:{name}", pretrained="timm", img_size=(64, 32))
    assert torch.equal(model.backbone.net.patch_embed.proj.weight, source.patch_embed.proj.weight)


def test_resnet_weights_are_unchanged_by_the_family():
    with pytest.raises(WeightsError, match="pretrained weights file not found"):
        resolve_weights("/nowhere.pth", "resnet50")
    assert resolve_weights(None, "timm:test_vit") is None
    assert not os.path.exists("/nowhere.pth")
