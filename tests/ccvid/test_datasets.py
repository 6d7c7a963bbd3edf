"""Dataset readers (ccvid.datasets) and the catalog, on tiny trees in each dataset's exact layout."""
import os

import numpy as np
import pytest
from PIL import Image

from ccvid import DATASETS, DatasetError, UnknownNameError, check_dataset, get_dataset, read_dataset
from ccvid.datasets import (read_deepchange, read_last, read_ltcc, read_mevid, read_prcc, read_vcclothes,
                            read_vcclothes_cc, read_vcclothes_sc)
from ccvid.catalog import format_check_report


def img(path, value=0):
    """A real 4x2 image (height 4, width 2)."""
    os.makedirs(os.path.dirname(str(path)), exist_ok=True)
    Image.fromarray(np.full((4, 2, 3), value, dtype=np.uint8)).save(str(path))


def write(path, text):
    os.makedirs(os.path.dirname(str(path)), exist_ok=True)
    with open(path, "w") as f:
        f.write(text)


def paths(items):
    return [os.path.basename(t.source) for t in items]


# --------------------------------------------------------------------------- LTCC
@pytest.fixture
def ltcc(tmp_path):
    root = tmp_path / "LTCC_ReID"
    for name in ("094_1_c9_015923.png", "094_2_c3_000001.png", "101_1_c1_000002.png"):
        img(root / "train" / name)
    for name in ("200_1_c2_000010.png", "201_1_c4_000011.png"):
        img(root / "query" / name)
    for name in ("200_1_c5_000020.png", "200_2_c6_000021.png", "201_3_c12_000022.png"):
        img(root / "test" / name)
    return root


def test_ltcc_labels(ltcc):
    data = read_ltcc(str(ltcc))
    assert (data.name, data.root) == ("ltcc", str(ltcc))
    assert data.meta == {}  # kind and protocols are stated once, by the registry: read_dataset stamps them
    assert read_dataset("ltcc", str(ltcc)).meta == {"kind": "image", "protocols": ["general", "cc", "sc"]}
    assert [len(data.train), len(data.query), len(data.gallery)] == [3, 2, 3]
    assert paths(data.train) == ["094_1_c9_015923.png", "094_2_c3_000001.png", "101_1_c1_000002.png"]
    assert [t.pid for t in data.train] == [0, 0, 1]
    assert [t.camid for t in data.train] == [8, 2, 0]  # c9 -> 8
    # clothes key = part before _c: 094_1 and 094_2 differ
    assert [t.clothes for t in data.train] == [0, 1, 2]
    assert data.num_train_pids == 2 and data.num_train_clothes == 3
    assert data.pid2clothes.tolist() == [[1, 1, 0], [0, 0, 1]]
    assert [t.pid for t in data.query] == [200, 201] and [t.pid for t in data.gallery] == [200, 200, 201]
    assert [t.camid for t in data.gallery] == [4, 5, 11]
    # test clothes jointly over query and gallery: 200_1 is the same class in both
    assert data.query[0].clothes == data.gallery[0].clothes != data.gallery[1].clothes
    assert len({t.clothes for t in data.query + data.gallery}) == 4
    assert all(t.num_frames == 1 and t.kind == "image" for t in data.train)


def test_ltcc_bad_file_name(ltcc):
    img(ltcc / "train" / "abc.png")
    with pytest.raises(DatasetError, match=r"train[/\\]abc\.png: file name does not match LTCC"):
        read_ltcc(str(ltcc))


def test_ltcc_missing_folders(ltcc, tmp_path):
    with pytest.raises(DatasetError, match=r"nope: LTCC dataset folder not found"):
        read_ltcc(str(tmp_path / "nope"))
    for name in os.listdir(ltcc / "test"):
        os.remove(ltcc / "test" / name)
    with pytest.raises(DatasetError, match=r"test: LTCC image folder has no image files"):
        read_ltcc(str(ltcc))
    os.rmdir(ltcc / "test")
    with pytest.raises(DatasetError, match=r"test: LTCC image folder not found"):
        read_ltcc(str(ltcc))


# --------------------------------------------------------------------------- PRCC
@pytest.fixture
def prcc(tmp_path):
    root = tmp_path / "prcc"
    rgb = root / "rgb"
    for pid, names in (("001", ("A_cropped_rgb001.jpg", "B_cropped_rgb002.jpg", "C_cropped_rgb003.jpg")),
                       ("003", ("A_cropped_rgb001.jpg", "C_cropped_rgb010.jpg", "C_cropped_rgb011.jpg"))):
        for name in names:
            img(rgb / "train" / pid / name)
    img(rgb / "val" / "002" / "A_cropped_rgb001.jpg")
    for cam, pids in (("A", ("010", "011")), ("B", ("010", "011")), ("C", ("010", "011"))):
        for pid in pids:
            for k in range(2):
                img(rgb / "test" / cam / pid / f"cropped_rgb{k:03d}.jpg", value=40 * k)
    return root


def test_prcc_labels(prcc):
    data = read_dataset("prcc", str(prcc))
    assert data.name == "prcc" and data.meta["kind"] == "image"
    assert data.meta["protocols"] == ["cc", "sc"] and "general" in data.meta["general_note"]
    assert [len(data.train), len(data.query), len(data.gallery)] == [6, 8, 4]  # val is not read
    assert [t.pid for t in data.train] == [0, 0, 0, 1, 1, 1]
    assert [t.camid for t in data.train] == [0, 1, 2, 0, 2, 2]  # first letter of the file name
    # A and B share one clothes class, C another
    assert [t.clothes for t in data.train] == [0, 0, 1, 2, 3, 3]
    assert data.pid2clothes.tolist() == [[1, 1, 0, 0], [0, 0, 1, 1]]
    assert {t.camid for t in data.gallery} == {0}
    assert [t.camid for t in data.query] == [1, 1, 1, 1, 2, 2, 2, 2]  # test/B then test/C
    assert [t.pid for t in data.query] == [10, 10, 11, 11, 10, 10, 11, 11]


def test_prcc_labels_turn_cc_and_sc_into_the_reference_protocols(prcc):
    data = read_prcc(str(prcc))
    b_queries = [t for t in data.query if t.camid == 1]
    c_queries = [t for t in data.query if t.camid == 2]
    for q in b_queries:
        same = [g for g in data.gallery if g.pid == q.pid]
        assert same and all(g.clothes == q.clothes for g in same)
    for q in c_queries:
        same = [g for g in data.gallery if g.pid == q.pid]
        assert same and all(g.clothes != q.clothes for g in same)

    # and numerically: sc on B+C equals the plain "B vs A", cc equals "C vs A"
    from tests.benchmark.evaluation.oracles import evaluate_reference

    rng = np.random.default_rng(0)
    qf, gf = rng.normal(size=(len(data.query), 8)), rng.normal(size=(len(data.gallery), 8))
    lab = lambda items, attr: np.array([getattr(t, attr) for t in items])  # noqa: E731
    full = evaluate_reference(qf, gf, lab(data.query, "pid"), lab(data.gallery, "pid"),
                              lab(data.query, "camid"), lab(data.gallery, "camid"),
                              lab(data.query, "clothes"), lab(data.gallery, "clothes"))
    for proto, cam in (("sc", 1), ("cc", 2)):
        idx = [i for i, t in enumerate(data.query) if t.camid == cam]
        sub = [data.query[i] for i in idx]
        plain = evaluate_reference(qf[idx], gf, lab(sub, "pid"), lab(data.gallery, "pid"),
                                   lab(sub, "camid"), lab(data.gallery, "camid"))["general"]
        got = dict(full[proto])
        assert got.pop("skipped_queries") == 4 and plain.pop("skipped_queries") == 0
        assert got == plain


def test_prcc_errors(prcc, tmp_path):
    with pytest.raises(DatasetError, match=r"nope: PRCC dataset folder not found"):
        read_prcc(str(tmp_path / "nope"))
    img(prcc / "rgb" / "train" / "001" / "D_cropped_rgb009.jpg")
    with pytest.raises(DatasetError, match=r"D_cropped_rgb009\.jpg: file name must start with the camera letter"):
        read_prcc(str(prcc))
    os.remove(prcc / "rgb" / "train" / "001" / "D_cropped_rgb009.jpg")
    os.rename(prcc / "rgb" / "test" / "C", prcc / "rgb" / "test" / "X")
    with pytest.raises(DatasetError, match=r"test[/\\]C: PRCC test camera folder not found"):
        read_prcc(str(prcc))


# --------------------------------------------------------------------------- VC-Clothes
@pytest.fixture
def vcclothes(tmp_path):
    root = tmp_path / "VC-Clothes"
    for name in ("0001-01-01-01.jpg", "0001-02-02-01.jpg", "0002-03-01-01.jpg", "0002-04-01-02.jpg"):
        img(root / "train" / name)
    for cam in (1, 2, 3, 4):
        img(root / "query" / f"0005-{cam:02d}-01-01.jpg")
        img(root / "gallery" / f"0005-{cam:02d}-{1 if cam < 3 else 2:02d}-02.jpg")
        img(root / "gallery" / f"0006-{cam:02d}-01-02.jpg")
    return root


def test_vcclothes_all(vcclothes):
    data = read_dataset("vcclothes", str(vcclothes))
    assert data.name == "vcclothes" and data.meta["protocols"] == ["general", "cc", "sc"]
    assert [len(data.train), len(data.query), len(data.gallery)] == [4, 4, 8]
    assert [t.pid for t in data.train] == [0, 0, 1, 1]
    assert [t.camid for t in data.train] == [0, 1, 2, 3]
    assert [t.clothes for t in data.train] == [0, 1, 2, 2]  # 0001_01, 0001_02, 0002_01, 0002_01
    assert data.pid2clothes.tolist() == [[1, 1, 0], [0, 0, 1]]
    assert {t.pid for t in data.query} == {5}
    # query 0005_01 shares clothes with gallery 0005 cameras 1-2, not 3-4
    q = data.query[0]
    g5 = [g for g in data.gallery if g.pid == 5]
    assert [g.clothes == q.clothes for g in g5] == [True, True, False, False]


def test_vcclothes_sc_and_cc_camera_filters(vcclothes):
    sc = read_dataset("vcclothes_sc", str(vcclothes))
    cc = read_dataset("vcclothes_cc", str(vcclothes))
    # the reference scores both variants with the general protocol on their camera subsets
    assert sc.name == "vcclothes_sc" and sc.meta["protocols"] == ["general"]
    assert cc.name == "vcclothes_cc" and cc.meta["protocols"] == ["general"]
    assert get_dataset("vcclothes_sc").protocols == get_dataset("vcclothes_cc").protocols == ("general",)
    assert get_dataset("vcclothes").protocols == ("general", "cc", "sc")
    assert sorted({t.camid for t in sc.query + sc.gallery}) == [1, 2]  # raw cameras 2 and 3
    assert sorted({t.camid for t in cc.query + cc.gallery}) == [2, 3]  # raw cameras 3 and 4
    assert [len(sc.query), len(sc.gallery), len(cc.query), len(cc.gallery)] == [2, 4, 2, 4]
    assert len(sc.train) == len(cc.train) == 4  # train keeps every camera
    assert read_vcclothes_cc(str(vcclothes)).meta == {"mode": "cc"}


def test_vcclothes_errors(vcclothes):
    with pytest.raises(DatasetError, match=r"vcclothes: unknown option\(s\) mode \(accepted: none\)"):
        read_dataset("vcclothes", str(vcclothes), mode="sc")  # the camera subsets are datasets of their own
    img(vcclothes / "gallery" / "1-2.jpg")
    with pytest.raises(DatasetError, match=r"gallery[/\\]1-2\.jpg: file name does not match VC-Clothes"):
        read_vcclothes(str(vcclothes))
    os.remove(vcclothes / "gallery" / "1-2.jpg")
    for cam in (2, 3):
        os.remove(vcclothes / "query" / f"0005-{cam:02d}-01-01.jpg")
    with pytest.raises(DatasetError, match=r"query: VC-Clothes query split with cameras 2 and 3 \(mode=sc\) is empty"):
        read_vcclothes_sc(str(vcclothes))


# --------------------------------------------------------------------------- LaST
@pytest.fixture
def last(tmp_path):
    root = tmp_path / "last"
    for pid, names in (("000010", ("000010_0_c1_0.jpg", "000010_1_c2_1.jpg")),
                       ("000002", ("000002_0_c1_5.jpg",))):
        for name in names:
            img(root / "train" / pid / name)
    for split in ("test", "val"):
        img(root / split / "query" / "000900_0_c3_0.jpg")
        img(root / split / "query" / "000950_0_c3_0.jpg")
        img(root / split / "gallery" / "000900" / "000900_1_c4_0.jpg")
        img(root / split / "gallery" / "000900" / "000900_2_c5_0.jpg")
        img(root / split / "gallery" / "000990" / "000990_0_c5_0.jpg")
    img(root / "val" / "gallery" / "000990" / "000990_1_c6_0.jpg")
    return root


def test_last_labels(last):
    data = read_dataset("last", str(last))
    assert data.name == "last" and data.meta["protocols"] == ["general"] and data.meta["split"] == "test"
    assert [len(data.train), len(data.query), len(data.gallery)] == [3, 2, 3]
    assert paths(data.train) == ["000002_0_c1_5.jpg", "000010_0_c1_0.jpg", "000010_1_c2_1.jpg"]
    assert [t.pid for t in data.train] == [0, 1, 1] and {t.camid for t in data.train} == {0}
    # clothes key pid_<last token>: 000010_0 and 000010_1 differ
    assert [t.clothes for t in data.train] == [0, 1, 2]
    assert data.pid2clothes.tolist() == [[1, 0, 0], [0, 1, 1]]
    # every evaluation image its own camera: query i -> i, gallery j -> len(query) + j
    assert [t.camid for t in data.query] == [0, 1] and [t.camid for t in data.gallery] == [2, 3, 4]
    # test ids: joint relabelling of 000900, 000950, 000990
    assert [t.pid for t in data.query] == [0, 1] and [t.pid for t in data.gallery] == [0, 0, 2]
    assert len({t.clothes for t in data.query + data.gallery}) == 5


def test_last_val_split_and_bad_name(last):
    val = read_last(str(last), split="val")
    assert len(val.gallery) == 4 and val.meta["split"] == "val"
    assert val.gallery[-1].source.endswith(os.path.join("val", "gallery", "000990", "000990_1_c6_0.jpg"))
    img(last / "test" / "query" / "lonely.jpg")
    with pytest.raises(DatasetError, match=r"lonely\.jpg: file name does not match LaST"):
        read_last(str(last))


# --------------------------------------------------------------------------- DeepChange
@pytest.fixture
def deepchange(tmp_path):
    root = tmp_path / "DeepChangeDataset"
    lists = {
        "train-set": [("P0123_c1_f001.jpg", 7), ("P0123_c2_f002.jpg", 8), ("P0456_c1_f003.jpg", 9)],
        "test-set-query": [("P0900_c1_f001.jpg", 20)],
        "test-set-gallery": [("P0900_c3_f005.jpg", 20), ("P0900_c4_f006.jpg", 21), ("P0901_c4_f007.jpg", 22)],
        "val-set-query": [("P0700_c1_f001.jpg", 30)],
        "val-set-gallery": [("P0700_c2_f001.jpg", 31)],
    }
    for folder, rows in lists.items():
        for name, _ in rows:
            img(root / folder / name)
        write(root / f"{folder}-bbox.txt", "".join(f"{name},{tid}\n" for name, tid in rows))
    return root


def test_deepchange_labels(deepchange):
    data = read_dataset("deepchange", str(deepchange))
    assert data.name == "deepchange" and data.meta["protocols"] == ["general"]
    assert [len(data.train), len(data.query), len(data.gallery)] == [3, 1, 3]
    assert [t.pid for t in data.train] == [0, 0, 1]  # 123, 123, 456 relabelled
    assert [t.camid for t in data.train] == [7, 8, 9]  # camera = tracklet id
    # clothes key (person token, third token): P0123 f001 / f002 and P0456 f003
    assert [t.clothes for t in data.train] == [0, 1, 2]
    assert data.pid2clothes.tolist() == [[1, 1, 0], [0, 0, 1]]
    assert [t.pid for t in data.gallery] == [900, 900, 901]  # P0900 -> 900
    assert [t.camid for t in data.gallery] == [20, 21, 22]
    # test clothes jointly over query and gallery: f001, f005, f006 of P0900 and f007 of P0901 all differ
    assert len({t.clothes for t in data.query + data.gallery}) == 4
    val = read_deepchange(str(deepchange), split="val")
    assert [t.pid for t in val.query] == [700] and val.gallery[0].camid == 31


def test_deepchange_pid_from_name(deepchange):
    write(deepchange / "train-set-bbox.txt", "P0123_x_y.jpg,5\n")
    img(deepchange / "train-set" / "P0123_x_y.jpg")
    data = read_deepchange(str(deepchange))
    assert data.num_train_pids == 1 and data.train[0].camid == 5
    assert data.train[0].source == os.path.join(str(deepchange), "train-set", "P0123_x_y.jpg")


def test_deepchange_clothes_from_person_and_third_token(deepchange):
    """The reference's clothes key: tracklets of one person that share the third token share one class."""
    rows = [("P0123_c1_f001_a.jpg", 7), ("P0123_c2_f001_b.jpg", 8), ("P0456_c1_f001.jpg", 9),
            ("P0456_c1_f002.jpg", 10)]
    for name, _ in rows:
        img(deepchange / "train-set" / name)
    write(deepchange / "train-set-bbox.txt", "".join(f"{name},{tid}\n" for name, tid in rows))
    data = read_deepchange(str(deepchange))
    assert [t.camid for t in data.train] == [7, 8, 9, 10]
    # P0123: tracklets 7 and 8 share f001 -> one class; P0456: f001 and f002 -> two classes
    assert [t.clothes for t in data.train] == [0, 0, 1, 2] and data.num_train_clothes == 3
    assert data.pid2clothes.tolist() == [[1, 0, 0], [0, 1, 1]]


def test_deepchange_errors(deepchange, tmp_path):
    with pytest.raises(DatasetError, match=r"nope: DeepChange dataset folder not found"):
        read_deepchange(str(tmp_path / "nope"))
    with open(deepchange / "test-set-gallery-bbox.txt", "a") as f:
        f.write("P0901_c4_f008.jpg 23\n")
    with pytest.raises(DatasetError, match=r"test-set-gallery-bbox\.txt:4: expected '<image name>,<tracklet id>'"):
        read_deepchange(str(deepchange))
    write(deepchange / "test-set-gallery-bbox.txt", "P0900_c3_f005.jpg,20\nP0900_c9_missing.jpg,21\n")
    with pytest.raises(DatasetError, match=r"test-set-gallery-bbox\.txt:2: image .*P0900_c9_missing\.jpg not found"):
        read_deepchange(str(deepchange))
    write(deepchange / "test-set-gallery-bbox.txt", "x0900.jpg,20\n")
    with pytest.raises(DatasetError, match=r"test-set-gallery-bbox\.txt:1: image name 'x0900\.jpg' does not match"):
        read_deepchange(str(deepchange))
    write(deepchange / "test-set-gallery-bbox.txt", "P0900_c3.jpg,20\n")
    with pytest.raises(DatasetError, match=r"test-set-gallery-bbox\.txt:1: image name 'P0900_c3\.jpg' has no third"):
        read_deepchange(str(deepchange))
    os.remove(deepchange / "test-set-query-bbox.txt")
    with pytest.raises(DatasetError, match=r"test-set-query-bbox\.txt: DeepChange list file not found"):
        read_deepchange(str(deepchange))


# --------------------------------------------------------------------------- MEVID
def mevid_name(pid, outfit, cam, tracklet, frame):
    return f"{pid:04d}O{outfit:03d}C{cam:03d}T{tracklet:03d}F{frame:05d}.jpg"


@pytest.fixture
def mevid(tmp_path):
    root = tmp_path / "mevid"
    train_names = ([mevid_name(5, 1, 330, 1, f) for f in range(3)]
                   + [mevid_name(5, 2, 505, 2, f) for f in range(2)]
                   + [mevid_name(9, 1, 424, 3, f) for f in range(4)])
    test_names = ([mevid_name(201, 1, 330, 1, f) for f in range(2)]
                  + [mevid_name(201, 1, 505, 2, f) for f in range(3)]
                  + [mevid_name(201, 2, 424, 3, f) for f in range(2)]
                  + [mevid_name(202, 1, 330, 4, f) for f in range(1)])
    train_info = "0 2 5 1 330\n3 4 5 2 505\n5 8 9 1 424\n6 5 9 1 424\n"  # last row: end < start -> skipped
    test_info = "0 1 201 1 330\n2 4 201 1 505\n5 6 201 2 424\n7 7 202 1 330\n"
    for split, names, info in (("train", train_names, train_info), ("test", test_names, test_info)):
        write(root / f"{split}_name.txt", "".join(n + "\n" for n in names))
        write(root / f"track_{split}_info.txt", info)
        for n in names:
            img(root / f"bbox_{split}" / n[:4] / n)
    write(root / "query_IDX.txt", "2\n0\n")
    return root


def test_mevid_tracklets(mevid):
    data = read_dataset("mevid", str(mevid))
    assert data.name == "mevid" and data.meta == {"kind": "video", "protocols": ["general", "cc", "sc"],
                                                  "skipped_rows": 1}
    assert [len(data.train), len(data.query), len(data.gallery)] == [3, 2, 2]
    t0 = data.train[0]
    assert t0.source == os.path.join(str(mevid), "bbox_train") and t0.kind == "frames"
    assert t0.frames == tuple(os.path.join("0005", mevid_name(5, 1, 330, 1, f)) for f in range(3))
    assert [t.num_frames for t in data.train] == [3, 2, 4]
    assert [t.pid for t in data.train] == [0, 0, 1]
    assert [t.camid for t in data.train] == [330, 505, 424]  # camera ids as in the info file
    assert [t.clothes for t in data.train] == [0, 1, 2]  # (5, 1), (5, 2), (9, 1)
    assert data.pid2clothes.tolist() == [[1, 1, 0], [0, 0, 1]]
    # queries in query_IDX order (rows 2 then 0), gallery = the other rows in order
    assert [t.camid for t in data.query] == [424, 330] and [t.camid for t in data.gallery] == [505, 330]
    assert [t.pid for t in data.query] == [201, 201] and [t.pid for t in data.gallery] == [201, 202]
    assert [t.num_frames for t in data.query] == [2, 2] and [t.num_frames for t in data.gallery] == [3, 1]
    # test clothes jointly: query row 0 (201, 1) == gallery row 1 (201, 1); query row 2 is outfit 2
    assert data.query[1].clothes == data.gallery[0].clothes != data.query[0].clothes


def test_mevid_frames_load_through_folder_reader(mevid):
    from samplers.readers import FolderReader

    data = read_mevid(str(mevid))
    frames = FolderReader().read(data.train[2], [0, 3], (4, 2))
    assert frames.shape == (2, 4, 2, 3) and frames.dtype == np.uint8


def test_mevid_accepts_float_written_integers(mevid):
    write(mevid / "track_train_info.txt", "0.0000000e+00 2.0000000e+00 5.0000000e+00 1.0000000e+00 3.3000000e+02\n")
    data = read_mevid(str(mevid))
    assert len(data.train) == 1 and data.train[0].num_frames == 3 and data.train[0].camid == 330


def test_mevid_errors(mevid, tmp_path):
    with pytest.raises(DatasetError, match=r"nope: MEVID dataset folder not found"):
        read_mevid(str(tmp_path / "nope"))
    good = open(mevid / "track_train_info.txt").read()
    write(mevid / "track_train_info.txt", "0 2 5 1 330\n3 4 5 2\n")
    with pytest.raises(DatasetError, match=r"track_train_info\.txt:2: expected 5 integers"):
        read_mevid(str(mevid))
    write(mevid / "track_train_info.txt", "0 2 5 1 330\n3 40 5 2 505\n")
    with pytest.raises(DatasetError, match=r"track_train_info\.txt:2: frame rows 3\.\.40 out of range"):
        read_mevid(str(mevid))
    write(mevid / "track_train_info.txt", "0 2 5 x 330\n")
    with pytest.raises(DatasetError, match=r"track_train_info\.txt:1: 'x' is not an integer"):
        read_mevid(str(mevid))
    write(mevid / "track_train_info.txt", good)
    write(mevid / "query_IDX.txt", "0 9\n")
    with pytest.raises(DatasetError, match=r"query_IDX\.txt:1: query row 9 out of range"):
        read_mevid(str(mevid))
    os.remove(mevid / "query_IDX.txt")
    with pytest.raises(DatasetError, match=r"query_IDX\.txt: MEVID query index file not found"):
        read_mevid(str(mevid))
    write(mevid / "query_IDX.txt", "0\n")
    os.rename(mevid / "bbox_test", mevid / "bbox_x")
    with pytest.raises(DatasetError, match=r"bbox_test: MEVID frame folder not found"):
        read_mevid(str(mevid))
    with pytest.raises(DatasetError, match=r"backend='video' must be one of auto, frames"):
        read_mevid(str(mevid), backend="video")


# --------------------------------------------------------------------------- catalog
def test_catalog_entries_match_readers(ltcc, prcc, vcclothes, last, deepchange, mevid, ccvid_tree):
    roots = {"ltcc": ltcc, "prcc": prcc, "vcclothes": vcclothes, "vcclothes_sc": vcclothes,
             "vcclothes_cc": vcclothes, "last": last, "deepchange": deepchange, "mevid": mevid,
             "ccvid": ccvid_tree}
    # mars and vccr are read on their own fixtures: tests/ccvid/test_mars.py, tests/ccvid/test_vccr.py
    assert set(DATASETS) == set(roots) | {"embedded", "mars", "vccr"}
    for name, root in roots.items():
        info = get_dataset(name)
        data = read_dataset(name, str(root))
        assert data.name == name == info.name
        assert data.meta["kind"] == info.kind and data.meta["protocols"] == list(info.protocols)
        assert info.description


def test_catalog_unknown_name_and_option(ltcc):
    with pytest.raises(UnknownNameError, match=r"unknown dataset 'ltc'; did you mean 'ltcc'\?$"):
        get_dataset("ltc")
    with pytest.raises(UnknownNameError, match=r"unknown dataset 'zzz' \(known: ccvid, deepchange, embedded, last, "
                                               r"ltcc, mars, mevid, prcc, vcclothes"):
        read_dataset("zzz", str(ltcc))
    with pytest.raises(DatasetError, match=r"ltcc: unknown option\(s\) split \(accepted: none\)"):
        read_dataset("ltcc", str(ltcc), split="val")


def test_read_dataset_passes_options(last):
    assert read_dataset("last", str(last), split="val").meta["split"] == "val"


def test_check_dataset_image(ltcc):
    stats = check_dataset("ltcc", str(ltcc), verify_files=True)
    assert stats["kind"] == "image" and stats["protocols"] == ["general", "cc", "sc"]
    assert stats["splits"]["train"] == {"ids": 2, "images": 3, "clothes": 3, "frames": 3}
    assert stats["splits"]["gallery"] == {"ids": 2, "images": 3, "clothes": 3, "frames": 3}
    assert stats["verified_files"] == 8
    assert (stats["num_train_pids"], stats["num_train_clothes"]) == (2, 3)
    report = format_check_report(stats)
    assert "ltcc (image)" in report and "images" in report
    assert any(line.split()[:5] == ["gallery", "2", "3", "3", "3"] for line in report.splitlines())


def test_check_dataset_video(mevid):
    stats = check_dataset("mevid", str(mevid))
    assert stats["verified_files"] is None and stats["meta"] == {"skipped_rows": 1}
    assert stats["splits"]["train"] == {"ids": 2, "tracklets": 3, "clothes": 3, "frames": 9,
                                        "min_frames": 2, "mean_frames": 3.0, "max_frames": 4}
    assert stats["splits"]["gallery"] == {"ids": 2, "tracklets": 2, "clothes": 2, "frames": 4,
                                          "min_frames": 1, "mean_frames": 2.0, "max_frames": 3}
    report = format_check_report(stats)
    assert "mean_frames" in report and "skipped_rows: 1" in report


def test_check_dataset_verify_files_finds_missing_mevid_frame(mevid):
    assert check_dataset("mevid", str(mevid), verify_files=True)["verified_files"] == 9 + 8
    missing = mevid / "bbox_test" / "0201" / mevid_name(201, 1, 505, 2, 1)
    os.remove(missing)
    check_dataset("mevid", str(mevid))  # reading alone does not stat frames
    with pytest.raises(DatasetError, match=rf"{mevid_name(201, 1, 505, 2, 1)}: file not found \(mevid gallery"):
        check_dataset("mevid", str(mevid), verify_files=True)


def test_check_dataset_ccvid(ccvid_tree):
    stats = check_dataset("ccvid", str(ccvid_tree), verify_files=True)
    assert stats["kind"] == "video" and stats["splits"]["train"]["tracklets"] == 4
    assert (stats["splits"]["train"]["min_frames"], stats["splits"]["train"]["max_frames"]) == (3, 6)
