"""Training frames decoded once into memory (samplers/memory.py): the same clips, the same randomness, the budget."""
import logging
import random

import numpy as np
import pytest
import torch
from PIL import Image

from benchmark.config import Config
from benchmark.training.loaders import train_loader
from ccvid import DatasetError, Tracklet, read_ccvid
from conftest import write_frames, write_video
from samplers import FolderReader, MemoryFrames, TrainClips, cache_mode, memory_plan
from samplers.memory import estimate_bytes


def pair(data, size, **kw):
    """The same training set read from disk and from memory."""
    disk = TrainClips(data.train, size, **kw)
    mem = TrainClips(data.train, size, **kw)
    assert mem.load_into_memory() is mem.memory is not None
    return disk, mem


@pytest.mark.parametrize("size, kw", [
    ((16, 8), {}),                                         # the stored size: no resize
    ((32, 16), {"seq_len": 4, "stride": 2}),               # upscaled per clip, as the reader does
    ((20, 12), {"interpolation": "bilinear", "seq_len": 3, "stride": 1, "dense_piece": 4, "mode": "tsn"}),
])
def test_clips_from_memory_equal_the_readers_clips(ccvid_tree, size, kw):
    data = read_ccvid(str(ccvid_tree))
    disk, mem = pair(data, size, seed=3, **kw)
    assert mem.memory.num_frames == 5 + 4 + 6 + 3 and len(mem.memory) == 4
    assert mem.memory.nbytes == (5 + 4 + 6 + 3) * 16 * 8 * 3  # decoded once, at the stored size
    for epoch in range(4):
        disk.set_epoch(epoch)
        mem.set_epoch(epoch)
        for i in range(len(disk)):
            a, b = disk[i], mem[i]
            assert torch.equal(a[0], b[0]) and a[1:] == b[1:], (epoch, i)
            assert a[0].is_contiguous() and b[0].is_contiguous()


def test_flips_and_sampling_consume_the_same_randomness(ccvid_tree):
    data = read_ccvid(str(ccvid_tree))
    disk, mem = pair(data, (16, 8), seq_len=4, stride=2, seed=1)
    flips = set()
    for epoch in range(6):
        disk.set_epoch(epoch)
        mem.set_epoch(epoch)
        for i in range(len(disk)):
            (_, idx_a, flip_a), (_, idx_b, flip_b) = disk.clip_indices(i), mem.clip_indices(i)
            assert idx_a == idx_b and flip_a == flip_b
            flips.add(flip_a)
            clip = mem[i][0]
            plain = torch.from_numpy(mem.memory.read(mem._owner[i], idx_a, (16, 8)))
            assert torch.equal(clip, plain.flip(2) if flip_a else plain)
    assert flips == {True, False}  # both branches ran
    # neither decoding nor reading from memory draws from the global generators
    random.seed(5)
    np.random.seed(5)
    torch.manual_seed(5)
    states = random.getstate(), np.random.get_state()[1].copy(), torch.get_rng_state()
    fresh = TrainClips(data.train, (16, 8), seed=1)
    fresh.load_into_memory()
    [fresh[i] for i in range(len(fresh))]
    assert random.getstate() == states[0] and np.array_equal(np.random.get_state()[1], states[1])
    assert torch.equal(torch.get_rng_state(), states[2])


def test_mixed_sizes_images_and_index_lists_read_as_the_folder_reader(tmp_path):
    folder = tmp_path / "001_01"
    write_frames(str(folder), 5, h=16, w=8)
    rng = np.random.default_rng(1)
    for name, (h, w) in (("00002.jpg", (20, 10)), ("00004.jpg", (12, 6))):  # crops of other sizes
        Image.fromarray(rng.integers(0, 255, (h, w, 3), dtype=np.uint8)).save(folder / name, quality=95)
    image = tmp_path / "img.png"
    Image.fromarray(rng.integers(0, 255, (24, 12, 3), dtype=np.uint8)).save(image)
    tracklets = [Tracklet(str(folder), 0, 1, 0, tuple(f"{i:05d}.jpg" for i in range(1, 6)), 5),
                 Tracklet.image(str(image), 1, 2, 1)]
    frames = MemoryFrames.decode(tracklets)
    assert frames.num_frames == 6 and frames.nbytes == (3 * 16 * 8 + 20 * 10 + 12 * 6 + 24 * 12) * 3
    reader = FolderReader()
    for idx in ([0, 1, 2, 3, 4], [4, 1, 1, 3], [2, 2, 2], [3, 0]):
        for size in ((16, 8), (32, 16)):
            assert np.array_equal(frames.read(0, idx, size), reader.read(tracklets[0], idx, size))
    assert np.array_equal(frames.read(1, [0, 0, 0], (16, 8)), reader.read(tracklets[1], [0, 0, 0], (16, 8)))
    assert frames.read(0, [0], (16, 8)).flags.writeable  # a copy, never a view of the shared buffer
    with pytest.raises(DatasetError, match="frame 5 requested but the folder has 5 frames"):
        frames.read(0, [1, 5], (16, 8))


def test_the_budget_rule(ccvid_tree, tmp_path):
    data = read_ccvid(str(ccvid_tree))
    need = (5 + 4 + 6 + 3) * 16 * 8 * 3
    assert estimate_bytes(data.train) == need  # one header per tracklet x its frame count
    assert memory_plan(data.train, "auto", budget=need)[0]
    use, why = memory_plan(data.train, "auto", budget=need - 1)
    assert not use and "budget" in why
    assert memory_plan(data.train, "on", budget=1)[0]  # on: whatever the size
    assert not memory_plan(data.train, "off")[0]
    assert not memory_plan([], "on")[0]
    # the estimate is a guess (crops of one folder may differ): decoding stops once over the budget
    assert MemoryFrames.decode(data.train, budget=need - 1) is None
    assert MemoryFrames.decode(data.train, budget=need).nbytes == need
    # video files stay with decord, even when asked
    video = str(tmp_path / "v.mp4")
    write_video(video, np.zeros((4, 16, 16, 3), dtype=np.uint8))
    use, why = memory_plan(list(data.train) + [Tracklet(video, 0, 1, 0)], "on")
    assert not use and "decord" in why
    with pytest.raises(ValueError, match="only frame folders and images"):
        MemoryFrames.decode([Tracklet(video, 0, 1, 0)])


def test_cache_mode_values():
    assert [cache_mode(v) for v in ("auto", "on", "off", True, False, "True", "false", " ON ")] == \
        ["auto", "on", "off", "on", "off", "on", "off", "on"]
    with pytest.raises(ValueError, match="cache_frames must be one of"):
        cache_mode("sometimes")


def tiny_config(**data):
    cfg = Config()
    cfg.data.height, cfg.data.width, cfg.data.num_ids, cfg.data.clips_per_id = 16, 8, 2, 2
    for k, v in data.items():
        setattr(cfg.data, k, v)  # cache_frames: read with getattr until the schema has the field
    return cfg


def test_train_loader_decodes_a_small_training_set_once_and_logs_it(ccvid_tree, caplog):
    data = read_ccvid(str(ccvid_tree))
    with caplog.at_level(logging.INFO, logger="benchmark"):
        auto = train_loader(tiny_config(), data)
    lines = [r.getMessage() for r in caplog.records if "training frames in memory" in r.getMessage()]
    assert len(lines) == 1 and "18 frames of 4 tracklets" in lines[0], lines
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="benchmark"):
        off = train_loader(tiny_config(cache_frames="off"), data)
    assert auto.dataset.memory is not None and off.dataset.memory is None
    assert not [r for r in caplog.records if "training frames" in r.getMessage()]
    for epoch in range(2):
        for loader in (auto, off):
            loader.sampler.set_epoch(epoch)
            loader.dataset.set_epoch(epoch)
        for (a, pa, _, ca), (b, pb, _, cb) in zip(auto, off):
            assert torch.equal(a, b) and torch.equal(pa, pb) and torch.equal(ca, cb)


def test_train_loader_refuses_an_unknown_mode(ccvid_tree):
    from benchmark.config import ConfigError

    with pytest.raises(ConfigError, match="data.cache_frames must be one of"):
        train_loader(tiny_config(cache_frames="sometimes"), read_ccvid(str(ccvid_tree)))
