"""Temporal sampling rules (docs/reference-facts.md, C): which frame indices make a clip.

Explicit, stateless functions in the spirit of pytorchvideo's clip samplers:
training draws one clip per video (:data:`TRAIN_MODES`); test tiles a whole video into
clips that use every frame exactly once (the CAL reference's ``tile``), cuts it into
consecutive chunks (TCLNet's own test sampling, ``chunks``), takes its first clip
(``begin``) or all its frames as one clip (``all``; :data:`TEST_CLIPS`).
"""
from __future__ import annotations

from typing import List, Sequence, Tuple

import numpy as np

# how a training clip is drawn from a video (data.sampling); the rules of each are in train_clip_indices
TRAIN_MODES = ("stride", "tsn", "stride-head", "stride-distinct", "set")
# which clips make a test video (data.test_clips): every frame once in stride-interleaved clips (tile, the CAL
# reference's), consecutive chunks (TCLNet's test), the first clip only (begin, TCLNet's and AP3D's test while they
# train), or one clip of every frame (all: GaitSet's test, the MEVID release's AP3D test)
TEST_CLIPS = ("tile", "chunks", "begin", "all")
# how a test video's clips are shown to the model (eval.variant): every clip as sampled (whole); the first frame
# alone (the paper's baseline(F)); each clip's frames shuffled, reversed, or its middle frame repeated (static)
TEST_VARIANTS = ("whole", "first-frame", "shuffled", "reversed", "static")


def _segments(length: int, seq_len: int, rng: np.random.Generator) -> List[int]:
    """One random frame in each of ``seq_len`` equal segments of [0, length)."""
    edges = np.linspace(0, length, seq_len + 1)
    lo = np.floor(edges[:-1]).astype(int)
    hi = np.maximum(np.floor(edges[1:]).astype(int), lo + 1)
    return [int(rng.integers(a, b)) for a, b in zip(lo, hi)]


def _head_segments(length: int, seq_len: int, rng: np.random.Generator) -> List[int]:
    """One random frame in each of ``seq_len`` segments of floor(length / seq_len) frames from the start: the
    last ``length % seq_len`` frames are never drawn (the CAL reference's rule, Simple-CCReID
    data/temporal_transforms.py)."""
    step = length // seq_len
    return [int(rng.integers(k * step, (k + 1) * step)) for k in range(seq_len)]


def _distinct(length: int, seq_len: int, rng: np.random.Generator) -> List[int]:
    """``seq_len`` distinct random frames, sorted (TCLNet's and AP3D's TemporalRandomCrop)."""
    return sorted(int(i) for i in rng.choice(length, size=seq_len, replace=False))


SHORT_RULES = {"stride": _segments, "tsn": _segments, "stride-head": _head_segments, "stride-distinct": _distinct}


def train_clip_indices(length: int, seq_len: int = 8, stride: int = 4, mode: str = "stride",
                       rng: np.random.Generator | None = None) -> List[int]:
    """Frame indices of one training clip (``mode``: one of :data:`TRAIN_MODES`).

    ``stride``: videos of at least ``seq_len * stride`` frames get a random start and ``seq_len``
    frames ``stride`` apart; videos of ``seq_len`` to ``seq_len * stride - 1`` frames get one random
    frame from each of ``seq_len`` equal segments covering the whole video; shorter videos get
    ``seq_len`` random draws with replacement, sorted. ``tsn``: always one random frame per equal
    segment (with replacement draws below ``seq_len`` frames). ``stride-head``: as ``stride``, but the
    segments of a medium video are floor(length / seq_len) frames from the start, so its last
    ``length % seq_len`` frames are never drawn (the CAL reference's TemporalRandomCrop).
    ``stride-distinct``: as ``stride``, but a medium video gives ``seq_len`` distinct random frames,
    sorted (TCLNet's and AP3D's TemporalRandomCrop). ``set``: ``seq_len`` frames drawn at random with
    replacement from the whole video, in the order drawn (GaitSet's training sets).
    """
    if length < 1:
        raise ValueError("a clip needs a video with at least one frame")
    if mode not in TRAIN_MODES:
        raise ValueError(f"sampling mode must be one of {TRAIN_MODES}, got {mode!r}")
    rng = rng if rng is not None else np.random.default_rng()
    if mode == "set":
        return [int(i) for i in rng.integers(0, length, size=seq_len)]
    if length < seq_len:
        return sorted(int(i) for i in rng.integers(0, length, size=seq_len))
    if mode == "tsn" or length < seq_len * stride:
        return SHORT_RULES[mode](length, seq_len, rng)
    start = int(rng.integers(0, length - (seq_len - 1) * stride))
    return list(range(start, start + seq_len * stride, stride))


def tile_clip_indices(length: int, seq_len: int = 8, stride: int = 4) -> List[List[int]]:
    """Tile a whole video into ceil(length / seq_len) clips using every frame once.

    Each full block of ``seq_len * stride`` frames gives ``stride`` interleaved
    clips (offsets 0..stride-1, every ``stride``-th frame). Of the remaining
    ``r`` frames, ``r // seq_len`` interleaved clips with that stride; if frames
    are still left (``length % seq_len``), one more clip of the last ones,
    loop-padded to ``seq_len``.
    """
    if length < 1:
        raise ValueError("cannot tile an empty video")
    clips: List[List[int]] = []
    block = seq_len * stride
    n_blocks = length // block
    for b in range(n_blocks):
        base = b * block
        for off in range(stride):
            clips.append(list(range(base + off, base + block, stride)))
    rest_start = n_blocks * block
    rest = length - rest_start
    n_rest = rest // seq_len
    for off in range(n_rest):
        clips.append(list(range(rest_start + off, rest_start + n_rest * seq_len, n_rest)))
    tail = length % seq_len
    if tail:
        frames = list(range(length - tail, length))
        clips.append([frames[i % tail] for i in range(seq_len)])
    return clips


def chunk_clip_indices(length: int, seq_len: int = 4) -> List[List[int]]:
    """Cut a whole video into ceil(length / seq_len) consecutive ``seq_len``-frame clips.

    Frames [0, seq_len), [seq_len, 2 seq_len), ...: TCLNet's own test sampling
    (its ``evaluation.extract``). A last chunk of ``r < seq_len`` frames is
    loop-padded to ``seq_len`` as TCLNet's reference pads it (its frames
    repeated in order: [8] -> [8, 8, 8, 8], [4, 5, 6] -> [4, 5, 6, 4]).
    """
    if length < 1:
        raise ValueError("cannot cut an empty video into chunks")
    clips = []
    for start in range(0, length, seq_len):
        frames = list(range(start, min(start + seq_len, length)))
        clips.append([frames[i % len(frames)] for i in range(seq_len)])
    return clips


def begin_clip_indices(length: int, seq_len: int = 4, stride: int = 8) -> List[List[int]]:
    """The first clip of a video only: ``seq_len`` frames from frame 0 at the largest step of ``stride``,
    ``stride // 2``, ..., 1 that fits, or the video's frames loop-padded when it is shorter than ``seq_len``.

    TCLNet's and AP3D's TemporalBeginCrop, with which they score the epochs they choose from while training
    (seq_len 4, stride 8: 25 frames or more -> [0, 8, 16, 24]; 13-24 -> step 4; 7-12 -> step 2; 4-6 -> [0, 1, 2, 3];
    [0, 1, 2] -> [0, 1, 2, 0]).
    """
    if length < 1:
        raise ValueError("cannot take a clip of an empty video")
    step = max(1, stride)
    while step >= 1:
        if length >= (seq_len - 1) * step + 1:
            return [list(range(0, (seq_len - 1) * step + 1, step))]
        step //= 2
    return [[i % length for i in range(seq_len)]]


def eval_clip_indices(length: int, seq_len: int = 8, stride: int = 4, rule: str = "tile") -> List[List[int]]:
    """The clips of a whole test video under ``rule`` (:data:`TEST_CLIPS`): "tile" (:func:`tile_clip_indices`),
    "chunks" (:func:`chunk_clip_indices`, which ignores ``stride``), "begin" (:func:`begin_clip_indices`) or
    "all" (one clip of every frame in order, whatever ``seq_len``: GaitSet's test, the MEVID release's AP3D test)."""
    if rule == "tile":
        return tile_clip_indices(length, seq_len, stride)
    if rule == "chunks":
        return chunk_clip_indices(length, seq_len)
    if rule == "begin":
        return begin_clip_indices(length, seq_len, stride)
    if rule == "all":
        if length < 1:
            raise ValueError("cannot take a clip of an empty video")
        return [list(range(length))]
    raise ValueError(f"test clips must be one of {TEST_CLIPS}, got {rule!r}")


def variant_clip_indices(clips: List[List[int]], variant: str = "whole", key: int = 0) -> List[List[int]]:
    """The clips of one test video under a test variant (:data:`TEST_VARIANTS`).

    ``first-frame``: one clip, the video's first frame repeated ``seq_len`` times; ``shuffled``: each
    clip's frames in a random order, seeded by (``key``, clip number), so a variant repeats exactly;
    ``reversed``: each clip backwards; ``static``: each clip's middle frame repeated. Every variant but
    ``first-frame`` sees the same frames as ``whole``, so its change in accuracy is the model's use of
    their order (none for a model that pools frames, such as C2D).
    """
    if variant == "whole":
        return clips
    if variant == "first-frame":
        return [[min(min(c) for c in clips)] * len(clips[0])]
    if variant == "shuffled":
        return [[c[i] for i in np.random.default_rng([key, k]).permutation(len(c))] for k, c in enumerate(clips)]
    if variant == "reversed":
        return [list(reversed(c)) for c in clips]
    if variant == "static":
        return [[c[len(c) // 2]] * len(c) for c in clips]
    raise ValueError(f"test variant must be one of {', '.join(TEST_VARIANTS)}, got {variant!r}")


def dense_pieces(length: int, piece: int = 64) -> List[Tuple[int, int]]:
    """Cut a training video into non-overlapping ``piece``-frame spans [start, stop).

    The last span takes the remainder (``piece`` to ``2*piece - 1`` frames);
    videos shorter than ``2 * piece`` stay whole. ``piece <= 0`` disables cutting.
    """
    if piece <= 0 or length < 2 * piece:
        return [(0, length)]
    n = length // piece
    spans = [(i * piece, (i + 1) * piece) for i in range(n - 1)]
    spans.append(((n - 1) * piece, length))
    return spans


def frames_used(clips: Sequence[Sequence[int]]) -> List[int]:
    """Distinct frame indices used by a list of clips (sorted); a test helper."""
    return sorted({i for c in clips for i in c})
