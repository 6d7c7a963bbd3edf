"""A sample sheet of a dataset: one PNG that shows who is who, in which clothes, seen by which camera.

:func:`sample_sheet` draws one row per identity (the first ``max_ids`` identities
of the train split, by pid). Within a row there is one cell per (suit, camera)
combination that exists for that identity, suits first, then cameras, both in
ascending order; "suit K" is the K-th clothes id of the identity (1-based). A
cell shows the middle frame of the first tracklet of that (pid, clothes, camid),
resized to ``thumb`` (height, width) if it has another size and then enlarged
x2 with nearest-neighbour, so that small frames (the embedded dataset's 64x32)
stay sharp. Rows with fewer combinations than the widest row leave their last
cells empty (light grey).

Frames are read with PIL straight from a tracklet's frame files (this package
does not depend on ``samplers``); a video tracklet is decoded with ``decord``
when it is importable and drawn as a grey placeholder otherwise.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence, Tuple

from PIL import Image, ImageDraw, ImageFont

from .capture import decodable_width, quiet_decord
from .files import write_atomically
from .records import DatasetError, ReIDDataset, Tracklet, open_image

BACKGROUND = (255, 255, 255)
GRID = (226, 226, 226)          # the gaps between cells, and empty cells
TEXT = (30, 30, 30)
PLACEHOLDER = (160, 160, 160)   # a frame that cannot be shown (video without decord)
MARGIN = 10                     # around the whole sheet
GAP = 4                         # between cells (light grey)
PAD = 4                         # inside a cell, around its picture and label
FRAME_GAP = 2                   # between the frames of one cell (frames_per_tracklet > 1)
SCALE = 2                       # nearest-neighbour enlargement of each thumbnail


@dataclass(frozen=True)
class Layout:
    """Pixel geometry of a sheet (every size in pixels)."""

    n_rows: int
    n_cols: int
    thumb_w: int      # width of the (enlarged) picture of one cell
    thumb_h: int
    line_h: int       # height of one line of text
    label_w: int      # width of the row-label column
    cell_w: int
    cell_h: int
    title_h: int      # title block above the grid
    width: int
    height: int

    @property
    def size(self) -> Tuple[int, int]:
        return self.width, self.height

    def cell_origin(self, row: int, col: int) -> Tuple[int, int]:
        """Top-left corner of cell (row, col); column 0 is the first thumbnail (after the row label)."""
        x = MARGIN + GAP + self.label_w + GAP + col * (self.cell_w + GAP)
        y = self.title_h + GAP + row * (self.cell_h + GAP)
        return x, y

    def thumb_box(self, row: int, col: int) -> Tuple[int, int, int, int]:
        """(left, top, right, bottom) of the picture in cell (row, col), centred horizontally."""
        x, y = self.cell_origin(row, col)
        left = x + (self.cell_w - self.thumb_w) // 2
        return left, y + PAD, left + self.thumb_w, y + PAD + self.thumb_h


def font() -> ImageFont.ImageFont:
    return ImageFont.load_default()


def text_size(text: str, fnt=None) -> Tuple[int, int]:
    fnt = fnt or font()
    left, top, right, bottom = ImageDraw.Draw(Image.new("RGB", (1, 1))).textbbox((0, 0), text, font=fnt)
    return right - min(left, 0), bottom - min(top, 0)


def layout(n_rows: int, n_cols: int, thumb: Tuple[int, int], frames_per_tracklet: int,
           cell_labels: Sequence[str], row_labels: Sequence[str], title_lines: Sequence[str]) -> Layout:
    """The geometry of a sheet with ``n_rows`` identities and ``n_cols`` cells in its widest row.

    A cell is as wide as its picture or its widest label, whichever is wider, plus
    ``PAD`` on each side; its height is the picture, one line of label and padding.
    The sheet is as wide as the grid or the title, whichever is wider.
    """
    fnt = font()
    line_h = max(text_size("Ay/0", fnt)[1], 8) + 2
    n = frames_per_tracklet
    thumb_w = n * SCALE * thumb[1] + (n - 1) * FRAME_GAP
    thumb_h = SCALE * thumb[0]
    widest_label = max([text_size(s, fnt)[0] for s in cell_labels] or [0])
    cell_w = max(thumb_w, widest_label) + 2 * PAD
    cell_h = PAD + thumb_h + PAD + line_h + PAD
    label_w = max([text_size(s, fnt)[0] for s in row_labels] or [0]) + 2 * PAD
    title_h = MARGIN + len(title_lines) * line_h + PAD
    grid_w = GAP + label_w + GAP + n_cols * (cell_w + GAP)
    grid_h = GAP + n_rows * (cell_h + GAP)
    title_w = max([text_size(s, fnt)[0] for s in title_lines] or [0])
    width = 2 * MARGIN + max(grid_w, title_w)
    height = title_h + grid_h + MARGIN
    return Layout(n_rows, n_cols, thumb_w, thumb_h, line_h, label_w, cell_w, cell_h, title_h, width, height)


# ----------------------------------------------------------------------------- choosing cells
Cell = Tuple[int, int, Tracklet]  # (suit number, camid, first tracklet)


def identity_cells(data: ReIDDataset, max_ids: int) -> List[Tuple[int, List[Cell]]]:
    """[(pid, [(suit K, camid, first tracklet), ...]), ...] for the first ``max_ids`` train pids.

    Suit K is the K-th of the identity's clothes ids in ascending order (1-based);
    the cells of a row are sorted by suit, then camera; "first" is the split's order.
    """
    first: Dict[int, Dict[Tuple[int, int], Tracklet]] = {}
    for t in data.train:
        first.setdefault(t.pid, {}).setdefault((t.clothes, t.camid), t)
    rows = []
    for pid in sorted(first)[:max_ids]:
        combos = first[pid]
        suits = {c: k for k, c in enumerate(sorted({c for c, _ in combos}), 1)}
        rows.append((pid, [(suits[c], cam, combos[(c, cam)]) for c, cam in sorted(combos)]))
    return rows


def cell_label(suit: int, camid: int) -> str:
    return f"suit {suit} / cam {camid}"


def title_lines(data: ReIDDataset, n_ids: int, frames_per_tracklet: int = 1) -> List[str]:
    s = data.summary()
    counts = " | ".join(f"{split}: {s[split]['ids']} ids, {s[split]['tracklets']} tracklets, "
                        f"{s[split]['clothes']} suits" for split in ("train", "query", "gallery"))
    return [f"{data.name}  -  {counts}",
            f"first {n_ids} train identities; one cell per (suit, camera): "
            + ("middle frame" if frames_per_tracklet == 1 else f"{frames_per_tracklet} frames")
            + " of its first tracklet"]


# ----------------------------------------------------------------------------- frames
def _frame_indices(n: int, k: int) -> List[int]:
    """``k`` frames spread evenly over ``n``; for k = 1 the middle frame (n // 2)."""
    return [min(n - 1, (2 * i + 1) * n // (2 * k)) for i in range(k)]


def _open_image(path: str) -> Image.Image:
    with open_image(path) as im:
        return im.convert("RGB")


def _video_frames(path: str, k: int, thumb: Tuple[int, int]) -> Optional[List[Image.Image]]:
    """``k`` frames of a video with decord, or None when decord is missing or cannot read it."""
    try:
        decord = quiet_decord()
    except ImportError:
        return None
    try:
        try:
            vr = decord.VideoReader(path)
            frames = vr.get_batch(_frame_indices(len(vr), k)).asnumpy()
        except Exception:
            # decord 0.6 cannot copy rows that are not a multiple of 32 bytes: decode at a width it can
            vr = decord.VideoReader(path, height=thumb[0], width=decodable_width(thumb[1]))
            frames = vr.get_batch(_frame_indices(len(vr), k)).asnumpy()
    except Exception:
        return None
    return [Image.fromarray(f) for f in frames]


def tracklet_frames(t: Tracklet, k: int, thumb: Tuple[int, int]) -> Optional[List[Image.Image]]:
    """``k`` frames of a tracklet (the middle one for k = 1) as RGB images; None if it cannot be shown."""
    if t.frames:
        return [_open_image(os.path.join(t.source, t.frames[i])) for i in _frame_indices(len(t.frames), k)]
    if t.kind == "video":
        return _video_frames(t.source, k, thumb)
    if t.kind == "image":
        return [_open_image(t.source)] * k
    raise DatasetError(f"{t.source}: tracklet has no frame list")


def thumbnail(frame: Image.Image, thumb: Tuple[int, int]) -> Image.Image:
    """``frame`` at ``thumb`` (height, width) (bicubic, only if its size differs), then x2 nearest-neighbour."""
    h, w = thumb
    if frame.size != (w, h):
        frame = frame.resize((w, h), Image.BICUBIC)
    return frame.resize((SCALE * w, SCALE * h), Image.NEAREST)


# ----------------------------------------------------------------------------- drawing
def sample_sheet(data: ReIDDataset, out_path, *, max_ids: int = 6, frames_per_tracklet: int = 1,
                 thumb: Tuple[int, int] = (64, 32)) -> str:
    """Draw a PNG sample sheet of ``data`` at ``out_path`` and return the path.

    One row per identity (the first ``max_ids`` train identities by pid, labelled
    "id P"), one cell per (suit, camera) of that identity labelled "suit K / cam C",
    each showing ``frames_per_tracklet`` frames of the first such tracklet (1: its
    middle frame) at ``thumb`` = (height, width) enlarged x2; a title names the
    dataset and its counts. The file is written atomically; a path that cannot be
    written raises :class:`DatasetError` naming it.
    """
    if max_ids < 1 or frames_per_tracklet < 1 or len(thumb) != 2 or min(thumb) < 1:
        raise ValueError("max_ids and frames_per_tracklet must be >= 1 and thumb a (height, width) pair of sizes >= 1")
    thumb = (int(thumb[0]), int(thumb[1]))
    out_path = os.fspath(out_path)
    rows = identity_cells(data, max_ids)
    if not rows:
        raise DatasetError(f"{data.root or data.name}: the train split has no tracklets to show")

    lines = title_lines(data, len(rows), frames_per_tracklet)
    labels = [cell_label(k, cam) for _, cells in rows for k, cam, _ in cells]
    row_labels = [f"id {pid}" for pid, _ in rows]
    geo = layout(len(rows), max(len(cells) for _, cells in rows), thumb, frames_per_tracklet,
                 labels, row_labels, lines)

    fnt = font()
    img = Image.new("RGB", geo.size, BACKGROUND)
    draw = ImageDraw.Draw(img)
    for i, line in enumerate(lines):
        draw.text((MARGIN, MARGIN + i * geo.line_h), line, fill=TEXT, font=fnt)
    grid_right = geo.cell_origin(0, geo.n_cols)[0]
    draw.rectangle([MARGIN, geo.title_h, grid_right - 1, geo.height - MARGIN - 1], fill=GRID)
    for r, (_, cells) in enumerate(rows):
        x0, y0 = MARGIN + GAP, geo.cell_origin(r, 0)[1]
        draw.rectangle([x0, y0, x0 + geo.label_w - 1, y0 + geo.cell_h - 1], fill=BACKGROUND)
        th = text_size(row_labels[r], fnt)[1]
        draw.text((x0 + PAD, y0 + (geo.cell_h - th) // 2), row_labels[r], fill=TEXT, font=fnt)
        for c, (suit, cam, t) in enumerate(cells):
            x, y = geo.cell_origin(r, c)
            draw.rectangle([x, y, x + geo.cell_w - 1, y + geo.cell_h - 1], fill=BACKGROUND)
            left, top, _, bottom = geo.thumb_box(r, c)
            frames = tracklet_frames(t, frames_per_tracklet, thumb)
            if frames is None:
                draw.rectangle([left, top, left + geo.thumb_w - 1, bottom - 1], fill=PLACEHOLDER)
            else:
                for j, frame in enumerate(frames):
                    img.paste(thumbnail(frame, thumb), (left + j * (SCALE * thumb[1] + FRAME_GAP), top))
            label = cell_label(suit, cam)
            lw = text_size(label, fnt)[0]
            draw.text((x + (geo.cell_w - lw) // 2, bottom + PAD), label, fill=TEXT, font=fnt)
    _save_atomic(img, out_path)
    return out_path


def _save_atomic(img: Image.Image, out_path: str) -> None:
    try:
        write_atomically(out_path, lambda f: img.save(f, format="PNG", optimize=True))
    except OSError as e:
        raise DatasetError(f"{out_path}: cannot write the sample sheet ({e.strerror or e})") from None
