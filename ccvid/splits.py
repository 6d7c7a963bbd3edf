"""Validation split of training identities, for choosing hyper-parameters without the test set."""
from __future__ import annotations

import random
from typing import Dict, List, Tuple

from .records import DatasetError, ReIDDataset, Tracklet, build_pid2clothes


def validation_split(dataset: ReIDDataset, num_val_ids: int, seed: int = 0) -> ReIDDataset:
    """Hold out ``num_val_ids`` training identities as a query/gallery split.

    The held-out identities' tracklets are split like CCVID's test set: for each
    (identity, clothes, camera) one tracklet is a query and the others are gallery.
    The remaining identities and their clothes are relabelled 0..N-1. The test
    split of ``dataset`` is not used.
    """
    pids = sorted({t.pid for t in dataset.train})
    if not 0 < num_val_ids < len(pids):
        raise DatasetError(f"val_ids must be between 1 and {len(pids) - 1}, got {num_val_ids}")
    rng = random.Random(seed)
    val_pids = set(rng.sample(pids, num_val_ids))

    keep = [t for t in dataset.train if t.pid not in val_pids]
    pid_map = {p: i for i, p in enumerate(sorted({t.pid for t in keep}))}
    clothes_map = {c: i for i, c in enumerate(sorted({t.clothes for t in keep}))}
    train = [Tracklet(t.source, pid_map[t.pid], t.camid, clothes_map[t.clothes], t.frames, t.num_frames)
             for t in keep]

    seen: Dict[Tuple[int, int, int], bool] = {}
    query: List[Tracklet] = []
    gallery: List[Tracklet] = []
    for t in dataset.train:
        if t.pid not in val_pids:
            continue
        key = (t.pid, t.clothes, t.camid)
        (gallery if key in seen else query).append(t)
        seen[key] = True
    return ReIDDataset(
        name=f"{dataset.name}-val{num_val_ids}", train=train, query=query, gallery=gallery,
        num_train_pids=len(pid_map), num_train_clothes=len(clothes_map),
        pid2clothes=build_pid2clothes(train, len(pid_map), len(clothes_map)),
        root=dataset.root, meta={**dataset.meta, "validation_of": dataset.name, "val_seed": seed},
    )
