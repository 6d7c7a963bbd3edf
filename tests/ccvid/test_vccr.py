"""VCCR's reader on a tiny tree in its (assumed) release layout, and its published row.

The fixture tree (frames are 16 x 8 noise JPEGs named ``<pid>-C<camera>-O<clothes>-F<frame>.jpg``)::

    VCCR/train/0001/t1/       camera 1, clothes 1, 3 frames
    VCCR/train/0001/t2/       camera 2, clothes 2, 3 frames
    VCCR/train/0007/t1/       camera 1, clothes 1, 2 frames
    VCCR/test_qg/query/0010/3/q1/      camera 3, clothes 1, 9 frames
    VCCR/test_qg/query/0010/3/q2/      camera 3, clothes 1, 5 frames (under 8: left out, as the loaders do)
    VCCR/test_qg/gallery/0010/1/g1/    camera 1, clothes 2, 8 frames
    VCCR/test_qg/gallery/0010/2/g2/    camera 2, clothes 1, 10 frames
"""
import os

import pytest

from ccvid.catalog import read_dataset
from ccvid.records import DatasetError
from tests.conftest import write_frames


def write_tracklet(folder, pid, cam, clothes, n, first=1):
    """Frames named as the VCCR loaders read them, written out of order (the reader sorts by frame number)."""
    write_frames(str(folder), n)
    for i in range(n):
        os.rename(os.path.join(folder, f"{i + 1:05d}.jpg"),
                  os.path.join(folder, f"{pid}-C{cam}-O{clothes}-F{first + (i * 7) % n}.jpg"))


@pytest.fixture
def vccr_tree(tmp_path):
    root = tmp_path / "VCCR"
    for pid, t, cam, clothes, n in (("0001", "t1", 1, 1, 3), ("0001", "t2", 2, 2, 3), ("0007", "t1", 1, 1, 2)):
        write_tracklet(root / "train" / pid / t, pid, cam, clothes, n)
    for split, t, cam, clothes, n in (("query", "q1", 3, 1, 9), ("query", "q2", 3, 1, 5),
                                      ("gallery", "g1", 1, 2, 8), ("gallery", "g2", 2, 1, 10)):
        write_tracklet(root / "test_qg" / split / "0010" / str(cam) / t, "0010", cam, clothes, n)
    return root


def test_the_tree_reads_with_the_suite_label_rules(vccr_tree):
    data = read_dataset("vccr", str(vccr_tree))
    assert data.name == "vccr" and data.meta["kind"] == "video" and data.meta["protocols"] == ["general", "cc", "sc"]
    assert [(t.pid, t.camid, t.clothes, len(t.frames)) for t in data.train] == [(0, 1, 0, 3), (0, 2, 1, 3),
                                                                                 (1, 1, 2, 2)]
    assert data.num_train_pids == 2 and data.num_train_clothes == 3 and data.pid2clothes.sum() == 3
    # the 5-frame query is left out; test ids kept; clothes "0010_1" / "0010_2" labelled over query and gallery
    assert [(t.pid, t.camid, t.clothes, len(t.frames)) for t in data.query] == [(10, 3, 0, 9)]
    assert [(t.pid, t.camid, t.clothes) for t in data.gallery] == [(10, 1, 1), (10, 2, 0)]
    frames = data.gallery[1].frames
    assert [int(f.split("-F")[1][:-4]) for f in frames] == list(range(1, 11))  # numeric order: F9 before F10
    assert len(read_dataset("vccr", str(vccr_tree), min_test_frames=1).query) == 2


def test_malformed_trees_are_one_clear_error(vccr_tree):
    bad = vccr_tree / "train" / "0007" / "t1"
    name = sorted(os.listdir(bad))[0]
    os.rename(bad / name, bad / name.replace("-C1-", "-C4-"))
    with pytest.raises(DatasetError, match="camera 4, clothes 1, but the tracklet's first frame"):
        read_dataset("vccr", str(vccr_tree))
    os.rename(bad / name.replace("-C1-", "-C4-"), bad / "0007_c1_f1.jpg")
    with pytest.raises(DatasetError, match=r"0007_c1_f1\.jpg: file name does not match VCCR"):
        read_dataset("vccr", str(vccr_tree))
    with pytest.raises(DatasetError, match="min_test_frames=0"):
        read_dataset("vccr", str(vccr_tree), min_test_frames=0)
    with pytest.raises(DatasetError, match="VCCR dataset folder not found"):
        read_dataset("vccr", str(vccr_tree / "missing"))


def test_a_missing_test_folder_is_named(vccr_tree):
    os.rename(vccr_tree / "test_qg", vccr_tree / "test")
    with pytest.raises(DatasetError, match=r"test_qg/query: VCCR query folder not found"):
        read_dataset("vccr", str(vccr_tree))


def test_the_published_row_loads_with_its_source():
    from leaderboards.published import load_published

    (row,) = [r for r in load_published() if r.dataset == "vccr"]
    assert row.objective == "cal" and row.metrics == {"cc": {"top1": 52.1, "mAP": 44.3}}
    assert "reference-facts.md" in row.source and row.selection == "unknown" and row.scored == "unknown"
