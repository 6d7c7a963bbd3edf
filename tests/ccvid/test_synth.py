"""The embedded dataset generator: CCVID layout, splits, determinism, videos, knobs, atomic writes."""
import hashlib
import json
import re
from collections import defaultdict
from dataclasses import asdict, replace
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from ccvid import synth
from ccvid.synth import SynthConfig, config_hash, ensure_dataset, generate

TINY = SynthConfig(seed=3, num_train_ids=3, num_test_ids=3, min_suits=2, max_suits=5, num_cameras=3,
                   videos_per_suit_camera=2, num_frames=8, write_videos=False, workers=1)
LINE = re.compile(r"^(session[12])/((\d{3})_(\d{2})_(\d)(\d))\t(\d{3})\t(\S+)$")


def read_lines(root: Path):
    """{split: [(session, folder, pid, cam, suit, rep, label)]}, checking the line format."""
    out = {}
    for split in ("train", "query", "gallery"):
        rows = []
        for line in (root / f"{split}.txt").read_text().splitlines():
            m = LINE.match(line)
            assert m, f"{split}.txt: bad line {line!r}"
            session, folder, pid, cam, suit, rep, pid_col, label = m.groups()
            assert pid == pid_col
            rows.append((session, folder, int(pid), int(cam), int(suit), int(rep), label))
        out[split] = rows
    return out


def tree_hash(root: Path) -> str:
    h = hashlib.sha256()
    for p in sorted(root.rglob("*")):
        if p.is_file() and p.suffix in (".jpg", ".txt"):
            h.update(str(p.relative_to(root)).encode())
            h.update(p.read_bytes())
    return h.hexdigest()


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> Path:
    return generate(tmp_path_factory.mktemp("synth") / "tiny", TINY)


def test_layout_frames_and_metadata(tiny):
    rows = read_lines(tiny)
    assert all(r[0] == "session1" for r in rows["train"])
    assert all(r[0] == "session2" for r in rows["query"] + rows["gallery"])
    for session, folder, *_ in rows["train"] + rows["query"] + rows["gallery"]:
        names = sorted(p.name for p in (tiny / session / folder).iterdir())
        assert names == [f"{i:05d}.jpg" for i in range(1, TINY.num_frames + 1)]
    with Image.open(tiny / session / folder / "00001.jpg") as im:
        assert (im.format, im.mode, im.size) == ("JPEG", "RGB", (TINY.width, TINY.height))
    assert not (tiny / "videos").exists()
    meta = json.loads((tiny / "synth.json").read_text())
    assert meta["format_version"] == synth.FORMAT_VERSION and meta["config"] == asdict(TINY)
    assert meta["config_hash"] == config_hash(TINY)
    for split in ("train", "query", "gallery"):
        assert meta["counts"][split]["tracklets"] == len(rows[split])
    assert meta["counts"]["frames"] == TINY.num_frames * sum(len(v) for v in rows.values())
    assert not [p for p in tiny.parent.iterdir() if p.name != "tiny"]  # no temporary folder left


def test_splits_suits_and_clothes_labels(tiny):
    rows = read_lines(tiny)
    train_ids = {r[2] for r in rows["train"]}
    test_ids = {r[2] for r in rows["query"] + rows["gallery"]}
    assert train_ids == {1, 2, 3} and test_ids == {4, 5, 6}
    assert {r[2] for r in rows["query"]} == {r[2] for r in rows["gallery"]} == test_ids

    labels = defaultdict(set)  # (pid, suit) -> labels
    for r in rows["train"] + rows["query"] + rows["gallery"]:
        assert 1 <= r[3] <= TINY.num_cameras and 1 <= r[5] <= TINY.videos_per_suit_camera
        labels[r[2], r[4]].add(r[6])
    assert all(len(v) == 1 for v in labels.values())  # one label per suit
    for pid in train_ids | test_ids:
        suits = sorted(s for p, s in labels if p == pid)
        assert TINY.min_suits <= len(suits) <= TINY.max_suits and suits == list(range(1, len(suits) + 1))
        assert len({next(iter(labels[pid, s])) for s in suits}) == len(suits)  # distinct per suit
    assert len({len([s for p, s in labels if p == pid]) for pid in train_ids | test_ids}) > 1

    # exactly one query per (test id, suit, camera); each has gallery of its id, incl. clothes-changing ones
    queries = [(r[2], r[4], r[3]) for r in rows["query"]]
    assert len(queries) == len(set(queries))
    assert set(queries) == {(r[2], r[4], r[3]) for r in rows["query"] + rows["gallery"]}
    gallery = [(r[2], r[4], r[3]) for r in rows["gallery"]]
    for pid, suit, cam in queries:
        assert any(g[0] == pid for g in gallery)
        assert any(g[0] == pid and g[1] != suit and g[2] != cam for g in gallery)


def test_reads_with_the_ccvid_reader(tiny):
    from ccvid import read_ccvid
    data = read_ccvid(str(tiny))
    assert data.num_train_pids == 3 and len(data.train) == len(read_lines(tiny)["train"])
    assert {t.camid for t in data.query + data.gallery} == set(range(1, TINY.num_cameras + 1))
    assert all(t.num_frames == TINY.num_frames for t in data.train)
    assert data.pid2clothes.sum() == data.num_train_clothes  # every train suit belongs to one id


def test_deterministic_and_independent_of_workers(tiny, tmp_path):
    again = generate(tmp_path / "again", replace(TINY, workers=2))
    assert tree_hash(again) == tree_hash(tiny)
    frames = np.stack([np.asarray(Image.open(p)) for p in sorted((tiny / "session1" / "001_02_21").iterdir())])
    assert np.abs(frames.astype(int) - synth.render_tracklet(TINY, 1, 2, 2, 1)).mean() < 3  # JPEG error only
    assert not np.array_equal(synth.render_tracklet(replace(TINY, seed=4), 1, 2, 2, 1),
                              synth.render_tracklet(TINY, 1, 2, 2, 1))


def test_videos_match_the_frames(tmp_path):
    decord = pytest.importorskip("decord")
    cfg = replace(TINY, num_train_ids=1, num_test_ids=1, max_suits=2, num_cameras=2, write_videos=True,
                  clothes_strength=1.0)
    root = generate(tmp_path / "vid", cfg)
    rows = read_lines(root)
    for session, folder, *_ in rows["train"] + rows["query"] + rows["gallery"]:
        vr = decord.VideoReader(str(root / "videos" / session / f"{folder}.mp4"))
        video = vr.get_batch(list(range(len(vr)))).asnumpy().astype(np.float64)
        frames = np.stack([np.asarray(Image.open(p)) for p in sorted((root / session / folder).iterdir())])
        assert video.shape == frames.shape == (cfg.num_frames, cfg.height, cfg.width, 3)
        psnr = 10 * np.log10(255 ** 2 / np.mean((video - frames) ** 2))
        assert psnr > 30, (folder, psnr)


def test_clothes_strength_controls_the_clothes():
    """Same person, camera and jitter; two suits: identical pixels at strength 0, different at 1."""
    def two_suits(strength):
        cfg = replace(TINY, clothes_strength=strength)
        idn, cam = synth._identity(cfg, 1), synth._camera(cfg, 1)
        return [synth._render(cfg, idn, synth._suit(cfg, 1, s), cam, (1, 1, 1, 1)).astype(float) for s in (1, 2)]
    a, b = two_suits(0.0)
    assert np.array_equal(a, b)
    a, b = two_suits(1.0)
    assert np.abs(a - b).mean() > 3


def test_identity_strength_zero_makes_everyone_alike():
    cfg = replace(TINY, clothes_strength=0.0, identity_strength=0.0)
    cam = synth._camera(cfg, 2)
    a, b = (synth._render(cfg, synth._identity(cfg, p), synth._suit(cfg, p, 1), cam, (1, 1, 2, 1)) for p in (1, 2))
    assert np.array_equal(a, b)
    cfg = replace(cfg, identity_strength=1.0)
    a, b = (synth._render(cfg, synth._identity(cfg, p), synth._suit(cfg, p, 1), cam, (1, 1, 2, 1)) for p in (1, 2))
    assert not np.array_equal(a, b)


def test_pose_is_the_gait_alone():
    """The pose is computed apart from any camera, from the stride phase: it repeats one stride later, and
    the two legs (arms) are half a stride apart, the same joints mirrored across the body."""
    idn = synth._identity(TINY, 1)
    th = synth._gait_phase(idn, np.arange(TINY.num_frames, dtype=np.float64), 0.3)
    now, stride_later, half_later = (synth._pose(idn, th + d) for d in (0.0, 2 * np.pi, np.pi))
    def xyz(pose, side, limbs, joint):
        return np.stack(np.broadcast_arrays(*pose[limbs][side][joint]))

    for part in (("legs", "ankle"), ("arms", "wrist")):
        np.testing.assert_allclose(xyz(stride_later, 1, *part), xyz(now, 1, *part), atol=1e-9)
        np.testing.assert_allclose(xyz(half_later, -1, *part) * [[1], [-1], [1]], xyz(now, 1, *part), atol=1e-9)
        assert np.ptp(xyz(now, 1, *part)[0]) > 0.05  # and it does swing


def test_interrupted_generation_leaves_nothing(tmp_path, monkeypatch):
    calls = []
    real = synth._write_jpegs

    def failing(folder, frames):
        calls.append(folder)
        if len(calls) == 5:
            raise RuntimeError("interrupted")
        real(folder, frames)
    monkeypatch.setattr(synth, "_write_jpegs", failing)
    with pytest.raises(RuntimeError, match="interrupted"):
        generate(tmp_path / "ds", TINY)
    assert list(tmp_path.iterdir()) == []  # neither the dataset nor its temporary folder


def test_ensure_dataset_caches_by_config(tmp_path, monkeypatch):
    cfg = replace(TINY, num_train_ids=1, num_test_ids=1, num_cameras=2, max_suits=2)
    root = ensure_dataset(tmp_path, cfg)
    assert root == tmp_path / config_hash(cfg) and (root / "synth.json").is_file()
    assert config_hash(replace(cfg, workers=2)) == config_hash(cfg)
    assert config_hash(replace(cfg, clothes_strength=0.5)) != config_hash(cfg)

    def no_generation(*a, **k):
        raise AssertionError("regenerated a cached dataset")
    monkeypatch.setattr(synth, "generate", no_generation)
    assert ensure_dataset(tmp_path, replace(cfg, workers=2)) == root
    with pytest.raises(FileExistsError):
        generate(root, cfg)


def test_config_validation():
    for bad in (dict(max_suits=10), dict(min_suits=3, max_suits=2), dict(width=31), dict(clothes_strength=1.5),
                dict(identity_strength=-1), dict(num_train_ids=600, num_test_ids=600)):
        with pytest.raises(ValueError):
            SynthConfig(**bad)
    assert SynthConfig(identity_strength=1).identity_strength == 1.0


def test_gait_twins_share_every_cue_a_frame_shows_and_differ_in_cadence():
    cfg = SynthConfig(num_train_ids=20, num_test_ids=21, twin_share=0.5)
    twins = {p: synth.twin_of(cfg, p) for p in range(1, 42)}
    paired = {p: t for p, t in twins.items() if t is not None}
    assert paired and all(paired[t] == p for p, t in paired.items())  # symmetric
    assert all((p <= 20) == (t <= 20) for p, t in paired.items())  # twins stay in their split
    assert synth.twin_of(cfg, 41) is None  # the odd one out of the test split has no pair
    for p, t in paired.items():
        a, b = synth._identity(cfg, p), synth._identity(cfg, t)
        same = {k for k in a if k != "period" and not np.array_equal(np.asarray(a[k]), np.asarray(b[k]))}
        assert same == set(), (p, t, same)  # body, head, hair, skin, pose shapes, number of suits
        assert synth._suit(cfg, p, 1)["label"] == synth._suit(cfg, t, 1)["label"]  # one wardrobe
        assert 6 <= abs(a["period"] - b["period"]) <= 8 and 20 <= min(a["period"], b["period"]) <= 24
    others = [synth._identity(cfg, p)["period"] for p, t in twins.items() if t is None]
    assert all(20 <= x <= 28 for x in others)  # 5 to 7 samples per stride at the clip sampler's stride 4
    assert all(synth.twin_of(SynthConfig(twin_share=0.0), p) is None for p in range(1, 181))
    everyone = SynthConfig(num_train_ids=10, num_test_ids=10, twin_share=1.0)
    assert all(synth.twin_of(everyone, p) is not None for p in range(1, 21))


def test_the_instrument_names_its_version(tmp_path):
    root = generate(tmp_path / "ds", replace(TINY, num_train_ids=1, num_test_ids=1, num_cameras=1, max_suits=1,
                                             min_suits=1))
    from ccvid.datasets.embedded import instrument_of
    assert instrument_of(str(root)) == synth.INSTRUMENT == f"embedded-v{synth.FORMAT_VERSION}"
