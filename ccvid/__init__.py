"""Datasets as records: the one tracklet record type, dataset readers, the embedded dataset."""
from .records import DatasetError, ReIDDataset, Tracklet
from .datasets.ccvid import read_ccvid
from .catalog import DATASETS, check_dataset, get_dataset, read_dataset

__all__ = ["DATASETS", "DatasetError", "ReIDDataset", "Tracklet", "check_dataset", "get_dataset", "read_ccvid",
           "read_dataset"]
