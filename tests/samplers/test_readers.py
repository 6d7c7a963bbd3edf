import os

import numpy as np
import pytest
import torch

from ccvid import DatasetError, Tracklet, read_ccvid
from samplers import FolderReader, WholeVideos, TrainClips, VideoFileReader, collate_videos, normalize_clips
from conftest import write_frames, write_video


def gradient_frames(n, h=32, w=16):
    t = np.arange(n)[:, None, None, None]
    y = np.arange(h)[None, :, None, None]
    x = np.arange(w)[None, None, :, None]
    c = np.arange(3)[None, None, None, :]
    return np.clip(40 + t * 5 + y * 2 + x * 3 + c * 30, 0, 255).astype(np.uint8)


def test_folder_and_video_readers_agree(tmp_path):
    frames = gradient_frames(12)
    folder = tmp_path / "001_01"
    folder.mkdir()
    from PIL import Image
    for i, f in enumerate(frames):
        Image.fromarray(f).save(folder / f"{i + 1:05d}.png")
    video = str(tmp_path / "001_01.mp4")
    write_video(video, frames)
    tf = Tracklet(str(folder), 0, 1, 0, tuple(sorted(os.listdir(folder))), 12)
    tv = Tracklet(video, 0, 1, 0)
    idx = [0, 4, 8, 11, 11]
    a = FolderReader().read(tf, idx, (32, 16)).astype(float)
    b = VideoFileReader().read(tv, idx, (32, 16)).astype(float)
    assert a.shape == b.shape == (5, 32, 16, 3)
    assert VideoFileReader().length(tv) == 12
    psnr = 10 * np.log10(255 ** 2 / np.mean((a - b) ** 2))
    assert psnr > 30


def test_corrupt_and_empty_videos_raise_named_errors(tmp_path):
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(b"\x00\x01 not a video" * 100)
    empty = tmp_path / "empty.mp4"
    empty.write_bytes(b"")
    with pytest.raises(DatasetError, match="bad.mp4: cannot decode video"):
        VideoFileReader().read(Tracklet(str(bad), 0, 0, 0), [0], (16, 8))
    with pytest.raises(DatasetError, match="empty.mp4: video file is empty"):
        VideoFileReader().length(Tracklet(str(empty), 0, 0, 0))


def test_truncated_video_frame_request_is_named(tmp_path):
    video = str(tmp_path / "short.mp4")
    write_video(video, gradient_frames(4))
    with pytest.raises(DatasetError, match="short.mp4: frame 9 requested but the video has 4 frames"):
        VideoFileReader().read(Tracklet(video, 0, 0, 0), [0, 9], (16, 8))


def test_corrupt_jpeg_is_named(tmp_path):
    folder = tmp_path / "x_01"
    write_frames(str(folder), 3)
    (folder / "00002.jpg").write_bytes(b"garbage")
    t = Tracklet(str(folder), 0, 1, 0, ("00001.jpg", "00002.jpg", "00003.jpg"), 3)
    with pytest.raises(DatasetError, match="00002.jpg: cannot decode image"):
        FolderReader().read(t, [0, 1, 2], (16, 8))


def test_train_and_test_datasets(ccvid_tree):
    data = read_ccvid(str(ccvid_tree))
    ds = TrainClips(data.train, (16, 8), seed=0)
    clip, pid, camid, clothes = ds[2]
    assert clip.shape == (8, 16, 8, 3) and clip.dtype == torch.uint8
    assert (pid, camid) == (1, 1)
    assert torch.equal(ds[2][0], clip)  # same (seed, epoch, index) -> same clip
    test = WholeVideos(data.gallery, (16, 8))
    clips, owner = collate_videos([test[1], test[2]])
    assert clips.shape == (2 + 1, 8, 16, 8, 3)  # 9 frames -> 2 clips, 3 frames -> 1 clip
    assert owner.tolist() == [1, 1, 2]
    x = normalize_clips(clips)
    assert x.shape == (3, 3, 8, 16, 8) and x.dtype == torch.float32
    assert abs(float(x.mean())) < 3
