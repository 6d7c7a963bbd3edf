"""Hostile input, part 2: dataset trees through ``benchmark datasets check`` (and ``benchmark run``).

Each case: exit 2, one line on stderr naming the file (and line) or path at fault, no traceback; a run is
stopped before training and leaves no record.json that looks complete. Trees are tiny, in each dataset's
exact layout.
"""
import os

import numpy as np
import pytest

from benchmark.cli import main
from conftest import write_frames, write_video
from hostile_helpers import img, no_hang, refused, truncate, write

# --------------------------------------------------------------------------- CCVID
CCVID_ROWS = {
    "train": [("session1/001_01", "001", "u0"), ("session1/001_02", "001", "u1"), ("session2/002_01", "002", "u0"),
              ("session2/002_03", "002", "u1")],
    "query": [("session1/010_01", "010", "u0")],
    "gallery": [("session2/010_02", "010", "u1"), ("session3/010_03", "010", "u0")],
}


def ccvid(root, videos=False, rows=CCVID_ROWS):
    """A CCVID tree: frame folders (3 frames of 16x8) or, with ``videos``, one .mp4 per tracklet."""
    rng = np.random.default_rng(0)
    for split, lines in rows.items():
        write(root / f"{split}.txt", "".join(f"{p}\t{pid}\t{c}\n" for p, pid, c in lines))
        for p, _, _ in lines:
            if videos:
                write_video(str(root / f"{p}.mp4"), rng.integers(0, 255, (8, 32, 16, 3), dtype=np.uint8))
            else:
                write_frames(str(root / p), 3)
    return root


@pytest.fixture
def tree(tmp_path):
    return ccvid(tmp_path / "CCVID")


def check(root, *extra, dataset="ccvid"):
    with no_hang():
        return main(["datasets", "check", "--dataset", dataset, "--data-root", str(root), *extra])


def add_line(root, split, line):
    with open(root / f"{split}.txt", "a") as f:
        f.write(line)


def test_a_clean_tree_passes(tree, capsys):
    assert check(tree, "--verify-files") == 0
    out = capsys.readouterr()
    assert "verified: all 21 files exist and decode" in out.out and out.err == ""


def test_duplicated_tracklet_names_both_lines(tree, capsys):
    add_line(tree, "gallery", "session1/010_01\t010\tu0\n")  # the query's tracklet again
    refused(check(tree), capsys, f"{tree / 'gallery.txt'}:3", "tracklet 'session1/010_01' listed twice",
            f"first at {tree / 'query.txt'}:1")


def test_duplicate_spelled_differently_is_still_a_duplicate(tree, capsys):
    add_line(tree, "train", "./session1//001_01/\t001\tu0\n")
    refused(check(tree), capsys, f"{tree / 'train.txt'}:5", "listed twice", f"{tree / 'train.txt'}:1")


@pytest.mark.parametrize("path, expected", [
    ("../outside/001_01", "leaves the dataset's root"),
    ("session1/../../001_01", "leaves the dataset's root"),
    ("/etc/001_01", "is absolute"),
])
def test_paths_that_leave_the_root(tree, capsys, path, expected):
    add_line(tree, "train", f"{path}\t001\tu0\n")
    refused(check(tree), capsys, f"{tree / 'train.txt'}:5", repr(path), expected)


def test_empty_annotation_file(tree, capsys):
    write(tree / "query.txt", "\n  \n")
    refused(check(tree), capsys, tree / "query.txt", "annotation file is empty")


def test_annotation_that_is_not_utf8(tree, capsys):
    write(tree / "train.txt", b"session1/001_01\t001\tu0\nsession1/001_02\t001\tu\xff1\n", mode="wb")
    refused(check(tree), capsys, f"{tree / 'train.txt'}:2", "not UTF-8")


@pytest.mark.parametrize("kind", ["fifo", "folder"])
def test_annotation_that_is_not_a_regular_file(tree, capsys, kind):
    os.remove(tree / "gallery.txt")
    os.mkfifo(tree / "gallery.txt") if kind == "fifo" else os.mkdir(tree / "gallery.txt")
    what = "a FIFO (named pipe)" if kind == "fifo" else "a folder"
    refused(check(tree), capsys, tree / "gallery.txt", f"is {what}, not a regular file")


def test_unreadable_annotation_file(tree, capsys, monkeypatch):
    import ccvid.records as records  # where read_file_bytes opens the file

    def denied(path, *args, **kwargs):
        raise PermissionError(13, "Permission denied", path)

    monkeypatch.setattr(records, "open", denied, raising=False)  # chmod 000 does not stop root
    refused(check(tree), capsys, tree / "train.txt", "cannot read annotation file (Permission denied)")


def test_tracklet_folder_without_frames(tree, capsys):
    for name in os.listdir(tree / "session2" / "002_03"):
        os.remove(tree / "session2" / "002_03" / name)
    write(tree / "session2" / "002_03" / "notes.txt", "no frames here")
    refused(check(tree), capsys, f"{tree / 'train.txt'}:4", "frame folder has no image files")


def test_nul_byte_in_a_path(tree, capsys):
    add_line(tree, "train", "session1/00\x001_09\t001\tu0\n")
    refused(check(tree), capsys, f"{tree / 'train.txt'}:5", "not found")


def test_frame_that_is_a_fifo_is_never_opened(tree, capsys):
    frame = tree / "session1" / "010_01" / "00002.jpg"
    os.remove(frame)
    os.mkfifo(frame)
    refused(check(tree, "--verify-files"), capsys, frame, "frame file is a FIFO (named pipe), not a regular file")


@pytest.mark.parametrize("damage", ["garbage", "truncated", "empty"])
def test_verify_files_decodes_frames(tree, capsys, damage):
    frame = tree / "session2" / "010_02" / "00003.jpg"
    if damage == "garbage":
        frame.write_bytes(b"\xff\xd8 this is not a JPEG" * 20)
    elif damage == "truncated":
        truncate(frame, 0.5)
    else:
        frame.write_bytes(b"")
    assert check(tree) == 0  # reading the annotations alone does not open frames
    capsys.readouterr()
    refused(check(tree, "--verify-files"), capsys, frame, "cannot decode image")


@pytest.fixture
def video_tree(tmp_path):
    return ccvid(tmp_path / "CCVID", videos=True)


@pytest.mark.parametrize("damage", ["truncated", "garbage", "empty"])
def test_verify_files_decodes_videos(video_tree, capsys, damage):
    video = video_tree / "session2" / "002_01.mp4"
    if damage == "truncated":
        truncate(video, 0.6)
    elif damage == "garbage":
        video.write_bytes(os.urandom(4096))
    else:
        video.write_bytes(b"")
    refused(check(video_tree, "--verify-files"), capsys, video, "cannot decode video")


def test_video_that_is_a_fifo(video_tree, capsys):
    video = video_tree / "session1" / "010_01.mp4"
    os.remove(video)
    os.mkfifo(video)
    refused(check(video_tree), capsys, f"{video_tree / 'query.txt'}:1", video, "is a FIFO")


# --------------------------------------------------------------------------- runs stopped before training
RUN = ["--dataset", "ccvid", "num_ids=2", "clips_per_id=2", "--epochs", "1", "--no-progress"]


def test_run_on_a_truncated_video_stops_before_training(video_tree, tmp_path, capsys, monkeypatch):
    import benchmark.training.trainer as trainer
    monkeypatch.setattr(trainer.Trainer, "step", lambda *a, **k: pytest.fail("trained on a bad tree"))
    video = video_tree / "session2" / "002_01.mp4"
    truncate(video, 0.5)
    runs = tmp_path / "runs"
    code = main(["run", "--runs-dir", str(runs), "--data-root", str(video_tree), "--backend", "video", *RUN])
    refused(code, capsys, video, "cannot decode video", runs=runs)


def test_run_on_a_tree_with_a_duplicate_stops_before_anything(tree, tmp_path, capsys):
    add_line(tree, "train", "session1/001_01\t001\tu0\n")
    runs = tmp_path / "runs"
    code = main(["run", "--runs-dir", str(runs), "--data-root", str(tree), *RUN])
    refused(code, capsys, f"{tree / 'train.txt'}:5", "listed twice", runs=runs)


# --------------------------------------------------------------------------- image datasets
def test_ltcc_image_in_two_folders(tmp_path, capsys):
    root = tmp_path / "LTCC_ReID"
    for folder, names in (("train", ["001_1_c1_000001.png", "002_1_c2_000002.png"]),
                          ("query", ["010_1_c1_000010.png"]),
                          ("test", ["010_2_c3_000011.png", "010_1_c1_000010.png"])):
        for name in names:
            img(root / folder / name)
    refused(check(root, dataset="ltcc"), capsys, root / "test" / "010_1_c1_000010.png",
            "duplicated image: the same file name as", root / "query" / "010_1_c1_000010.png")


def test_ltcc_image_that_is_a_fifo(tmp_path, capsys):
    root = tmp_path / "LTCC_ReID"
    for folder, name in (("train", "001_1_c1_000001.png"), ("query", "010_1_c1_000010.png"),
                         ("test", "010_2_c3_000011.png")):
        img(root / folder / name)
    os.mkfifo(root / "test" / "010_3_c4_000012.png")
    refused(check(root, dataset="ltcc"), capsys, root / "test" / "010_3_c4_000012.png", "is a FIFO")


def test_prcc_image_linked_twice(tmp_path, capsys):
    rgb = tmp_path / "prcc" / "rgb"
    for pid in ("001", "002"):
        img(rgb / "train" / pid / "A_cropped_rgb001.jpg")
        img(rgb / "train" / pid / "C_cropped_rgb002.jpg")
    for cam in "ABC":
        img(rgb / "test" / cam / "010" / "cropped_rgb001.jpg", value=10 * "ABC".index(cam))
    os.makedirs(rgb / "test" / "C" / "011")
    os.symlink(rgb / "test" / "A" / "010" / "cropped_rgb001.jpg", rgb / "test" / "C" / "011" / "cropped_rgb009.jpg")
    refused(check(tmp_path / "prcc", dataset="prcc"), capsys, rgb / "test" / "C" / "011" / "cropped_rgb009.jpg",
            "duplicated image: the same file as", rgb / "test" / "A" / "010" / "cropped_rgb001.jpg")


def test_vcclothes_image_in_query_and_gallery(tmp_path, capsys):
    root = tmp_path / "VC-Clothes"
    for folder, names in (("train", ["0001-01-01-01.jpg", "0002-02-01-01.jpg"]),
                          ("query", ["0005-01-01-01.jpg"]),
                          ("gallery", ["0005-01-01-01.jpg", "0005-03-02-02.jpg"])):
        for name in names:
            img(root / folder / name)
    refused(check(root, dataset="vcclothes"), capsys, root / "query" / "0005-01-01-01.jpg",
            "duplicated image", root / "gallery" / "0005-01-01-01.jpg")


def test_last_image_in_two_gallery_folders(tmp_path, capsys):
    root = tmp_path / "last"
    img(root / "train" / "000001" / "000001_0_c1_0.jpg")
    img(root / "test" / "query" / "000900_0_c3_0.jpg")
    img(root / "test" / "gallery" / "000900" / "000900_1_c4_0.jpg")
    img(root / "test" / "gallery" / "000901" / "000900_1_c4_0.jpg")
    refused(check(root, dataset="last"), capsys, root / "test" / "gallery" / "000901" / "000900_1_c4_0.jpg",
            "duplicated image")


def deepchange(root, gallery="P0900_c3_f005.jpg,20\nP0901_c4_f007.jpg,22\n"):
    lists = {"train-set": "P0123_c1_f001.jpg,7\nP0456_c1_f003.jpg,9\n", "test-set-query": "P0900_c1_f001.jpg,20\n",
             "test-set-gallery": gallery}
    for folder, text in lists.items():
        for line in text.splitlines():
            name = line.split(",")[0]
            if "/" not in name:
                img(root / folder / name)
        write(root / f"{folder}-bbox.txt", text)
    return root


def test_deepchange_duplicated_line(tmp_path, capsys):
    root = deepchange(tmp_path / "DeepChangeDataset",
                      gallery="P0900_c3_f005.jpg,20\nP0901_c4_f007.jpg,22\nP0900_c3_f005.jpg,21\n")
    refused(check(root, dataset="deepchange"), capsys, f"{root / 'test-set-gallery-bbox.txt'}:3",
            "image 'P0900_c3_f005.jpg' listed twice", f"{root / 'test-set-gallery-bbox.txt'}:1")


def test_deepchange_name_that_leaves_the_root(tmp_path, capsys):
    root = deepchange(tmp_path / "DeepChangeDataset", gallery="P0900_c3_f005.jpg,20\n../../P0901_c4_f007.jpg,22\n")
    refused(check(root, dataset="deepchange"), capsys, f"{root / 'test-set-gallery-bbox.txt'}:2",
            "leaves the dataset's root")


def test_deepchange_list_that_is_a_fifo(tmp_path, capsys):
    root = deepchange(tmp_path / "DeepChangeDataset")
    os.remove(root / "test-set-query-bbox.txt")
    os.mkfifo(root / "test-set-query-bbox.txt")
    refused(check(root, dataset="deepchange"), capsys, root / "test-set-query-bbox.txt", "is a FIFO")


# --------------------------------------------------------------------------- MEVID
def mevid_name(pid, outfit, cam, tracklet, frame):
    return f"{pid:04d}O{outfit:03d}C{cam:03d}T{tracklet:03d}F{frame:05d}.jpg"


def mevid(root, query="2\n0\n"):
    train = [mevid_name(5, 1, 330, 1, f) for f in range(2)] + [mevid_name(9, 1, 424, 3, f) for f in range(2)]
    test = ([mevid_name(201, 1, 330, 1, f) for f in range(2)] + [mevid_name(201, 1, 505, 2, f) for f in range(2)]
            + [mevid_name(201, 2, 424, 3, f) for f in range(2)])
    for split, names, info in (("train", train, "0 1 5 1 330\n2 3 9 1 424\n"),
                               ("test", test, "0 1 201 1 330\n2 3 201 1 505\n4 5 201 2 424\n")):
        write(root / f"{split}_name.txt", "".join(n + "\n" for n in names))
        write(root / f"track_{split}_info.txt", info)
        for n in names:
            img(root / f"bbox_{split}" / n[:4] / n)
    write(root / "query_IDX.txt", query)
    return root


def test_mevid_query_repeats_are_kept_and_reported(tmp_path, capsys):
    from ccvid import read_dataset

    root = mevid(tmp_path / "mevid", query="2\n0\n2\n")
    data = read_dataset("mevid", str(root))
    assert [t.camid for t in data.query] == [424, 330, 424] and len(data.gallery) == 1
    assert check(root, dataset="mevid") == 0
    out = capsys.readouterr()
    assert "query repeats: 1 queries repeat an earlier query row" in out.out and out.err == ""


def test_mevid_frame_name_with_a_folder(tmp_path, capsys):
    root = mevid(tmp_path / "mevid")
    names = (root / "test_name.txt").read_text().splitlines()
    names[3] = "../../../etc/passwd"
    write(root / "test_name.txt", "\n".join(names) + "\n")
    refused(check(root, dataset="mevid"), capsys, f"{root / 'test_name.txt'}:4", "not a plain file name")


def test_mevid_info_file_that_is_not_utf8(tmp_path, capsys):
    root = mevid(tmp_path / "mevid")
    write(root / "track_test_info.txt", b"0 1 201 1 330\n2 3 201 1 505\n4 5 201 2 \xe9424\n", mode="wb")
    refused(check(root, dataset="mevid"), capsys, f"{root / 'track_test_info.txt'}:3", "not UTF-8")
