"""Reader for DeepChange (image; layout in docs/reference-facts.md, D).

``<root>`` is the ``DeepChangeDataset`` folder. Each split is an image folder
with a list file beside it::

    DeepChangeDataset/train-set/              DeepChangeDataset/train-set-bbox.txt
    DeepChangeDataset/val-set-query/          DeepChangeDataset/val-set-query-bbox.txt
    DeepChangeDataset/val-set-gallery/        DeepChangeDataset/val-set-gallery-bbox.txt
    DeepChangeDataset/test-set-query/         DeepChangeDataset/test-set-query-bbox.txt
    DeepChangeDataset/test-set-gallery/       DeepChangeDataset/test-set-gallery-bbox.txt

A list line is ``<image name>,<tracklet id>``; the image is
``<root>/<folder>/<image name>`` and must exist. The image name is
``<letter><pid>_<token>_<token>...`` (e.g. ``P0123_c1_f001.jpg``); the person id
is the number after the leading letter of the first ``_`` token (``P0123`` ->
123). The camera id is replaced by the tracklet id, so gallery images of the
query's own tracklet are junk. The clothes key is, as the reference builds it,
the first token with the third ``_`` token of the name without its extension
(``P0123_c1_f001.jpg`` -> ``(P0123, f001)``): images of one person sharing the
third token share a clothes class, across tracklets (train relabelled 0..C-1,
test jointly over query and gallery). ``split`` ("test" or "val") chooses the
evaluation split. Protocols: general.

An image name must stay inside its folder (no absolute path, no ``..``), and
no image may be listed twice over the lists read (the release lists none
twice): a duplicate names both lines.
"""
from __future__ import annotations

import os
import re
import stat
from typing import List, Tuple

from .common import Item, assemble, check_choice, check_inside, read_lines, refuse_duplicates, require_dir
from ..records import DatasetError, ReIDDataset, file_kind, stat_file
from ..registry import register_dataset

DEEPCHANGE_NAME = re.compile(r"[A-Za-z](\d+)_")
DEEPCHANGE_SPLITS = ("test", "val")


def _items(root: str, folder: str) -> List[Tuple[Item, str]]:
    """The list's items, each with its ``file:line``."""
    image_dir = require_dir(os.path.join(root, folder), "DeepChange image folder")
    list_path = os.path.join(root, f"{folder}-bbox.txt")
    items = []
    for lineno, line in read_lines(list_path, "DeepChange list file"):
        where = f"{list_path}:{lineno}"
        fields = [f.strip() for f in line.split(",")]
        if len(fields) != 2 or not fields[0]:
            raise DatasetError(f"{where}: expected '<image name>,<tracklet id>', got {line!r}")
        image, tracklet = fields
        check_inside(image, where, "image name")
        if not tracklet.isdigit():
            raise DatasetError(f"{where}: tracklet id {tracklet!r} is not a number")
        m = DEEPCHANGE_NAME.match(os.path.basename(image))
        if m is None:
            raise DatasetError(f"{where}: image name {image!r} does not match DeepChange "
                               f"'<letter><pid>_...' (e.g. P0123_...)")
        tokens = os.path.basename(image).split(".")[0].split("_")
        if len(tokens) < 3:
            raise DatasetError(f"{where}: image name {image!r} has no third '_' token, which the clothes "
                               f"label needs (e.g. P0123_c1_f001.jpg)")
        path = os.path.join(image_dir, image)
        st = stat_file(path)
        if st is None:
            raise DatasetError(f"{where}: image {path} not found")
        if not stat.S_ISREG(st.st_mode):  # never opened: a FIFO read hangs
            raise DatasetError(f"{where}: image {path} is {file_kind(st.st_mode)}, not a regular file")
        pid, tid = int(m.group(1)), int(tracklet)
        items.append((Item(source=path, pid=pid, camid=tid, clothes=(tokens[0], tokens[2])), where))
    return items


@register_dataset("deepchange", kind="image", protocols=("general",),
                  description="DeepChange images; root = the DeepChangeDataset folder (*-set*/ + *-bbox.txt); "
                              "option split=test|val")
def read_deepchange(root: str, split: str = "test") -> ReIDDataset:
    """Read DeepChange from its ``DeepChangeDataset`` folder; ``split`` chooses "test" or "val"."""
    check_choice("split", split, DEEPCHANGE_SPLITS, "deepchange")
    require_dir(root, "DeepChange dataset folder")
    lists = [_items(root, folder) for folder in ("train-set", f"{split}-set-query", f"{split}-set-gallery")]
    names = ((os.path.basename(item.source), where) for items in lists for item, where in items)
    refuse_duplicates((name, where, f"image {name!r}") for name, where in names)
    train, query, gallery = ([item for item, _ in items] for items in lists)
    return assemble("deepchange", root, train, query, gallery,
                    meta={"split": split, "clothes_note": "clothes = person token + third '_' token of the name"})
