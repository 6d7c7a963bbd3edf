"""Reader for MEVID (video, Multi-view Extended Videos with IDentities; layout in docs/reference-facts.md, D).

``<root>`` holds the annotation files and the two frame trees::

    <root>/train_name.txt          one frame file name a line
    <root>/test_name.txt
    <root>/track_train_info.txt    one tracklet a row: start end pid outfit camid
    <root>/track_test_info.txt
    <root>/query_IDX.txt           0-based rows of track_test_info.txt that are queries
    <root>/bbox_train/<first 4 characters of the name>/<name>
    <root>/bbox_test/...

A row's frames are ``names[start .. end]`` (0-based, ``end`` inclusive); a row
with ``end < start`` has no frames and is skipped (counted in
``meta["skipped_rows"]``). Info values are integers; values written as
integral floats (``1.0000000e+00``, as MATLAB/numpy dumps write them) are
accepted too. A tracklet's ``source`` is ``<root>/bbox_train`` (or
``bbox_test``) and its ``frames`` are the relative paths ``<first4>/<name>``,
so ``os.path.join(source, frame)`` is the file even when one tracklet's frames
sit in different sub-folders. Frame files are not checked here (MEVID has
about 1.2 million); ``ccvid.catalog.check_dataset(..., verify_files=True)``
does that.

Train ids are relabelled 0..N-1 and clothes keys ``(pid, outfit)`` 0..C-1;
test ids are kept; test clothes are labelled jointly over query and gallery.
Queries are the ``query_IDX.txt`` rows in file order, the gallery is every
other test row in row order. The release's query index repeats some rows, and
the reference (``track_test[query_IDX]``) scores each repeat as a query of its
own: so does this reader, and ``datasets check`` reports how many repeats there
are. Camera ids are kept as in the info files. A frame name must be a plain
file name (no folder, no ``..``), so every frame stays under ``bbox_*/``.
Protocols: general, cc, sc.
"""
from __future__ import annotations

import os
from typing import Dict, List, Tuple

from .common import Item, assemble, check_choice, read_lines, read_text_lines, require_dir
from ..records import DatasetError, ReIDDataset
from ..registry import register_dataset

Row = Tuple[int, Tuple[int, int, int, int, int]]  # line number, (start, end, pid, outfit, camid)
INFO_FIELDS = "'<start> <end> <pid> <outfit> <camid>'"


def _as_int(token: str, where: str) -> int:
    try:
        return int(token)
    except ValueError:
        pass
    try:
        value = float(token)
    except ValueError:
        value = float("nan")
    if not value.is_integer():
        raise DatasetError(f"{where}: {token!r} is not an integer")
    return int(value)


def _read_names(path: str) -> List[str]:
    names = [line.strip() for line in read_text_lines(path, "MEVID names file")]
    while names and not names[-1]:
        names.pop()
    if not names:
        raise DatasetError(f"{path}: MEVID names file is empty")
    return names


def _read_info(path: str, num_names: int, names_path: str) -> List[Row]:
    rows: List[Row] = []
    for lineno, line in read_lines(path, "MEVID tracklet info file"):
        where = f"{path}:{lineno}"
        tokens = line.split()
        if len(tokens) != 5:
            raise DatasetError(f"{where}: expected 5 integers {INFO_FIELDS}, got {line!r}")
        start, end, pid, outfit, camid = (_as_int(t, where) for t in tokens)
        if end >= start and (start < 0 or end >= num_names):
            raise DatasetError(f"{where}: frame rows {start}..{end} out of range: {names_path} "
                               f"has {num_names} names")
        rows.append((lineno, (start, end, pid, outfit, camid)))
    return rows


def _read_query_rows(path: str, num_rows: int) -> List[int]:
    """Query rows in file order, repeats kept (the reference scores each one)."""
    out: List[int] = []
    for lineno, line in read_lines(path, "MEVID query index file"):
        for token in line.split():
            idx = _as_int(token, f"{path}:{lineno}")
            if not 0 <= idx < num_rows:
                raise DatasetError(f"{path}:{lineno}: query row {idx} out of range: the test info file "
                                   f"has {num_rows} rows")
            out.append(idx)
    return out


def _items(rows: List[Row], names: List[str], names_path: str, frame_dir: str) -> Tuple[Dict[int, Item], int]:
    """Items by row index (rows without frames are left out) and the number of skipped rows."""
    items: Dict[int, Item] = {}
    skipped = 0
    for i, (_, (start, end, pid, outfit, camid)) in enumerate(rows):
        if end < start:
            skipped += 1
            continue
        frames = []
        for k in range(start, end + 1):
            name = names[k]
            if not name:
                raise DatasetError(f"{names_path}:{k + 1}: empty frame name")
            if "/" in name or "\\" in name or name in (".", ".."):
                raise DatasetError(f"{names_path}:{k + 1}: frame name {name!r} is not a plain file name "
                                   "(it would leave the frame folder)")
            frames.append(os.path.join(name[:4], name))
        items[i] = Item(source=frame_dir, pid=pid, camid=camid, clothes=(pid, outfit), frames=tuple(frames))
    return items, skipped


@register_dataset("mevid", kind="video", protocols=("general", "cc", "sc"),
                  description="MEVID videos; root = the folder with train_name.txt, track_*_info.txt, "
                              "query_IDX.txt, bbox_train/, bbox_test/")
def read_mevid(root: str, backend: str = "auto") -> ReIDDataset:
    """Read MEVID from its root folder. Frames only: ``backend`` may be "auto" or "frames"."""
    check_choice("backend", backend, ("auto", "frames"), "mevid (frame folders only)")
    require_dir(root, "MEVID dataset folder")
    parts: Dict[str, Tuple[Dict[int, Item], int, int]] = {}
    for split in ("train", "test"):
        names_path = os.path.join(root, f"{split}_name.txt")
        names = _read_names(names_path)
        rows = _read_info(os.path.join(root, f"track_{split}_info.txt"), len(names), names_path)
        frame_dir = require_dir(os.path.join(root, f"bbox_{split}"), "MEVID frame folder")
        items, skipped = _items(rows, names, names_path, frame_dir)
        parts[split] = (items, skipped, len(rows))
    train_items, train_skipped, _ = parts["train"]
    test_items, test_skipped, num_test_rows = parts["test"]
    query_rows = _read_query_rows(os.path.join(root, "query_IDX.txt"), num_test_rows)
    query_set = set(query_rows)
    query = [test_items[i] for i in query_rows if i in test_items]
    gallery = [item for i, item in sorted(test_items.items()) if i not in query_set]
    return assemble("mevid", root, list(train_items.values()), query, gallery,
                    meta={"skipped_rows": train_skipped + test_skipped})
