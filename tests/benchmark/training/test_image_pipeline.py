"""The image recipe end to end on a tiny LTCC tree, and the `benchmark datasets` command."""
import json
import os

import numpy as np
import pytest
from PIL import Image

from benchmark.cli import main


def write_ltcc(root, seed=0):
    """LTCC_ReID/{train,query,test}/pid_clothes_cCAM_frame.png: 4 train ids, 3 test ids, 2 suits, 2 cams."""
    rng = np.random.default_rng(seed)
    splits = {"train": [(p, c, cam) for p in (1, 2, 3, 4) for c in (1, 2) for cam in (1, 2)],
              "query": [(p, 1, 3) for p in (10, 11, 12)],
              "test": [(p, c, cam) for p in (10, 11, 12) for c in (1, 2) for cam in (1, 2)]}
    for split, items in splits.items():
        os.makedirs(root / split, exist_ok=True)
        for pid, clothes, cam in items:
            for frame in range(2):
                arr = rng.integers(0, 255, size=(32, 16, 3), dtype=np.uint8)
                Image.fromarray(arr).save(root / split / f"{pid:03d}_{clothes}_c{cam}_{frame:06d}.png")
    return root


TINY_IMAGE = ["--set", "backbone=resnet_tiny", "--set", "pretrained=none", "--set", "height=32", "--set", "width=16",
              "--set", "num_ids=2", "--set", "clips_per_id=2", "--set", "lr_steps=1", "--set", "cal_start_epoch=1",
              "--set", "clothes_start_epoch=1",
              "--set", "eval_every=0", "--set", "workers=0", "--set", "threads=1", "--epochs", "2", "--no-progress"]


def test_image_preset_trains_and_evaluates_ltcc_with_cal(tmp_path, capsys):
    root = write_ltcc(tmp_path / "LTCC_ReID")
    code = main(["run", "--preset", "image", "--dataset", "ltcc", "--data-root", str(root), "--cal",
                 "--runs-dir", str(tmp_path / "runs"), *TINY_IMAGE])
    out = capsys.readouterr().out
    assert code == 0, out
    path = out.strip().splitlines()[-1].split("record: ")[1]
    rec = json.load(open(path))
    assert rec["dataset"]["name"] == "ltcc" and rec["dataset"]["kind"] == "image"
    assert rec["dataset"]["splits"]["train"]["tracklets"] == 32 and rec["dataset"]["num_train_clothes"] == 8
    cfg = rec["config"]
    assert (cfg["model"]["name"], cfg["data"]["seq_len"], cfg["eval"]["flip"], cfg["loss"]["label_smoothing"],
            cfg["cal"]["enabled"]) == \
        ("image", 1, True, 0.1, True)
    assert set(rec["metrics"]) == {"general", "cc", "sc"}
    assert rec["metrics"]["cc"]["valid_queries"] == 6  # every query image has the other suit on another camera
    assert "cal" in rec["history"][-1]
    assert rec["model"]["parameters"] > 0


def test_general_only_dataset_reports_general_only(tmp_path, capsys):
    root = tmp_path / "last"
    rng = np.random.default_rng(0)
    for pid in ("001", "002"):
        os.makedirs(root / "train" / pid)
        for i in range(4):
            Image.fromarray(rng.integers(0, 255, (32, 16, 3), dtype=np.uint8)).save(
                root / "train" / pid / f"{pid}_{i % 2}_x_{i}.jpg")
    os.makedirs(root / "test" / "query")
    for pid in ("007", "008"):
        os.makedirs(root / "test" / "gallery" / pid)
        Image.fromarray(rng.integers(0, 255, (32, 16, 3), dtype=np.uint8)).save(
            root / "test" / "query" / f"{pid}_0_q_0.jpg")
        for i in range(2):
            Image.fromarray(rng.integers(0, 255, (32, 16, 3), dtype=np.uint8)).save(
                root / "test" / "gallery" / pid / f"{pid}_1_g_{i}.jpg")
    code = main(["run", "--preset", "image", "--dataset", "last", "--data-root", str(root),
                 "--runs-dir", str(tmp_path / "runs"), *TINY_IMAGE])
    out = capsys.readouterr().out
    assert code == 0, out
    rec = json.load(open(out.strip().splitlines()[-1].split("record: ")[1]))
    assert list(rec["metrics"]) == ["general"]
    assert rec["metrics"]["general"]["valid_queries"] == 2
    assert rec["config"]["loss"]["triplet_weight"] == 1.0  # LaST's image-recipe default


def test_datasets_lists_and_checks(tmp_path, capsys):
    assert main(["datasets"]) == 0
    listing = capsys.readouterr().out
    for name in ("ccvid", "ltcc", "prcc", "vcclothes_cc", "last", "deepchange", "mevid", "embedded"):
        assert name in listing
    root = write_ltcc(tmp_path / "LTCC_ReID")
    assert main(["datasets", "check", "--dataset", "ltcc", "--data-root", str(root), "--verify-files",
                 "--no-progress"]) == 0
    report = capsys.readouterr().out
    assert "32" in report and "train" in report and "gallery" in report


@pytest.mark.parametrize("args, message", [
    (["datasets", "check", "--dataset", "ltc", "--data-root", "/x"], "did you mean 'ltcc'"),
    (["datasets", "check", "--dataset", "ltcc"], "datasets check --dataset ltcc needs --data-root DIR"),
    (["run", "--preset", "image", "--dataset", "ltcc", "--data-root", "/nonexistent/LTCC"], "/nonexistent/LTCC"),
])
def test_dataset_errors_are_one_line(args, message, capsys):
    assert main(args) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1


def test_bad_file_name_is_named(tmp_path, capsys):
    root = write_ltcc(tmp_path / "LTCC_ReID")
    Image.new("RGB", (4, 8)).save(root / "train" / "abc.png")
    assert main(["datasets", "check", "--dataset", "ltcc", "--data-root", str(root)]) == 2
    assert "abc.png" in capsys.readouterr().err


def test_video_dataset_from_the_catalog_trains_end_to_end(tmp_path, capsys):
    """MEVID's frames live in per-person sub-folders; training and whole-video tests read them through the
    same samplers as CCVID."""
    root = tmp_path / "mevid"
    rng = np.random.default_rng(0)
    names = {"train": [], "test": []}
    info = {"train": [], "test": []}
    rows = {"train": [(5, 1, 1), (5, 2, 2), (9, 1, 1), (9, 3, 2)], "test": [(201, 1, 1), (201, 2, 2), (202, 1, 2),
                                                                             (202, 2, 1)]}
    for split, tracks in rows.items():
        for k, (pid, outfit, cam) in enumerate(tracks):
            start = len(names[split])
            for f in range(10):
                name = f"{pid:04d}O{outfit:03d}C{cam:03d}T{k:03d}F{f:05d}.jpg"
                os.makedirs(root / f"bbox_{split}" / name[:4], exist_ok=True)
                Image.fromarray(rng.integers(0, 255, (32, 16, 3), dtype=np.uint8)).save(
                    root / f"bbox_{split}" / name[:4] / name)
                names[split].append(name)
            info[split].append(f"{start} {len(names[split]) - 1} {pid} {outfit} {cam}")
        (root / f"{split}_name.txt").write_text("\n".join(names[split]) + "\n")
        (root / f"track_{split}_info.txt").write_text("\n".join(info[split]) + "\n")
    (root / "query_IDX.txt").write_text("0\n2\n")
    code = main(["run", "--dataset", "mevid", "--data-root", str(root), "--cal", "--runs-dir", str(tmp_path / "runs"),
                 "--set", "height=32", "--set", "width=16", "--set", "num_ids=2", "--set", "clips_per_id=2",
                 "--set", "lr_steps=1", "--set", "cal_start_epoch=1", "--set", "threads=1", "--epochs", "2",
                 "--no-progress"])
    out = capsys.readouterr().out
    assert code == 0, out
    rec = json.load(open(out.strip().splitlines()[-1].split("record: ")[1]))
    assert rec["dataset"]["name"] == "mevid" and rec["dataset"]["splits"]["train"]["frames"] == 40
    assert rec["config"]["model"]["name"] == "baseline" and rec["config"]["data"]["seq_len"] == 8
    # queries are rows 0 (201, outfit 1, cam 1) and 2 (202, outfit 1, cam 2); the gallery holds each person's
    # other outfit on the other camera, a match under both the general and the clothes-changing protocol
    assert rec["metrics"]["general"]["valid_queries"] == 2 and rec["metrics"]["cc"]["valid_queries"] == 2
