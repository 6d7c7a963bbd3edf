"""Activation maps: the Grad-CAM maths, the hooks on every ResNet-based model, ``benchmark test RUN
--activation-maps N`` and ``leaderboard --figures DIR --activation-pair RUN_A RUN_B``."""
import os

import numpy as np
import pytest
import torch
from PIL import Image

from benchmark.cli import main
from benchmark.tools.activation_maps import (
    SUPPORTED, ActivationMapError, blend, clip_cams, clothes_changing_queries, frame_indices, grad_cam, normalise,
    pick_queries, spatial_layers, upsample)

pytestmark = pytest.mark.usefixtures("one_thread")


# ----------------------------------------------------------------------------- maths
def test_grad_cam_weighs_channels_by_their_mean_gradient():
    maps = np.zeros((1, 2, 2, 2))
    maps[0, 0] = [[1, 0], [0, 0]]
    maps[0, 1] = [[0, 0], [0, 3]]
    grads = np.zeros_like(maps)
    grads[0, 0] = 2.0   # weight 2
    grads[0, 1] = -1.0  # weight -1
    assert np.allclose(grad_cam(maps, grads, signed=True), [[[2, 0], [0, 0]]])   # ReLU cuts the -3
    assert np.allclose(grad_cam(maps, grads), [[[2, 0], [0, 3]]])                # by magnitude: both count
    with pytest.raises(ValueError, match=r"\(N, C, h, w\)"):
        grad_cam(maps[0], grads[0])


def test_normalise_scales_each_map_and_zeros_a_flat_one():
    cams = np.stack([np.array([[1.0, 3.0], [2.0, 5.0]]), np.full((2, 2), 7.0)])
    out = normalise(cams)
    assert np.allclose(out[0], [[0, 0.5], [0.25, 1]]) and np.allclose(out[1], 0)
    with pytest.raises(ValueError, match="finite"):
        normalise(np.full((1, 2, 2), np.nan))


def test_upsample_is_bilinear_with_centred_pixels():
    cam = np.array([[[0.0, 1.0]]])  # one row, two columns
    out = upsample(cam, (2, 4))
    assert out.shape == (1, 2, 4)
    assert np.allclose(out[0, 0], [0, 0.25, 0.75, 1]) and np.allclose(out[0, 0], out[0, 1])
    src = np.random.default_rng(0).random((2, 3, 2))  # torch's bilinear resize, pixel centres aligned
    expected = torch.nn.functional.interpolate(torch.tensor(src)[None], (7, 5), mode="bilinear",
                                               align_corners=False)[0].numpy()
    assert np.allclose(upsample(src, (7, 5)), expected)


def test_blend_mixes_frame_and_colour():
    frame = np.full((2, 2, 3), 100, dtype=np.uint8)
    heat = np.zeros((2, 2, 3))
    heat[..., 0] = 1.0
    out = blend(frame, heat, alpha=0.5)
    assert out.dtype == np.uint8 and out[0, 0].tolist() == [178, 50, 50]
    assert (blend(frame, heat, alpha=0.0) == frame).all()
    with pytest.raises(ValueError, match="alpha"):
        blend(frame, heat, alpha=2)


def test_frames_and_queries_are_spread_evenly():
    assert frame_indices(8, 4) == [0, 2, 5, 7] and frame_indices(2, 4) == [0, 1] and frame_indices(1) == [0]
    assert pick_queries(10, 3) == [0, 4, 9] and pick_queries(2, 5) == [0, 1]
    with pytest.raises(ActivationMapError, match=">= 1"):
        pick_queries(10, 0)


def test_clothes_changing_queries_come_first_when_the_gallery_tells():
    from types import SimpleNamespace as T
    query = [T(pid=1, clothes=0), T(pid=1, clothes=1), T(pid=2, clothes=3), T(pid=3, clothes=4)]
    gallery = [T(pid=1, clothes=0), T(pid=2, clothes=3), T(pid=3, clothes=5)]
    cc = clothes_changing_queries(query, gallery)
    assert cc == [1, 3]                                   # id 1 in clothes 1 and id 3 meet other clothes
    assert pick_queries(4, 1, cc) == [1] and pick_queries(4, 2, cc) == [1, 3]
    assert pick_queries(4, 3, cc) == [0, 1, 3] and pick_queries(4, 9, cc) == [0, 1, 2, 3]  # then the others
    assert pick_queries(4, 2, []) == [0, 3]               # no clothes-changing query: all of them


# ----------------------------------------------------------------------------- hooks
@pytest.mark.parametrize("name", SUPPORTED)
def test_every_resnet_model_gives_one_map_per_frame(name):
    from temporal_models import build_model

    torch.manual_seed(0)
    model = build_model(name, "resnet_tiny", None, 1, 4)
    layers, layout = spatial_layers(model, name)
    clip = torch.randn(1, 3, 4, 64, 32)
    cams = clip_cams(model, clip, layers, layout)
    assert cams.shape[0] == 4 and cams.ndim == 3 and np.isfinite(cams).all() and (cams >= 0).all()
    assert cams.reshape(4, -1).max(axis=1).min() > 0  # every frame has something to show
    assert not any(layer._forward_hooks for layer in layers)  # the hooks are removed


def test_a_model_without_a_resnet_map_is_refused():
    with pytest.raises(ActivationMapError, match="'frames_mean' has no ResNet feature map.*supported: baseline"):
        spatial_layers(torch.nn.Linear(2, 2), "frames_mean")


# ----------------------------------------------------------------------------- from a run folder
def save_run(folder, tree, name="baseline", seed=0, backbone="resnet_tiny", height=64, width=32):
    from benchmark.config import Config
    from temporal_models import build_model

    cfg = Config().replace(**{"data.dataset": "ccvid", "data.root": str(tree), "data.height": height,
                              "data.width": width, "data.seq_len": 4, "system.threads": 1, "system.seed": seed,
                              "model.name": name, "model.backbone": backbone})
    torch.manual_seed(seed)
    model = build_model(name, backbone, None, cfg.model.res4_stride, cfg.data.seq_len, img_size=(height, width))
    folder.mkdir(parents=True)
    torch.save({"model": name, "backbone": backbone, "config": cfg.to_dict(), "state_dict": model.state_dict()},
               folder / "model.pt")
    return folder


def pngs(folder):
    return sorted(f for f in os.listdir(folder) if f.endswith(".png"))


def pixels(path):
    with Image.open(path) as im:
        return np.asarray(im.convert("RGB"), dtype=np.int16)


def test_one_command_draws_one_png_per_query_and_models_differ(ccvid_tree, tmp_path, capsys):
    a = save_run(tmp_path / "runs" / "a", ccvid_tree, seed=0)
    b = save_run(tmp_path / "runs" / "b", ccvid_tree, seed=1)
    for run in (a, b):
        assert main(["test", str(run), "--activation-maps", "2", "--no-progress"]) == 0
    out = capsys.readouterr().out
    names = pngs(a / "activation_maps")
    assert names == ["query-0000-id10-cam1.png", "query-0001-id11-cam14.png"] and pngs(b / "activation_maps") == names
    assert out.count("activation map: ") == 4
    for name in names:
        pa, pb = pixels(a / "activation_maps" / name), pixels(b / "activation_maps" / name)
        assert pa.shape == pb.shape
        changed = np.abs(pa - pb).max(axis=2) > 30
        assert changed.mean() > 0.01, "the overlays of two different models should differ"
    # the same model draws the same picture again (the queries and frames are chosen deterministically)
    first = pixels(a / "activation_maps" / names[0])
    assert main(["test", str(a), "--activation-maps", "1", "--out", str(tmp_path / "again"), "--no-progress"]) == 0
    assert pngs(tmp_path / "again") == names[:1] and (pixels(tmp_path / "again" / names[0]) == first).all()


def refused(args, capsys):
    code = main(args)
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1 and lines[0].startswith("benchmark: error: "), err
    return lines[0]


@pytest.mark.parametrize("n", ["0", "-1", "two"])
def test_a_bad_number_is_one_line(n, ccvid_tree, tmp_path, capsys):
    run = save_run(tmp_path / "run", ccvid_tree)
    line = refused(["test", str(run), "--activation-maps", n, "--no-progress"], capsys)
    assert f"--activation-maps {n!r}: expected a number of query tracklets >= 1" in line
    assert not (run / "activation_maps").exists()


def test_an_unsupported_model_is_one_line(ccvid_tree, tmp_path, capsys, monkeypatch):
    pytest.importorskip("timm")
    import benchmark.training.loaders as loaders
    run = save_run(tmp_path / "run", ccvid_tree, name="frames_mean", backbone="timm:test_vit")
    monkeypatch.setattr(loaders, "load_dataset", lambda cfg: pytest.fail("data loaded before the check"))
    line = refused(["test", str(run), "--activation-maps", "2", "--no-progress"], capsys)
    assert "--activation-maps: model 'frames_mean' has no ResNet feature map" in line
    assert not (run / "activation_maps").exists()


# ----------------------------------------------------------------------------- two runs side by side
def test_leaderboard_puts_two_runs_side_by_side(tmp_path, capsys):
    from leaderboards.cli import main as leaderboard

    runs, cache = tmp_path / "runs", tmp_path / "cache"
    tiny = ["--set", "synth.num_train_ids=4", "--set", "synth.num_test_ids=3", "--set", "synth.num_frames=12",
            "--set", "synth.max_suits=2", "--set", "synth.write_videos=false", "--set", "synth.workers=1",
            "--set", "num_ids=2", "--set", "clips_per_id=2", "--set", "lr_steps=1", "--set", "cal_start_epoch=1",
            "--set", "backbone=resnet_tiny", "--set", "pretrained=none", "--set", "workers=0", "--epochs", "2",
            "--runs-dir", str(runs), "--set", f"cache_dir={cache}", "--no-progress"]
    assert main(["run", "--model", "baseline", *tiny]) == 0
    assert main(["run", "--model", "baseline", "--cal", *tiny]) == 0
    (id_only,) = [runs / d for d in os.listdir(runs) if "-cal-" not in d]
    (cal,) = [runs / d for d in os.listdir(runs) if "-cal-" in d]
    for run in (id_only, cal):
        assert main(["test", str(run), "--activation-maps", "2", "--no-progress"]) == 0
    capsys.readouterr()
    figures = tmp_path / "figures"
    assert leaderboard([str(runs), "--figures", str(figures), "--activation-pair", str(id_only), str(cal),
                        "--activation-queries", "2"]) == 0
    assert capsys.readouterr().out.count("activation-pairs") == 2
    names = pngs(figures / "activation-pairs")
    assert len(names) == 2 and names == pngs(id_only / "activation_maps")
    for name in names:
        pair, single = pixels(figures / "activation-pairs" / name), pixels(id_only / "activation_maps" / name)
        assert pair.shape[0] > 1.5 * single.shape[0]  # two rows of frames, run A above run B
    # refused before any record is read or any model loaded: --activation-pair needs --figures
    assert leaderboard([str(runs), "--activation-pair", str(id_only), str(cal)]) == 2
    assert "--activation-pair RUN_A RUN_B: give --figures DIR" in capsys.readouterr().err
    assert leaderboard([str(runs), "--figures", str(figures), "--activation-pair", str(id_only), str(cal),
                        "--activation-queries", "0"]) == 2
    assert "--activation-queries 0: expected a number of query tracklets >= 1" in capsys.readouterr().err
