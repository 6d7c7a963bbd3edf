"""Datasets as records: the one tracklet record type, dataset readers, the embedded dataset."""
from .records import DatasetError, ReIDDataset, Tracklet
from .ccvid_format import read_ccvid

__all__ = ["DatasetError", "ReIDDataset", "Tracklet", "read_ccvid"]
