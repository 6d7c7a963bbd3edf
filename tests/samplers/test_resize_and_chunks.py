"""The resize filter option (bicubic default, bilinear as the reference's image pipeline) and TCLNet's
consecutive test chunks."""
import os

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from ccvid import Tracklet
from samplers import FolderReader, TrainClips, WholeVideos, collate_videos
from samplers.clips import chunk_clip_indices, eval_clip_indices, tile_clip_indices
from samplers.readers import resize_frames
from conftest import write_frames

PIL_FILTERS = {"bicubic": Image.BICUBIC, "bilinear": Image.BILINEAR}


def frames(n=3, h=16, w=8, seed=0):
    return np.random.default_rng(seed).integers(0, 255, (n, h, w, 3), dtype=np.uint8)


def pil_resize(a, size, interpolation):
    return np.stack([np.asarray(Image.fromarray(f).resize(size[::-1], PIL_FILTERS[interpolation])) for f in a])


def torch_resize(a, size, interpolation):
    x = torch.from_numpy(a).permute(0, 3, 1, 2)
    return F.interpolate(x, size=size, mode=interpolation, antialias=True, align_corners=False).permute(0, 2, 3, 1)


def folder(tmp_path, n=3, h=16, w=8):
    path = tmp_path / "001_01"
    write_frames(str(path), n, h=h, w=w)
    names = tuple(sorted(os.listdir(path)))
    return Tracklet(str(path), 0, 1, 0, names, n)


# --------------------------------------------------------------------------- resize
@pytest.mark.parametrize("size", [(32, 16), (6, 3), (24, 10)])
def test_bicubic_default_is_unchanged(size):
    """The default is today's call, bit for bit: torch's uint8 bicubic with antialiasing."""
    a = frames()
    expected = torch_resize(a, size, "bicubic").numpy()
    assert np.array_equal(resize_frames(a, size), expected)
    assert np.array_equal(resize_frames(a, size, "bicubic"), expected)


@pytest.mark.parametrize("size", [(32, 16), (6, 3), (24, 10)])
def test_bilinear_is_pil_and_torch_bilinear(size):
    a = frames()
    ours = resize_frames(a, size, "bilinear")
    assert ours.dtype == np.uint8 and ours.shape == (3,) + size + (3,)
    assert np.array_equal(ours, torch_resize(a, size, "bilinear").numpy())
    assert np.abs(ours.astype(int) - pil_resize(a, size, "bilinear").astype(int)).max() <= 1
    assert not np.array_equal(ours, resize_frames(a, size, "bicubic"))


def test_float_fallback_honours_the_filter(monkeypatch):
    """A torch without the uint8 kernel takes the float path with the same filter."""
    real = F.interpolate

    def no_uint8(x, *args, **kwargs):
        if x.dtype == torch.uint8:
            raise RuntimeError("no uint8 kernel")
        return real(x, *args, **kwargs)

    a, size = frames(), (24, 10)
    monkeypatch.setattr(F, "interpolate", no_uint8)
    ours = resize_frames(a, size, "bilinear").astype(int)
    assert np.abs(ours - pil_resize(a, size, "bilinear").astype(int)).max() <= 1
    x = torch.from_numpy(a).permute(0, 3, 1, 2).float()
    ref = real(x, size=size, mode="bilinear", antialias=True, align_corners=False).round().clamp(0, 255)
    assert np.array_equal(ours, ref.permute(0, 2, 3, 1).numpy().astype(int))


def test_unknown_filter_is_refused(tmp_path):
    with pytest.raises(ValueError, match="interpolation must be one of"):
        resize_frames(frames(), (4, 2), "nearest")
    with pytest.raises(ValueError, match="interpolation must be one of"):
        TrainClips([folder(tmp_path)], (32, 16), interpolation="area")


@pytest.mark.parametrize("interpolation", ["bicubic", "bilinear"])
def test_folder_reader_and_image_follow_the_filter(tmp_path, interpolation):
    """Frame folders and single images (the image datasets) are resized with the chosen filter."""
    t = folder(tmp_path)
    size = (24, 10)
    decoded = np.stack([np.asarray(Image.open(os.path.join(t.source, n)).convert("RGB")) for n in t.frames])
    ours = FolderReader(interpolation=interpolation).read(t, [2, 0, 1], size)
    assert np.array_equal(ours, torch_resize(decoded[[2, 0, 1]], size, interpolation).numpy())
    image = Tracklet.image(os.path.join(t.source, t.frames[1]), 0, 1, 0)
    one = FolderReader(interpolation=interpolation).read(image, [0], size)
    assert np.array_equal(one, torch_resize(decoded[[1]], size, interpolation).numpy())


def test_train_clips_and_whole_videos_pass_the_filter_on(tmp_path):
    t = folder(tmp_path, n=8)
    size = (24, 10)
    bilinear = FolderReader(interpolation="bilinear")
    train = TrainClips([t], size, seq_len=4, stride=2, flip=False, interpolation="bilinear")
    _, idx, _ = train.clip_indices(0)
    assert torch.equal(train[0][0], torch.from_numpy(bilinear.read(t, idx, size)))
    default = TrainClips([t], size, seq_len=4, stride=2, flip=False)
    assert torch.equal(default[0][0], torch.from_numpy(FolderReader().read(t, idx, size)))
    assert not torch.equal(default[0][0], train[0][0])
    whole, _ = WholeVideos([t], size, seq_len=4, stride=2, interpolation="bilinear")[0]
    expected = bilinear.read(t, list(range(8)), size)[np.asarray(tile_clip_indices(8, 4, 2))]
    assert torch.equal(whole, torch.from_numpy(expected))


# --------------------------------------------------------------------------- chunks
@pytest.mark.parametrize("length, expected", [
    (1, [[0, 0, 0, 0]]),
    (3, [[0, 1, 2, 0]]),
    (4, [[0, 1, 2, 3]]),
    (9, [[0, 1, 2, 3], [4, 5, 6, 7], [8, 8, 8, 8]]),
    (12, [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9, 10, 11]]),
])
def test_chunk_indices(length, expected):
    """Consecutive seq_len-frame chunks; a short last chunk loop-padded as TCLNet's test code pads it."""
    assert chunk_clip_indices(length, 4) == expected
    assert eval_clip_indices(length, 4, 8, "chunks") == expected
    assert len(expected) == len(tile_clip_indices(length, 4, 8))  # as many clips as the tiling


def test_chunk_loop_padding_and_rule_errors():
    assert chunk_clip_indices(6, 4) == [[0, 1, 2, 3], [4, 5, 4, 5]]
    assert eval_clip_indices(33, 8, 4) == tile_clip_indices(33, 8, 4)  # tile is the default
    with pytest.raises(ValueError, match="empty video"):
        chunk_clip_indices(0, 4)
    with pytest.raises(ValueError, match="test clips must be one of"):
        eval_clip_indices(8, 4, 2, "random")


@pytest.mark.parametrize("length", [1, 3, 9, 12, 21])
def test_whole_videos_in_chunks_mode(tmp_path, length):
    """Every chunk holds the frames it names, decoded at once or block by block, whole or split."""
    t = folder(tmp_path, n=length)
    size = (16, 8)  # the stored size: frames come out as decoded
    decoded = FolderReader().read(t, list(range(length)), size)
    expected = torch.from_numpy(decoded[np.asarray(chunk_clip_indices(length, 4))])
    for max_frames in (8, 256):  # 8: one block of seq_len * stride, two chunks per read
        clips, v = WholeVideos([t], size, seq_len=4, stride=2, max_frames=max_frames, test_clips="chunks")[0]
        assert v == 0 and clips.shape == (-(-length // 4), 4, 16, 8, 3)
        assert torch.equal(clips, expected), (length, max_frames)
    split = WholeVideos([t], size, seq_len=4, stride=2, max_clips=2, test_clips="chunks")
    assert len(split) == -(-length // 8)
    clips, owner = collate_videos([split[i] for i in range(len(split))])
    assert torch.equal(clips, expected) and owner.tolist() == [0] * len(expected)


def test_whole_videos_chunks_first_frames_by_value(tmp_path):
    """Chunk k of a 9-frame folder holds frames 4k..4k+3; the last one is frame 8 four times."""
    t = folder(tmp_path, n=9)
    clips, _ = WholeVideos([t], (16, 8), seq_len=4, stride=2, test_clips="chunks")[0]
    for k, frame in enumerate(t.frames):
        img = torch.from_numpy(np.array(Image.open(os.path.join(t.source, frame)).convert("RGB")))
        assert torch.equal(clips[k // 4, k % 4], img)
    assert all(torch.equal(clips[2, j], clips[2, 0]) for j in range(4))


def test_whole_videos_default_stays_tiled_and_refuses_unknown_rules(tmp_path):
    t = folder(tmp_path, n=9)
    tiled, _ = WholeVideos([t], (16, 8), seq_len=4, stride=2)[0]
    decoded = FolderReader().read(t, list(range(9)), (16, 8))
    assert torch.equal(tiled, torch.from_numpy(decoded[np.asarray(tile_clip_indices(9, 4, 2))]))
    with pytest.raises(ValueError, match="test_clips must be one of"):
        WholeVideos([t], (16, 8), test_clips="tiles")
