"""Reader for VC-Clothes (image, synthetic; layout in docs/reference-facts.md, D).

``<root>`` is the ``VC-Clothes`` folder::

    VC-Clothes/train/0001-01-01-03.jpg
    VC-Clothes/query/...
    VC-Clothes/gallery/...

A file name is ``<pid>-<camera>-<clothes>-<frame>``. The camera id is
``camera - 1`` and the clothes key ``<pid>_<clothes>``. Train ids and clothes
are relabelled; test ids are kept; test clothes are labelled jointly over
query and gallery.

Three registered datasets (``VC_MODES``), as the reference filters them on the raw camera number:

* ``all``: every image; protocols general, cc, sc (registered as ``vcclothes``);
* ``sc``: query and gallery keep cameras 2 and 3 only; protocol general
  (``vcclothes_sc``);
* ``cc``: query and gallery keep cameras 3 and 4 only; protocol general
  (``vcclothes_cc``).

The reference scores the two variants with the general protocol on their
camera subsets (same camera = junk, clothes not looked at), and the paper's
VC-Clothes SC and CC columns are those numbers: the camera subset alone makes
the setting (the reference takes cameras 2 and 3 as the same-clothes one, 3 and
4 as the clothes-changing one). The train split always keeps every image.
File names are unique over the three folders in the release: one name twice,
or one file reached twice through a link, is refused naming both paths.
"""
from __future__ import annotations

import os
import re
from typing import Dict, FrozenSet, List, Optional, Tuple

from .common import (Item, assemble, image_files, match_name, refuse_duplicate_files,
                     refuse_duplicate_names, require_dir, require_items)
from ..records import DatasetError, ReIDDataset
from ..registry import register_dataset

VC_NAME = re.compile(r"(\d+)-(\d+)-(\d+)-(\d+)")
VC_EXPECTED = "VC-Clothes '<pid>-<camera>-<clothes>-<frame>' (e.g. 0001-01-01-03.jpg)"
# mode -> (the test cameras kept, the protocols the reference scores them with)
VC_MODES: Dict[str, Tuple[Optional[FrozenSet[int]], Tuple[str, ...]]] = {
    "all": (None, ("general", "cc", "sc")),
    "sc": (frozenset({2, 3}), ("general",)),
    "cc": (frozenset({3, 4}), ("general",)),
}


def _vc_items(folder: str, cameras: Optional[FrozenSet[int]]) -> List[Item]:
    items = []
    for fname in image_files(folder, "VC-Clothes image folder"):
        path = os.path.join(folder, fname)
        pid, cam, clothes, _ = match_name(VC_NAME, path, VC_EXPECTED).groups()
        if int(cam) < 1:
            raise DatasetError(f"{path}: camera number must start at 1, got {cam}")
        if cameras is not None and int(cam) not in cameras:
            continue
        items.append(Item(source=path, pid=int(pid), camid=int(cam) - 1, clothes=f"{pid}_{clothes}"))
    return items


def _read_vcclothes(root: str, mode: str) -> ReIDDataset:
    """Read VC-Clothes; ``mode`` ``"sc"`` / ``"cc"`` keeps the test cameras of that protocol."""
    cameras, _ = VC_MODES[mode]
    require_dir(root, "VC-Clothes dataset folder")
    train = _vc_items(os.path.join(root, "train"), None)
    query = _vc_items(os.path.join(root, "query"), cameras)
    gallery = _vc_items(os.path.join(root, "gallery"), cameras)
    paths = [t.source for t in (*train, *query, *gallery)]
    refuse_duplicate_names(paths)
    refuse_duplicate_files(paths)
    if cameras is not None:
        wanted = f"cameras {' and '.join(map(str, sorted(cameras)))} (mode={mode})"
        require_items(query, os.path.join(root, "query"), f"VC-Clothes query split with {wanted}")
        require_items(gallery, os.path.join(root, "gallery"), f"VC-Clothes gallery split with {wanted}")
    name = "vcclothes" if mode == "all" else f"vcclothes_{mode}"
    return assemble(name, root, train, query, gallery, meta={"mode": mode})


@register_dataset("vcclothes", kind="image", protocols=VC_MODES["all"][1],
                  description="VC-Clothes images, all cameras; root = the VC-Clothes folder (train/, query/, gallery/)")
def read_vcclothes(root: str) -> ReIDDataset:
    """VC-Clothes, every camera: the general, CC and SC protocols."""
    return _read_vcclothes(root, "all")


@register_dataset("vcclothes_sc", kind="image", protocols=VC_MODES["sc"][1],
                  description="VC-Clothes, test cameras 2 and 3 (same clothes), general protocol as the reference "
                              "scores it; root = the VC-Clothes folder")
def read_vcclothes_sc(root: str) -> ReIDDataset:
    """VC-Clothes, same-clothes variant: test cameras 2 and 3, scored with the general protocol."""
    return _read_vcclothes(root, "sc")


@register_dataset("vcclothes_cc", kind="image", protocols=VC_MODES["cc"][1],
                  description="VC-Clothes, test cameras 3 and 4 (clothes changing), general protocol as the "
                              "reference scores it; root = the VC-Clothes folder")
def read_vcclothes_cc(root: str) -> ReIDDataset:
    """VC-Clothes, clothes-changing variant: test cameras 3 and 4, scored with the general protocol."""
    return _read_vcclothes(root, "cc")
