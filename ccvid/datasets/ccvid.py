"""Reader for the CCVID on-disk format (docs/reference-facts.md, D).

``CCVID/{train,query,gallery}.txt`` list one tracklet a line::

    session1/001_01<TAB>001<TAB>u0_l0_s0_c0_a0

(path, identity, clothes label; any whitespace separates). The path names a
folder of frames (``00001.jpg`` ...) or, in a packed copy, a video file
``<path>.mp4``. Train identities are relabelled 0..N-1; test identities are
kept. The clothes key is ``pid_label``; train clothes are labelled over the
train split, test clothes jointly over query and gallery. The camera id is the
integer after the first ``_`` of the folder name, plus 12 for ``session3``
(sessions 1 and 2 are not offset, exactly as the reference code does, so that
published numbers stay comparable).

A tracklet path must stay inside the root (no absolute path, no ``..``) and
may be listed once over the three files (the release lists none twice); a
duplicate names both lines. The list files must be regular UTF-8 files.
"""
from __future__ import annotations

import os
import stat
from typing import Dict, List, Optional, Tuple

from .common import check_inside, read_text_lines, refuse_duplicates
from ..records import (VIDEO_EXTENSIONS, DatasetError, ReIDDataset, Tracklet, build_pid2clothes, file_kind,
                       list_frames, stat_file)
from ..registry import register_dataset

SPLIT_FILES = ("train.txt", "query.txt", "gallery.txt")
BACKENDS = ("auto", "frames", "video")

Line = Tuple[str, str, str, str, int]  # path, pid, clothes label, file, line number


def ccvid_camid(path: str, where: str) -> int:
    """Camera id from a tracklet path: number after the first ``_`` of the folder (+12 for session3)."""
    session, _, folder = path.replace("\\", "/").rpartition("/")
    parts = folder.split("_")
    if len(parts) < 2 or not parts[1].isdigit():
        raise DatasetError(f"{where}: tracklet folder {folder!r} does not match '<pid>_<camera>'")
    camid = int(parts[1])
    if session.split("/")[-1] == "session3":
        camid += 12
    return camid


def read_split_file(path: str) -> List[Line]:
    rows: List[Line] = []
    for lineno, raw in enumerate(read_text_lines(path, "annotation file"), 1):
        line = raw.strip()
        if not line:
            continue
        fields = line.split()
        if len(fields) != 3:
            raise DatasetError(
                f"{path}:{lineno}: expected '<tracklet path> <person id> <clothes label>', got {line!r}")
        tpath, pid, label = fields
        check_inside(tpath, f"{path}:{lineno}", "tracklet path")
        if not pid.isdigit():
            raise DatasetError(f"{path}:{lineno}: person id {pid!r} is not a number")
        rows.append((tpath, pid, label, path, lineno))
    if not rows:
        raise DatasetError(f"{path}: annotation file is empty")
    return rows


def _resolve(root: str, tpath: str, backend: str, where: str) -> Tuple[str, Tuple[str, ...], Optional[int]]:
    """Return (source, frames, num_frames) for one annotated tracklet path."""
    folder = os.path.join(root, tpath)
    if backend in ("auto", "frames") and os.path.isdir(folder):
        try:
            frames = list_frames(folder)
        except DatasetError as e:
            raise DatasetError(f"{where}: {e}") from None
        return folder, frames, len(frames)
    if backend in ("auto", "video"):
        for base in (root, os.path.join(root, "videos")):
            for ext in VIDEO_EXTENSIONS:
                candidate = os.path.join(base, tpath + ext)
                st = stat_file(candidate)
                if st is not None and not stat.S_ISREG(st.st_mode):  # never opened: a FIFO read hangs
                    raise DatasetError(f"{where}: video {candidate} is {file_kind(st.st_mode)}, "
                                       "not a regular file")
                if st is not None:
                    return candidate, (), None
    wanted = {"frames": "frame folder", "video": "video file", "auto": "frame folder or video file"}[backend]
    raise DatasetError(f"{where}: {wanted} for {tpath!r} not found under {root}")


@register_dataset("ccvid", kind="video", protocols=("general", "cc", "sc"),
                  description="CCVID videos; root = the CCVID folder (train.txt, query.txt, gallery.txt, session1-3/)")
def read_ccvid(root: str, backend: str = "auto") -> ReIDDataset:
    """Read a dataset in the CCVID layout into :class:`ReIDDataset`."""
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {BACKENDS}, got {backend!r}")
    if not os.path.isdir(root):
        raise DatasetError(f"{root}: dataset folder not found")
    rows = {split[:-4]: read_split_file(os.path.join(root, split)) for split in SPLIT_FILES}
    refuse_duplicates((os.path.normpath(tpath), f"{fpath}:{lineno}", f"tracklet {tpath!r}")
                      for lines in rows.values() for tpath, _, _, fpath, lineno in lines)

    train_pids = sorted({pid for _, pid, _, _, _ in rows["train"]})
    pid_map = {pid: i for i, pid in enumerate(train_pids)}
    train_keys = sorted({f"{pid}_{label}" for _, pid, label, _, _ in rows["train"]})
    test_keys = sorted({f"{pid}_{label}" for split in ("query", "gallery") for _, pid, label, _, _ in rows[split]})
    clothes_maps: Dict[str, Dict[str, int]] = {
        "train": {k: i for i, k in enumerate(train_keys)},
        "test": {k: i for i, k in enumerate(test_keys)},
    }

    out: Dict[str, List[Tracklet]] = {}
    for split, lines in rows.items():
        cmap = clothes_maps["train" if split == "train" else "test"]
        items = []
        for tpath, pid, label, fpath, lineno in lines:
            where = f"{fpath}:{lineno}"
            source, frames, n = _resolve(root, tpath, backend, where)
            items.append(Tracklet(
                source=source,
                pid=pid_map[pid] if split == "train" else int(pid),
                camid=ccvid_camid(tpath, where),
                clothes=cmap[f"{pid}_{label}"],
                frames=frames,
                num_frames=n,
            ))
        out[split] = items

    return ReIDDataset(
        name="ccvid", train=out["train"], query=out["query"], gallery=out["gallery"],
        num_train_pids=len(train_pids), num_train_clothes=len(train_keys),
        pid2clothes=build_pid2clothes(out["train"], len(train_pids), len(train_keys)),
        root=root,
    )
