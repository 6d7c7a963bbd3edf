"""Shared helpers of the dataset readers in ``ccvid.datasets``.

A reader turns the files of one split into :class:`Item` rows that carry *raw*
labels (the person and clothes keys as the dataset spells them) and hands the
three splits to :func:`assemble`, which applies the suite's label rules once:

* train person keys are relabelled 0..N-1 (sorted keys), train clothes keys
  0..C-1 (sorted), and ``pid2clothes`` is built from them;
* test person ids are kept as the reader gives them (ints), unless the reader
  asks for a joint relabelling over query and gallery;
* test clothes keys are relabelled jointly over query and gallery.

Every check raises :class:`DatasetError` with a one-line message naming the
folder or file (and line) at fault.
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass
from typing import Dict, Hashable, Iterable, List, Mapping, Optional, Sequence, Tuple, TypeVar

from ..records import IMAGE_EXTENSIONS, DatasetError, ReIDDataset, Tracklet, build_pid2clothes

K = TypeVar("K", bound=Hashable)


@dataclass(frozen=True)
class Item:
    """One tracklet with raw labels, before relabelling."""

    source: str
    pid: Hashable
    camid: int
    clothes: Hashable
    frames: Tuple[str, ...] = ()


def require_dir(path: str, what: str = "folder") -> str:
    if not os.path.isdir(path):
        raise DatasetError(f"{path}: {what} not found")
    return path


def require_file(path: str, what: str = "list file") -> str:
    if not os.path.isfile(path):
        raise DatasetError(f"{path}: {what} not found")
    return path


def is_image(name: str) -> bool:
    return name.lower().endswith(IMAGE_EXTENSIONS)


def image_files(folder: str, what: str = "image folder", allow_empty: bool = False) -> List[str]:
    """Sorted image file names of ``folder`` (other files are ignored)."""
    require_dir(folder, what)
    names = sorted(n for n in os.listdir(folder) if is_image(n) and os.path.isfile(os.path.join(folder, n)))
    if not names and not allow_empty:
        raise DatasetError(f"{folder}: {what} has no image files")
    return names


def subfolders(folder: str, what: str = "folder") -> List[str]:
    """Sorted names of the sub-folders of ``folder``."""
    require_dir(folder, what)
    return sorted(n for n in os.listdir(folder) if os.path.isdir(os.path.join(folder, n)))


def match_name(pattern: re.Pattern[str], path: str, expected: str) -> re.Match[str]:
    """Match the file stem of ``path`` against ``pattern`` (full match) or raise naming the file."""
    stem = os.path.splitext(os.path.basename(path))[0]
    m = pattern.fullmatch(stem)
    if m is None:
        raise DatasetError(f"{path}: file name does not match {expected}")
    return m


def read_lines(path: str, what: str = "list file") -> List[Tuple[int, str]]:
    """Non-blank, stripped lines of a text file with their 1-based line numbers."""
    require_file(path, what)
    with open(path, "r", encoding="utf-8") as f:
        rows = [(n, line.strip()) for n, line in enumerate(f, 1) if line.strip()]
    if not rows:
        raise DatasetError(f"{path}: {what} is empty")
    return rows


def sort_key(key: Hashable) -> Tuple[int, object]:
    """Order keys numerically when they are digit strings, so '9' < '10'."""
    if isinstance(key, str) and key.isdigit():
        return (0, int(key), key)
    return (1, key)


def relabel(keys: Iterable[K]) -> Dict[K, int]:
    """Map distinct keys to 0..N-1 in sorted order."""
    return {k: i for i, k in enumerate(sorted(set(keys), key=sort_key))}


def require_items(items: Sequence[object], where: str, what: str) -> None:
    if not items:
        raise DatasetError(f"{where}: {what} is empty")


def assemble(name: str, root: str, train: Sequence[Item], query: Sequence[Item], gallery: Sequence[Item], *,
             kind: str, protocols: Sequence[str], relabel_test_pids: bool = False,
             meta: Optional[Mapping[str, object]] = None) -> ReIDDataset:
    """Relabel raw items into a :class:`ReIDDataset` (see the module docstring for the rules)."""
    for split, items in (("train", train), ("query", query), ("gallery", gallery)):
        require_items(items, root, f"{name} {split} split")
    train_pids = relabel(t.pid for t in train)
    train_clothes = relabel(t.clothes for t in train)
    test_clothes = relabel(t.clothes for t in (*query, *gallery))
    test_pids = relabel(t.pid for t in (*query, *gallery)) if relabel_test_pids else None

    def make(t: Item, pid: int, clothes: int) -> Tracklet:
        if t.frames:
            return Tracklet(source=t.source, pid=pid, camid=t.camid, clothes=clothes,
                            frames=t.frames, num_frames=len(t.frames))
        return Tracklet.image(t.source, pid, t.camid, clothes)

    def test_pid(t: Item) -> int:
        return test_pids[t.pid] if test_pids is not None else int(t.pid)  # type: ignore[arg-type]

    out_train = [make(t, train_pids[t.pid], train_clothes[t.clothes]) for t in train]
    out_query = [make(t, test_pid(t), test_clothes[t.clothes]) for t in query]
    out_gallery = [make(t, test_pid(t), test_clothes[t.clothes]) for t in gallery]
    return ReIDDataset(
        name=name, train=out_train, query=out_query, gallery=out_gallery,
        num_train_pids=len(train_pids), num_train_clothes=len(train_clothes),
        pid2clothes=build_pid2clothes(out_train, len(train_pids), len(train_clothes)),
        root=root, meta={"kind": kind, "protocols": list(protocols), **(meta or {})},
    )


def check_choice(option: str, value: str, choices: Sequence[str], dataset: str) -> None:
    if value not in choices:
        raise DatasetError(f"{dataset}: option {option}={value!r} must be one of {', '.join(choices)}")
