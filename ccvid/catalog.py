"""The dataset catalog: read any registered dataset by name, and check a tree and report its statistics.

>>> data = read_dataset("ltcc", "/data/LTCC_ReID")
>>> print(format_check_report(check_dataset("mevid", "/data/mevid", verify_files=True)))

The datasets themselves are registered by their readers (:mod:`ccvid.registry`,
:func:`~ccvid.registry.register_dataset`); importing this module registers the built-in ones
(:mod:`ccvid.datasets`) and :data:`DATASETS` finds plugin packages' through their entry points.
"""
from __future__ import annotations

import inspect
import os
import stat
import sys
from typing import Any, Dict, List

from . import datasets  # noqa: F401  (registers the built-in readers)
from .capture import captured_stderr, decoder_reason, quiet_decord
from .records import (IMAGE_EXTENSIONS, VIDEO_EXTENSIONS, DatasetError, ReIDDataset, Tracklet, file_kind,
                      frame_paths, stat_file)
from .registry import DATASETS, DatasetInfo

SPLITS = ("train", "query", "gallery")


def get_dataset(name: str) -> DatasetInfo:
    """The registered dataset ``name``; an unknown name raises with a suggestion and the known names."""
    info = DATASETS.get(name)
    if not isinstance(info, DatasetInfo):
        raise DatasetError(f"dataset {name!r}: its entry point names {type(info).__name__} {info!r}, not a module "
                           "whose import registers readers with register_dataset")
    return info


def dataset_infos() -> List[DatasetInfo]:
    """Every registered dataset (built-in ones first, then plugins), in registration order."""
    return [get_dataset(name) for name in DATASETS.names()]


def reader_options(info: DatasetInfo) -> List[str]:
    """The keyword options of ``info``'s reader (its parameters after ``root``)."""
    params = list(inspect.signature(info.reader).parameters.values())[1:]
    return [p.name for p in params if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]


def read_dataset(name: str, root: Any, **options: Any) -> ReIDDataset:
    """Read dataset ``name`` from ``root`` with the reader's keyword ``options``.

    The dataset is stamped with the registered name, kind and protocols (``meta["kind"]``,
    ``meta["protocols"]``, and ``meta["clothes_labels"] = False`` for a dataset registered without clothes
    labels), which the reader does not state.
    """
    info = get_dataset(name)
    accepted = reader_options(info)
    unknown = sorted(set(options) - set(accepted))
    if unknown:
        raise DatasetError(f"{name}: unknown option(s) {', '.join(unknown)} "
                           f"(accepted: {', '.join(accepted) or 'none'})")
    data = info.reader(root, **options)
    if not isinstance(data, ReIDDataset):
        raise DatasetError(f"dataset {name!r}: its reader returned {type(data).__name__}, not a ReIDDataset")
    data.name = info.name
    data.meta = {"kind": info.kind, "protocols": list(info.protocols),
                 **{k: v for k, v in data.meta.items() if k not in ("kind", "protocols")}}
    if not info.clothes_labels:  # identities only: said in the record (absent for every dataset with labels)
        data.meta["clothes_labels"] = False
    return data


def _decode_image(path: str) -> None:
    """Decode the whole image with PIL (a JPEG at 1/8 scale, which still reads every byte): a garbage or
    truncated file raises."""
    import warnings

    from PIL import Image

    with warnings.catch_warnings():  # e.g. PIL's corrupt-EXIF warning: the decode result is what counts
        warnings.simplefilter("ignore")
        with Image.open(path) as im:
            im.draft("RGB", (1, 1))
            im.load()


def _decode_video(path: str, decord) -> int:
    """Open a video with decord, read its frame count and decode its last frame; returns the count."""
    with captured_stderr() as logged:
        try:
            vr = decord.VideoReader(path, num_threads=1)
            n = len(vr)
            if n:
                vr[n - 1].asnumpy()
        except Exception as e:  # decord's DECORDError / RuntimeError
            failure = e
        else:
            failure = None
    if failure is not None:
        raise ValueError(decoder_reason(failure, logged())) from None
    if n == 0:
        raise ValueError("no frames")
    return n


def _verify_file(path: str, decord) -> None:
    """A regular file (stat first: a FIFO or a device is never opened) that decodes."""
    st = stat_file(path)
    if st is None:
        raise FileNotFoundError(path)
    if not stat.S_ISREG(st.st_mode):
        raise DatasetError(f"{path}: file is {file_kind(st.st_mode)}, not a regular file")
    ext = os.path.splitext(path)[1].lower()
    try:
        if ext in IMAGE_EXTENSIONS:
            _decode_image(path)
        elif ext in VIDEO_EXTENSIONS and decord is not None:
            _decode_video(path, decord)
    except Exception as e:  # PIL's UnidentifiedImageError / OSError, a video's reason, ...
        raise DatasetError(f"{path}: cannot decode {'image' if ext in IMAGE_EXTENSIONS else 'video'} "
                           f"({decoder_reason(e)})") from None


def verify_dataset_files(data: ReIDDataset) -> int:
    """Check that every frame / image / video file is a regular file that decodes; return how many were checked.

    Images and frames are decoded whole with PIL; videos are opened with decord (when it is installed), their
    frames counted and the last one decoded. The first bad file raises :class:`DatasetError` naming it.
    """
    from .progress import bar

    try:
        decord = quiet_decord()
    except ImportError:  # videos are then only checked to be regular files
        decord = None
    total = sum(len(getattr(data, split)) for split in SPLITS)
    checked = 0
    with bar(total=total, unit="tracklet", desc=f"verify {data.name}", file=sys.stderr) as bars:
        for split in SPLITS:
            for i, t in enumerate(getattr(data, split)):
                for path in frame_paths(t):
                    try:
                        _verify_file(path, decord)
                    except FileNotFoundError:
                        raise DatasetError(f"{path}: file not found ({data.name} {split} tracklet {i}, "
                                           f"person {t.pid})") from None
                    checked += 1
                bars.update(1)
    return checked


def query_repeats(data: ReIDDataset) -> int:
    """How many queries repeat an earlier one (same frames): MEVID's query index does, and they are kept."""
    seen = set()
    repeats = 0
    for t in data.query:
        key = (t.source, t.frames)
        repeats += key in seen
        seen.add(key)
    return repeats


def _split_stats(data: ReIDDataset, split: str, kind: str) -> Dict[str, Any]:
    items: List[Tracklet] = getattr(data, split)
    base = data.summary()[split]
    stats: Dict[str, Any] = {
        "ids": base["ids"],
        "images" if kind == "image" else "tracklets": base["tracklets"],
        "clothes": base["clothes"],
        "frames": base["frames"],
    }
    if kind == "video":
        lengths = [t.num_frames for t in items]
        known = [n for n in lengths if n is not None]
        full = bool(known) and len(known) == len(lengths)
        stats["min_frames"] = min(known) if full else None
        stats["mean_frames"] = round(sum(known) / len(known), 1) if full else None
        stats["max_frames"] = max(known) if full else None
    return stats


def check_dataset(name: str, root: str, verify_files: bool = False, **options: Any) -> Dict[str, Any]:
    """Read a dataset (``options`` go to its reader) and return its statistics.

    With ``verify_files`` every referenced frame / image / video file must
    be a regular file that decodes (the first bad one raises :class:`DatasetError`,
    see :func:`verify_dataset_files`). The result has
    ``name``, ``root``, ``kind``, ``protocols``, ``num_train_pids``,
    ``num_train_clothes``, ``splits`` (per split: ``ids``, ``images`` or
    ``tracklets``, ``clothes``, ``frames``, and for video datasets
    ``min_frames`` / ``mean_frames`` / ``max_frames``; ``None`` when lengths
    are unknown, e.g. unopened video files), ``verified_files`` (count or
    ``None``), ``query_repeats`` (queries that repeat an earlier one; MEVID's
    index has some, every other reader refuses a duplicate) and ``meta`` (the
    reader's other notes).
    """
    data = read_dataset(name, root, **options)
    kind = data.meta["kind"]
    checked = verify_dataset_files(data) if verify_files else None
    return {
        "name": data.name,
        "root": root,
        "kind": kind,
        "protocols": data.meta["protocols"],
        "num_train_pids": data.num_train_pids,
        "num_train_clothes": data.num_train_clothes,
        "splits": {split: _split_stats(data, split, kind) for split in SPLITS},
        "verified_files": checked,
        "query_repeats": query_repeats(data),
        "meta": {k: v for k, v in data.meta.items() if k not in ("kind", "protocols")},
    }


def format_check_report(stats: Dict[str, Any]) -> str:
    """Render :func:`check_dataset`'s result as a title line, a table and notes."""
    from tabulate import tabulate

    splits: Dict[str, Dict[str, Any]] = stats["splits"]
    columns = list(next(iter(splits.values())).keys())
    rows = [[split] + ["-" if s[c] is None else s[c] for c in columns] for split, s in splits.items()]
    lines = [f"{stats['name']} ({stats['kind']}) at {stats['root']}: protocols {', '.join(stats['protocols'])}",
             tabulate(rows, headers=["split"] + columns, tablefmt="simple", disable_numparse=True)]
    lines.append(f"train labels: {stats['num_train_pids']} ids, {stats['num_train_clothes']} clothes classes")
    if stats.get("verified_files") is not None:
        lines.append(f"verified: all {stats['verified_files']} files exist and decode")
    if stats.get("query_repeats"):
        lines.append(f"query repeats: {stats['query_repeats']} queries repeat an earlier query row "
                     "(kept: each is scored, as the reference does)")
    for key, value in stats.get("meta", {}).items():
        lines.append(f"{key}: {value}")
    return "\n".join(lines)
