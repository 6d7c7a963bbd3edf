"""``benchmark pack`` (frame folders -> videos) and ``benchmark profile loaders``."""
import json
import os
import shutil

import numpy as np
import pytest
import torch
from PIL import Image

from benchmark.tools import pack as packmod
from benchmark.cli import main
from conftest import deadline
from benchmark.tools.pack import PackError, PackSettings, choose, measure, pack
from benchmark.tools.profile import profile_loaders, yardstick_clip
from ccvid import DatasetError, Tracklet, read_ccvid
from ccvid.synth import SynthConfig, generate
from samplers import WholeVideos
from samplers.readers import FolderReader, VideoFileReader

# 1 train id and 1 test id, one suit, one camera, two videos each: 4 tracklets of 12 frames of 64x32
TINY = SynthConfig(num_train_ids=1, num_test_ids=1, min_suits=1, max_suits=1, num_cameras=1,
                   videos_per_suit_camera=2, num_frames=12, height=64, width=32, write_videos=False, workers=1)



@pytest.fixture(scope="module")
def src(tmp_path_factory):
    return str(generate(tmp_path_factory.mktemp("synth") / "tiny", TINY))


@pytest.fixture(scope="module")
def packed(src, tmp_path_factory):
    dst = str(tmp_path_factory.mktemp("packed") / "tiny-packed")
    return dst, pack(src, dst, workers=2)  # the process-pool path


def psnr(a, b):
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return 99.0 if mse == 0 else 10 * np.log10(255.0 ** 2 / mse)


def test_pack_is_read_back_as_videos_with_high_psnr(src, packed):
    dst, summary = packed
    assert summary["tracklets"] == summary["packed"] == 4 and summary["skipped"] == 0
    assert summary["frames_packed"] == summary["psnr_frames"] == 48
    assert summary["psnr_mean"] >= 35 and summary["psnr_min"] >= 33
    assert 0 < summary["out_bytes"] < summary["src_bytes"]
    frames, videos = read_ccvid(src, backend="frames"), read_ccvid(dst, backend="video")
    for split in ("train", "query", "gallery"):
        fs, vs = getattr(frames, split), getattr(videos, split)
        assert [(t.pid, t.camid, t.clothes) for t in fs] == [(t.pid, t.camid, t.clothes) for t in vs]
        for f, v in zip(fs, vs):
            assert v.kind == "video" and v.source.startswith(dst) and v.source.endswith(".mp4")
            assert VideoFileReader().length(v) == f.num_frames == 12
            a = FolderReader().read(f, list(range(12)), (64, 32))
            b = VideoFileReader().read(v, list(range(12)), (64, 32))
            assert psnr(a, b) >= 35
    for name in ("train.txt", "query.txt", "gallery.txt"):
        assert open(os.path.join(src, name)).read() == open(os.path.join(dst, name)).read()
    manifest = json.load(open(os.path.join(dst, "pack.json")))
    assert manifest["complete"] and manifest["gop"] == packmod.DEFAULT_GOP and manifest["pix_fmt"] == "yuv444p"
    assert not [f for _, _, fs in os.walk(dst) for f in fs if f.endswith((".partial", ".tmp"))]  # no temporaries


def test_interrupted_pack_resumes_and_skips_done_tracklets(src, tmp_path, monkeypatch):
    dst = str(tmp_path / "out")
    real = packmod.pack_tracklet
    calls = []

    def flaky(job):
        if len(calls) == 2:
            raise KeyboardInterrupt
        calls.append(job[1])
        return real(job)
    monkeypatch.setattr(packmod, "pack_tracklet", flaky)
    with pytest.raises(KeyboardInterrupt):
        pack(src, dst)
    done = sorted(calls)
    assert all(os.path.isfile(p) for p in done)
    assert not os.path.exists(os.path.join(dst, "train.txt"))  # annotations come last: not a readable pack yet
    with pytest.raises(DatasetError):
        read_ccvid(dst, backend="video")
    mtimes = {p: os.stat(p).st_mtime_ns for p in done}
    monkeypatch.setattr(packmod, "pack_tracklet", real)
    summary = pack(src, dst)
    assert (summary["packed"], summary["skipped"]) == (2, 2)
    assert {p: os.stat(p).st_mtime_ns for p in done} == mtimes  # the finished videos were not redone
    assert len(read_ccvid(dst, backend="video").train) == 2
    again = pack(src, dst)
    assert (again["packed"], again["skipped"], again["psnr_frames"]) == (0, 4, 0)


def test_pack_errors_are_one_line_and_name_the_problem(src, tmp_path, capsys):
    with pytest.raises(DatasetError, match="nowhere: dataset folder not found"):
        pack(str(tmp_path / "nowhere"), str(tmp_path / "a"))
    other = tmp_path / "other"
    other.mkdir()
    (other / "notes.txt").write_text("mine")
    with pytest.raises(PackError, match="is not a pack"):
        pack(src, str(other))
    assert os.listdir(other) == ["notes.txt"]  # untouched
    done = tmp_path / "done"
    pack(src, str(done))
    with pytest.raises(PackError, match="rerun with those settings"):
        pack(src, str(done), PackSettings(gop=4))
    with pytest.raises(PackError, match="--gop"):
        PackSettings(gop=0)
    # through the CLI: exit status 2 and one line on stderr
    code = main(["pack", "--data-root", str(tmp_path / "nowhere"), "--out", str(tmp_path / "b"), "--no-progress"])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "nowhere: dataset folder not found" in err
    assert main(["pack", "--data-root", src, "--no-progress"]) == 2
    assert "--out" in capsys.readouterr().err


def _copy(src, tmp_path):
    bad = tmp_path / "bad"
    shutil.copytree(src, bad)
    return bad, read_ccvid(str(bad), backend="frames").train[0].source


def test_unreadable_jpeg_is_named(src, tmp_path):
    bad, folder = _copy(src, tmp_path)
    with open(os.path.join(folder, "00003.jpg"), "wb") as f:
        f.write(b"not a jpeg at all")
    with pytest.raises(DatasetError, match=r"00003\.jpg: cannot decode image"):
        pack(str(bad), str(tmp_path / "out"))


@pytest.mark.parametrize("content", ["empty", "non-image"])
def test_empty_or_non_image_folder_is_named(src, tmp_path, content):
    bad, folder = _copy(src, tmp_path)
    for f in os.listdir(folder):
        os.remove(os.path.join(folder, f))
    if content == "non-image":
        with open(os.path.join(folder, "readme.txt"), "w") as f:
            f.write("frames went missing")
    name = os.path.basename(folder)
    with deadline(), pytest.raises(DatasetError, match=f"{name}: frame folder has no image files"):
        pack(str(bad), str(tmp_path / "out"))
    with deadline(), pytest.raises(DatasetError, match=f"{name}: frame folder has no image files"):
        read_ccvid(str(bad))


@pytest.mark.parametrize("how", ["truncated", "corrupt"])
def test_broken_video_gives_a_named_error_not_a_hang(packed, tmp_path, how):
    dst, _ = packed
    good = read_ccvid(dst, backend="video").gallery[0].source
    path = str(tmp_path / "broken.mp4")
    data = open(good, "rb").read()
    with open(path, "wb") as f:
        if how == "truncated":
            f.write(data[:len(data) // 2])
        else:
            f.write(data[:64] + bytes(255 - b for b in data[64:]))
    t = Tracklet(path, 0, 0, 0)
    with deadline(), pytest.raises(DatasetError, match="broken.mp4: cannot decode"):
        VideoFileReader().read(t, list(range(12)), (32, 16))
    with deadline(), pytest.raises(DatasetError, match="broken.mp4: cannot decode"):
        WholeVideos([t], (32, 16))[0]


def _tree(root, sizes, mode="RGB"):
    """A one-tracklet-per-split CCVID tree whose frames have the given (h, w) sizes."""
    for split, path in (("train", "session1/001_01"), ("query", "session2/002_01"), ("gallery", "session2/002_02")):
        os.makedirs(root / path)
        for k, (h, w) in enumerate(sizes):
            y, x = np.mgrid[0:h, 0:w]
            smooth = np.stack([40 + 5 * y + 3 * k, 60 + 9 * x, 200 - 4 * y - 2 * x], -1)
            img = Image.fromarray(np.clip(smooth, 0, 255).astype(np.uint8)).convert(mode)
            img.save(root / path / f"{k + 1:05d}.jpg", quality=95)
        (root / f"{split}.txt").write_text(f"{path}\t{path.split('/')[1][:3]}\tu0\n")


@pytest.mark.parametrize("pix_fmt", ["yuv444p", "yuv420p"])
def test_odd_and_mixed_frame_sizes_are_packed(tmp_path, pix_fmt):
    src = tmp_path / "src"
    _tree(src, [(17, 9), (18, 10), (17, 9), (18, 10), (17, 9)])
    summary = pack(str(src), str(tmp_path / "out"), PackSettings(pix_fmt=pix_fmt))
    assert summary["packed"] == 3 and summary["psnr_frames"] == 15 and summary["psnr_mean"] >= 35
    v = read_ccvid(str(tmp_path / "out"), backend="video").query[0]
    assert VideoFileReader().read(v, [0, 4], (18, 10)).shape == (2, 18, 10, 3)
    assert VideoFileReader().length(v) == 5


def test_greyscale_frames_are_packed(tmp_path):
    src = tmp_path / "src"
    _tree(src, [(32, 16)] * 4, mode="L")
    summary = pack(str(src), str(tmp_path / "out"))
    assert summary["packed"] == 3 and summary["psnr_mean"] >= 35


def test_measure_reports_every_setting(src):
    m = measure(src, gops=(4, 8), crfs=(10,), pix_fmts=("yuv444p",), tracklets=2, clips=3, rounds=1)
    assert [(r["gop"], r["crf"]) for r in m["rows"]] == [(4, 10), (8, 10)]
    for r in m["rows"]:
        assert r["bytes_per_frame"] > 0 and r["psnr_mean"] >= 35 and r["clip_ms"] > 0
        assert r["x_jpeg_time"] == pytest.approx(r["clip_ms"] / m["jpeg_clip_ms"])
    assert "GOP" in packmod.format_measure(m)


def test_choose_prefers_quality_then_speed_then_size():
    row = lambda gop, psnr, mn, ms, size: dict(gop=gop, psnr_mean=psnr, psnr_min=mn, clip_ms=ms,  # noqa: E731
                                              x_jpeg_time=ms / 2.0, bytes_per_frame=size)
    rows = [row(1, 34.0, 33, 1.0, 10), row(2, 38, 36, 5.0, 100), row(3, 38, 36, 5.4, 90), row(4, 38, 36, 9.0, 50)]
    assert choose(rows)["gop"] == 3  # no setting as fast as the JPEGs: smallest within 10% of the fastest
    rows.append(row(5, 36, 35, 1.9, 120))
    assert choose(rows)["gop"] == 5  # faster than the JPEGs wins
    assert choose([row(1, 34.0, 33, 1.0, 10)]) is None


def test_yardstick_matches_the_reference_transforms(src):
    import torchvision.transforms as T
    t = read_ccvid(src, backend="frames").train[0]
    paths = [os.path.join(t.source, t.frames[i]) for i in (0, 4, 8)]
    ref = T.Compose([T.Resize((64, 32), interpolation=T.InterpolationMode.BICUBIC), T.ToTensor(),
                     T.Normalize([0.485, 0.456, 0.406], [0.229, 0.224, 0.225])])
    expected = torch.stack([ref(Image.open(p).convert("RGB")) for p in paths]).permute(1, 0, 2, 3)
    assert torch.allclose(yardstick_clip(paths, (64, 32)), expected, atol=1e-6)


@pytest.mark.parametrize("use_pack", [False, True])
def test_profile_loaders_rows(src, packed, use_pack):
    dst, _ = packed
    result = profile_loaders(src, dst if use_pack else None, clips=4, size=(64, 32), threads=1, batch=3)
    rows = {(r["backend"], r["mode"], r["psnr_db"] is None): r for r in result["rows"]}
    assert len(result["rows"]) == 6
    for mode in ("train", "test"):
        yard = rows[("JPEG folders", mode, True)]
        assert yard["x_yardstick"] == 1.0 and "yardstick" in yard["pipeline"]
        for backend in ("JPEG folders", "packed video"):
            r = rows[(backend, mode, False)]
            assert r["clips"] == yard["clips"] and r["clips_per_s"] > 0
            assert r["x_yardstick"] == pytest.approx(r["clips_per_s"] / yard["clips_per_s"])
            assert r["psnr_db"] >= (45 if backend == "JPEG folders" else 35)
    assert result["train_clips"] == 4 and result["test_clips"] >= 4
    assert ("videos from" in result["video"]) == use_pack


def test_profile_cli_prints_the_table(src, capsys):
    code = main(["profile", "loaders", "--data-root", src, "--clips", "2", "--size", "32x16", "--threads", "1",
                 "--no-progress"])
    out = capsys.readouterr().out
    assert code == 0 and "yardstick" in out and "PSNR" in out and "packed video" in out
