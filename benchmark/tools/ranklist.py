"""Ranked lists: what a model retrieves for a few queries, as one picture (drawn with PIL).

One row per chosen query: the query's middle frame, then its ``top_k`` gallery tracklets by
cosine distance, after removing the gallery items of the query's identity seen by the query's
camera (junk under the general protocol, as :mod:`benchmark.evaluation.metrics` removes them).
A gallery tile is framed green when it shows the query's identity and red otherwise; a true
match carries a badge, "SC" when it wears the query's clothes and "CC" when it wears others.
The distance is written under each tile.

Queries are drawn (seeded) among those with a true match, the clothes-changing ones first
(a true match in other clothes), then the others.

:func:`rank_list_from_checkpoint` is ``benchmark test RUN --rank-list N``: it extracts the
test features of a saved model once, scores them as ``benchmark test`` does, and draws the
ranked lists into ``<run folder>/rank-list.png`` (or ``--out DIR``).
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

from ccvid.base import UserError
from ccvid.files import write_atomically

__all__ = ["RankListError", "Hit", "Row", "rank_rows", "rank_list_figure", "tile_box", "canvas_size",
           "rank_list_from_checkpoint"]

TILE_W, TILE_H = 64, 128          # a frame, letterboxed to a person's 1:2 shape
BORDER = 4                        # the coloured frame around a tile
PAD = 6                           # between tiles
QUERY_GAP = 18                    # extra space between the query and its rank 1
MARGIN = 10
HEADER_H = 22                     # "query", "1", "2", ... above the first row
LABEL_H = 16                      # a text line under each tile
ROW_GAP = 8
FOOTER_H = 40                     # the legend
MATCH = (0, 158, 115)             # Okabe-Ito bluish green: same identity
WRONG = (204, 51, 17)             # Paul Tol's red (with the green: colour-blind safe): another identity
QUERY = (60, 60, 60)
EMPTY = (170, 170, 170)           # a frame that could not be read
TEXT = (30, 30, 30)
BACKGROUND = (255, 255, 255)


class RankListError(UserError, ValueError):
    """Nothing to rank, or a picture that cannot be written; the message is one line."""


@dataclass(frozen=True)
class Hit:
    """One ranked gallery item of a query's list."""

    gallery: int          # index into the gallery
    distance: float       # cosine distance, 1 - cos
    match: bool           # same identity as the query
    same_clothes: bool    # same clothes as the query (meaningful for a match)


@dataclass(frozen=True)
class Row:
    query: int
    hits: Tuple[Hit, ...]


# ----------------------------------------------------------------------------- ranking
def _labels(items, name: str) -> np.ndarray:
    return np.array([getattr(t, name) for t in items])


def _unit(x) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 2:
        raise ValueError(f"features must be 2-D (N x D), got shape {x.shape}")
    if not np.isfinite(x).all():
        raise ValueError("features must be finite")
    norm = np.linalg.norm(x, axis=1, keepdims=True)
    return x / np.maximum(norm, 1e-12)


def _choose(candidates_first: Sequence[int], candidates_then: Sequence[int], n: int, seed: int) -> List[int]:
    rng = np.random.default_rng(seed)
    first = [int(i) for i in rng.permutation(np.asarray(candidates_first, dtype=np.int64))][:n]
    rest = [int(i) for i in rng.permutation(np.asarray(candidates_then, dtype=np.int64))][:n - len(first)]
    return first + rest


def rank_rows(query_items, gallery_items, q_feats, g_feats, queries: int = 8, top_k: int = 10,
              seed: int = 0) -> List[Row]:
    """The ranked lists drawn by :func:`rank_list_figure`, as data.

    ``queries`` queries among those with a true match (same identity, another camera), the
    clothes-changing ones (a true match in other clothes) first; fewer when fewer have one.
    """
    if queries < 1 or top_k < 1:
        raise ValueError(f"queries and top_k must be >= 1, got queries={queries}, top_k={top_k}")
    q, g = _unit(q_feats), _unit(g_feats)
    if len(q) != len(query_items) or len(g) != len(gallery_items):
        raise ValueError(f"features do not match the items: {len(q)} query features for {len(query_items)} "
                         f"queries, {len(g)} gallery features for {len(gallery_items)} gallery items")
    if q.shape[1] != g.shape[1]:
        raise ValueError(f"query and gallery features differ in dimension ({q.shape[1]} vs {g.shape[1]})")
    qp, qc, qk = (_labels(query_items, a) for a in ("pid", "camid", "clothes"))
    gp, gc, gk = (_labels(gallery_items, a) for a in ("pid", "camid", "clothes"))
    same = qp[:, None] == gp[None, :]
    good = same & (qc[:, None] != gc[None, :])
    other_clothes = good & (qk[:, None] != gk[None, :])
    cc = np.flatnonzero(other_clothes.any(axis=1))
    sc_only = np.flatnonzero(good.any(axis=1) & ~other_clothes.any(axis=1))
    chosen = _choose(cc, sc_only, queries, seed)
    if not chosen:
        raise RankListError("no query has a true match in the gallery (same identity, another camera): "
                         "nothing to rank")
    rows = []
    for i in chosen:
        dist = 1.0 - g @ q[i]
        order = np.argsort(dist, kind="stable")
        junk = same[i] & (gc == qc[i])
        order = order[~junk[order]][:top_k]
        rows.append(Row(i, tuple(Hit(int(j), float(dist[j]), bool(same[i, j]), bool(gk[j] == qk[i]))
                                 for j in order)))
    return rows


# ----------------------------------------------------------------------------- layout
def _col_x(col: int) -> int:
    return MARGIN + col * (TILE_W + 2 * BORDER + PAD) + (QUERY_GAP if col > 0 else 0)


def _row_y(row: int) -> int:
    return MARGIN + HEADER_H + row * (TILE_H + 2 * BORDER + LABEL_H + ROW_GAP)


def tile_box(row: int, col: int) -> Tuple[int, int, int, int]:
    """(left, top, right, bottom) of a tile's coloured frame, ``right``/``bottom`` exclusive.

    ``col`` 0 is the query, ``col`` k its rank k.
    """
    x, y = _col_x(col), _row_y(row)
    return x, y, x + TILE_W + 2 * BORDER, y + TILE_H + 2 * BORDER


def canvas_size(rows: int, top_k: int) -> Tuple[int, int]:
    """(width, height) of a picture of ``rows`` ranked lists of ``top_k``."""
    return _col_x(top_k + 1) - PAD + MARGIN, _row_y(rows) - ROW_GAP + FOOTER_H + MARGIN


# ----------------------------------------------------------------------------- frames
def _font(size: int):
    from PIL import ImageFont
    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow < 10.1: one bitmap size
        return ImageFont.load_default()


def middle_frame(item):
    """The middle frame of a tracklet as an RGB PIL image, or None when it cannot be read.

    The sample sheet's reader (:func:`ccvid.sheet.tracklet_frames`): frame folders and single images
    with PIL, videos with decord when it is installed.
    """
    from ccvid.sheet import tracklet_frames
    try:
        frames = tracklet_frames(item, 1, (TILE_H, TILE_W))
    except Exception:  # an unreadable frame is a grey tile, never a failed picture
        return None
    return frames[0] if frames else None


def _tile(item):
    from PIL import Image, ImageDraw, ImageOps
    frame = middle_frame(item)
    if frame is None:
        tile = Image.new("RGB", (TILE_W, TILE_H), EMPTY)
        ImageDraw.Draw(tile).text((TILE_W // 2, TILE_H // 2), "no frame", fill=TEXT, anchor="mm",
                                  font=_font(10))
        return tile
    return ImageOps.pad(frame, (TILE_W, TILE_H), color=(235, 235, 235))


# ----------------------------------------------------------------------------- the picture
def _framed(canvas, draw, row: int, col: int, item, colour) -> Tuple[int, int, int, int]:
    box = tile_box(row, col)
    draw.rectangle((box[0], box[1], box[2] - 1, box[3] - 1), fill=colour)
    canvas.paste(_tile(item), (box[0] + BORDER, box[1] + BORDER))
    return box


def _badge(draw, box, text: str, font) -> None:
    x, y = box[0] + BORDER + 2, box[1] + BORDER + 2
    w = int(draw.textlength(text, font=font)) + 6
    draw.rectangle((x, y, x + w, y + 13), fill=(20, 20, 20))
    draw.text((x + 3, y + 7), text, fill=(255, 255, 255), anchor="lm", font=font)


def _legend(draw, width: int, y: int, font) -> None:
    parts = [(MATCH, "same identity (SC: same clothes as the query, CC: other clothes)"),
             (WRONG, "another identity"),
             (None, "d: cosine distance; same-identity items of the query's camera removed (general protocol)")]
    x = MARGIN
    for colour, text in parts:
        w = (14 if colour else 0) + int(draw.textlength(text, font=font)) + 16
        if x > MARGIN and x + w > width - MARGIN:
            x, y = MARGIN, y + 16
        if colour:
            draw.rectangle((x, y + 2, x + 10, y + 12), fill=colour)
            x += 14
        draw.text((x, y + 7), text, fill=TEXT, anchor="lm", font=font)
        x += w - (14 if colour else 0)


def rank_list_figure(query_items, gallery_items, q_feats, g_feats, path: str, queries: int = 8, top_k: int = 10,
                     seed: int = 0) -> str:
    """Draw the ranked lists of ``queries`` queries (see the module's description) into ``path`` (.png, .jpg).

    Items carry ``pid``, ``camid`` and ``clothes`` (and, to show frames, ``frames``/``source``
    as :class:`ccvid.records.Tracklet` does). Written atomically; returns ``path``.
    """
    from PIL import Image, ImageDraw
    ext = os.path.splitext(os.fspath(path))[1].lower()
    if ext not in (".png", ".jpg", ".jpeg"):
        raise RankListError(f"{path}: give a .png or .jpg path for the rank list")
    rows = rank_rows(query_items, gallery_items, q_feats, g_feats, queries, top_k, seed)
    width, height = canvas_size(len(rows), top_k)
    canvas = Image.new("RGB", (width, height), BACKGROUND)
    draw = ImageDraw.Draw(canvas)
    font, small = _font(11), _font(10)
    for col in range(top_k + 1):
        x0, _, x1, _ = tile_box(0, col)
        draw.text(((x0 + x1) // 2, MARGIN + HEADER_H // 2), "query" if col == 0 else f"rank {col}",
                  fill=TEXT, anchor="mm", font=font)
    for r, row in enumerate(rows):
        item = query_items[row.query]
        box = _framed(canvas, draw, r, 0, item, QUERY)
        draw.text(((box[0] + box[2]) // 2, box[3] + LABEL_H // 2), f"id {item.pid} cam {item.camid}",
                  fill=TEXT, anchor="mm", font=small)
        for col, hit in enumerate(row.hits, start=1):
            box = _framed(canvas, draw, r, col, gallery_items[hit.gallery], MATCH if hit.match else WRONG)
            if hit.match:
                _badge(draw, box, "SC" if hit.same_clothes else "CC", small)
            draw.text(((box[0] + box[2]) // 2, box[3] + LABEL_H // 2), f"d {hit.distance:.2f}",
                      fill=TEXT, anchor="mm", font=small)
    _legend(draw, width, _row_y(len(rows)) - ROW_GAP + 6, small)
    return _save(canvas, path)


def _save(image, path: str) -> str:
    path = os.fspath(path)
    ext = os.path.splitext(path)[1].lower()
    try:
        return write_atomically(path, lambda fh: image.save(fh, format="PNG" if ext == ".png" else "JPEG",
                                                            **({"quality": 92} if ext != ".png" else {})))
    except OSError as e:
        raise RankListError(f"{path}: cannot write ({e.strerror or type(e).__name__})") from None


# ----------------------------------------------------------------------------- from a saved model
def rank_list_from_checkpoint(path: str, queries: int, out_dir: Optional[str] = None,
                              model_name: Optional[str] = None, data_root: Optional[str] = None,
                              save_features: Optional[str] = None, top_k: int = 10,
                              seed: int = 0, dataset: Optional[str] = None,
                              best: bool = False) -> Tuple[Dict[str, Optional[dict]], str]:
    """``benchmark test RUN --rank-list N``: (the metrics, the picture's path).

    The test features are extracted once: scored as ``benchmark test`` scores them, written to
    ``save_features`` when given, and ranked for the lists drawn into ``out_dir/rank-list.png``
    (default: the run folder, beside ``model.pt``). ``dataset`` / ``best``: another dataset, the run's
    ``best.pt`` (:func:`benchmark.training.checkpoint.saved_run`).
    """
    from ..training.checkpoint import saved_model_and_data
    from ..training.testing import export_features, score_features, test_features

    model, cfg, data, device, path = saved_model_and_data(path, model_name, data_root, dataset, best)
    figure = os.path.join(out_dir or os.path.dirname(os.path.abspath(path)), "rank-list.png")
    q, g = test_features(model, data, cfg, device)
    if save_features:
        export_features(q, g, data, save_features)
    metrics = score_features(q, g, data, cfg, device)
    rank_list_figure(data.query, data.gallery, q.numpy(), g.numpy(), figure, queries=queries, top_k=top_k, seed=seed)
    return metrics, figure
