"""Which ImageNet file a --pretrained spec stands for: V1 (the reference's) unless V2 is asked for by name."""
import hashlib
import os
import re

import pytest
import torch

from temporal_models import WeightsError, resolve_weights, sha256_file
from temporal_models import backbones
from temporal_models.backbones import ResNetBackbone, load_weights, resnet50
from torchvision.models import resnet as tv_resnet

V1, V1_OLD, V2 = "resnet50-0676ba61.pth", "resnet50-19c8e357.pth", "resnet50-11ad3fa6.pth"


@pytest.fixture
def cache(tmp_path, monkeypatch):
    """An empty torchvision cache under a temporary TORCH_HOME; returns its checkpoints folder."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    folder = tmp_path / "hub" / "checkpoints"
    folder.mkdir(parents=True)
    assert os.path.samefile(os.path.join(torch.hub.get_dir(), "checkpoints"), folder)
    return folder


def fake(folder, name, value=0.0):
    """A tiny stand-in for a checkpoint: resolution never reads it."""
    path = folder / name
    torch.save({"x": torch.tensor([value])}, path)
    return str(path)


def test_imagenet_means_v1_even_when_v2_is_cached(cache):
    v2 = fake(cache, V2)
    v1 = fake(cache, V1)
    assert resolve_weights("imagenet") == v1
    assert resolve_weights("imagenet-v1", "resnet50") == v1
    assert resolve_weights("imagenet-v2") == v2


def test_tclnets_name_of_the_v1_weights_is_found(cache):
    old = fake(cache, V1_OLD)
    fake(cache, V2)
    assert resolve_weights("imagenet") == old
    current = fake(cache, V1)
    assert resolve_weights("imagenet") == current  # torchvision's current name first


def test_nothing_cached_names_the_folder(cache):
    with pytest.raises(WeightsError) as e:
        resolve_weights("imagenet")
    message = str(e.value)
    assert "no ImageNet weights for resnet50 in torchvision's cache" in message
    assert str(cache) in message and V1 in message and V1_OLD in message and "\n" not in message
    fake(cache, V1)
    with pytest.raises(WeightsError, match=re.escape(V2)):  # V2 is never a fallback for V1, nor V1 for V2
        resolve_weights("imagenet-v2")
    with pytest.raises(WeightsError, match="torchvision has no v2 weights"):
        resolve_weights("imagenet-v2", "resnet18")


def test_resnet18_has_v1_only(cache):
    old = fake(cache, "resnet18-5c106cde.pth")
    assert resolve_weights("imagenet", "resnet18") == old
    new = fake(cache, "resnet18-f37072fd.pth")
    assert resolve_weights("imagenet", "resnet18") == new


def test_paths_and_none(tmp_path):
    assert resolve_weights(None) is None and resolve_weights("") is None
    path = fake(tmp_path, "mine.pth")
    assert resolve_weights(path) == path
    with pytest.raises(WeightsError, match="not found"):
        resolve_weights(str(tmp_path / "missing.pth"))
    with pytest.raises(WeightsError, match="imagenet-v3: neither a weights file nor one of imagenet"):
        resolve_weights("imagenet-v3")


def test_the_backbone_loads_the_file_it_resolves(cache, monkeypatch):
    # resnet50 reads the V1 file: these fakes do not fit, and the error names the file it chose
    fake(cache, V2)
    v1 = fake(cache, V1)
    with pytest.raises(WeightsError, match=re.escape(f"{v1}: weights do not fit resnet50")):
        resnet50(pretrained="imagenet")
    # a small architecture given cache names of its own: real state dicts, V1 loaded over V2
    monkeypatch.setitem(backbones.TORCHVISION_CHECKPOINTS, "tiny",
                        {"v1": ("tiny-v1.pth",), "v2": ("tiny-v2.pth",)})

    def tiny():
        return ResNetBackbone(tv_resnet.BasicBlock, (1, 1, 1, 1), (16, 32, 64, 128), 16, 1, 3, 2)
    torch.manual_seed(1)
    src1, src2 = tiny(), tiny()
    torch.save(src1.state_dict(), cache / "tiny-v1.pth")
    torch.save(src2.state_dict(), cache / "tiny-v2.pth")
    for spec, src, name in (("imagenet", src1, "tiny-v1.pth"), ("imagenet-v2", src2, "tiny-v2.pth")):
        dst = tiny()
        assert load_weights(dst, spec, "tiny") == str(cache / name)
        assert all(torch.equal(a, b) for a, b in zip(dst.state_dict().values(), src.state_dict().values()))


def test_sha256_file_matches_hashlib(tmp_path):
    path = tmp_path / "blob.bin"
    data = os.urandom(10_000)
    path.write_bytes(data)
    expected = hashlib.sha256(data).hexdigest()
    assert sha256_file(str(path)) == expected
    assert sha256_file(str(path), chunk_size=333) == expected  # streamed in chunks that do not divide the size
    empty = tmp_path / "empty"
    empty.write_bytes(b"")
    assert sha256_file(str(empty)) == hashlib.sha256(b"").hexdigest()
