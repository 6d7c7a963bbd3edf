"""The dataset registry: every readable dataset by name, with its kind and protocols stated once.

A dataset is a reader function registered with :func:`register_dataset`::

    from ccvid import ReIDDataset, register_dataset

    @register_dataset("mydata", kind="video", protocols=("general", "cc", "sc"),
                      description="MyData videos; root = the MyData folder (train/, query/, gallery/)")
    def read_mydata(root: str, backend: str = "auto") -> ReIDDataset:
        ...

``read_dataset(name, root, **options)`` (:mod:`ccvid.catalog`) calls the reader and stamps the
dataset with the registered name, kind and protocols, so a reader never states them. Keyword
parameters after ``root`` are the reader's options (``data.options`` in a run config); a parameter
named after a ``data.*`` config field (``backend``, ``synth``, ``cache_dir``) receives that field.

Outside packages add datasets without editing this repository through the entry-point group
``ccreid.datasets`` in their ``pyproject.toml``, naming a module whose import registers them::

    [project.entry-points."ccreid.datasets"]
    mydata = "my_package.datasets"
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence, Tuple

from .base import Registry
from .records import ReIDDataset

DATASET_ENTRY_POINT_GROUP = "ccreid.datasets"
KINDS = ("video", "image")


@dataclass(frozen=True)
class DatasetInfo:
    """A registered dataset: its reader and what is stated once about it."""

    name: str
    reader: Callable[..., ReIDDataset]
    kind: str                      # "video" or "image" (an image is a one-frame tracklet)
    description: str               # one line: what it is and the root folder it expects
    protocols: Tuple[str, ...]     # the protocols the dataset reports (the evaluation's names: general, cc, sc)
    needs_root: bool = True        # False: generated, it reads no folder (the embedded dataset)
    clothes_labels: bool = True    # False: identities only (MARS); CAL then needs cal.clothes_labels != annotated


DATASETS = Registry("dataset", DATASET_ENTRY_POINT_GROUP)


def register_dataset(name: str, *, kind: str, protocols: Sequence[str], description: str,
                     needs_root: bool = True, clothes_labels: bool = True) -> Callable:
    """Register ``reader(root, **options) -> ReIDDataset`` as dataset ``name``; returns the reader unchanged."""
    if kind not in KINDS:
        raise ValueError(f"dataset {name!r}: kind must be one of {', '.join(KINDS)}, got {kind!r}")
    if not protocols or isinstance(protocols, str):
        raise ValueError(f"dataset {name!r}: protocols must be a non-empty sequence of protocol names, "
                         f"got {protocols!r}")

    def deco(reader: Callable[..., ReIDDataset]) -> Callable[..., ReIDDataset]:
        info = DatasetInfo(name, reader, kind, description, tuple(protocols), needs_root, clothes_labels)
        DATASETS.register(name)(info)
        return reader
    return deco
