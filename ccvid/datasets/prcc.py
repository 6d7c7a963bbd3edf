"""Reader for PRCC (image; layout in docs/reference-facts.md, D).

``<root>`` is the ``prcc`` folder::

    prcc/rgb/train/<pid>/A_cropped_rgb001.jpg     # camera = first letter: A, B, C -> 0, 1, 2
    prcc/rgb/val/<pid>/...                        # not read (the reference reads it, never uses it)
    prcc/rgb/test/A/<pid>/*.jpg                   # gallery, camera 0
    prcc/rgb/test/B/<pid>/*.jpg                   # query, camera 1, same clothes as A
    prcc/rgb/test/C/<pid>/*.jpg                   # query, camera 2, other clothes

Person ids are the ``<pid>`` folder names (numbers). Train clothes: the A and
B images of a person share one clothes class and the C images form another
(classes relabelled 0..C-1 in (pid, A/B before C) order, which is the
reference's ``2 * pid`` / ``2 * pid + 1`` whenever every person has both).

Test protocols. The reference scores two plain (camera-only) protocols with
gallery A: "query B vs A" (same clothes) and "query C vs A" (clothes
changing). Here the query set is B followed by C, and A and B of a person get
one test clothes id while C gets another. Since A, B and C are three cameras,
no same-person gallery item is ever same-camera junk, so:

* ``sc`` (good = same clothes, different camera): a B query's good items are
  exactly its person's A images; a C query has none (all A images are other
  clothes) and is skipped. So ``sc`` equals the reference's "B vs A".
* ``cc`` (good = other clothes, different camera): a C query's good items are
  its person's A images; a B query has none and is skipped. So ``cc`` equals
  the reference's "C vs A".

``meta["protocols"]`` is therefore ``["cc", "sc"]``. ``general`` still scores
(nothing is removed from the data) but mixes the two query sets, B and C
against A; it is not a protocol PRCC reports, and ``meta["general_note"]``
says so.

File names repeat across person and camera folders, so a duplicated image is
one file reached twice (a linked file or folder): refused naming both paths.
"""
from __future__ import annotations

import os
from typing import List

from .common import Item, assemble, image_files, refuse_duplicate_files, require_dir, require_items, subfolders
from ..records import DatasetError, ReIDDataset
from ..registry import register_dataset

PRCC_CAMERAS = ("A", "B", "C")
GENERAL_NOTE = ("general mixes the same-clothes query set (B) and the clothes-changing one (C) "
                "against gallery A; PRCC reports sc (B vs A) and cc (C vs A)")


def _pid(folder: str) -> int:
    name = os.path.basename(folder)
    if not name.isdigit():
        raise DatasetError(f"{folder}: person folder name must be a number, got {name!r}")
    return int(name)


def _clothes_group(camera: str) -> int:
    return 1 if camera == "C" else 0  # A and B: same clothes; C: other clothes


def _train_items(split_dir: str) -> List[Item]:
    items = []
    for pid_name in subfolders(split_dir, "PRCC split folder"):
        folder = os.path.join(split_dir, pid_name)
        pid = _pid(folder)
        for fname in image_files(folder, "PRCC person folder", allow_empty=True):
            camera = fname[0].upper()
            if camera not in PRCC_CAMERAS:
                raise DatasetError(f"{os.path.join(folder, fname)}: file name must start with the camera "
                                   f"letter A, B or C")
            items.append(Item(source=os.path.join(folder, fname), pid=pid, camid=PRCC_CAMERAS.index(camera),
                              clothes=(pid, _clothes_group(camera))))
    require_items(items, split_dir, "PRCC train split")
    return items


def _test_items(test_dir: str, camera: str) -> List[Item]:
    cam_dir = os.path.join(test_dir, camera)
    items = []
    for pid_name in subfolders(cam_dir, "PRCC test camera folder"):
        folder = os.path.join(cam_dir, pid_name)
        pid = _pid(folder)
        for fname in image_files(folder, "PRCC person folder", allow_empty=True):
            items.append(Item(source=os.path.join(folder, fname), pid=pid, camid=PRCC_CAMERAS.index(camera),
                              clothes=(pid, _clothes_group(camera))))
    require_items(items, cam_dir, "PRCC test camera folder")
    return items


@register_dataset("prcc", kind="image", protocols=("cc", "sc"),
                  description="PRCC RGB images; root = the prcc folder (rgb/train, rgb/test/A|B|C)")
def read_prcc(root: str) -> ReIDDataset:
    """Read PRCC (RGB images) from its ``prcc`` folder: gallery = test/A, query = test/B + test/C."""
    rgb = os.path.join(require_dir(root, "PRCC dataset folder"), "rgb")
    require_dir(rgb, "PRCC rgb folder")
    train = _train_items(os.path.join(rgb, "train"))
    test_dir = os.path.join(rgb, "test")
    gallery = _test_items(test_dir, "A")
    query = _test_items(test_dir, "B") + _test_items(test_dir, "C")
    refuse_duplicate_files(t.source for t in (*train, *query, *gallery))
    return assemble("prcc", root, train, query, gallery,
                    meta={"general_note": GENERAL_NOTE})
