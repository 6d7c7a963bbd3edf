import os

import numpy as np
import pytest

from ccvid import DatasetError, read_ccvid
from ccvid.splits import validation_split


def test_reads_exact_ccvid_layout(ccvid_tree):
    data = read_ccvid(str(ccvid_tree))
    assert [t.pid for t in data.train] == [0, 0, 1, 1]  # train ids relabelled 0..N-1
    assert [t.pid for t in data.query] == [10, 11]  # test ids kept
    assert data.num_train_pids == 2 and data.num_train_clothes == 4
    assert [t.num_frames for t in data.train] == [5, 4, 6, 3]
    assert data.train[0].frames[0] == "00001.jpg" and data.train[0].kind == "frames"
    # pid2clothes: each train id owns its own clothes classes
    assert data.pid2clothes.tolist() == [[1, 1, 0, 0], [0, 0, 1, 1]]


def test_camera_rule_sessions_1_and_2_shared_session_3_offset(ccvid_tree):
    data = read_ccvid(str(ccvid_tree))
    assert [t.camid for t in data.train] == [1, 2, 1, 16]
    assert [t.camid for t in data.query] == [1, 14]
    # session1/010_01 (query) and session2/010_01 (gallery): same camera id -> junk under the protocol
    assert data.query[0].camid == data.gallery[0].camid


def test_test_clothes_labelled_jointly_over_query_and_gallery(ccvid_tree):
    data = read_ccvid(str(ccvid_tree))
    q010, g010, g010b = data.query[0], data.gallery[0], data.gallery[1]
    assert q010.clothes == g010.clothes  # same pid_label in query and gallery
    assert q010.clothes != g010b.clothes
    assert data.query[1].clothes == data.gallery[2].clothes  # 011 u2 in both
    keys = {(t.pid, t.clothes) for t in data.query + data.gallery}
    assert len({c for _, c in keys}) == 3


def test_missing_root(tmp_path):
    with pytest.raises(DatasetError, match="dataset folder not found"):
        read_ccvid(str(tmp_path / "nope"))


def test_missing_annotation_file(ccvid_tree):
    os.remove(ccvid_tree / "query.txt")
    with pytest.raises(DatasetError, match=r"query\.txt: annotation file not found"):
        read_ccvid(str(ccvid_tree))


def test_malformed_line_names_file_and_line(ccvid_tree):
    with open(ccvid_tree / "gallery.txt", "a") as f:
        f.write("session1/011_02 011\n")
    with pytest.raises(DatasetError, match=r"gallery\.txt:4: expected"):
        read_ccvid(str(ccvid_tree))


def test_non_numeric_pid(ccvid_tree):
    with open(ccvid_tree / "train.txt", "w") as f:
        f.write("session1/001_01\tabc\tu0\n")
    with pytest.raises(DatasetError, match=r"train\.txt:1: person id 'abc'"):
        read_ccvid(str(ccvid_tree))


def test_missing_and_empty_tracklet_folders(ccvid_tree):
    import shutil
    shutil.rmtree(ccvid_tree / "session1/001_02")
    with pytest.raises(DatasetError, match=r"train\.txt:2: frame folder or video file for 'session1/001_02'"):
        read_ccvid(str(ccvid_tree))
    os.makedirs(ccvid_tree / "session1/001_02")
    with open(ccvid_tree / "session1/001_02/notes.txt", "w") as f:
        f.write("x")
    with pytest.raises(DatasetError, match="no image files"):
        read_ccvid(str(ccvid_tree))


def test_video_backend_finds_packed_files(ccvid_tree):
    from conftest import write_video
    for split in ("train", "query", "gallery"):
        for line in open(ccvid_tree / f"{split}.txt"):
            path = line.split()[0]
            write_video(str(ccvid_tree / "videos" / (path + ".mp4")), np.zeros((3, 16, 16, 3), np.uint8))
    data = read_ccvid(str(ccvid_tree), backend="video")
    assert all(t.kind == "video" and t.num_frames is None for t in data.train + data.query + data.gallery)
    assert data.train[3].source.endswith(os.path.join("videos", "session3", "003_04.mp4"))
    assert data.train[3].camid == 16
    assert data.summary()["train"]["frames"] is None  # lengths of unopened videos are unknown, not 0
    assert read_ccvid(str(ccvid_tree)).summary()["train"]["frames"] == 5 + 4 + 6 + 3


def test_validation_split_holds_out_training_ids(ccvid_tree):
    data = read_ccvid(str(ccvid_tree))
    val = validation_split(data, 1, seed=0)
    held = {t.source for t in val.query + val.gallery}
    assert held and held.isdisjoint({t.source for t in val.train})
    assert val.num_train_pids == 1 and {t.pid for t in val.train} == {0}
    assert val.pid2clothes.shape == (1, 2)
    # one query per (pid, clothes, camera); all held-out tracklets used once
    assert len(val.query) + len(val.gallery) == 2
    with pytest.raises(DatasetError, match="val_ids"):
        validation_split(data, 2)
