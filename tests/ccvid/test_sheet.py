import os

import numpy as np
import pytest
from PIL import Image

from ccvid import DatasetError, ReIDDataset, Tracklet, read_ccvid
from ccvid import sheet
from ccvid.sheet import sample_sheet

# the ccvid_tree fixture's train split: per identity, per column (suit, then camera): (folder, frame count)
TRAIN_CELLS = [[("session1/001_01", 5), ("session1/001_02", 4)],   # id 0: suit 1 / cam 1, suit 2 / cam 2
               [("session2/003_01", 6), ("session3/003_04", 3)]]   # id 1: suit 1 / cam 1, suit 2 / cam 16
LABELS = [["suit 1 / cam 1", "suit 2 / cam 2"], ["suit 1 / cam 1", "suit 2 / cam 16"]]


def _middle_frame(root, folder, n):
    with Image.open(os.path.join(root, folder, f"{n // 2 + 1:05d}.jpg")) as im:
        return im.convert("RGB")


def _geometry(data, n_ids, thumb, frames_per_tracklet=1):
    labels = [s for row in LABELS[:n_ids] for s in row]
    return sheet.layout(n_ids, 2, thumb, frames_per_tracklet, labels, [f"id {i}" for i in range(n_ids)],
                        sheet.title_lines(data, n_ids))


def test_sheet_size_follows_from_identities_and_columns(ccvid_tree, tmp_path):
    data = read_ccvid(str(ccvid_tree))
    out = tmp_path / "new" / "folder" / "sheet.png"
    assert sample_sheet(data, out, thumb=(16, 8)) == str(out)
    assert os.listdir(out.parent) == ["sheet.png"]  # no temporary file left behind
    with Image.open(out) as im:
        assert im.format == "PNG" and im.mode == "RGB"
        size = im.size

    geo = _geometry(data, 2, (16, 8))
    assert size == geo.size
    # one row per identity: picture (x2) + one text line + padding, rows separated by the grid gap
    row_pitch = sheet.PAD + 2 * 16 + sheet.PAD + geo.line_h + sheet.PAD + sheet.GAP
    assert size[1] == geo.title_h + sheet.GAP + 2 * row_pitch + sheet.MARGIN
    # two columns (the widest row has two (suit, camera) cells); the title may be wider than the grid
    grid_w = sheet.GAP + geo.label_w + sheet.GAP + 2 * (geo.cell_w + sheet.GAP)
    assert geo.cell_w >= 2 * 8 + 2 * sheet.PAD
    assert size[0] == 2 * sheet.MARGIN + max(grid_w, max(sheet.text_size(s)[0] for s in sheet.title_lines(data, 2)))

    one = tmp_path / "one.png"
    sample_sheet(data, one, max_ids=1, thumb=(16, 8))
    with Image.open(one) as im:
        assert im.size[1] == size[1] - row_pitch  # one identity fewer: one row fewer


def test_thumbnails_hold_the_middle_frame_enlarged_x2(ccvid_tree, tmp_path):
    data = read_ccvid(str(ccvid_tree))
    out = sample_sheet(data, tmp_path / "sheet.png", thumb=(16, 8))
    geo = _geometry(data, 2, (16, 8))
    with Image.open(out) as im:
        img = im.convert("RGB")
    for r, row in enumerate(TRAIN_CELLS):
        for c, (folder, n) in enumerate(row):
            left, top, right, bottom = box = geo.thumb_box(r, c)
            assert (right - left, bottom - top) == (16, 32)
            got = np.asarray(img.crop(box))
            assert got.std() > 10  # not blank: the fixture's frames are noise
            want = np.asarray(_middle_frame(str(ccvid_tree), folder, n).resize((16, 32), Image.NEAREST))
            np.testing.assert_array_equal(got, want)
            # the label line under the picture has text on it
            label = np.asarray(img.crop((left - 20, bottom + sheet.PAD, right + 20, bottom + sheet.PAD + geo.line_h)))
            assert label.min() < 128


def test_default_thumbnail_resizes_to_64x32_then_doubles(ccvid_tree, tmp_path):
    data = read_ccvid(str(ccvid_tree))
    out = sample_sheet(data, tmp_path / "sheet.png")
    geo = _geometry(data, 2, (64, 32))
    with Image.open(out) as im:
        assert im.size == geo.size
        got = np.asarray(im.convert("RGB").crop(geo.thumb_box(1, 1)))
    frame = _middle_frame(str(ccvid_tree), "session3/003_04", 3)
    want = np.asarray(frame.resize((32, 64), Image.BICUBIC).resize((64, 128), Image.NEAREST))
    np.testing.assert_array_equal(got, want)


def test_out_path_under_a_file_is_a_one_line_error(ccvid_tree, tmp_path):
    data = read_ccvid(str(ccvid_tree))
    blocker = tmp_path / "a_file"
    blocker.write_text("not a folder")
    bad = blocker / "sheet.png"
    with pytest.raises(DatasetError) as e:
        sample_sheet(data, bad)
    msg = str(e.value)
    assert "\n" not in msg and msg.startswith(f"{bad}: ")
    assert blocker.read_text() == "not a folder"


def _video_dataset(path):
    t = Tracklet(source=str(path), pid=0, camid=1, clothes=0)
    return ReIDDataset(name="v", train=[t], query=[], gallery=[], num_train_pids=1, num_train_clothes=1,
                       pid2clothes=np.ones((1, 1), np.float32))


def test_video_tracklet_without_decord_is_a_grey_placeholder(tmp_path, monkeypatch):
    monkeypatch.setitem(__import__("sys").modules, "decord", None)  # import decord -> ImportError
    data = _video_dataset(tmp_path / "never_opened.mp4")
    out = sample_sheet(data, tmp_path / "sheet.png")
    geo = sheet.layout(1, 1, (64, 32), 1, ["suit 1 / cam 1"], ["id 0"], sheet.title_lines(data, 1))
    with Image.open(out) as im:
        got = np.asarray(im.convert("RGB").crop(geo.thumb_box(0, 0)))
    assert (got == np.array(sheet.PLACEHOLDER, np.uint8)).all()


def test_video_tracklet_is_read_with_decord(tmp_path):
    pytest.importorskip("decord")
    from conftest import write_video

    frames = np.zeros((9, 64, 32, 3), np.uint8)
    frames[:, :32] = (200, 40, 40)
    frames[:, 32:] = (40, 40, 200)
    path = tmp_path / "v.mp4"
    write_video(str(path), frames)
    data = _video_dataset(path)
    out = sample_sheet(data, tmp_path / "sheet.png")
    geo = sheet.layout(1, 1, (64, 32), 1, ["suit 1 / cam 1"], ["id 0"], sheet.title_lines(data, 1))
    with Image.open(out) as im:
        got = np.asarray(im.convert("RGB").crop(geo.thumb_box(0, 0))).astype(int)
    want = np.asarray(Image.fromarray(frames[4]).resize((64, 128), Image.NEAREST)).astype(int)
    assert np.abs(got - want).mean() < 8
