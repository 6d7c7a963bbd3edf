"""Reader for LaST (image, Large-Scale Spatio-Temporal; layout in docs/reference-facts.md, D).

``<root>`` is the ``last`` folder::

    last/train/<pid>/<pid>_..._<k>.jpg
    last/{val,test}/query/*.jpg
    last/{val,test}/gallery/<folder>/*.jpg

The person id is the first ``_``-separated token of the file name. Train:
ids relabelled 0..N-1, camera 0, clothes key ``<pid>_<last token of the
stem>`` relabelled 0..C-1. ``split`` ("test" or "val") chooses the evaluation
split. Every evaluation image is its own camera (query ``i`` has camera ``i``,
gallery ``j`` camera ``len(query) + j``), so no gallery item is ever
same-camera junk. Evaluation person ids are the tokens relabelled jointly
over query and gallery (sorted). Evaluation clothes: one id per image (equal
to its camera id), since LaST is scored with the general protocol only; the
cc and sc protocols are meaningless on these labels. File names are unique over
the train folders and the chosen split in the release: one name twice, or one
file reached twice through a link, is refused naming both paths.
"""
from __future__ import annotations

import os
import re
from typing import List, Tuple

from .common import (Item, assemble, check_choice, image_files, match_name, refuse_duplicate_files,
                     refuse_duplicate_names, require_dir, require_items, subfolders)
from ..records import ReIDDataset
from ..registry import register_dataset

LAST_NAME = re.compile(r"([^_]+)_(?:.*_)?([^_]+)")
LAST_EXPECTED = "LaST '<pid>_..._<clothes>' (at least two '_'-separated tokens)"
LAST_SPLITS = ("test", "val")


def _tokens(path: str) -> Tuple[str, str]:
    pid, last = match_name(LAST_NAME, path, LAST_EXPECTED).groups()
    return pid, last


def _train_items(train_dir: str) -> List[Item]:
    items = []
    for folder_name in subfolders(train_dir, "LaST train folder"):
        folder = os.path.join(train_dir, folder_name)
        for fname in image_files(folder, "LaST person folder", allow_empty=True):
            path = os.path.join(folder, fname)
            pid, last = _tokens(path)
            items.append(Item(source=path, pid=pid, camid=0, clothes=f"{pid}_{last}"))
    require_items(items, train_dir, "LaST train split")
    return items


def _gallery_files(gallery_dir: str) -> List[str]:
    paths = []
    for folder_name in subfolders(gallery_dir, "LaST gallery folder"):
        folder = os.path.join(gallery_dir, folder_name)
        paths += [os.path.join(folder, f) for f in image_files(folder, "LaST gallery folder", allow_empty=True)]
    require_items(paths, gallery_dir, "LaST gallery split")
    return paths


@register_dataset("last", kind="image", protocols=("general",),
                  description="LaST images; root = the last folder (train/, val/, test/); option split=test|val")
def read_last(root: str, split: str = "test") -> ReIDDataset:
    """Read LaST from its ``last`` folder; ``split`` chooses the "test" or "val" query/gallery."""
    check_choice("split", split, LAST_SPLITS, "last")
    require_dir(root, "LaST dataset folder")
    train = _train_items(os.path.join(root, "train"))
    eval_dir = require_dir(os.path.join(root, split), f"LaST {split} folder")
    query_dir = os.path.join(eval_dir, "query")
    query_paths = [os.path.join(query_dir, f) for f in image_files(query_dir, "LaST query folder")]
    gallery_paths = _gallery_files(os.path.join(eval_dir, "gallery"))
    paths = [t.source for t in train] + query_paths + gallery_paths
    refuse_duplicate_names(paths)
    refuse_duplicate_files(paths)
    query = [Item(source=p, pid=_tokens(p)[0], camid=i, clothes=i) for i, p in enumerate(query_paths)]
    n = len(query)
    gallery = [Item(source=p, pid=_tokens(p)[0], camid=n + j, clothes=n + j) for j, p in enumerate(gallery_paths)]
    return assemble("last", root, train, query, gallery,
                    relabel_test_pids=True,
                    meta={"split": split, "test_clothes": "one clothes id per evaluation image"})
