"""Reader for VCCR (video, clothes-changing; 392 identities, 4,384 tracklets, 2-10 outfits per identity).

ASSUMED LAYOUT. The VCCR paper's own description of its files is not in the materials this suite was
built from; the layout below is the one the public VCCR loaders read (the ``prepare_vccr`` step of
dustin-nguyen-qil/VCCReID-Baseline, also in vinhtq115/ResNet-VCCReID), and docs/datasets.md says so::

    VCCR/train/<pid>/<tracklet>/<frames>
    VCCR/test_qg/query/<pid>/<camera>/<tracklet>/<frames>
    VCCR/test_qg/gallery/<pid>/<camera>/<tracklet>/<frames>

A frame's file name is ``-``-separated fields: the second field is a letter and the camera number, the
third a letter and the clothes number, the last a letter and the frame number (for example
``0001-C3-O2-F0017.jpg``; the loaders read field 1 and 2 after their first character, and order the
frames by the last field after its first character). Field 0 is not read. Every frame of a tracklet
must name one camera and one clothes number (the loaders read one frame at random, which assumes it);
a tracklet that mixes them is refused naming the file.

Labels: the person id is the ``<pid>`` folder (digits); train ids are relabelled 0..N-1, test ids kept.
The clothes key is ``<pid>_<clothes number>`` (clothes numbers are per person, as in CCVID), labelled
over the train split and jointly over query and gallery. The camera id is the frame names' camera
number. Frames are ordered by their frame number (numerically).

As the loaders do, a query or gallery tracklet with fewer than ``min_test_frames`` frames (default 8)
is left out; train tracklets are all kept. Protocols: general, CC and SC.
"""
from __future__ import annotations

import os
from typing import List, Tuple

from .common import Item, assemble, image_files, require_dir, subfolders
from ..records import DatasetError, ReIDDataset
from ..registry import register_dataset

TEST_FOLDER = "test_qg"
EXPECTED = "VCCR '<field>-<letter><camera>-<letter><clothes>[-...]-<letter><frame>' (e.g. 0001-C3-O2-F0017.jpg)"


def _number(field: str, path: str, what: str) -> int:
    digits = field[1:]
    if len(field) < 2 or not digits.isdigit():
        raise DatasetError(f"{path}: file name does not match {EXPECTED}: its {what} field {field!r} is not a "
                           "letter and a number")
    return int(digits)


def parse_frame_name(path: str) -> Tuple[int, int, int]:
    """(camera, clothes, frame number) of a VCCR frame file; DatasetError naming the file otherwise."""
    fields = os.path.splitext(os.path.basename(path))[0].split("-")
    if len(fields) < 4:
        raise DatasetError(f"{path}: file name does not match {EXPECTED}")
    return _number(fields[1], path, "camera"), _number(fields[2], path, "clothes"), _number(fields[-1], path, "frame")


def _tracklet(folder: str, pid: str) -> Item:
    """One tracklet folder as an :class:`Item` (frames ordered by frame number)."""
    parsed = []
    for name in image_files(folder, "VCCR tracklet folder"):
        parsed.append((*parse_frame_name(os.path.join(folder, name)), name))
    cam, clothes = parsed[0][0], parsed[0][1]
    for c, k, _, name in parsed:
        if (c, k) != (cam, clothes):
            raise DatasetError(f"{os.path.join(folder, name)}: camera {c}, clothes {k}, but the tracklet's first "
                               f"frame {parsed[0][3]} says camera {cam}, clothes {clothes}")
    frames = tuple(name for _, _, _, name in sorted(parsed, key=lambda p: (p[2], p[3])))
    return Item(source=folder, pid=pid, camid=cam, clothes=f"{pid}_{clothes}", frames=frames)


def _pid_folders(folder: str, what: str) -> List[str]:
    pids = subfolders(folder, what)
    for p in pids:
        if not p.isdigit():
            raise DatasetError(f"{os.path.join(folder, p)}: identity folder name {p!r} is not a number")
    if not pids:
        raise DatasetError(f"{folder}: {what} has no identity folders")
    return pids


def _train_items(root: str) -> List[Item]:
    folder = require_dir(os.path.join(root, "train"), "VCCR train folder")
    return [_tracklet(os.path.join(folder, pid, t), pid)
            for pid in _pid_folders(folder, "VCCR train folder")
            for t in subfolders(os.path.join(folder, pid), "identity folder")]


def _test_items(root: str, split: str, min_frames: int) -> List[Item]:
    folder = require_dir(os.path.join(root, TEST_FOLDER, split), f"VCCR {split} folder")
    items = []
    for pid in _pid_folders(folder, f"VCCR {split} folder"):
        for cam in subfolders(os.path.join(folder, pid), "identity folder"):
            for t in subfolders(os.path.join(folder, pid, cam), "camera folder"):
                item = _tracklet(os.path.join(folder, pid, cam, t), pid)
                if len(item.frames) >= min_frames:
                    items.append(item)
    return items


@register_dataset("vccr", kind="video", protocols=("general", "cc", "sc"),
                  description="VCCR videos (assumed layout, docs/datasets.md); root = the VCCR folder (train/, "
                              "test_qg/query/, test_qg/gallery/)")
def read_vccr(root: str, min_test_frames: int = 8) -> ReIDDataset:
    """Read VCCR from its folder (the layout in the module's description)."""
    if isinstance(min_test_frames, bool) or not isinstance(min_test_frames, int) or min_test_frames < 1:
        raise DatasetError(f"vccr: option min_test_frames={min_test_frames!r} must be a whole number >= 1")
    require_dir(root, "VCCR dataset folder")
    train = _train_items(root)
    query, gallery = (_test_items(root, split, min_test_frames) for split in ("query", "gallery"))
    return assemble("vccr", root, train, query, gallery, meta={"layout": "assumed (public VCCR loaders)"})
