"""Validation split of training identities, for choosing hyper-parameters without the test set."""
from __future__ import annotations

import random
from typing import Dict, List, Tuple

from .records import DatasetError, ReIDDataset, Tracklet, build_pid2clothes


def validation_split(dataset: ReIDDataset, num_val_ids: int, seed: int = 0) -> ReIDDataset:
    """Hold out ``num_val_ids`` training identities as a query/gallery split.

    Identities a dataset groups (``meta["id_groups"]``: lists of training ids, e.g. the embedded
    dataset's gait twins) are held out together or not at all, so that the validation split has the
    test split's structure. The held-out identities' tracklets are split like CCVID's test set: for each
    (identity, clothes, camera) one tracklet is a query and the others are gallery.
    The remaining identities and their clothes are relabelled 0..N-1. The test
    split of ``dataset`` is not used.
    """
    pids = sorted({t.pid for t in dataset.train})
    if not 0 < num_val_ids < len(pids):
        raise DatasetError(f"val_ids must be between 1 and {len(pids) - 1}, got {num_val_ids}")
    val_pids = _held_out(pids, num_val_ids, dataset.meta.get("id_groups") or [], seed)

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


def _held_out(pids: List[int], n: int, groups: List[List[int]], seed: int) -> set:
    """``n`` training ids drawn at random, a group of ids counting as one draw (the last may overshoot by
    the group's size minus one)."""
    grouped = {p for g in groups for p in g}
    units = [list(g) for g in groups] + [[p] for p in pids if p not in grouped]
    rng = random.Random(seed)
    if not groups:  # the draw every split made before groups existed
        return set(rng.sample(pids, n))
    rng.shuffle(units)
    out: set = set()
    for unit in units:
        if len(out) >= n:
            break
        out.update(unit)
    return out
