"""``benchmark models`` for the heads over frame encoders: parameters, GFLOPs, clips/s and training memory per
clip, on the CPU and on the meta device (a large encoder at its recipe's size without weights or compute)."""
import contextlib

import pytest
import torch

from benchmark.cli import main
from benchmark.tools.model_table import (ModelTableError, count_gflops, count_gflops_meta, model_rows,
                                         train_memory_mib)
from temporal_models import build_model

pytest.importorskip("timm")

HEADS = ["frames_attention", "frames_mean", "frames_transformer"]


def test_a_timm_backbone_lists_the_heads_with_their_cost():
    headers, rows = model_rows(backbone="timm:test_vit", height=64, width=32, seq_len=4, repeats=1)
    assert headers[-1] == "train MiB/clip" and [r[0] for r in rows] == HEADS
    for name, params, gflops, speed, losses, memory in rows:
        model = build_model(name, "timm:test_vit", seq_len=4, img_size=(64, 32))
        assert params == sum(p.numel() for p in model.parameters())
        assert gflops > 0 and speed > 0 and memory > 0 and losses == "-"
    _, meta = model_rows(backbone="timm:test_vit", height=64, width=32, seq_len=4, device="meta")
    for (_, p, g, _, _, m), (_, mp, mg, ms, _, mm) in zip(rows, meta):
        assert (mp, mm, ms) == (p, m, None) and mg == pytest.approx(g, rel=0.02)  # same model, no compute


def test_the_heads_are_listed_over_the_default_resnet_too():
    _, rows = model_rows(HEADS, backbone="resnet_tiny", height=64, width=32, seq_len=4, measure_speed=False)
    assert [r[0] for r in rows] == HEADS and all(r[2] > 0 and r[3] is None for r in rows)


def test_attention_is_counted_as_matrix_products(monkeypatch):
    import benchmark.tools.model_table as table
    torch.manual_seed(0)
    model = build_model("frames_mean", "timm:test_vit", seq_len=2, img_size=(64, 32)).eval()
    clip = torch.randn(1, 3, 2, 64, 32)
    counted = count_gflops(model, clip)
    assert all(m.fused_attn for m in model.modules() if hasattr(m, "fused_attn"))  # restored afterwards
    with monkeypatch.context() as m:
        m.setattr(table, "unfused_attention", lambda model: contextlib.nullcontext())
        fused = count_gflops(model, clip)  # fvcore does not see the fused kernel
    tokens, dim, depth = 1 + 4 * 2, 64, len(model.backbone.net.blocks)
    assert (counted - fused) * 1e9 == pytest.approx(2 * depth * 2 * tokens * tokens * dim)  # q @ k, attn @ v
    assert count_gflops_meta(model.to("meta"), clip.to("meta")) == pytest.approx(counted, rel=0.02)


def test_training_memory_grows_with_the_clip():
    with torch.device("meta"):
        model = build_model("frames_mean", "timm:test_vit", seq_len=8, img_size=(64, 32))
    four = train_memory_mib(model, torch.randn(2, 3, 4, 64, 32, device="meta"))
    eight = train_memory_mib(model, torch.randn(2, 3, 8, 64, 32, device="meta"))
    assert eight == pytest.approx(2 * four, rel=0.05)


def test_a_resnet_model_with_a_frame_encoder_is_one_line():
    with pytest.raises(ModelTableError, match="model baseline: needs a ResNet-layout backbone, not timm:test_vit"):
        model_rows(["baseline"], backbone="timm:test_vit", height=64, width=32, measure_speed=False)


def test_the_command_prints_the_memory_column_on_meta(capsys):
    assert main(["models", "frames_mean", "--backbone", "timm:test_vit", "--height", "64", "--width", "32",
                 "--meta"]) == 0
    out = capsys.readouterr().out
    assert "meta device (no weights, no compute)" in out and "train MiB/clip" in out and "| frames_mean" in out
