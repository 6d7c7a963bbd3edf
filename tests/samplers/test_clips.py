import math
from collections import Counter

import numpy as np
import pytest

from samplers.clips import dense_pieces, tile_clip_indices, train_clip_indices
from samplers.identity import IdentitySampler


@pytest.mark.parametrize("length", [1, 3, 7, 8, 9, 15, 16, 31, 32, 33, 40, 63, 64, 100, 122, 410])
def test_test_tiling_uses_every_frame_once(length):
    clips = tile_clip_indices(length)
    assert len(clips) == math.ceil(length / 8)
    assert all(len(c) == 8 for c in clips)
    # every frame appears in exactly one clip; only the loop-padded last clip repeats frames
    owners = Counter()
    for c in clips:
        for i in set(c):
            owners[i] += 1
    assert sorted(owners) == list(range(length))
    assert set(owners.values()) == {1}
    for c in clips[:-1] if length % 8 else clips:
        assert len(set(c)) == 8


def test_test_tiling_block_structure():
    clips = tile_clip_indices(32 + 16 + 3)
    assert clips[0] == list(range(0, 32, 4)) and clips[3] == list(range(3, 32, 4))
    assert clips[4] == list(range(32, 48, 2)) and clips[5] == list(range(33, 48, 2))
    assert clips[6] == [48, 49, 50, 48, 49, 50, 48, 49]  # loop padding of the last 3 frames


def test_train_clip_long_video_stride_4():
    rng = np.random.default_rng(0)
    for _ in range(50):
        idx = train_clip_indices(100, 8, 4, "stride", rng)
        assert np.all(np.diff(idx) == 4) and idx[0] >= 0 and idx[-1] < 100


def test_train_clip_medium_video_one_frame_per_segment():
    rng = np.random.default_rng(0)
    for length in (8, 20, 31):
        for _ in range(30):
            idx = train_clip_indices(length, 8, 4, "stride", rng)
            assert len(idx) == 8 and np.all(np.diff(idx) > 0) and idx[-1] < length
            seg = np.floor(np.arange(9) * length / 8).astype(int)
            assert all(seg[k] <= i < max(seg[k + 1], seg[k] + 1) for k, i in enumerate(idx))


def test_train_clip_short_video_draws_with_replacement_sorted():
    rng = np.random.default_rng(0)
    seen = set()
    for _ in range(50):
        idx = train_clip_indices(5, 8, 4, "stride", rng)
        assert len(idx) == 8 and idx == sorted(idx) and max(idx) < 5
        seen.update(idx)
    assert seen == set(range(5))


def test_tsn_mode_segments_even_for_long_videos():
    idx = train_clip_indices(400, 8, 4, "tsn", np.random.default_rng(1))
    assert all(50 * k <= i < 50 * (k + 1) for k, i in enumerate(idx))


def test_dense_pieces():
    assert dense_pieces(127) == [(0, 127)]
    assert dense_pieces(128) == [(0, 64), (64, 128)]
    assert dense_pieces(250) == [(0, 64), (64, 128), (128, 250)]
    assert dense_pieces(250, 0) == [(0, 250)]


def test_identity_sampler_p_by_k_and_deterministic():
    pids = [0] * 9 + [1] * 4 + [2] * 2 + [3] * 8
    s = IdentitySampler(pids, num_instances=4, seed=3)
    order = list(s)
    assert len(order) == len(s) == 8 + 4 + 4 + 8
    groups = [order[i:i + 4] for i in range(0, len(order), 4)]
    assert all(len({pids[i] for i in g}) == 1 for g in groups)
    assert order == list(s)  # same epoch -> same order
    s.set_epoch(1)
    assert order != list(s)
    # an identity with fewer than K samples is resampled with replacement
    two = [g for g in groups if pids[g[0]] == 2][0]
    assert set(two) <= {13, 14}


def test_test_variants_change_only_which_frames_and_their_order():
    from samplers.clips import TEST_VARIANTS, tile_clip_indices, variant_clip_indices
    clips = tile_clip_indices(48, 8, 4)
    whole = variant_clip_indices(clips, "whole", 7)
    assert whole == clips and TEST_VARIANTS[0] == "whole"
    shuffled = variant_clip_indices(clips, "shuffled", 7)
    assert [sorted(c) for c in shuffled] == [sorted(c) for c in clips] and shuffled != clips
    assert shuffled == variant_clip_indices(clips, "shuffled", 7) != variant_clip_indices(clips, "shuffled", 8)
    assert variant_clip_indices(clips, "reversed") == [c[::-1] for c in clips]
    assert variant_clip_indices(clips, "first-frame") == [[0] * 8]
    assert variant_clip_indices(clips, "static") == [[c[4]] * 8 for c in clips]
    import pytest
    with pytest.raises(ValueError, match="test variant must be one of whole, first-frame"):
        variant_clip_indices(clips, "sideways")
