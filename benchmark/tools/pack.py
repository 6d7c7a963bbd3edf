"""``benchmark pack``: a CCVID-layout dataset of frame folders -> one H.264 video per tracklet.

``DST/<tracklet path>.mp4`` (the layout ``read_ccvid(DST, backend="video")`` reads),
the three annotation files copied, and ``pack.json`` (settings, counts, PSNR).
Frames are encoded with PyAV/libx264, no B-frames, a fixed GOP (one keyframe every
``gop`` frames, so a random clip decodes at most ``gop - 1`` frames it does not
use), constant quality ``crf``, 4:4:4 chroma by default. Frames of one tracklet
with different sizes are resized (bicubic) to the largest height and width among
them; 4:2:0 pads odd sizes by repeating the last row / column; greyscale, palette
and CMYK frames are converted to RGB.

Every video is written to a hidden ``.partial`` file and renamed into place, so an
interrupted pack keeps every finished video and a second run skips them; the
annotation files are copied last, so a partial pack is never read as complete. They
and ``pack.json`` are written whole or not at all (:func:`ccvid.files.write_atomically`).

Choosing the defaults (``benchmark pack --data-root SRC --measure``): on a sample
of tracklets, every (chroma, GOP, CRF) is encoded and reports bytes on disk, PSNR
of the decoded frames (decord, what the loaders read) against the source JPEGs,
and the time of a random 8-frame stride-4 training clip read through decord at
the stored size against reading the same 8 JPEGs with PIL. Rule (:func:`choose`):
mean PSNR >= 35 dB and no frame under 34 dB; then the smallest file among those
reading a random clip no slower than the JPEGs, or, when none does, among those
within 10% of the fastest.

Measured with ``measure()`` on the embedded dataset (64x32 frames), preset veryfast,
torch threads 1, on 2 CPU cores *under load* (a training job ran alongside: timings
are inflated and noisy; each clip time is the mean over 100 random clips, best of 3
interleaved rounds). 24 tracklets of 32 frames; JPEG: 2,149 bytes/frame, random
8-frame clip 1.40 ms:

    | chroma  | GOP | CRF | bytes/frame | x JPEG size | PSNR mean | PSNR min | clip ms | x JPEG time | encode ms/frame |
    |---------|-----|-----|-------------|-------------|-----------|----------|---------|-------------|-----------------|
    | yuv444p | 4   | 6   | 1,317       | 0.61        | 40.88     | 37.97    | 7.95    | 5.66        | 0.38            |
    | yuv444p | 4   | 8   | 1,150       | 0.54        | 39.48     | 36.54    | 7.77    | 5.53        | 0.32            |
    | yuv444p | 4   | 10  | 993         | 0.46        | 38.09     | 35.18    | 7.27    | 5.18        | 0.34            |
    | yuv444p | 4   | 12  | 845         | 0.39        | 36.62     | 33.62    | 6.80    | 4.84        | 0.39            |
    | yuv444p | 4   | 14  | 710         | 0.33        | 35.13     | 32.16    | 6.48    | 4.61        | 0.35            |
    | yuv444p | 8   | 6   | 1,278       | 0.59        | 40.50     | 37.89    | 7.61    | 5.42        | 0.38            |
    | yuv444p | 8   | 8   | 1,114       | 0.52        | 39.16     | 36.43    | 7.36    | 5.24        | 0.38            |
    | yuv444p | 8   | 10  | 953         | 0.44        | 37.76     | 34.82    | 6.96    | 4.96        | 0.35            |
    | yuv444p | 8   | 12  | 808         | 0.38        | 36.26     | 33.13    | 6.85    | 4.88        | 0.35            |
    | yuv444p | 8   | 14  | 676         | 0.31        | 34.79     | 31.81    | 7.22    | 5.14        | 0.30            |
    | yuv444p | 16  | 6   | 1,254       | 0.58        | 40.25     | 37.56    | 7.21    | 5.14        | 0.35            |
    | yuv444p | 16  | 8   | 1,089       | 0.51        | 38.91     | 36.31    | 6.78    | 4.83        | 0.34            |
    | yuv444p | 16  | 10  | 928         | 0.43        | 37.53     | 34.78    | 6.60    | 4.70        | 0.36            |
    | yuv444p | 16  | 12  | 785         | 0.37        | 36.02     | 33.15    | 6.32    | 4.50        | 0.29            |
    | yuv444p | 16  | 14  | 654         | 0.30        | 34.52     | 31.90    | 5.83    | 4.16        | 0.28            |
    | yuv444p | 32  | 6   | 1,242       | 0.58        | 40.09     | 37.77    | 6.81    | 4.85        | 0.33            |
    | yuv444p | 32  | 8   | 1,075       | 0.50        | 38.77     | 36.47    | 6.22    | 4.43        | 0.31            |
    | yuv444p | 32  | 10  | 915         | 0.43        | 37.39     | 34.78    | 6.86    | 4.89        | 0.32            |
    | yuv444p | 32  | 12  | 774         | 0.36        | 35.88     | 33.15    | 5.54    | 3.95        | 0.29            |
    | yuv444p | 32  | 14  | 643         | 0.30        | 34.35     | 31.90    | 6.25    | 4.45        | 0.28            |

4:2:0 chroma never reaches 35 dB here (best mean 32.72 dB at CRF 6, frame minimum
~27.7 dB: the 1-2 px colour details of clothes are smeared), so 4:4:4 it is. The
same with 4 tracklets joined into each video (``join=4``: 12 videos of 128 frames);
JPEG: 2,142 bytes/frame, random 8-frame clip 1.22 ms:

    | chroma  | GOP | CRF | bytes/frame | x JPEG size | PSNR mean | PSNR min | clip ms | x JPEG time | encode ms/frame |
    |---------|-----|-----|-------------|-------------|-----------|----------|---------|-------------|-----------------|
    | yuv444p | 4   | 6   | 1,307       | 0.61        | 40.89     | 37.85    | 14.39   | 11.75       | 0.46            |
    | yuv444p | 4   | 8   | 1,139       | 0.53        | 39.49     | 36.60    | 14.95   | 12.21       | 0.33            |
    | yuv444p | 4   | 10  | 980         | 0.46        | 38.08     | 35.24    | 17.48   | 14.27       | 0.32            |
    | yuv444p | 4   | 12  | 834         | 0.39        | 36.64     | 33.49    | 19.71   | 16.10       | 0.22            |
    | yuv444p | 4   | 14  | 697         | 0.33        | 35.16     | 32.08    | 16.64   | 13.59       | 0.21            |
    | yuv444p | 8   | 6   | 1,263       | 0.59        | 40.45     | 37.61    | 10.30   | 8.41        | 0.26            |
    | yuv444p | 8   | 8   | 1,095       | 0.51        | 39.09     | 36.35    | 10.72   | 8.76        | 0.24            |
    | yuv444p | 8   | 10  | 936         | 0.44        | 37.67     | 35.14    | 12.24   | 10.00       | 0.23            |
    | yuv444p | 8   | 12  | 792         | 0.37        | 36.22     | 33.62    | 10.56   | 8.63        | 0.30            |
    | yuv444p | 8   | 14  | 657         | 0.31        | 34.71     | 32.01    | 10.92   | 8.92        | 0.29            |
    | yuv444p | 16  | 6   | 1,240       | 0.58        | 40.18     | 37.56    | 9.63    | 7.86        | 0.35            |
    | yuv444p | 16  | 8   | 1,071       | 0.50        | 38.83     | 36.38    | 9.63    | 7.86        | 0.25            |
    | yuv444p | 16  | 10  | 912         | 0.43        | 37.44     | 34.74    | 8.57    | 7.00        | 0.23            |
    | yuv444p | 16  | 12  | 769         | 0.36        | 35.97     | 33.54    | 8.53    | 6.97        | 0.23            |
    | yuv444p | 16  | 14  | 635         | 0.30        | 34.44     | 31.97    | 8.22    | 6.71        | 0.24            |
    | yuv444p | 32  | 6   | 1,228       | 0.57        | 40.03     | 37.66    | 9.53    | 7.78        | 0.27            |
    | yuv444p | 32  | 8   | 1,059       | 0.49        | 38.68     | 36.43    | 10.94   | 8.93        | 0.25            |
    | yuv444p | 32  | 10  | 899         | 0.42        | 37.31     | 34.95    | 8.07    | 6.59        | 0.24            |
    | yuv444p | 32  | 12  | 757         | 0.35        | 35.83     | 33.57    | 7.68    | 6.27        | 0.22            |
    | yuv444p | 32  | 14  | 623         | 0.29        | 34.28     | 31.90    | 7.47    | 6.10        | 0.21            |

Reading: CRF 10 is the highest CRF whose mean PSNR stays >= 35 dB with no frame
under ~34.7 dB (CRF 12 averages 36 dB but drops frames to 33 dB); it halves
the bytes of the JPEGs (0.43x). No setting reads a random clip as fast as 8
JPEGs at this size: a 64x32 JPEG decodes in ~0.15 ms, while decord pays ~1 ms to
open a file plus ~0.1-0.2 ms per decoded H.264 frame (and each seek), so the
speed rule falls back to "within 10% of the fastest": GOP 16 (picked on the
32-frame videos) and GOP 32 (on the 128-frame ones) are the fastest, GOP 4-8 pay
for their extra seeks. Default: **yuv444p, GOP 16, CRF 10** -- GOP 16 rather than
32 because every embedded video is only 32 frames long (GOP 32 is one keyframe per
video there) and on longer videos a random clip decodes up to GOP - 1 unused
frames. At training size the video path still competes with the yardstick
(``benchmark profile loaders``), since resizing and normalising cost the same
whichever way the frames were stored.

The embedded frames carry per-pixel sensor noise, which H.264 keeps only at low
CRF; natural CCVID crops compress far better and are larger (the per-file costs
weigh less), so run ``--measure`` on the real data before packing it.
"""
from __future__ import annotations

import contextlib
import functools
import json
import multiprocessing as mp
import os
import shutil
import time
from dataclasses import asdict, dataclass
from typing import Dict, Iterable, List, Optional, Sequence, Tuple

import numpy as np

from ccvid.datasets.ccvid import SPLIT_FILES, read_ccvid
from ccvid.files import write_atomically
from ccvid.progress import bar
from ccvid.records import DatasetError, Tracklet, open_image

DEFAULT_GOP = 16
DEFAULT_CRF = 10
DEFAULT_PIX_FMT = "yuv444p"
PIX_FMTS = ("yuv444p", "yuv420p")
PRESET = "veryfast"
MANIFEST = "pack.json"
PACK_FORMAT = "ccreid-pack"
PSNR_CAP = 99.0  # identical frames


class PackError(DatasetError):
    """A pack cannot start or continue (DST is not a pack, settings differ ...)."""


@dataclass(frozen=True)
class PackSettings:
    gop: int = DEFAULT_GOP
    crf: float = DEFAULT_CRF
    pix_fmt: str = DEFAULT_PIX_FMT
    preset: str = PRESET

    def __post_init__(self):
        if self.gop < 1:
            raise PackError(f"--gop must be at least 1, got {self.gop}")
        if not 0 <= self.crf <= 51:
            raise PackError(f"--crf must lie in [0, 51], got {self.crf}")
        if self.pix_fmt not in PIX_FMTS:
            raise PackError(f"--pix-fmt must be one of {PIX_FMTS}, got {self.pix_fmt!r}")


# ----------------------------------------------------------------------------- frames in, video out
def load_frames(t: Tracklet) -> np.ndarray:
    """All frames of a folder tracklet as uint8 (T, H, W, 3) at the largest height and width among them."""
    from samplers.readers import _decode_image, resize_frames

    paths = _frame_files(t)
    sizes = []
    for p in paths:
        with open_image(p) as im:
            sizes.append((im.height, im.width))
    h, w = max(s[0] for s in sizes), max(s[1] for s in sizes)
    out = np.empty((len(paths), h, w, 3), dtype=np.uint8)
    for k, p in enumerate(paths):
        a = _decode_image(p)
        out[k] = a if a.shape[:2] == (h, w) else resize_frames(a[None], (h, w))[0]
    return out


def encodable(frames: np.ndarray, pix_fmt: str) -> np.ndarray:
    """4:2:0 needs even sizes: repeat the last row / column (4:4:4 takes any size)."""
    if pix_fmt == "yuv420p" and (frames.shape[1] % 2 or frames.shape[2] % 2):
        frames = np.pad(frames, ((0, 0), (0, frames.shape[1] % 2), (0, frames.shape[2] % 2), (0, 0)), mode="edge")
    return frames


def encode_video(frames: np.ndarray, path: str, settings: PackSettings, fps: int = 25) -> None:
    """H.264 in MP4: fixed GOP, no B-frames, constant quality, one thread (workers run in parallel)."""
    import av

    frames = encodable(frames, settings.pix_fmt)
    g = settings.gop
    with av.open(path, "w", format="mp4") as out:
        st = out.add_stream("libx264", rate=fps)
        st.width, st.height, st.pix_fmt = frames.shape[2], frames.shape[1], settings.pix_fmt
        st.codec_context.thread_count = 1
        st.options = {"crf": f"{settings.crf:g}", "preset": settings.preset, "threads": "1",
                      "x264-params": f"keyint={g}:min-keyint={g}:scenecut=0:bframes=0"}
        for fr in frames:
            out.mux(st.encode(av.VideoFrame.from_ndarray(np.ascontiguousarray(fr), format="rgb24")))
        out.mux(st.encode())


def decode_video(path: str, shape: Tuple[int, int]) -> np.ndarray:
    """Every frame of a video as the loaders see it (decord), at ``shape`` (H, W)."""
    from samplers.readers import VideoFileReader

    t = Tracklet(path, 0, 0, 0)
    r = VideoFileReader()
    with r.open(t, shape) as h:
        return h.read(list(range(len(h))))


def frame_psnr(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """PSNR (dB, peak 255) of each frame of two uint8 (T, H, W, 3) arrays; identical frames get PSNR_CAP."""
    d = a.astype(np.float64) - b.astype(np.float64)
    mse = (d * d).reshape(len(a), -1).mean(axis=1)
    with np.errstate(divide="ignore"):
        return np.minimum(PSNR_CAP, 10 * np.log10(255.0 ** 2 / mse))


def _disk_bytes(path: str) -> int:
    st = os.stat(path)
    return getattr(st, "st_blocks", 0) * 512 or st.st_size


def _frame_files(t: Tracklet) -> List[str]:
    """The JPEG paths of a folder tracklet, in frame order."""
    return [os.path.join(t.source, f) for f in t.frames]


def _partial(final: str) -> str:
    d, name = os.path.split(final)
    return os.path.join(d, f".{name}.partial")


def _decoded_like(path: str, frames: np.ndarray, pix_fmt: str) -> np.ndarray:
    """The video at ``path`` decoded at its stored size and cropped to the size of ``frames`` (4:2:0 pads odd sizes)."""
    decoded = decode_video(path, encodable(frames[:1], pix_fmt).shape[1:3])
    return decoded[:, :frames.shape[1], :frames.shape[2]]


def pack_tracklet(job) -> Dict[str, object]:
    """Encode one tracklet to ``final`` atomically; return counts, sizes and per-frame PSNR.

    The video is encoded to a fixed hidden ``.partial`` name beside ``final`` (the encoder and
    the decoder of the check both need a path) and renamed only once it has passed the check: a
    killed pack leaves at most that one file, which the next run overwrites.
    """
    t, final, settings, check = job
    frames = load_frames(t)
    os.makedirs(os.path.dirname(final), exist_ok=True)
    tmp = _partial(final)
    try:
        encode_video(frames, tmp, settings)
        psnr = None
        if check:
            decoded = _decoded_like(tmp, frames, settings.pix_fmt)
            if len(decoded) != len(frames):
                raise DatasetError(f"{final}: decoded {len(decoded)} frames, packed {len(frames)}")
            psnr = frame_psnr(decoded, frames).tolist()
        os.replace(tmp, final)
    except BaseException:
        with contextlib.suppress(OSError):
            os.remove(tmp)
        raise
    src = _frame_files(t)
    return {"frames": len(frames), "src_bytes": sum(os.path.getsize(p) for p in src),
            "src_disk": sum(_disk_bytes(p) for p in src), "out_bytes": os.path.getsize(final),
            "out_disk": _disk_bytes(final), "psnr": psnr}


# ----------------------------------------------------------------------------- the dataset
def source_tracklets(src: str) -> List[Tuple[str, Tracklet]]:
    """(tracklet path as annotated, frame-folder tracklet) of every distinct tracklet of a CCVID-layout folder."""
    data = read_ccvid(src, backend="frames")
    seen: Dict[str, Tracklet] = {}
    for t in data.train + data.query + data.gallery:
        rel = os.path.relpath(t.source, src).replace(os.sep, "/")
        seen.setdefault(rel, t)
    return list(seen.items())


def _video_path(dst: str, rel: str) -> str:
    """Where the video of the tracklet annotated as ``rel`` lies in DST (the layout the video backend reads)."""
    return os.path.join(dst, *rel.split("/")) + ".mp4"


def _read_manifest(dst: str) -> Optional[dict]:
    path = os.path.join(dst, MANIFEST)
    if not os.path.isfile(path):
        return None
    try:
        with open(path) as f:
            m = json.load(f)
    except (OSError, ValueError) as e:
        raise PackError(f"{path}: unreadable pack manifest ({e})") from None
    if not isinstance(m, dict) or m.get("format") != PACK_FORMAT:
        raise PackError(f"{path}: not a pack manifest")
    return m


def _write_json(path: str, obj: dict) -> None:
    write_atomically(path, lambda f: f.write((json.dumps(obj, indent=2) + "\n").encode()))


def _file_above(path: str) -> Optional[str]:
    """The nearest existing folder-or-file above ``path`` when it is a file (nothing can be made below it)."""
    head = os.path.normpath(path)
    while head != os.path.dirname(head):
        head = os.path.dirname(head)
        if os.path.exists(head):
            return None if os.path.isdir(head) else head
    return None


def _create_dst(dst: str, manifest: dict) -> None:
    """Make DST and write its first manifest, or say in one line why that cannot be done.

    This is the first write of a pack: a DST below a file or on a filesystem that takes no new
    folder (``/proc``, a read-only mount) is a user's error, caught here before any video is encoded.
    """
    try:
        os.makedirs(dst, exist_ok=True)
        _write_json(os.path.join(dst, MANIFEST), manifest)
    except OSError as e:
        above = _file_above(dst)
        why = f"{above} is a file, not a folder" if above else (e.strerror or str(e))
        raise PackError(f"{dst}: cannot create the --out folder or write in it ({why})") from None


def _prepare_dst(src: str, dst: str, settings: PackSettings) -> dict:
    """Create DST (or check it is an unfinished or finished pack with the same settings); return the manifest."""
    manifest = {"format": PACK_FORMAT, "version": 1, "source": os.path.abspath(src), **asdict(settings),
                "complete": False}
    if os.path.exists(dst):
        if not os.path.isdir(dst):
            raise PackError(f"{dst}: exists and is not a folder")
        old = _read_manifest(dst)
        if old is None:
            if os.listdir(dst):
                raise PackError(f"{dst}: exists, is not empty and is not a pack (no {MANIFEST}); "
                                f"choose a new --out")
        else:
            mine = {k: old.get(k) for k in asdict(settings)}
            if mine != asdict(settings):
                raise PackError(f"{dst}: an existing pack made with {mine}; rerun with those settings "
                                f"to resume it, or choose a new --out")
            manifest = dict(old, complete=old.get("complete", False))
    _create_dst(dst, manifest)
    return manifest


def _pool(workers: int):
    if workers <= 1:
        return None
    return mp.get_context("fork" if "fork" in mp.get_all_start_methods() else "spawn").Pool(workers)


def _encode_all(todo: List[tuple], workers: int) -> List[Dict[str, object]]:
    """:func:`pack_tracklet` of every job (in a process pool when ``workers`` > 1), in the order they finish."""
    pool = _pool(min(workers, len(todo)))  # started before the progress bar's monitor thread exists
    with pool or contextlib.nullcontext():
        done = pool.imap_unordered(pack_tracklet, todo) if pool else map(pack_tracklet, todo)
        return list(bar(done, total=len(todo), desc="pack", unit="video", leave=True))


def _copy_annotations(src: str, dst: str) -> None:
    """Copy the split files, each whole or not at all (they come last: only then is DST a readable dataset)."""
    for name in SPLIT_FILES:
        with open(os.path.join(src, name), "rb") as f:
            write_atomically(os.path.join(dst, name), functools.partial(shutil.copyfileobj, f))


def _sizes(items: List[Tuple[str, Tracklet]], dst: str) -> Dict[str, int]:
    """Bytes (apparent and on disk) of every tracklet's JPEGs and of its video, whichever run packed it."""
    n = dict.fromkeys(("src_bytes", "src_disk", "out_bytes", "out_disk"), 0)
    for rel, t in items:
        final, paths = _video_path(dst, rel), _frame_files(t)
        n["src_bytes"] += sum(os.path.getsize(p) for p in paths)
        n["src_disk"] += sum(_disk_bytes(p) for p in paths)
        n["out_bytes"] += os.path.getsize(final)
        n["out_disk"] += _disk_bytes(final)
    return n


def _summary(items: List[Tuple[str, Tracklet]], dst: str, results: List[Dict[str, object]], skipped: int,
             t0: float) -> Dict[str, object]:
    """Counts, the PSNR of the videos encoded in this run, and the sizes of the whole pack."""
    psnr = np.array([p for r in results if r["psnr"] for p in r["psnr"]], dtype=np.float64)
    return {
        "tracklets": len(items), "packed": len(results), "skipped": skipped,
        "frames_packed": int(sum(r["frames"] for r in results)),
        "psnr_frames": int(psnr.size),
        "psnr_mean": float(psnr.mean()) if psnr.size else None,
        "psnr_min": float(psnr.min()) if psnr.size else None,
        **_sizes(items, dst),
        "seconds": time.perf_counter() - t0,
    }


def pack(src: str, dst: str, settings: PackSettings = PackSettings(), workers: int = 1,
         check: bool = True) -> Dict[str, object]:
    """Pack ``src`` (CCVID layout, frame folders) into ``dst``; returns a summary (see :func:`format_summary`).

    Tracklets whose video is already in ``dst`` are skipped (resume). ``check``
    decodes every new video again and measures PSNR against its JPEGs.
    """
    if not os.path.isdir(src):
        raise DatasetError(f"{src}: dataset folder not found")
    if os.path.abspath(src) == os.path.abspath(dst):
        raise PackError(f"{dst}: --out must differ from --data-root")
    items = source_tracklets(src)  # validates SRC fully (annotations, folders) before DST is touched
    manifest = _prepare_dst(src, dst, settings)
    t0 = time.perf_counter()
    todo = [(t, _video_path(dst, rel), settings, check) for rel, t in items
            if not os.path.isfile(_video_path(dst, rel))]
    results = _encode_all(todo, workers)
    _copy_annotations(src, dst)
    summary = _summary(items, dst, results, len(items) - len(todo), t0)
    manifest.update(complete=True, tracklets=len(items), out_bytes=summary["out_bytes"],
                    src_bytes=summary["src_bytes"])
    if summary["psnr_frames"]:
        manifest.update(last_run_psnr_mean=summary["psnr_mean"], last_run_psnr_min=summary["psnr_min"])
    _write_json(os.path.join(dst, MANIFEST), manifest)
    return summary


def _mb(n: int) -> str:
    return f"{n / 1e6:,.1f} MB"


def format_summary(s: Dict[str, object], dst: str) -> str:
    lines = [f"packed {s['packed']} of {s['tracklets']} tracklets into {dst} "
             f"({s['skipped']} already there, {s['seconds']:.1f}s)"]
    if s["psnr_frames"]:
        lines.append(f"PSNR vs the JPEGs over {s['psnr_frames']:,} frames packed now: "
                     f"mean {s['psnr_mean']:.2f} dB, min {s['psnr_min']:.2f} dB")
    lines.append(f"size: {_mb(s['out_bytes'])} of video vs {_mb(s['src_bytes'])} of JPEG "
                 f"({s['out_bytes'] / max(1, s['src_bytes']):.2f}x); on disk {_mb(s['out_disk'])} vs "
                 f"{_mb(s['src_disk'])} ({s['out_disk'] / max(1, s['src_disk']):.2f}x)")
    return "\n".join(lines)


# ----------------------------------------------------------------------------- choosing GOP and CRF
def _measure_sample(items: List[Tuple[str, Tracklet]], tracklets: int, join: int,
                    rng: np.random.Generator) -> Tuple[List[np.ndarray], List[Tracklet]]:
    """``tracklets`` videos of ``join`` random tracklets each: their frames joined (at the first one's size),
    and a folder "tracklet" per video listing its JPEG paths."""
    from samplers.readers import resize_frames

    chosen = sorted(rng.choice(len(items), size=min(tracklets * join, len(items)), replace=False))
    picked = [items[k][1] for k in chosen]
    groups = [picked[i:i + join] for i in range(0, len(picked) - join + 1, join)]
    frames, sample = [], []
    for g in groups:
        fr = [load_frames(t) for t in g]
        frames.append(np.concatenate([resize_frames(f, fr[0].shape[1:3]) for f in fr]))
        paths = tuple(p for t in g for p in _frame_files(t))
        sample.append(Tracklet("", 0, 0, 0, paths, len(paths)))
    return frames, sample


def _clip_picks(frames: List[np.ndarray], clips: int, rng: np.random.Generator) -> List[Tuple[int, list]]:
    """``clips`` random training clips (8 frames, stride 4) as (video, frame indices): the videos drawn first."""
    from samplers.clips import train_clip_indices

    videos = [int(rng.integers(len(frames))) for _ in range(clips)]
    return [(k, train_clip_indices(len(frames[k]), 8, 4, "stride", rng)) for k in videos]


def _encode_setting(frames: List[np.ndarray], s: PackSettings, tmp: str, n_frames: int,
                    jpeg_bytes: int) -> Dict[str, object]:
    """Encode every sample video with ``s`` into ``tmp``: one row of sizes, PSNR and encode time."""
    paths = [os.path.join(tmp, f"{s.pix_fmt}-{s.gop}-{s.crf:g}-{k}.mp4") for k in range(len(frames))]
    t0 = time.perf_counter()
    for fr, path in zip(frames, paths):
        encode_video(fr, path, s)
    enc_s = time.perf_counter() - t0
    psnr = np.concatenate([frame_psnr(_decoded_like(path, fr, s.pix_fmt), fr) for fr, path in zip(frames, paths)])
    size = sum(os.path.getsize(path) for path in paths)
    return {"pix_fmt": s.pix_fmt, "gop": s.gop, "crf": s.crf, "bytes_per_frame": size / n_frames,
            "x_jpeg_bytes": size / jpeg_bytes, "psnr_mean": float(psnr.mean()),
            "psnr_min": float(psnr.min()), "encode_ms_per_frame": enc_s / n_frames * 1000,
            "_videos": [Tracklet(path, 0, 0, 0) for path in paths]}


def _reads(reader: type, tracklets: List[Tracklet], frames: List[np.ndarray]):
    """``read(k, idx)``: clip ``idx`` of sample video ``k`` through a new ``reader()``, at the stored size."""
    return lambda k, idx: reader().read(tracklets[k], idx, frames[k].shape[1:3])


def _clip_ms(picks: List[Tuple[int, list]], read) -> float:
    """Mean milliseconds of ``read(k, idx)`` over the picked clips."""
    t0 = time.perf_counter()
    for k, idx in picks:
        read(k, idx)
    return (time.perf_counter() - t0) / len(picks) * 1000


def _time_clip_reads(rows: List[Dict[str, object]], sample: List[Tracklet], frames: List[np.ndarray],
                     picks: List[Tuple[int, list]], rounds: int) -> float:
    """Set each row's ``clip_ms``; return the JPEGs'. Every setting and the JPEGs are timed once per round
    and keep their best round (the machine's load drifts)."""
    from samplers.readers import FolderReader, VideoFileReader

    jpeg_ms = float("inf")
    for _ in bar(range(rounds), desc="clip reads", unit="round"):
        jpeg_ms = min(jpeg_ms, _clip_ms(picks, _reads(FolderReader, sample, frames)))
        for r in rows:
            ms = _clip_ms(picks, _reads(VideoFileReader, r["_videos"], frames))
            r["clip_ms"] = min(r.get("clip_ms", float("inf")), ms)
    return jpeg_ms


def measure(src: str, gops: Sequence[int] = (4, 8, 16, 32), crfs: Sequence[float] = (6, 8, 10, 12, 14),
            pix_fmts: Sequence[str] = PIX_FMTS, tracklets: int = 24, clips: int = 100, join: int = 1, rounds: int = 3,
            seed: int = 0, workdir: Optional[str] = None) -> Dict[str, object]:
    """Encode a sample of tracklets with every setting; report size, PSNR and random-clip read time.

    Clip time: ``clips`` random training clips (8 frames, stride 4, docs/reference-facts.md, C
    rule) read at the stored size through decord (open + ``get_batch``), against
    the same frames read from the JPEGs through PIL (``jpeg_clip_ms``). ``join``
    > 1 concatenates that many sampled tracklets into one video (longer videos,
    where the GOP decides how many unused frames a random clip decodes).
    """
    import tempfile

    rng = np.random.default_rng(seed)
    frames, sample = _measure_sample(source_tracklets(src), tracklets, join, rng)
    jpeg_bytes = sum(os.path.getsize(p) for t in sample for p in t.frames)
    n_frames = sum(len(f) for f in frames)
    picks = _clip_picks(frames, clips, rng)
    grid = [PackSettings(gop=g, crf=c, pix_fmt=p) for p in pix_fmts for g in gops for c in crfs]
    with tempfile.TemporaryDirectory(dir=workdir) as tmp:
        rows = [_encode_setting(frames, s, tmp, n_frames, jpeg_bytes) for s in bar(grid, desc="encode", unit="setting")]
        jpeg_ms = _time_clip_reads(rows, sample, frames, picks, rounds)
    for r in rows:
        del r["_videos"]
        r["x_jpeg_time"] = r["clip_ms"] / jpeg_ms
    return {"rows": rows, "jpeg_clip_ms": jpeg_ms, "jpeg_bytes_per_frame": jpeg_bytes / n_frames,
            "videos": len(sample), "frames": n_frames, "clips": clips, "rounds": rounds, "choice": choose(rows)}


def choose(rows: Iterable[Dict[str, object]], min_psnr: float = 35.0, min_frame_psnr: float = 34.0,
           tolerance: float = 0.10) -> Optional[Dict[str, object]]:
    """The default setting: quality first, then random-clip speed, then size.

    Candidates keep mean PSNR >= ``min_psnr`` and no frame under ``min_frame_psnr``.
    Among those whose random clip reads no slower than the JPEGs: the smallest file.
    When none does (tiny frames: a 64x32 JPEG decodes faster than an H.264 frame
    plus the decoder's fixed costs), the smallest file among those within
    ``tolerance`` of the fastest clip read.
    """
    ok = [r for r in rows if r["psnr_mean"] >= min_psnr and r["psnr_min"] >= min_frame_psnr]
    if not ok:
        return None
    fast = [r for r in ok if r["x_jpeg_time"] <= 1.0]
    if not fast:
        best = min(r["clip_ms"] for r in ok)
        fast = [r for r in ok if r["clip_ms"] <= best * (1 + tolerance)]
    return min(fast, key=lambda r: (r["bytes_per_frame"], r["clip_ms"]))


def format_measure(m: Dict[str, object]) -> str:
    from tabulate import tabulate

    headers = ["chroma", "GOP", "CRF", "bytes/frame", "x JPEG size", "PSNR mean", "PSNR min",
               "clip ms", "x JPEG time", "encode ms/frame"]
    rows = [[r["pix_fmt"], r["gop"], f"{r['crf']:g}", f"{r['bytes_per_frame']:,.0f}", f"{r['x_jpeg_bytes']:.2f}",
             f"{r['psnr_mean']:.2f}", f"{r['psnr_min']:.2f}", f"{r['clip_ms']:.2f}", f"{r['x_jpeg_time']:.2f}",
             f"{r['encode_ms_per_frame']:.2f}"] for r in m["rows"]]
    c = m["choice"]
    rule = ("mean PSNR >= 35 dB, no frame under 34 dB; then the smallest file among those reading a random clip "
            "no slower than the JPEGs (or, if none, within 10% of the fastest)")
    tail = (f"choice ({rule}): {c['pix_fmt']} GOP {c['gop']} CRF {c['crf']:g}" if c
            else f"no setting meets the rule ({rule})")
    return (f"{m['videos']} videos, {m['frames']} frames; JPEG: {m['jpeg_bytes_per_frame']:,.0f} bytes/frame, "
            f"random 8-frame clip {m['jpeg_clip_ms']:.2f} ms "
            f"(mean of {m['clips']} clips, best of {m['rounds']} rounds)\n"
            + tabulate(rows, headers=headers, tablefmt="github", disable_numparse=True) + "\n" + tail)
