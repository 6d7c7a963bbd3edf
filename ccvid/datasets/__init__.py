"""Readers of public clothes-changing re-id datasets into :class:`~ccvid.records.ReIDDataset`.

One reader per dataset, each in its own module (the module docstring gives the exact on-disk
layout and label rules), registered by name with :func:`ccvid.registry.register_dataset`, which
states its kind, protocols and expected root folder once (``benchmark datasets`` lists them).

Every reader takes ``root`` and keyword options and returns a dataset. Train person ids are
relabelled 0..N-1 and train clothes 0..C-1; test person ids are kept (LaST relabels its string
ids jointly); test clothes are labelled jointly over query and gallery. Malformed input raises
:class:`~ccvid.records.DatasetError` naming the file (and line). Importing this package registers
every built-in reader; plugin packages register theirs through the ``ccreid.datasets`` entry points.
"""
from __future__ import annotations

# imported in the order `benchmark datasets` lists them: video, image, generated
from .ccvid import read_ccvid
from .mevid import read_mevid
from .vccr import read_vccr
from .mars import read_mars
from .ltcc import read_ltcc
from .prcc import read_prcc
from .vcclothes import read_vcclothes, read_vcclothes_cc, read_vcclothes_sc
from .last import read_last
from .deepchange import read_deepchange
from .embedded import read_embedded

__all__ = ["read_ccvid", "read_deepchange", "read_embedded", "read_last", "read_ltcc", "read_mars", "read_mevid",
           "read_prcc", "read_vcclothes", "read_vcclothes_cc", "read_vcclothes_sc", "read_vccr"]
