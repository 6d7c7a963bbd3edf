"""Readers of public clothes-changing re-id datasets into :class:`~ccvid.records.ReIDDataset`.

One reader per dataset, each in its own module (the module docstring gives
the exact on-disk layout and label rules):

==============  =====  ===========================  ==============================
reader          kind   root folder                  module
==============  =====  ===========================  ==============================
read_ltcc       image  ``LTCC_ReID``                :mod:`ccvid.datasets.ltcc`
read_prcc       image  ``prcc``                     :mod:`ccvid.datasets.prcc`
read_vcclothes  image  ``VC-Clothes``               :mod:`ccvid.datasets.vcclothes`
read_last       image  ``last``                     :mod:`ccvid.datasets.last`
read_deepchange image  ``DeepChangeDataset``        :mod:`ccvid.datasets.deepchange`
read_mevid      video  MEVID root (``*_name.txt``)  :mod:`ccvid.datasets.mevid`
==============  =====  ===========================  ==============================

Every reader takes ``root`` and keyword options and returns a dataset with
``name``, ``root`` and ``meta = {"kind": "image" | "video", "protocols": [...]}``.
Train person ids are relabelled 0..N-1 and train clothes 0..C-1; test person
ids are kept (LaST relabels its string ids jointly); test clothes are labelled
jointly over query and gallery. Malformed input raises
:class:`~ccvid.records.DatasetError` naming the file (and line). CCVID itself
is read by :func:`ccvid.datasets.ccvid.read_ccvid`; :mod:`ccvid.catalog`
registers all of them by name.
"""
from __future__ import annotations

from .deepchange import read_deepchange
from .last import read_last
from .ltcc import read_ltcc
from .mevid import read_mevid
from .prcc import read_prcc
from .vcclothes import read_vcclothes, read_vcclothes_cc, read_vcclothes_sc

__all__ = ["read_deepchange", "read_last", "read_ltcc", "read_mevid", "read_prcc", "read_vcclothes",
           "read_vcclothes_cc", "read_vcclothes_sc"]
