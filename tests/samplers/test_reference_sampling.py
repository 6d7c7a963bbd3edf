"""The reference codes' own frame rules, as named switches: how a training clip is drawn (``data.sampling``:
stride-head, the CAL reference's; stride-distinct, TCLNet's and AP3D's; set, GaitSet's) and which clips make a test
video (``data.test_clips``: begin, TCLNet's and AP3D's first clip; all, every frame as one clip). Each rule is written
out here from the reference code, independently of samplers/clips.py."""
import os

import numpy as np
import pytest
import torch

from ccvid import Tracklet
from samplers import FolderReader, WholeVideos
from samplers.clips import TEST_CLIPS, TRAIN_MODES, eval_clip_indices, train_clip_indices
from conftest import write_frames


def draws(length, mode, n=300, seq_len=8, stride=4, seed=0):
    rng = np.random.default_rng(seed)
    return [train_clip_indices(length, seq_len, stride, mode, rng) for _ in range(n)]


@pytest.mark.parametrize("length", [8, 13, 20, 31])
def test_stride_head_segments_start_at_zero_and_never_reach_the_tail(length):
    # Simple-CCReID TemporalRandomCrop, 8..31 frames: segment i = frames[L//8 * i : L//8 * (i + 1)]
    step = length // 8
    seen = set()
    for idx in draws(length, "stride-head"):
        assert len(idx) == 8 and all(step * k <= i < step * (k + 1) for k, i in enumerate(idx))
        seen.update(idx)
    assert seen == set(range(8 * step))  # every frame of the segments is drawn, the tail never


def test_stride_head_differs_from_stride_only_on_medium_videos():
    for length in (3, 32, 100):  # short and long videos: the same rule and the same random numbers
        assert draws(length, "stride-head", n=20) == draws(length, "stride", n=20)
    stride = {i for c in draws(20, "stride") for i in c}
    assert max(stride) == 19  # the suite's equal segments cover the whole video; the reference's do not
    assert max(i for c in draws(20, "stride-head") for i in c) == 15


@pytest.mark.parametrize("length", [4, 5, 17, 31])
def test_stride_distinct_draws_distinct_sorted_frames_below_size_times_stride(length):
    # TCLNet / AP3D TemporalRandomCrop, size 4, stride 8: 4..31 frames -> 4 distinct random frames, sorted
    seen = set()
    for idx in draws(length, "stride-distinct", seq_len=4, stride=8):
        assert len(idx) == 4 and idx == sorted(idx) and len(set(idx)) == 4 and max(idx) < length
        seen.update(idx)
    assert seen == set(range(length))
    for idx in draws(40, "stride-distinct", n=50, seq_len=4, stride=8):  # >= 32 frames: 4 frames 8 apart
        assert np.all(np.diff(idx) == 8)
    for idx in draws(3, "stride-distinct", n=50, seq_len=4, stride=8):  # < 4 frames: with replacement, sorted
        assert len(idx) == 4 and idx == sorted(idx) and max(idx) < 3


def test_set_draws_with_replacement_from_the_whole_video_unsorted():
    # GaitSet: random.choices(frame_set, k=30), whatever the length, in the order drawn
    clips = draws(50, "set", n=200, seq_len=30)
    assert all(len(c) == 30 and max(c) < 50 for c in clips)
    assert any(len(set(c)) < 30 for c in clips)  # with replacement
    assert any(c != sorted(c) for c in clips)  # not sorted
    assert {i for c in clips for i in c} == set(range(50))
    assert all(len(c) == 30 and max(c) < 5 for c in draws(5, "set", n=20, seq_len=30))


def test_the_modes_and_test_clips_are_the_configs_choices():
    assert {"stride", "tsn", "stride-head", "stride-distinct", "set"} == set(TRAIN_MODES)
    assert {"tile", "chunks", "begin", "all"} == set(TEST_CLIPS)


@pytest.mark.parametrize("length, expected", [(40, [0, 8, 16, 24]), (25, [0, 8, 16, 24]), (24, [0, 4, 8, 12]),
                                              (13, [0, 4, 8, 12]), (12, [0, 2, 4, 6]), (7, [0, 2, 4, 6]),
                                              (6, [0, 1, 2, 3]), (4, [0, 1, 2, 3]), (3, [0, 1, 2, 0]), (1, [0] * 4)])
def test_begin_is_tclnets_first_clip(length, expected):
    # TCLNet TemporalBeginCrop(size=4): >= 25 frames step 8, >= 13 step 4, >= 7 step 2, >= 4 step 1, else loop
    assert eval_clip_indices(length, 4, 8, "begin") == [expected]


@pytest.mark.parametrize("length", [1, 7, 30, 61])
def test_all_is_one_clip_of_every_frame(length):
    assert eval_clip_indices(length, 8, 4, "all") == [list(range(length))]


def folder(tmp_path, name, n):
    path = tmp_path / name
    write_frames(str(path), n, h=16, w=8)
    return Tracklet(str(path), 0, 1, 0, tuple(sorted(os.listdir(path))), n)


def test_whole_videos_all_gives_each_video_one_clip_of_its_length(tmp_path):
    videos = [folder(tmp_path, "001_01", 5), folder(tmp_path, "001_02", 11)]
    ds = WholeVideos(videos, (16, 8), seq_len=4, stride=2, max_frames=8, test_clips="all")
    for v, t in enumerate(videos):
        clips, owner = ds[v]
        decoded = FolderReader().read(t, list(range(t.num_frames)), (16, 8))
        assert owner == v and clips.shape == (1, t.num_frames, 16, 8, 3)
        assert torch.equal(clips[0], torch.from_numpy(decoded))
    first, _ = WholeVideos(videos, (16, 8), seq_len=4, stride=2, test_clips="begin")[1]
    assert first.shape == (1, 4, 16, 8, 3)  # 11 frames: step 2 -> frames 0, 2, 4, 6
