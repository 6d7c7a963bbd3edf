"""Whole-video tiling decoded block by block equals decoding the whole video at once."""
import os

import numpy as np
import pytest
import torch

from ccvid import Tracklet
from samplers import WholeVideos, collate_videos
from samplers.clips import tile_clip_indices
from samplers.datasets import clip_chunks
from samplers.readers import FolderReader, VideoFileReader, reader_for
from conftest import write_frames, write_video

LENGTHS = [1, 7, 8, 31, 32, 33, 100, 300]
SIZE = (32, 16)  # frames are stored at 16x8: every read resizes


@pytest.fixture(scope="module")
def sources(tmp_path_factory):
    """One frame folder and one video of each length (random frames, so a misplaced frame shows)."""
    root = tmp_path_factory.mktemp("tiling")
    out = {}
    for n in LENGTHS:
        folder = root / f"f{n}"
        write_frames(str(folder), n, seed=n)
        frames = tuple(sorted(os.listdir(folder)))
        video = str(root / f"v{n}.mp4")
        write_video(video, np.random.default_rng(n).integers(0, 255, (n, 16, 8, 3), dtype=np.uint8))
        out[n] = {"folder": Tracklet(str(folder), 0, 1, 0, frames, n), "video": Tracklet(video, 0, 1, 0)}
    return out


def one_shot(t, length, seq_len=8, stride=4):
    """The former WholeVideos item: decode frames 0..max at once, then gather the clips."""
    clips = np.asarray(tile_clip_indices(length, seq_len, stride))
    frames = reader_for(t).read(t, list(range(int(clips.max()) + 1)), SIZE)
    return torch.from_numpy(frames[clips])


@pytest.mark.parametrize("kind", ["folder", "video"])
@pytest.mark.parametrize("length", LENGTHS)
def test_block_tiling_equals_one_shot(sources, kind, length):
    t = sources[length][kind]
    expected = one_shot(t, length)
    assert expected.shape == (-(-length // 8), 8, SIZE[0], SIZE[1], 3)
    for max_frames in (32, 64, 256, 1000):
        clips, index = WholeVideos([t, t], SIZE, max_frames=max_frames)[1]
        assert index == 1
        assert clips.dtype == torch.uint8 and torch.equal(clips, expected), (kind, length, max_frames)


@pytest.mark.parametrize("kind", ["folder", "video"])
def test_frames_in_flight_are_bounded(sources, kind, monkeypatch):
    t = sources[300][kind]
    sizes = []
    reader_cls = FolderReader if kind == "folder" else VideoFileReader
    real_open = reader_cls.open

    def spy_open(self, tracklet, size):
        handle = real_open(self, tracklet, size)
        real_read = handle.read

        def read(indices):
            sizes.append(len(indices))
            return real_read(indices)
        handle.read = read
        return handle
    monkeypatch.setattr(reader_cls, "open", spy_open)
    clips, _ = WholeVideos([t], SIZE, max_frames=70)[0]  # rounded down to 64 = 2 blocks
    assert clips.shape[0] == 38
    assert max(sizes) <= 64 and sum(sizes) == 300  # every frame decoded exactly once
    assert len(sizes) == 5  # 4 x 64 + the 44 remaining frames


def test_clip_chunks_cover_clips_in_order():
    clips = tile_clip_indices(300)
    groups = clip_chunks(clips, 64)
    assert [r for _, rows in groups for r in rows] == list(range(len(clips)))
    for frames, rows in groups:
        assert len(frames) <= 64
        assert set(frames) == {i for r in rows for i in clips[r]}


@pytest.mark.parametrize("kind", ["folder", "video"])
def test_split_items_average_to_the_whole_video(sources, kind):
    """max_clips splits a video into items owned by the same video; their clips are the whole video's."""
    ts = [sources[33][kind], sources[300][kind], sources[7][kind]]
    whole = WholeVideos(ts, SIZE)
    split = WholeVideos(ts, SIZE, max_clips=5)
    assert len(whole) == split.num_videos == 3
    assert len(split) == 1 + 8 + 1  # 5 clips, 38 clips, 1 clip
    clips, owner = collate_videos([split[i] for i in range(len(split))])
    ref, ref_owner = collate_videos([whole[i] for i in range(len(whole))])
    assert torch.equal(owner, ref_owner) and torch.equal(clips, ref)
    # the harness's per-video mean over clip features is the same either way
    feats = clips.float().mean(dim=(1, 2, 3, 4))
    sums = torch.zeros(split.num_videos).index_add_(0, owner, feats)
    counts = torch.zeros(split.num_videos).index_add_(0, owner, torch.ones(len(owner)))
    ref_means = torch.stack([whole[v][0].float().mean(dim=(1, 2, 3, 4)).mean() for v in range(3)])
    assert torch.allclose(sums / counts, ref_means)


def test_threads_give_the_same_clips(sources):
    t = sources[100]["folder"]
    a, _ = WholeVideos([t], SIZE)[0]
    b, _ = WholeVideos([t], SIZE, threads=2)[0]
    assert torch.equal(a, b)


@pytest.mark.parametrize("stored, read", [((64, 32), (256, 128)), ((256, 128), (64, 32)), ((48, 24), (48, 24))])
def test_folder_reader_resizes_like_pil(tmp_path, stored, read):
    """The batched uint8 resize (up and down) stays within 35 dB of PIL's bicubic; no resize is exact."""
    from PIL import Image
    h, w = stored
    y, x = np.mgrid[0:h, 0:w]
    folder = tmp_path / "001_01"
    folder.mkdir()
    for k in range(3):
        arr = np.stack([(x * 7 + k * 20) % 256, (y * 3) % 256, (x * y + 50 * k) % 256], -1).astype(np.uint8)
        Image.fromarray(arr).save(folder / f"{k + 1:05d}.jpg", quality=95)
    names = tuple(sorted(os.listdir(folder)))
    t = Tracklet(str(folder), 0, 1, 0, names, 3)
    ours = FolderReader().read(t, [2, 0, 1, 2], read).astype(np.float64)
    ref = np.stack([np.asarray(Image.open(folder / names[i]).convert("RGB").resize(read[::-1], Image.BICUBIC))
                    for i in (2, 0, 1, 2)]).astype(np.float64)
    assert ours.shape == ref.shape == (4, read[0], read[1], 3)
    mse = np.mean((ours - ref) ** 2)
    assert mse == 0 or 10 * np.log10(255 ** 2 / mse) >= 35
    if stored == read:
        assert mse == 0
