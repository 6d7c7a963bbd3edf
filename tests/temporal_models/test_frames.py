"""Temporal heads over any frame encoder (temporal_models/frames.py): shapes, pools, a ResNet and a timm ViT."""
import pytest
import torch

from ccvid.base import UserError
from temporal_models import MODELS, ModelOutput, build_model
from temporal_models.frames import FRAME_POOLS, AttentionOverFrames, TransformerOverFrames, frame_embeddings

pytest.importorskip("timm")

HEADS = ("frames_mean", "frames_attention", "frames_transformer")
VIT = "timm:test_vit"  # timm's 0.3M-parameter test ViT (random init): 64-d tokens, one class token
CNN = "timm:test_resnet"  # timm's 0.4M-parameter test ResNet (random init): a 96-channel map, no class token


def clips(b=2, t=4, h=64, w=32):
    torch.manual_seed(1)
    return torch.randn(b, 3, t, h, w)


@pytest.mark.parametrize("name", HEADS)
@pytest.mark.parametrize("backbone, pool, dim", [(VIT, "auto", 64), (VIT, "cls", 64), (VIT, "avg", 64),
                                                 (VIT, "max", 64), (VIT, "cls+avg", 128),
                                                 ("resnet_tiny", "auto", 128), ("resnet_tiny", "avg", 128),
                                                 (CNN, "auto", 96), (CNN, "avg", 96), (CNN, "max", 96)])
def test_each_head_gives_the_suites_output_on_a_vit_and_a_cnn(name, backbone, pool, dim):
    torch.manual_seed(0)
    model = build_model(name, backbone, seq_len=4, img_size=(64, 32), frame_pool=pool)
    out = model(clips())
    assert isinstance(out, ModelOutput)
    assert out.features.shape == (2, dim) and [f.shape for f in out.id_features] == [(2, dim)]
    assert model.feature_dim == dim and model.id_feature_dims == [dim]
    assert out.features is out.id_features[0]  # one embedding: the clothes classifier and CAL see it too
    out.features.sum().backward()  # the encoder learns through the head
    assert model.backbone.parameters().__next__().grad is not None
    model.eval()
    assert model(clips(t=1)).features.shape == (2, dim)  # a one-frame clip (an image) too


def test_the_heads_are_registered_for_frame_encoders():
    for name in HEADS:
        assert MODELS.info(name).get("frame_encoders") is True
    assert not MODELS.info("baseline").get("frame_encoders")
    assert FRAME_POOLS[0] == "auto"


def test_frames_mean_on_a_resnet_is_c2d_before_the_neck():
    torch.manual_seed(0)
    model = build_model("frames_mean", "resnet_tiny", seq_len=4).eval()
    x = clips()
    maps = model.backbone(x.transpose(1, 2).reshape(-1, 3, 64, 32))
    expected = maps.amax(dim=(2, 3)).reshape(2, 4, -1).mean(dim=1)  # C2D: spatial max, temporal mean
    assert torch.allclose(model.bn(expected), model(x).features, atol=1e-6)


def test_pools_read_the_class_token_or_the_patches():
    torch.manual_seed(0)
    model = build_model("frames_mean", VIT, img_size=(64, 32), frame_pool="cls").eval()
    frames = torch.randn(3, 3, 64, 32)
    tokens = model.backbone.tokens(frames)  # (3, 1 + 4 * 2, 64)
    assert tokens.shape == (3, 9, 64) and model.backbone.num_prefix_tokens == 1
    enc = model.backbone
    assert torch.equal(frame_embeddings(enc, "cls", frames), tokens[:, 0])
    assert torch.allclose(frame_embeddings(enc, "avg", frames), tokens[:, 1:].mean(1))
    assert torch.allclose(frame_embeddings(enc, "max", frames), tokens[:, 1:].amax(1))
    assert torch.allclose(frame_embeddings(enc, "cls+avg", frames)[:, 64:], tokens[:, 1:].mean(1))
    # auto: timm's own pooled embedding (test_vit pools by its class token)
    assert torch.allclose(frame_embeddings(enc, "auto", frames), enc.net.forward_head(enc.net.forward_features(
        frames), pre_logits=True))


@pytest.mark.parametrize("backbone", ["resnet_tiny", CNN])
def test_a_resnet_has_no_class_token(backbone):
    with pytest.raises(UserError, match="no class token"):
        build_model("frames_mean", backbone, frame_pool="cls", img_size=(64, 32))


def test_attention_weights_are_a_softmax_over_frames():
    torch.manual_seed(0)
    head = AttentionOverFrames(8)
    x = torch.randn(2, 5, 8)
    same = x[:, :1].expand(2, 5, 8)
    assert torch.allclose(head(same), same[:, 0], atol=1e-6)  # equal frames: the frame itself
    assert head(x).shape == (2, 8)


def test_the_temporal_transformer_sees_the_order_of_frames_and_any_length():
    torch.manual_seed(0)
    head = TransformerOverFrames(16, seq_len=4)
    x = torch.randn(2, 4, 16)
    assert head(x).shape == (2, 16) and head(torch.randn(2, 7, 16)).shape == (2, 16)
    assert not torch.allclose(head(x), head(x.flip(1)))  # positions: the order matters
    assert torch.allclose(MODELS.get("frames_mean")(backbone=build_model("frames_mean", "resnet_tiny").backbone)
                          .temporal(x), x.mean(1))
