"""MARS: the identity-only video layout read from a tiny tree in the release's layout (docs/datasets.md), checked,
and trained end to end with CAL on pseudo clothes labels (no true ones exist)."""
import json
import os

import numpy as np
import pytest
import scipy.io
from PIL import Image

from benchmark.cli import main
from ccvid import DatasetError, read_dataset

# (pid, camid, frames) per tracklet; pid -1 is a junk box, 0 a distractor
TRAIN = [(3, 1, 6), (3, 2, 6), (3, 1, 5), (3, 3, 6), (8, 1, 6), (8, 2, 6), (8, 4, 6), (8, 2, 6)]
TEST = [(11, 1, 6), (11, 2, 6), (12, 1, 6), (12, 3, 6), (0, 5, 6), (-1, 6, 4)]
QUERY_ROWS = [1, 3]  # 1-based rows of the test info: the first tracklet of persons 11 and 12


def write_mars(root, train=TRAIN, test=TEST, query=QUERY_ROWS, seed=0):
    """The MARS release's layout: bbox_{train,test}/<first 4 chars>/<NNNNCcTttttFfff>.jpg, info/*_name.txt,
    info/tracks_{train,test}_info.mat (1-based start, end, pid, camid) and info/query_IDX.mat. A person's
    tracklets alternate between two colour casts, so that there are outfits to find."""
    rng = np.random.default_rng(seed)
    os.makedirs(root / "info", exist_ok=True)
    for split, tracks in (("train", train), ("test", test)):
        names, info = [], []
        for k, (pid, cam, n) in enumerate(tracks):
            start = len(names) + 1
            tag = "00-1" if pid == -1 else f"{pid:04d}"
            cast = np.array([200, 40, 40]) if k % 2 else np.array([40, 40, 200])
            for f in range(n):
                name = f"{tag}C{cam}T{k + 1:04d}F{f + 1:03d}.jpg"
                folder = root / f"bbox_{split}" / tag
                os.makedirs(folder, exist_ok=True)
                pixels = np.clip(cast + rng.integers(-30, 30, (32, 16, 3)), 0, 255).astype(np.uint8)
                Image.fromarray(pixels).save(folder / name)
                names.append(name)
            info.append([start, len(names), pid, cam])
        (root / "info" / f"{split}_name.txt").write_text("\n".join(names) + "\n")
        scipy.io.savemat(str(root / "info" / f"tracks_{split}_info.mat"),
                         {f"track_{split}_info": np.array(info, dtype=np.float64)})
    scipy.io.savemat(str(root / "info" / "query_IDX.mat"), {"query_IDX": np.array([query], dtype=np.float64)})
    return root


def test_mars_reader_follows_the_release(tmp_path):
    data = read_dataset("mars", str(write_mars(tmp_path / "MARS")))
    assert data.meta["clothes_labels"] is False and data.meta["protocols"] == ["general"]
    assert len(data.train) == 8 and data.num_train_pids == 2 and data.num_train_clothes == 2  # one per person
    assert [t.pid for t in data.query] == [11, 12] and [t.camid for t in data.query] == [1, 1]
    assert [t.pid for t in data.gallery] == [11, 12, 0]  # junk (-1) left out, the distractor kept
    assert data.meta["junk_rows"] == 1
    t = data.train[2]
    assert t.num_frames == 5 and t.frames[0] == os.path.join("0003", "0003C1T0003F001.jpg")
    assert os.path.isfile(os.path.join(t.source, t.frames[-1]))


def test_mars_malformed_files_are_one_line_naming_them(tmp_path):
    root = write_mars(tmp_path / "MARS")
    scipy.io.savemat(str(root / "info" / "query_IDX.mat"), {"query_IDX": np.array([[1, 9]])})
    with pytest.raises(DatasetError, match=r"query_IDX.mat: query_IDX entry 2: row 9 out of range"):
        read_dataset("mars", str(root))
    (root / "info" / "tracks_train_info.mat").write_bytes(b"not a mat file")
    with pytest.raises(DatasetError, match=r"tracks_train_info.mat: cannot read a MATLAB file"):
        read_dataset("mars", str(root))
    root2 = write_mars(tmp_path / "MARS2", train=[(3, 1, 4), (4, 1, 4)])
    scipy.io.savemat(str(root2 / "info" / "tracks_train_info.mat"), {"track_train_info": np.array([[1, 8, 3, 1]])})
    with pytest.raises(DatasetError, match=r"row 1 is person 3, but its frame '0004C1T0002F001.jpg'"):
        read_dataset("mars", str(root2))


def test_mars_checks_and_trains_with_cal_on_clustered_pseudo_labels(tmp_path, capsys):
    root = str(write_mars(tmp_path / "MARS"))
    assert main(["datasets", "check", "--dataset", "mars", "--data-root", root, "--clothes-labels", "colour"]) == 0
    out = capsys.readouterr().out
    assert "mars (video)" in out and "protocols general" in out and "clothes_labels: False" in out
    assert "clothes labels colour (training split):" in out and "mars has no true outfits to compare" in out
    runs = tmp_path / "runs"
    common = ["run", "--dataset", "mars", "--data-root", root, "--cal", "--runs-dir", str(runs), "--epochs", "2",
              "--no-progress", "height=32", "width=16", "num_ids=2", "clips_per_id=2", "seq_len=4", "stride=1",
              "lr_steps=1", "cal.start_epoch=1", "threads=1"]
    assert main(common) == 2  # annotated clothes labels that MARS does not have: refused, naming the switch
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "cal.clothes_labels" in err[0] and "mars has no clothes labels" in err[0], err
    assert main(common + ["cal.clothes_labels=cluster"]) == 0
    (run_dir,) = os.listdir(runs)
    rec = json.load(open(runs / run_dir / "record.json"))
    pseudo = rec["dataset"]["pseudo_clothes"]
    print("MARS fixture, cluster labels:", pseudo)
    assert pseudo["source"] == "cluster" and pseudo["computed_at_epoch"] == 1 and "ari" not in pseudo
    assert rec["config"]["cal"]["clothes_labels"] == "cluster" and set(rec["metrics"]) == {"general"}
    assert "cal" in rec["history"][1] and rec["dataset"]["num_train_clothes"] == pseudo["classes"]
    assert "clustered from the model's features before epoch 2" in open(runs / run_dir / "log.txt").read()
