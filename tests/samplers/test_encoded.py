"""Training JPEGs decoded in batches on the training device (samplers/encoded.py): the readers' clips, or one line."""
import os

import numpy as np
import pytest
import torch
from PIL import Image
from torch.utils.data import default_collate

from ccvid import DatasetError, Tracklet, read_ccvid
from conftest import write_frames
from samplers import EncodedClips, TrainClips, check_encodable, collate_clips
from samplers.encoded import read_bytes


def batches(ds, size=None):
    """Every item of ``ds`` as one batch through collate_clips."""
    return collate_clips([ds[i] for i in range(len(ds) if size is None else size)])


@pytest.mark.parametrize("size, kw", [
    ((16, 8), {}),                                          # the stored size: no resize
    ((32, 16), {"seq_len": 4, "stride": 2}),                # upscaled on the device
    ((20, 12), {"interpolation": "bilinear", "seq_len": 3, "stride": 1, "dense_piece": 4, "mode": "tsn"}),
])
def test_device_decoding_on_the_cpu_gives_the_readers_clips_pixel_for_pixel(ccvid_tree, size, kw):
    data = read_ccvid(str(ccvid_tree))
    disk = TrainClips(data.train, size, seed=5, **kw)
    enc = TrainClips(data.train, size, seed=5, encoded=True, **kw)
    flips = set()
    for epoch in range(4):
        disk.set_epoch(epoch)
        enc.set_epoch(epoch)
        ref = default_collate([disk[i] for i in range(len(disk))])
        got = batches(enc)
        assert isinstance(got[0], EncodedClips) and len(got[0]) == len(disk)
        clips = got[0].decode("cpu")
        assert clips.dtype == torch.uint8 and clips.shape == ref[0].shape
        assert torch.equal(clips, ref[0]), epoch
        for a, b in zip(ref[1:], got[1:]):
            assert torch.equal(a, b)
        flips |= {enc.clip_indices(i)[2] for i in range(len(enc))}
    assert flips == {True, False}  # both branches ran


def test_frames_of_different_sizes_and_images(tmp_path):
    write_frames(str(tmp_path / "a"), 6, h=16, w=8)
    write_frames(str(tmp_path / "b"), 6, h=24, w=10, seed=1)
    Image.fromarray(np.full((30, 14, 3), 90, np.uint8)).save(tmp_path / "img.jpg")
    tracks = [Tracklet(str(tmp_path / d), k, 0, k, frames=tuple(sorted(os.listdir(tmp_path / d))), num_frames=6)
              for k, d in enumerate("ab")] + [Tracklet.image(str(tmp_path / "img.jpg"), 2, 1, 2)]
    disk = TrainClips(tracks, (20, 8), seq_len=4, stride=1, seed=0)
    enc = TrainClips(tracks, (20, 8), seq_len=4, stride=1, seed=0, encoded=True)
    item = enc[2]
    assert len(item[0].files) == 1 and item[0].order == [0, 0, 0, 0]  # the image read once, used 4 times
    assert torch.equal(batches(enc)[0].decode("cpu"), default_collate([disk[i] for i in range(3)])[0])


def test_plain_batches_collate_as_before(ccvid_tree):
    ds = TrainClips(read_ccvid(str(ccvid_tree)).train, (16, 8), seed=0)
    items = [ds[i] for i in range(len(ds))]
    for a, b in zip(collate_clips(items), default_collate(items)):
        assert torch.equal(a, b)


def test_only_jpeg_frames_can_be_decoded_on_the_device(tmp_path):
    Image.fromarray(np.zeros((8, 4, 3), np.uint8)).save(tmp_path / "a.png")
    with pytest.raises(DatasetError, match=r"a\.png: not a JPEG file; data\.decode=device decodes JPEG"):
        check_encodable([Tracklet.image(str(tmp_path / "a.png"), 0, 0, 0)])
    with pytest.raises(DatasetError, match=r"v\.mp4: a video file; data\.decode=device"):
        TrainClips([Tracklet(str(tmp_path / "v.mp4"), 0, 0, 0)], (8, 4), encoded=True)
    check_encodable([Tracklet.image(str(tmp_path / "a.JPEG"), 0, 0, 0)])  # any case of the suffix


def test_a_corrupt_jpeg_is_named_when_its_batch_fails(ccvid_tree):
    data = read_ccvid(str(ccvid_tree))
    victim = os.path.join(data.train[2].source, data.train[2].frames[0])
    with open(victim, "wb") as f:
        f.write(b"\xff\xd8\xff\xe0 not really a JPEG")
    ds = TrainClips(data.train, (16, 8), seq_len=6, stride=1, seed=0, encoded=True)  # every frame of each video
    with pytest.raises(DatasetError, match=rf"^{victim}: cannot decode JPEG"):
        batches(ds)[0].decode("cpu")


def test_unreadable_frames_are_one_line_errors(tmp_path, monkeypatch):
    with pytest.raises(DatasetError, match=r"gone\.jpg: frame file not found"):
        read_bytes(str(tmp_path / "gone.jpg"))
    (tmp_path / "empty.jpg").write_bytes(b"")
    with pytest.raises(DatasetError, match=r"empty\.jpg: frame file is empty"):
        read_bytes(str(tmp_path / "empty.jpg"))
    os.mkfifo(tmp_path / "fifo.jpg")
    with pytest.raises(DatasetError, match=r"fifo\.jpg: frame file is a FIFO \(named pipe\), not a regular file"):
        read_bytes(str(tmp_path / "fifo.jpg"))  # refused, not read (a read would hang)
    import ccvid.records as records

    def denied(path, *args, **kwargs):
        raise PermissionError(13, "Permission denied", path)

    (tmp_path / "locked.jpg").write_bytes(b"\xff\xd8")
    monkeypatch.setattr(records, "open", denied, raising=False)  # chmod 000 does not stop root
    with pytest.raises(DatasetError, match=r"locked\.jpg: cannot read frame file \(Permission denied\)"):
        read_bytes(str(tmp_path / "locked.jpg"))
