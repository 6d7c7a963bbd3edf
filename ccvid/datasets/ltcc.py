"""Reader for LTCC (image, Long-Term Cloth-Changing; layout in docs/reference-facts.md, D).

``<root>`` is the ``LTCC_ReID`` folder::

    LTCC_ReID/train/094_1_c9_015923.png
    LTCC_ReID/query/...
    LTCC_ReID/test/...          # the gallery

A file name is ``<pid>_<clothes>_c<camera>_<frame>``. The person id is the
first number, the camera id is ``camera - 1`` and the clothes key is the part
before ``_c`` (``094_1``). Train ids and clothes are relabelled; test ids are
kept; test clothes are labelled jointly over query and gallery. Protocols:
general, cc, sc. File names are unique over the three folders in the release:
one name twice (an image copied into two folders), or one file reached twice
through a link, is refused naming both paths.
"""
from __future__ import annotations

import os
import re
from typing import List

from .common import (Item, assemble, image_files, match_name, refuse_duplicate_files, refuse_duplicate_names,
                     require_dir)
from ..records import DatasetError, ReIDDataset
from ..registry import register_dataset

LTCC_NAME = re.compile(r"(\d+)_(\d+)_c(\d+)_(.+)")
LTCC_EXPECTED = "LTCC '<pid>_<clothes>_c<camera>_<frame>' (e.g. 094_1_c9_015923.png)"
LTCC_SPLITS = {"train": "train", "query": "query", "gallery": "test"}


def _ltcc_items(folder: str) -> List[Item]:
    items = []
    for fname in image_files(folder, "LTCC image folder"):
        path = os.path.join(folder, fname)
        pid, clothes, cam, _ = match_name(LTCC_NAME, path, LTCC_EXPECTED).groups()
        if int(cam) < 1:
            raise DatasetError(f"{path}: camera number must start at 1, got c{cam}")
        items.append(Item(source=path, pid=int(pid), camid=int(cam) - 1, clothes=f"{pid}_{clothes}"))
    return items


@register_dataset("ltcc", kind="image", protocols=("general", "cc", "sc"),
                  description="LTCC images; root = the LTCC_ReID folder (train/, query/, test/)")
def read_ltcc(root: str) -> ReIDDataset:
    """Read LTCC from its ``LTCC_ReID`` folder."""
    require_dir(root, "LTCC dataset folder")
    splits = {split: _ltcc_items(os.path.join(root, folder)) for split, folder in LTCC_SPLITS.items()}
    paths = [t.source for items in splits.values() for t in items]
    refuse_duplicate_names(paths)
    refuse_duplicate_files(paths)
    return assemble("ltcc", root, splits["train"], splits["query"], splits["gallery"])
