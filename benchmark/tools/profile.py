"""``benchmark profile loaders``: clips/s of our loaders against the classic per-frame yardstick.

The yardstick is the usual video re-id input pipeline (CAL's reference code and
most of its relatives), implemented here from that description: per clip, each of
its frames is a JPEG opened with PIL, ``.convert("RGB")``, resized bicubic to
HxW, turned into a tensor with ``torchvision.transforms.functional.to_tensor`` and
normalised with the ImageNet mean and std frame by frame; the frames are stacked.

Ours delivers the same clips (same frame indices, same size) as normalised float
(B, 3, T, H, W) batches ready for the model, through the datasets the harness
uses: ``TrainClips`` (one random clip per training video) and ``WholeVideos``
(a test video tiled into clips, decoded block by block), from frame folders
(PIL) and from packed videos (decord), then :func:`normalize_clips` on the batch.
Each backend x mode is timed over the same clips as the yardstick, and the PSNR
of ours against the yardstick's output (denormalised to 0..255) is reported.
Training clips are read unflipped here (the flip is a free view either way).

``--threads N`` sets torch's threads and a pool of N loader threads over items.
On a machine whose cores are busy with other work, torch's OpenMP threads spin
and both pipelines slow down (the per-frame yardstick, with many tiny tensor
operations, by up to 30x): measure with ``--threads 1`` or
``OMP_WAIT_POLICY=PASSIVE`` there.

``benchmark profile train`` is :mod:`.profile_train`.
"""
from __future__ import annotations

import logging
import math
import os
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Callable, Dict, Iterator, List, Optional, Sequence, Tuple

import numpy as np
import torch

from ccvid.progress import bar
from ccvid.datasets.ccvid import read_ccvid
from ccvid.records import DatasetError, Tracklet
from samplers.clips import tile_clip_indices
from samplers.datasets import IMAGENET_MEAN, IMAGENET_STD, TrainClips, WholeVideos, collate_videos, normalize_clips

Size = Tuple[int, int]
log = logging.getLogger(__name__)


def yardstick_clip(paths: Sequence[str], size: Size) -> torch.Tensor:
    """The per-frame pipeline: PIL open, RGB, bicubic resize, to_tensor, normalize; stacked as (3, T, H, W)."""
    import torchvision.transforms.functional as TF
    from PIL import Image

    frames = []
    for p in paths:
        img = Image.open(p).convert("RGB")
        img = img.resize((size[1], size[0]), Image.BICUBIC)
        frames.append(TF.normalize(TF.to_tensor(img), IMAGENET_MEAN, IMAGENET_STD))
    return torch.stack(frames, 0).permute(1, 0, 2, 3)


def _pixels(x: torch.Tensor) -> torch.Tensor:
    """Normalised (..., 3, T, H, W) back to 0..255 floats."""
    m = torch.tensor(IMAGENET_MEAN, dtype=torch.float64).view(3, 1, 1, 1)
    s = torch.tensor(IMAGENET_STD, dtype=torch.float64).view(3, 1, 1, 1)
    return (x.double() * s + m) * 255.0


def psnr(ours: Sequence[torch.Tensor], ref: Sequence[torch.Tensor]) -> float:
    """PSNR (dB, peak 255) over all pixels of two lists of normalised clips; 99 when identical."""
    se, n = 0.0, 0
    for a, b in zip(ours, ref):
        if a.shape != b.shape:
            raise ValueError(f"clip shapes differ: {tuple(a.shape)} vs {tuple(b.shape)}")
        d = _pixels(a) - _pixels(b)
        se += float((d * d).sum())
        n += d.numel()
    mse = se / max(1, n)
    return 99.0 if mse == 0 else min(99.0, 10 * math.log10(255.0 ** 2 / mse))


def _items(get: Callable[[int], object], indices: Sequence[int], pool: Optional[ThreadPoolExecutor]) -> Iterator:
    return pool.map(get, indices) if pool is not None else map(get, indices)


class _Buffers:
    """Reused normalised-batch buffers (a fresh buffer of ~100 MB costs as much in page faults as the maths)."""

    def __init__(self):
        self.buf: Optional[torch.Tensor] = None

    def normalize(self, clips: torch.Tensor) -> torch.Tensor:
        shape = (clips.shape[0], 3) + tuple(clips.shape[1:4])
        if self.buf is None or self.buf.numel() < math.prod(shape):
            self.buf = torch.empty(math.prod(shape), dtype=torch.float32)
        return normalize_clips(clips, out=self.buf[:math.prod(shape)].view(shape))


def run_train(ds: TrainClips, picks: Sequence[int], batch: int, pool, keep: int = 0) -> Tuple[int, List[torch.Tensor]]:
    """Our training path: items -> uint8 batches -> normalised batches. Returns (clips, first ``keep`` clips)."""
    bufs, kept, n = _Buffers(), [], 0
    for start in range(0, len(picks), batch):
        items = list(_items(ds.__getitem__, picks[start:start + batch], pool))
        x = bufs.normalize(torch.stack([c for c, *_ in items]))
        n += x.shape[0]
        for c in x[:max(0, keep - len(kept))]:
            kept.append(c.clone())
    return n, kept


def run_test(ds: WholeVideos, batch: int, pool, keep: int = 0) -> Tuple[int, List[torch.Tensor]]:
    """Our test path: whole videos -> clips of several videos per batch -> normalised batches."""
    bufs, kept, n, pending, count = _Buffers(), [], 0, [], 0

    def flush():
        nonlocal n, pending, count
        clips, _ = collate_videos(pending)
        x = bufs.normalize(clips)
        n += x.shape[0]
        for c in x[:max(0, keep - len(kept))]:
            kept.append(c.clone())
        pending, count = [], 0

    for item in _items(ds.__getitem__, range(len(ds)), pool):
        pending.append(item)
        count += len(item[0])
        if count >= batch:
            flush()
    if pending:
        flush()
    return n, kept


def _frame_paths(t: Tracklet, idx: Sequence[int]) -> List[str]:
    return [os.path.join(t.source, t.frames[i]) for i in idx]


def _video_twins(frames: Dict[str, List[Tracklet]], data_root: str, video_root: Optional[str],
                 work: str) -> Tuple[Dict[str, List[Tracklet]], str]:
    """The same tracklets as packed videos: from ``video_root``, or packed now with the default settings."""
    if video_root:
        return _videos_of_pack(frames, data_root, video_root), f"videos from {video_root}"
    from .pack import PackSettings, pack_tracklet

    settings = PackSettings()
    out = {}
    jobs = []
    for split in ("train", "test"):
        out[split] = []
        for k, t in enumerate(frames[split]):
            path = os.path.join(work, split, f"{k:05d}.mp4")
            jobs.append((t, path, settings, False))
            out[split].append(Tracklet(path, t.pid, t.camid, t.clothes))
    for job in bar(jobs, desc="pack sample", unit="video"):
        pack_tracklet(job)
    return out, (f"{len(jobs)} tracklets packed now ({settings.pix_fmt}, GOP {settings.gop}, CRF {settings.crf:g}, "
                 f"preset {settings.preset})")


def _videos_of_pack(frames: Dict[str, List[Tracklet]], data_root: str, video_root: str) -> Dict[str, List[Tracklet]]:
    """The video in the pack ``video_root`` of every sampled frame-folder tracklet of ``data_root``."""
    vdata = read_ccvid(video_root, backend="video")
    out = {}
    for split in ("train", "test"):
        vids = vdata.train if split == "train" else vdata.query + vdata.gallery
        by_rel = {_rel(v.source, video_root): v for v in vids}
        out[split] = []
        for t in frames[split]:
            rel = _rel(t.source, data_root)
            if rel not in by_rel:
                raise DatasetError(f"{video_root}: no video for tracklet {rel!r} of {data_root}")
            out[split].append(by_rel[rel])
    return out


def _rel(source: str, root: str) -> str:
    rel = os.path.relpath(source, root).replace(os.sep, "/")
    if rel.startswith("videos/"):
        rel = rel[len("videos/"):]
    return os.path.splitext(rel)[0] if rel.lower().endswith((".mp4", ".avi", ".mkv", ".webm", ".mov")) else rel


def _sample(data, clips: int, seq_len: int, stride: int, rng: np.random.Generator) -> Tuple[list, list]:
    """Training tracklets (one random clip each, cycled if there are fewer than ``clips``) and whole test
    videos, enough of them to give at least ``clips`` test clips."""
    train_pool = [data.train[k] for k in rng.permutation(len(data.train))[:clips]]
    test_pool, n_test = [], 0
    for k in rng.permutation(len(data.query) + len(data.gallery)):
        if n_test >= clips:
            break
        t = (data.query + data.gallery)[k]
        test_pool.append(t)
        n_test += len(tile_clip_indices(t.num_frames, seq_len, stride))
    return train_pool, test_pool


def _loader_sets(pools: Dict[str, List[Tracklet]], videos: Dict[str, List[Tracklet]], size: Size, seq_len: int,
                 stride: int, seed: int) -> Dict[Tuple[str, str], object]:
    """Our datasets per (backend, mode), in the order they are warmed up and timed."""
    return {
        ("frames", "train"): TrainClips(pools["train"], size, seq_len, stride, flip=False, seed=seed),
        ("video", "train"): TrainClips(videos["train"], size, seq_len, stride, flip=False, seed=seed),
        ("frames", "test"): WholeVideos(pools["test"], size, seq_len, stride),
        ("video", "test"): WholeVideos(videos["test"], size, seq_len, stride),
    }


def _warm_up(sets, train_idx, picks: List[int], size: Size, batch: int, pool) -> None:
    """Imports, thread pools and the file cache, before anything is timed."""
    for t, idx in train_idx[:2]:
        yardstick_clip(_frame_paths(t, idx), size)
    for key, ds in sets.items():
        if key[1] == "train":
            run_train(ds, picks[:min(len(picks), batch)], batch, pool)
        else:
            run_test(WholeVideos(ds.tracklets[:2], size, ds.seq_len, ds.stride), batch, pool)


def _timed(fn: Callable, *args) -> Tuple[float, object]:
    """(seconds, result) of ``fn(*args)``."""
    t0 = time.perf_counter()
    out = fn(*args)
    return time.perf_counter() - t0, out


def _yardstick_clips(idx: Sequence[Tuple[Tracklet, Sequence[int]]], size: Size) -> List[torch.Tensor]:
    """The yardstick's clip of each (tracklet, frame indices)."""
    return [yardstick_clip(_frame_paths(t, i), size) for t, i in idx]


def _ours(ds, mode: str, picks: List[int], batch: int, pool, keep: int) -> Tuple[int, List[torch.Tensor]]:
    """One timed pass of our pipeline ``ds`` (:func:`run_train` or :func:`run_test`)."""
    return run_train(ds, picks, batch, pool, keep) if mode == "train" else run_test(ds, batch, pool, keep)


def _time_passes(sets, clip_idx: Dict[str, list], picks: List[int], size: Size, batch: int, pool, keep: int,
                 threads: int, repeats: int) -> Tuple[dict, dict, dict]:
    """Best seconds, first ``keep`` clips and clip counts per (backend, mode), the yardstick as backend "yardstick".

    Every pipeline runs ``repeats`` times, interleaved with the others, and keeps its best time, so
    that a burst of load on a shared machine does not favour one side of a ratio.
    """
    best: Dict[Tuple[str, str], float] = {}
    kept: Dict[Tuple[str, str], List[torch.Tensor]] = {}
    counts: Dict[Tuple[str, str], int] = {}
    for _ in range(repeats):
        for mode, idx in clip_idx.items():
            secs, clips_ref = _timed(_yardstick_clips, idx, size)
            key = ("yardstick", mode)
            best[key] = min(best.get(key, float("inf")), secs)
            kept[key], counts[key] = clips_ref[:keep], len(idx)
            del clips_ref
        # ours spends the thread budget on the loader pool (decode + resize of several videos at
        # once) and keeps torch's own pool to one thread, so the two do not oversubscribe the cores
        torch.set_num_threads(1 if pool is not None else threads)
        for (backend, mode), ds in sets.items():
            secs, (n, ours) = _timed(_ours, ds, mode, picks, batch, pool, keep)
            best[(backend, mode)] = min(best.get((backend, mode), float("inf")), secs)
            kept[(backend, mode)], counts[(backend, mode)] = ours, n
        torch.set_num_threads(threads)
    return best, kept, counts


def _rows(best: dict, kept: dict, counts: dict) -> List[Dict[str, object]]:
    """One row per pipeline and mode, in the printed order: training, then test; in each the yardstick,
    then ours from frame folders, then ours from packed videos."""
    rows: List[Dict[str, object]] = []
    for mode in ("train", "test"):
        ref_rate = counts[("yardstick", mode)] / best[("yardstick", mode)]
        rows.append({"backend": "JPEG folders", "mode": mode, "pipeline": "yardstick (PIL per frame)",
                     "clips": counts[("yardstick", mode)], "clips_per_s": ref_rate, "x_yardstick": 1.0,
                     "psnr_db": None})
        for backend in ("frames", "video"):
            rate = counts[(backend, mode)] / best[(backend, mode)]
            rows.append({"backend": "JPEG folders" if backend == "frames" else "packed video",
                         "mode": mode, "pipeline": ("TrainClips" if mode == "train" else "WholeVideos")
                         + (" + PIL" if backend == "frames" else " + decord") + " + normalize_clips",
                         "clips": counts[(backend, mode)], "clips_per_s": rate, "x_yardstick": rate / ref_rate,
                         "psnr_db": psnr(kept[(backend, mode)], kept[("yardstick", mode)])})
    return rows


def profile_loaders(data_root: Optional[str] = None, video_root: Optional[str] = None, clips: int = 256,
                    size: Size = (256, 128), threads: int = 2, batch: int = 32, seq_len: int = 8, stride: int = 4,
                    psnr_clips: int = 32, seed: int = 0,
                    repeats: int = 3) -> Dict[str, object]:
    """Time yardstick and ours per (backend, mode) over the same ``clips`` clips; see the module docstring."""
    if clips < 1:
        raise ValueError("clips must be at least 1")
    if data_root is None:
        from ccvid.datasets.embedded import embedded_root
        data_root = embedded_root()
    data = read_ccvid(data_root, backend="frames")
    train_pool, test_pool = _sample(data, clips, seq_len, stride, np.random.default_rng(seed))
    if not train_pool or not test_pool:
        raise DatasetError(f"{data_root}: needs training and test tracklets to profile")
    pools = {"train": train_pool, "test": test_pool}

    old_threads = torch.get_num_threads()
    torch.set_num_threads(threads)
    pool = ThreadPoolExecutor(threads, thread_name_prefix="loader") if threads > 1 else None
    try:
        with tempfile.TemporaryDirectory(prefix="ccreid-profile-") as work:
            videos, video_note = _video_twins(pools, data_root, video_root, work)
            sets = _loader_sets(pools, videos, size, seq_len, stride, seed)
            ftrain, vtrain = sets[("frames", "train")], sets[("video", "train")]
            if [(s, e) for _, s, e in ftrain.items] != [(s, e) for _, s, e in vtrain.items]:
                raise DatasetError(f"{video_note}: videos and frame folders differ in length")
            picks = [k % len(ftrain) for k in range(clips)]
            clip_idx = {"train": [ftrain.clip_indices(k)[:2] for k in picks],
                        "test": [(t, c) for t in test_pool for c in tile_clip_indices(t.num_frames, seq_len, stride)]}
            _warm_up(sets, clip_idx["train"], picks, size, batch, pool)
            timing = _time_passes(sets, clip_idx, picks, size, batch, pool, min(psnr_clips, clips), threads, repeats)
            rows = _rows(*timing)
    finally:
        torch.set_num_threads(old_threads)
        if pool is not None:
            pool.shutdown()
    return {"rows": rows, "data_root": data_root, "video": video_note, "size": size, "threads": threads,
            "batch": batch, "train_clips": len(clip_idx["train"]), "test_clips": len(clip_idx["test"]),
            "test_videos": len(test_pool), "repeats": repeats}


def format_profile(result: Dict[str, object]) -> str:
    from tabulate import tabulate

    rows = [[r["backend"], r["mode"], r["pipeline"], f"{r['clips_per_s']:,.1f}", f"{r['x_yardstick']:.2f}",
             "-" if r["psnr_db"] is None else f"{r['psnr_db']:.1f}"] for r in result["rows"]]
    h, w = result["size"]
    head = (f"data {result['data_root']}; {result['video']}\n"
            f"{result['train_clips']} training clips, {result['test_clips']} test clips "
            f"({result['test_videos']} whole videos), 8 frames at {h}x{w}; torch threads {result['threads']}, "
            f"{result['threads']} loader thread(s), batches of {result['batch']} clips; best of "
            f"{result['repeats']} interleaved passes")
    table = tabulate(rows, headers=["backend", "mode", "pipeline", "clips/s", "x yardstick", "PSNR dB"],
                     tablefmt="github", disable_numparse=True)
    return head + "\n" + table + "\nPSNR: ours against the yardstick's output, in 0..255 pixel units"
