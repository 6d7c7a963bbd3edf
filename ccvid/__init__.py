"""Datasets as records: the one tracklet record type, the dataset registry and its readers, the embedded dataset.

Also the small shared base every package may use: :mod:`ccvid.base` (``UserError``,
``did_you_mean``, ``Registry``), :mod:`ccvid.files` (``write_atomically``) and
:mod:`ccvid.progress` (the progress-bar switch).
"""
from .base import Registry, UnknownNameError, UserError, did_you_mean
from .records import DatasetError, ReIDDataset, Tracklet
from .registry import DATASET_ENTRY_POINT_GROUP, DATASETS, DatasetInfo, register_dataset
from .datasets.ccvid import read_ccvid
from .catalog import check_dataset, dataset_infos, get_dataset, read_dataset

__all__ = ["DATASETS", "DATASET_ENTRY_POINT_GROUP", "DatasetError", "DatasetInfo", "ReIDDataset", "Registry",
           "Tracklet", "UnknownNameError", "UserError", "check_dataset", "dataset_infos", "did_you_mean",
           "get_dataset", "read_ccvid", "read_dataset", "register_dataset"]
