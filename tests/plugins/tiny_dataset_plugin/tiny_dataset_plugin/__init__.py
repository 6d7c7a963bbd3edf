"""A video dataset in a layout of its own, registered from outside the suite.

Layout: ``<root>/<split>/<pid>_<camera>_<outfit>/<frame>.jpg`` for the splits ``train``, ``query`` and
``gallery``. Importing this module (the entry point does) registers it as ``tinyset``.
"""
import os

from ccvid import DatasetError, ReIDDataset, Tracklet, register_dataset
from ccvid.records import build_pid2clothes


def _split(root, split):
    folder = os.path.join(root, split)
    if not os.path.isdir(folder):
        raise DatasetError(f"{folder}: tinyset split folder not found")
    rows = []
    for name in sorted(os.listdir(folder)):
        pid, cam, outfit = name.split("_")
        frames = tuple(sorted(os.listdir(os.path.join(folder, name))))
        rows.append((os.path.join(folder, name), int(pid), int(cam), f"{pid}_{outfit}", frames))
    return rows


@register_dataset("tinyset", kind="video", protocols=("general", "cc", "sc"),
                  description="a test plugin's videos; root = <split>/<pid>_<camera>_<outfit>/<frame>.jpg")
def read_tinyset(root, backend="auto"):
    train, query, gallery = (_split(root, s) for s in ("train", "query", "gallery"))
    pids = {p: i for i, p in enumerate(sorted({r[1] for r in train}))}
    outfits = {c: i for i, c in enumerate(sorted({r[3] for r in train}))}
    test_outfits = {c: i for i, c in enumerate(sorted({r[3] for r in query + gallery}))}

    def tracklets(rows, pid_of, clothes_of):
        return [Tracklet(source=src, pid=pid_of(pid), camid=cam, clothes=clothes_of[c], frames=frames,
                         num_frames=len(frames)) for src, pid, cam, c, frames in rows]

    out_train = tracklets(train, pids.__getitem__, outfits)
    return ReIDDataset(name="tinyset", train=out_train, query=tracklets(query, int, test_outfits),
                       gallery=tracklets(gallery, int, test_outfits), num_train_pids=len(pids),
                       num_train_clothes=len(outfits),
                       pid2clothes=build_pid2clothes(out_train, len(pids), len(outfits)), root=root)
