"""Hostile input, part 1: ``benchmark evaluate`` on bad ``.npz`` features files.

Each case: exit 2, one line on stderr naming the file (and the row where there is one), no traceback.
"""
import os

import numpy as np
import pytest

from benchmark.cli import main
from hostile_helpers import no_hang, refused


def npz(path, n=4, d=3, **arrays):
    rng = np.random.default_rng(0)
    base = {"features": rng.normal(size=(n, d)).astype(np.float32), "pids": np.arange(n) % 2,
            "camids": np.zeros(n, int) if "q" in os.path.basename(str(path)) else np.ones(n, int)}
    base.update(arrays)
    np.savez(path, **{k: v for k, v in base.items() if v is not None})
    return path


@pytest.fixture
def pair(tmp_path):
    return npz(tmp_path / "q.npz"), npz(tmp_path / "g.npz")


def evaluate(q, g, *extra):
    return main(["evaluate", "--query", str(q), "--gallery", str(g), *extra])


def _nan_features(n=4, d=3, row=2, value=np.nan):
    f = np.ones((n, d), np.float32)
    f[row, 1] = value
    return f


@pytest.mark.parametrize("side, arrays, expected", [
    ("q", {"features": _nan_features(row=2)}, "row 2 is not finite (nan in column 1)"),
    ("g", {"features": _nan_features(row=0, value=np.inf)}, "row 0 is not finite (inf in column 1)"),
    ("g", {"features": _nan_features(row=3, value=-np.inf).astype(np.float64)}, "row 3 is not finite (-inf"),
    ("q", {"pids": np.array([0.0, 1.5, 0.0, 1.0])}, "label 1.5 at row 1 is not a whole number"),
    ("q", {"camids": np.array([0.0, np.nan, 0.0, 0.0])}, "label nan at row 1 is not a whole number"),
    ("q", {"pids": None}, "missing array 'pids'"),
    ("g", {"camids": np.zeros(3, int)}, "array 'camids' has length 3, expected 4"),
    ("q", {"features": np.array([["a", "b", "c"]] * 4)}, "array 'features' must hold numbers"),
    ("q", {"features": np.ones((4, 5), np.float32)}, "feature dimensions differ: query 5, gallery 3"),
    ("g", {"features": np.ones(4, np.float32)}, "array 'features' must be 2-D"),
    ("g", {"pids": np.ones((4, 1))}, "array 'pids' must be 1-D"),
    ("q", {"features": np.ones((0, 3), np.float32), "pids": np.zeros(0, int), "camids": np.zeros(0, int)},
     "array 'features' is empty (shape (0, 3))"),
    ("g", {"features": np.ones((0, 3), np.float32), "pids": np.zeros(0, int), "camids": np.zeros(0, int)},
     "array 'features' is empty (shape (0, 3))"),
])
def test_bad_arrays(pair, capsys, side, arrays, expected):
    q, g = pair
    target = q if side == "q" else g
    npz(target, **arrays)
    line = refused(evaluate(q, g), capsys, target if "differ" not in expected else q, expected)
    assert line.startswith("benchmark: error: ")


def test_numbers_against_strings_are_refused_not_silently_unmatched(pair, capsys):
    q, g = pair
    npz(q, pids=np.array(["0", "1", "0", "1"]))
    refused(evaluate(q, g), capsys, q, g, "query labels are strings but gallery labels are numbers")


@pytest.mark.parametrize("side", ["q", "g"])
def test_clothes_on_one_side_only(pair, capsys, side):
    q, g = pair
    npz(q if side == "q" else g, clothes=np.arange(4))
    lacks = g if side == "q" else q
    refused(evaluate(q, g), capsys, lacks, "no 'clothes' array", "on both sides")


def test_pickled_object_array_is_not_loaded(pair, capsys):
    q, g = pair
    np.savez(q, features=np.ones((4, 3)), pids=np.array([{"a": 1}] * 4, dtype=object), camids=np.zeros(4))
    refused(evaluate(q, g), capsys, q, "cannot read as .npz")


@pytest.mark.parametrize("kind", ["text", "empty", "folder", "fifo", "missing", "truncated"])
def test_files_that_are_not_npz(pair, capsys, kind):
    q, g = pair
    bad = q.parent / "bad.npz"
    if kind == "text":
        bad.write_text("features,pids\n1,2\n")
    elif kind == "empty":
        bad.write_bytes(b"")
    elif kind == "folder":
        bad.mkdir()
    elif kind == "fifo":
        os.mkfifo(bad)
    elif kind == "truncated":
        data = q.read_bytes()
        bad.write_bytes(data[: len(data) // 2])
    with no_hang():
        code = evaluate(bad, g)
    expected = {"folder": "not a regular file (a folder)", "fifo": "not a regular file (a FIFO)",
                "missing": "file not found"}.get(kind, "cannot read as .npz")
    refused(code, capsys, bad, expected)


def test_whole_float_labels_are_compared_as_integers(pair, capsys):
    """The choice for mismatched label kinds: ids written as floats (3.0) match the same integers."""
    q, g = pair
    assert evaluate(q, g, "--json") == 0
    as_ints = capsys.readouterr().out
    npz(q, pids=np.array([0.0, 1.0, 0.0, 1.0]), camids=np.zeros(4, np.float64))
    assert evaluate(q, g, "--json") == 0
    out = capsys.readouterr()
    assert out.out == as_ints and out.err == ""


def test_big_endian_arrays_are_read_not_refused(pair, capsys):
    q, g = pair
    assert evaluate(q, g, "--json") == 0
    native = capsys.readouterr().out
    with np.load(q) as data:
        np.savez(q, **{k: data[k].astype(data[k].dtype.newbyteorder(">")) for k in data.files})
    assert evaluate(q, g, "--json") == 0
    assert capsys.readouterr().out == native
