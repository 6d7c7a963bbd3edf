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
folder or file (and line) at fault. Annotation files are checked to be regular
files before they are opened (a FIFO would hang the read) and decoded as UTF-8
(a bad byte names its line); a path in an annotation must stay inside the
dataset's root (no absolute path, no ``..``); and, since no public release
lists a tracklet or an image twice, a duplicate is refused naming both places
(MEVID's query index is the one exception, see :mod:`.mevid`).
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass
from typing import Dict, Hashable, Iterable, List, Mapping, Optional, Sequence, Tuple, TypeVar

from ..records import (DatasetError, ReIDDataset, Tracklet, build_pid2clothes, image_names, read_file_bytes,
                       stat_file)

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


def read_text_lines(path: str, what: str = "list file") -> List[str]:
    """All lines of a UTF-8 text file, unstripped (a BOM is skipped; LF, CRLF and CR end lines).

    One-line DatasetError naming ``path`` when it is missing or not a regular file (checked before
    opening), cannot be read, or is not UTF-8 (naming the line of the first bad byte).
    """
    data = read_file_bytes(path, what)
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        line = data.count(b"\n", 0, e.start) + 1
        raise DatasetError(f"{path}:{line}: {what} is not UTF-8 text (byte 0x{data[e.start]:02x})") from None
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    if lines and lines[-1] == "":
        lines.pop()  # the end of the last line, not an empty line
    return lines


def check_inside(rel: str, where: str, what: str = "path") -> None:
    """Refuse an annotation path that would leave the dataset's root: absolute, or with a ``..`` segment."""
    if os.path.isabs(rel) or rel.startswith("\\"):
        raise DatasetError(f"{where}: {what} {rel!r} is absolute; paths are relative to the dataset's root")
    if ".." in re.split(r"[\\/]", rel):
        raise DatasetError(f"{where}: {what} {rel!r} leaves the dataset's root ('..')")


def refuse_duplicates(entries: Iterable[Tuple[Hashable, str, str]]) -> None:
    """``entries`` are (key, where, what) triples; the second ``where`` of a key is refused, naming the first."""
    seen: Dict[Hashable, str] = {}
    for key, where, what in entries:
        if key in seen:
            raise DatasetError(f"{where}: {what} listed twice (first at {seen[key]})")
        seen[key] = where


def refuse_duplicate_files(paths: Iterable[str], what: str = "image") -> None:
    """Refuse two paths that are one file (a link, a linked folder): compared by device and inode."""
    seen: Dict[Tuple[int, int], str] = {}
    for path in paths:
        st = stat_file(path)
        if st is None or st.st_ino == 0:  # some filesystems (FAT, a few network mounts) have no inode numbers
            continue
        first = seen.setdefault((st.st_dev, st.st_ino), path)
        if first != path:
            raise DatasetError(f"{path}: duplicated {what}: the same file as {first}")


def refuse_duplicate_names(paths: Iterable[str], what: str = "image") -> None:
    """Refuse two paths with one file name, for datasets whose names are unique (they encode person,
    camera and frame): the same image copied into two folders."""
    seen: Dict[str, str] = {}
    for path in paths:
        first = seen.setdefault(os.path.basename(path), path)
        if first != path:
            raise DatasetError(f"{path}: duplicated {what}: the same file name as {first}")


def image_files(folder: str, what: str = "image folder", allow_empty: bool = False) -> List[str]:
    """Sorted image file names of ``folder`` (other files are ignored).

    An image-named entry that is not a regular file (a FIFO, a device, a folder, a broken link) is
    refused by name, never opened.
    """
    require_dir(folder, what)
    return image_names(folder, what, "image file", allow_empty)


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
    """Non-blank, stripped lines of a text file with their 1-based line numbers (see :func:`read_text_lines`)."""
    rows = [(n, line.strip()) for n, line in enumerate(read_text_lines(path, what), 1) if line.strip()]
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
             relabel_test_pids: bool = False,
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
        root=root, meta=dict(meta or {}),
    )


def check_choice(option: str, value: str, choices: Sequence[str], dataset: str) -> None:
    if value not in choices:
        raise DatasetError(f"{dataset}: option {option}={value!r} must be one of {', '.join(choices)}")
