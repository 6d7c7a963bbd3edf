"""Tests for benchmark.evaluation.features_io (the .npz features files)."""
import os

import numpy as np
import pytest
import torch

from benchmark.evaluation import features_io, load_features_npz, save_features_npz


# ---------------------------------------------------------------------------
# load_features_npz
# ---------------------------------------------------------------------------
def test_load_features_npz_ok(tmp_path):
    path = tmp_path / "q.npz"
    np.savez(path, features=np.ones((3, 4), np.float32), pids=[1, 2, 3], camids=[0, 0, 1])
    out = load_features_npz(path)
    assert out["features"].shape == (3, 4) and out["clothes"] is None
    assert out["pids"].tolist() == [1, 2, 3] and out["camids"].tolist() == [0, 0, 1]
    np.savez(path, features=np.ones((3, 4)), pids=[1, 2, 3], camids=[0, 0, 1], clothes=[5, 6, 7])
    assert load_features_npz(str(path))["clothes"].tolist() == [5, 6, 7]


def test_load_features_npz_errors(tmp_path):
    path = tmp_path / "bad.npz"
    np.savez(path, features=np.ones((3, 4)), camids=[0, 0, 1])
    with pytest.raises(ValueError) as exc:
        load_features_npz(path)
    assert str(exc.value) == f"{path}: missing array 'pids'"

    np.savez(path, pids=[1, 2, 3], camids=[0, 0, 1])
    with pytest.raises(ValueError, match="missing array 'features'"):
        load_features_npz(path)

    np.savez(path, features=np.ones((3, 4)), pids=[1, 2, 3], camids=[0, 0])
    with pytest.raises(ValueError) as exc:
        load_features_npz(path)
    msg = str(exc.value)
    assert msg.startswith(f"{path}: array 'camids' has length 2") and "\n" not in msg

    np.savez(path, features=np.ones((3, 4)), pids=[1, 2, 3], camids=[0, 0, 1], clothes=[1])
    with pytest.raises(ValueError, match="'clothes' has length 1"):
        load_features_npz(path)

    np.savez(path, features=np.ones(3), pids=[1, 2, 3], camids=[0, 0, 1])
    with pytest.raises(ValueError, match="'features' must be 2-D"):
        load_features_npz(path)

    junk = tmp_path / "junk.npz"
    junk.write_text("not an archive")
    with pytest.raises(ValueError) as exc:
        load_features_npz(junk)
    assert str(exc.value).startswith(f"{junk}: ") and "\n" not in str(exc.value)


# ---------------------------------------------------------------------------
# save_features_npz
# ---------------------------------------------------------------------------
def test_save_round_trip(tmp_path):
    path = tmp_path / "g.npz"
    feats = np.arange(12, dtype=np.float32).reshape(4, 3)
    save_features_npz(path, feats, [3, 1, 3, 2], np.array([0, 1, 1, 0]))
    out = load_features_npz(path)
    assert out["features"].dtype == np.float32 and np.array_equal(out["features"], feats)
    assert out["pids"].tolist() == [3, 1, 3, 2] and out["camids"].tolist() == [0, 1, 1, 0]
    assert out["clothes"] is None
    with np.load(path) as data:
        assert sorted(data.files) == ["camids", "features", "pids"]
    # tensors, float64, string labels and clothes; overwriting an existing file
    t = torch.from_numpy(feats).double()
    save_features_npz(str(path), t, torch.tensor([5, 6, 7, 8]), [1, 1, 2, 2],
                      clothes=np.array(["a", "b", "a", "c"]))
    out = load_features_npz(path)
    assert out["features"].dtype == np.float64 and np.array_equal(out["features"], feats)
    assert out["pids"].tolist() == [5, 6, 7, 8] and out["clothes"].tolist() == ["a", "b", "a", "c"]
    assert os.listdir(tmp_path) == ["g.npz"]  # no temporary file left behind


def test_save_writes_path_exactly(tmp_path):
    path = tmp_path / "feats.query"  # np.savez would append .npz to a file name
    save_features_npz(path, np.ones((2, 2)), [0, 1], [0, 0])
    assert os.listdir(tmp_path) == ["feats.query"]
    assert load_features_npz(path)["features"].shape == (2, 2)


def test_save_checks_like_load(tmp_path):
    path = tmp_path / "bad.npz"
    with pytest.raises(ValueError) as exc:
        save_features_npz(path, np.ones((3, 4)), [1, 2, 3], [0, 0])
    assert str(exc.value) == f"{path}: array 'camids' has length 2, expected 3 (rows of 'features')"
    with pytest.raises(ValueError, match="'features' must be 2-D"):
        save_features_npz(path, np.ones(3), [1, 2, 3], [0, 0, 1])
    with pytest.raises(ValueError, match="'clothes' must be 1-D"):
        save_features_npz(path, np.ones((3, 4)), [1, 2, 3], [0, 0, 1], clothes=np.ones((3, 1)))
    with pytest.raises(ValueError, match="missing array 'pids'"):
        save_features_npz(path, np.ones((3, 4)), None, [0, 0, 1])
    with pytest.raises(ValueError, match="'pids' has dtype object"):
        save_features_npz(path, np.ones((3, 4)), np.array([1, "a", None], dtype=object), [0, 0, 1])
    assert os.listdir(tmp_path) == []


def test_save_failure_keeps_old_file(tmp_path, monkeypatch):
    path = tmp_path / "q.npz"
    save_features_npz(path, np.ones((2, 3)), [0, 1], [0, 0])

    def broken(f, **arrays):
        f.write(b"partial")
        raise OSError("disk full")

    monkeypatch.setattr(features_io.np, "savez", broken)
    with pytest.raises(OSError, match="disk full"):
        save_features_npz(path, np.zeros((5, 3)), [0, 1, 2, 3, 4], [0] * 5)
    monkeypatch.undo()
    assert os.listdir(tmp_path) == ["q.npz"]
    assert load_features_npz(path)["features"].tolist() == [[1.0] * 3] * 2
