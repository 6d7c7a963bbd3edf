"""Reader for MARS (video, Motion Analysis and Re-identification Set; identities only, no clothes labels).

``<root>`` is the folder of the public release::

    <root>/bbox_train/<first 4 characters of the name>/<name>   frames named NNNNCcTttttFfff.jpg
    <root>/bbox_test/...                                         (person, camera, tracklet, frame)
    <root>/info/train_name.txt         one frame file name a line
    <root>/info/test_name.txt
    <root>/info/tracks_train_info.mat  variable track_train_info: one tracklet a row, start end pid camid
    <root>/info/tracks_test_info.mat   variable track_test_info
    <root>/info/query_IDX.mat          variable query_IDX: 1-based rows of track_test_info that are queries

A row's frames are ``names[start - 1 .. end - 1]`` (1-based, ``end`` inclusive, as the release's MATLAB
code counts); every frame of a row must name the row's person in its first four characters. Rows of person
-1 (junk boxes) are left out everywhere, as the release's evaluation ignores them; person 0 (distractors)
stays in the gallery. Queries are the ``query_IDX`` rows in file order, the gallery every other test row in
row order. Train ids are relabelled 0..N-1; test ids are kept; camera ids are kept (1..6).

MARS has no clothes labels: every tracklet of a person gets the person's one clothes id, and the dataset is
registered with ``clothes_labels=False``, so that ``--cal`` asks for a pseudo-label source
(``cal.clothes_labels=cluster | colour | camera``). Protocols: general. The ``.mat`` files are read with
``scipy.io.loadmat``. Frame files are not checked here; ``benchmark datasets check --verify-files`` does.
"""
from __future__ import annotations

import os
from typing import Dict, List, Tuple

from .common import Item, assemble, check_choice, read_text_lines, require_dir
from ..records import DatasetError, ReIDDataset, require_regular_file
from ..registry import register_dataset

JUNK_PID = -1
Row = Tuple[int, int, int, int]  # start, end (1-based, inclusive), pid, camid


def _read_names(path: str) -> List[str]:
    names = [line.strip() for line in read_text_lines(path, "MARS names file")]
    while names and not names[-1]:
        names.pop()
    if not names:
        raise DatasetError(f"{path}: MARS names file is empty")
    return names


def read_mat(path: str, variable: str):
    """One variable of a MATLAB file as a numpy array; a missing, unreadable or malformed file is one line."""
    import scipy.io

    require_regular_file(path, "MARS info file")
    try:
        content = scipy.io.loadmat(path)
    except Exception as e:  # scipy raises ValueError, MatReadError, TypeError ... for files that are not .mat
        raise DatasetError(f"{path}: cannot read a MATLAB file ({type(e).__name__}: {e})") from None
    if variable not in content:
        found = ", ".join(k for k in content if not k.startswith("__")) or "none"
        raise DatasetError(f"{path}: no variable {variable!r} (found: {found})")
    return content[variable]


def _integers(array, path: str, what: str):
    import numpy as np

    a = np.asarray(array)
    if a.dtype.kind not in "iuf" or (a.dtype.kind == "f" and not np.all(np.isfinite(a) & (a == np.round(a)))):
        raise DatasetError(f"{path}: {what} must hold integers (got {a.dtype})")
    return a.astype(np.int64)


def _read_info(path: str, variable: str, num_names: int, names_path: str) -> List[Row]:
    info = _integers(read_mat(path, variable), path, variable)
    if info.ndim != 2 or info.shape[1] != 4:
        raise DatasetError(f"{path}: {variable} must be rows of 4 integers 'start end pid camid', "
                           f"got shape {tuple(info.shape)}")
    rows: List[Row] = []
    for i, (start, end, pid, camid) in enumerate(info.tolist(), 1):
        if not 1 <= start <= end <= num_names:
            raise DatasetError(f"{path}: {variable} row {i}: frames {start}..{end} out of range: {names_path} "
                               f"has {num_names} names (1-based, end inclusive)")
        rows.append((start, end, pid, camid))
    return rows


def _items(rows: List[Row], names: List[str], names_path: str, frame_dir: str, info_path: str) -> Dict[int, Item]:
    """Items by 0-based row, junk rows (person -1) left out."""
    items: Dict[int, Item] = {}
    for i, (start, end, pid, camid) in enumerate(rows):
        if pid == JUNK_PID:
            continue
        frames = []
        for k in range(start - 1, end):
            name = names[k]
            if not name or "/" in name or "\\" in name or name in (".", ".."):
                raise DatasetError(f"{names_path}:{k + 1}: frame name {name!r} is not a plain file name")
            if not name[:4].isdigit() or int(name[:4]) != pid:
                raise DatasetError(f"{info_path}: row {i + 1} is person {pid}, but its frame {name!r} "
                                   f"({names_path}:{k + 1}) names another")
            frames.append(os.path.join(name[:4], name))
        items[i] = Item(source=frame_dir, pid=pid, camid=camid, clothes=pid, frames=tuple(frames))
    return items


def _query_rows(path: str, num_rows: int) -> List[int]:
    idx = _integers(read_mat(path, "query_IDX"), path, "query_IDX").reshape(-1)
    out = []
    for k, row in enumerate(idx.tolist(), 1):
        if not 1 <= row <= num_rows:
            raise DatasetError(f"{path}: query_IDX entry {k}: row {row} out of range: the test info has "
                               f"{num_rows} rows (1-based)")
        out.append(row - 1)
    return out


@register_dataset("mars", kind="video", protocols=("general",), clothes_labels=False,
                  description="MARS videos, identities only (no clothes labels: CAL takes cal.clothes_labels="
                              "cluster | colour | camera); root = the folder with bbox_train/, bbox_test/, info/")
def read_mars(root: str, backend: str = "auto") -> ReIDDataset:
    """Read MARS from its root folder. Frames only: ``backend`` may be "auto" or "frames"."""
    check_choice("backend", backend, ("auto", "frames"), "mars (frame folders only)")
    require_dir(root, "MARS dataset folder")
    info_dir = require_dir(os.path.join(root, "info"), "MARS info folder")
    parts: Dict[str, Tuple[Dict[int, Item], int]] = {}
    for split in ("train", "test"):
        names_path = os.path.join(info_dir, f"{split}_name.txt")
        names = _read_names(names_path)
        info_path = os.path.join(info_dir, f"tracks_{split}_info.mat")
        rows = _read_info(info_path, f"track_{split}_info", len(names), names_path)
        frame_dir = require_dir(os.path.join(root, f"bbox_{split}"), "MARS frame folder")
        parts[split] = (_items(rows, names, names_path, frame_dir, info_path), len(rows))
    train_items, _ = parts["train"]
    test_items, num_test_rows = parts["test"]
    query_rows = _query_rows(os.path.join(info_dir, "query_IDX.mat"), num_test_rows)
    query_set = set(query_rows)
    query = [test_items[i] for i in query_rows if i in test_items]
    gallery = [item for i, item in sorted(test_items.items()) if i not in query_set]
    junk = sum(1 for split in ("train", "test") for i in range(parts[split][1]) if i not in parts[split][0])
    return assemble("mars", root, list(train_items.values()), query, gallery, meta={"junk_rows": junk})
