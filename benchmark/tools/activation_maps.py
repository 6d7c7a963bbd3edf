"""Activation maps: where a saved model looks in a query tracklet, drawn over its frames (matplotlib, Agg).

The map is Grad-CAM fitted to a pooled embedding. A model has no class score at test time, so the
scalar explained is half the squared norm of the model's BN-neck embedding of the clip (its
``id_features``, concatenated), which is the embedding's similarity to itself held fixed: the gradient
of the scalar with respect to the embedding is the embedding. For each frame, the last spatial feature
map ``A`` (C x h x w) and the gradient ``G`` of the scalar with respect to it give

    weight_c = mean over (h, w) of G_c          cam = ReLU(sum_c weight_c A_c)

with one change from the classic form: the weights enter by their magnitude, ``|weight_c|``. The
embedding is centred by its BatchNorm, so a channel whose response lies below the training mean has a
negative weight: it pulls the embedding just as far from the origin, the other way, and the classic
signed sum is then often negative everywhere (an empty map on a briefly trained model). The last maps
of a ResNet come out of a ReLU, so the map is >= 0 wherever something drives the embedding.
(:func:`grad_cam` with ``signed=True`` gives the classic form.) The map is then upsampled (bilinear) to
the frame, scaled to [0, 1] per frame, coloured with a colour map and blended with the frame. The
maths (:func:`grad_cam`, :func:`normalise`, :func:`upsample`, :func:`blend`, :func:`frame_indices`,
:func:`pick_queries`) is plain numpy and apart from the drawing.

The last spatial layer is found by forward hooks (:func:`spatial_layers`): ``backbone.layer4`` of the
models built on the suite's ResNet backbone (``baseline`` / C2D, ``image``, ``gaitset``: per-frame
maps; ``i3d``, ``nonlocal``, ``ap3d``, ``ap3d_nl``: 5-D maps), and TCLNet's two learner branches (the
even frames through the first, the odd ones through the second). Models without such a map (the
frame encoders from timm, ``frames_*``, and pytorchvideo's networks, ``x3d_*``, ``slowfast_r50``,
``mvit_b``) are refused with one line.

The query tracklets are chosen deterministically (evenly spread over the queries whose identity the gallery
shows in other clothes, the case of the paper's Figure 5, or over all queries where clothes are unknown; so
two runs of the same test set get the same ones); the clip is the tracklet's first test clip, exactly as
``benchmark test`` shows it to the model, and a few of its frames are drawn.

:func:`activation_maps_from_checkpoint` is ``benchmark test RUN --activation-maps N`` (one PNG per
query tracklet under ``RUN/activation_maps/``); :func:`activation_pair` is ``leaderboard --figures DIR
--activation-pair RUN_A RUN_B`` (two runs' maps in two rows, one PNG per tracklet).
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any, Callable, List, Optional, Sequence, Tuple

import numpy as np

from ccvid.base import UserError
from ccvid.files import write_atomically

__all__ = ["ActivationMapError", "grad_cam", "normalise", "upsample", "blend", "frame_indices", "pick_queries",
           "clothes_changing_queries", "spatial_layers", "clip_cams", "TrackletMaps", "tracklet_maps",
           "draw_maps", "activation_maps_from_checkpoint", "activation_pair", "SUPPORTED", "FRAMES"]

FRAMES = 4                       # frames drawn per tracklet
ALPHA = 0.5                      # weight of the colour map in the blend
COLOUR_MAP = "turbo"
SUPPORTED = ("baseline", "image", "gaitset", "i3d", "nonlocal", "ap3d", "ap3d_nl", "tclnet")
FOLDER = "activation_maps"


class ActivationMapError(UserError, ValueError):
    """A model without a spatial feature map, a bad number of tracklets, runs that do not pair; one line."""


# ----------------------------------------------------------------------------- maths (numpy)
def grad_cam(maps: np.ndarray, grads: np.ndarray, signed: bool = False) -> np.ndarray:
    """(N, C, h, w) feature maps and their gradients -> (N, h, w) Grad-CAM, >= 0.

    Each channel is weighted by its gradient's spatial mean and the weighted sum goes through a ReLU.
    ``signed=True`` is the classic form; the default weighs each channel by the magnitude of its weight, so
    that the channels that pull the embedding either way count (see the module's description).
    """
    maps, grads = np.asarray(maps, dtype=np.float64), np.asarray(grads, dtype=np.float64)
    if maps.ndim != 4 or maps.shape != grads.shape:
        raise ValueError(f"maps and grads must both be (N, C, h, w), got {maps.shape} and {grads.shape}")
    weights = grads.mean(axis=(2, 3))
    if not signed:
        weights = np.abs(weights)
    return np.maximum(np.einsum("nc,nchw->nhw", weights, maps), 0.0)


def normalise(cams: np.ndarray) -> np.ndarray:
    """Each map of (N, h, w) scaled to [0, 1] (min to 0, max to 1); a flat map becomes all zeros."""
    cams = np.asarray(cams, dtype=np.float64)
    if cams.ndim != 3:
        raise ValueError(f"cams must be (N, h, w), got shape {cams.shape}")
    if not np.isfinite(cams).all():
        raise ValueError("cams must be finite")
    low = cams.min(axis=(1, 2), keepdims=True)
    span = cams.max(axis=(1, 2), keepdims=True) - low
    return np.where(span > 0, (cams - low) / np.where(span > 0, span, 1.0), 0.0)


def _axis_weights(n_in: int, n_out: int) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Bilinear sampling along one axis (half-pixel centres, edges clamped): (low index, high index, weight)."""
    pos = np.clip((np.arange(n_out) + 0.5) * n_in / n_out - 0.5, 0, n_in - 1)
    low = np.floor(pos).astype(int)
    high = np.minimum(low + 1, n_in - 1)
    return low, high, pos - low


def upsample(cams: np.ndarray, size: Tuple[int, int]) -> np.ndarray:
    """(N, h, w) -> (N, H, W) bilinear, pixel centres aligned (as torch's ``align_corners=False``)."""
    cams = np.asarray(cams, dtype=np.float64)
    if cams.ndim != 3 or min(cams.shape[1:]) < 1:
        raise ValueError(f"cams must be (N, h, w) with h, w >= 1, got shape {cams.shape}")
    (height, width), (_, h, w) = size, cams.shape
    if height < 1 or width < 1:
        raise ValueError(f"size must be >= 1 each, got {size}")
    r0, r1, ry = _axis_weights(h, height)
    c0, c1, cx = _axis_weights(w, width)
    rows = cams[:, r0, :] * (1 - ry)[None, :, None] + cams[:, r1, :] * ry[None, :, None]
    return rows[:, :, c0] * (1 - cx)[None, None, :] + rows[:, :, c1] * cx[None, None, :]


def blend(frame: np.ndarray, heat: np.ndarray, alpha: float = ALPHA) -> np.ndarray:
    """uint8 (H, W, 3) frame and (H, W, 3) colour-mapped activation in [0, 1] -> uint8 (H, W, 3) overlay:
    ``(1 - alpha) * frame + alpha * heat`` (alpha in [0, 1])."""
    frame = np.asarray(frame)
    heat = np.asarray(heat, dtype=np.float64)
    if frame.ndim != 3 or frame.shape[2] != 3 or heat.shape != frame.shape:
        raise ValueError(f"frame and heat must both be (H, W, 3), got {frame.shape} and {heat.shape}")
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha must be in [0, 1], got {alpha}")
    out = (1.0 - alpha) * frame.astype(np.float64) + alpha * 255.0 * np.clip(heat, 0.0, 1.0)
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


def frame_indices(length: int, count: int = FRAMES) -> List[int]:
    """``count`` frame indices spread evenly over a clip of ``length`` frames, first and last included
    (all of them when the clip is shorter)."""
    if length < 1 or count < 1:
        raise ValueError(f"length and count must be >= 1, got length={length}, count={count}")
    return sorted({int(round(x)) for x in np.linspace(0, length - 1, min(count, length))})


def pick_queries(num_queries: int, n: int, eligible: Optional[Sequence[int]] = None) -> List[int]:
    """``n`` query indices spread evenly over ``eligible`` ones first (the clothes-changing queries,
    :func:`clothes_changing_queries`), then, where they are too few, over the others of a query list of
    ``num_queries`` (all of it when it is shorter than ``n``): deterministic, so two runs of one test set
    draw the same tracklets."""
    if n < 1:
        raise ActivationMapError(f"expected a number of query tracklets >= 1, got {n}")
    if num_queries < 1:
        raise ActivationMapError("the test set has no query tracklet")
    first = sorted(set(eligible or ()))
    rest = sorted(set(range(num_queries)) - set(first))
    out: List[int] = []
    for pool in (first, rest):
        k = min(n - len(out), len(pool))
        out += [pool[int(round(x))] for x in np.linspace(0, len(pool) - 1, k)] if k > 0 else []
    return sorted(set(out))


def clothes_changing_queries(query: Sequence[Any], gallery: Sequence[Any]) -> List[int]:
    """Indices of the queries whose identity appears in the gallery in other clothes (what the paper's Figure 5
    shows: the case CAL is for); empty when the test set has no clothes labels to tell."""
    worn: dict = {}
    for g in gallery:
        worn.setdefault(g.pid, set()).add(g.clothes)
    return [i for i, q in enumerate(query) if worn.get(q.pid, set()) - {q.clothes}]


# ----------------------------------------------------------------------------- hooks (torch)
def spatial_layers(model, name: str = "") -> Tuple[List[Any], str]:
    """(modules whose outputs are the last spatial feature maps, how they are laid out).

    Layouts: ``frames`` ((B*T, C, h, w)), ``video`` ((B, C, T, h, w)), ``pairs`` (TCLNet: two modules,
    the even frames' and the odd frames' (B*T/2, C, h, w) maps). A model without one raises
    :class:`ActivationMapError` naming it.
    """
    from temporal_models.backbones import ResNetBackbone
    from temporal_models.tclnet import TCLNet
    from temporal_models.video_resnet import VideoResNet

    if isinstance(model, TCLNet):
        return [model.tse.branches[0], model.tse.branches[1]], "pairs"
    backbone = getattr(model, "backbone", None)
    if isinstance(backbone, ResNetBackbone) and hasattr(backbone, "layer4"):
        return [backbone.layer4], "video" if isinstance(model, VideoResNet) else "frames"
    label = name or type(model).__name__
    raise ActivationMapError(f"model {label!r} has no ResNet feature map to draw activation maps from "
                             f"(supported: {', '.join(SUPPORTED)})")


def _per_frame(outputs: List[Any], layout: str, frames: int):
    """The hooked outputs of one clip as (T, C, h, w), frames in clip order."""
    import torch
    from einops import rearrange

    if layout == "video":
        return rearrange(outputs[0], "1 c t h w -> t c h w")
    if layout == "pairs":
        even, odd = outputs
        out = torch.empty((frames, *even.shape[1:]), dtype=even.dtype, device=even.device)
        out[0::2], out[1::2] = even, odd
        return out
    return outputs[0]


def clip_cams(model, clip, layers: Sequence[Any], layout: str) -> np.ndarray:
    """Grad-CAM (T, h, w) of one normalised clip (1, 3, T, H, W) through ``model`` (in eval mode), from the
    outputs of ``layers`` (:func:`spatial_layers`); the scalar explained is half the squared norm of the
    BN-neck embedding (the model's ``id_features``)."""
    import torch

    from temporal_models import ModelOutput

    captured: List[Any] = [None] * len(layers)

    def keeper(i: int) -> Callable:
        def hook(_module, _inputs, output):
            captured[i] = output
        return hook

    handles = [layer.register_forward_hook(keeper(i)) for i, layer in enumerate(layers)]
    try:
        model.eval()
        with torch.enable_grad():
            x = clip.detach().clone().requires_grad_(True)  # a graph even when the weights are frozen
            out = ModelOutput.of(model(x))
            embedding = torch.cat([f.reshape(f.shape[0], -1) for f in out.id_features], dim=1)
            score = 0.5 * embedding.pow(2).sum()
            grads = torch.autograd.grad(score, captured, allow_unused=True)
    finally:
        for h in handles:
            h.remove()
    grads = [torch.zeros_like(c) if g is None else g for c, g in zip(captured, grads)]
    frames = clip.shape[2]
    maps = _per_frame([c.detach() for c in captured], layout, frames)
    grad = _per_frame(list(grads), layout, frames)
    return grad_cam(maps.float().cpu().numpy(), grad.float().cpu().numpy())


# ----------------------------------------------------------------------------- one run's maps
@dataclass
class TrackletMaps:
    """One query tracklet's drawn frames and their activation maps (one run)."""

    query: int                   # index into the run's query list
    item: Any                    # the tracklet (pid, camid, clothes)
    frames: List[int]            # positions in the clip of the frames drawn
    images: np.ndarray           # uint8 (k, H, W, 3): the frames as the model saw them
    cams: np.ndarray             # (k, H, W) in [0, 1]: each frame's activation, upsampled and normalised


def _first_clip(item, cfg):
    """uint8 (T, H, W, 3): the tracklet's first test clip, as ``benchmark test`` reads it."""
    from samplers.datasets import WholeVideos

    d = cfg.data
    videos = WholeVideos([item], (d.height, d.width), d.seq_len, d.stride, max_clips=1, test_clips=d.test_clips,
                         interpolation=d.resize)
    clips, _ = videos[0]
    return clips[0]


def tracklet_maps(model, cfg, items: Sequence[Any], queries: Sequence[int], device,
                  count: int = FRAMES) -> List[TrackletMaps]:
    """The activation maps of the query tracklets ``queries`` (indices into ``items``) under ``model``."""
    from samplers.datasets import NORMALIZATIONS, normalize_clips

    layers, layout = spatial_layers(model, cfg.model.name)
    out = []
    for q in queries:
        raw = _first_clip(items[q], cfg)                                     # (T, H, W, 3) uint8
        clip = normalize_clips(raw[None].to(device), *NORMALIZATIONS[cfg.data.normalize])
        cams = clip_cams(model, clip, layers, layout)                        # (T, h, w)
        keep = frame_indices(len(cams), count)
        images = raw.numpy()[keep]
        maps = normalise(upsample(cams[keep], images.shape[1:3]))
        out.append(TrackletMaps(q, items[q], keep, images, maps))
    return out


def overlays(maps: TrackletMaps, alpha: float = ALPHA, colour_map: str = COLOUR_MAP) -> List[np.ndarray]:
    """The frames of ``maps`` with their activation blended in (uint8 (H, W, 3) each)."""
    from matplotlib import colormaps

    cmap = colormaps[colour_map]
    return [blend(image, cmap(cam)[..., :3], alpha) for image, cam in zip(maps.images, maps.cams)]


# ----------------------------------------------------------------------------- drawing
def _title(item, query: int) -> str:
    return f"query tracklet {query}: id {item.pid}, camera {item.camid}, clothes {item.clothes}"


def draw_maps(rows: Sequence[Tuple[str, TrackletMaps]], path: str, title: str) -> str:
    """One PNG at ``path``: a row of overlaid frames per (label, maps), a colour bar, ``title`` on top."""
    from matplotlib import colormaps, rc_context
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.cm import ScalarMappable
    from matplotlib.colors import Normalize
    from matplotlib.figure import Figure

    cols = max(len(m.frames) for _, m in rows)
    height, width = rows[0][1].images.shape[1:3]
    cell = 1.5
    with rc_context({"font.size": 8, "axes.titlesize": 8}):
        fig = Figure(figsize=(cols * cell * max(width / height, 0.5) + 1.2, len(rows) * cell * 1.05 + 0.6), dpi=100)
        FigureCanvasAgg(fig)
        axes = fig.subplots(len(rows), cols, squeeze=False)
        for r, (label, maps) in enumerate(rows):
            images = overlays(maps)
            for c, ax in enumerate(axes[r]):
                ax.set_xticks([])
                ax.set_yticks([])
                if c >= len(maps.frames):
                    ax.set_axis_off()
                    continue
                ax.imshow(images[c], interpolation="nearest")
                ax.set_title(f"frame {maps.frames[c] + 1}", pad=2)
                for spine in ax.spines.values():
                    spine.set_visible(False)
            axes[r][0].set_ylabel(label, rotation=90, fontsize=7)
        fig.suptitle(title, fontsize=9)
        bar = fig.colorbar(ScalarMappable(Normalize(0, 1), colormaps[COLOUR_MAP]), ax=axes.ravel().tolist(),
                           fraction=0.04, pad=0.02)
        bar.set_label("activation (per frame)", fontsize=7)
        return _save(fig, path)


def _save(fig, path: str) -> str:
    import io

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100)
    try:
        return write_atomically(path, lambda fh: fh.write(buffer.getvalue()))
    except OSError as e:
        raise ActivationMapError(f"{path}: cannot write ({e.strerror or type(e).__name__})") from None


def picture_name(maps: TrackletMaps) -> str:
    return f"query-{maps.query:04d}-id{maps.item.pid}-cam{maps.item.camid}.png"


def run_label(folder: str, cfg) -> str:
    """"CAL|ID only, <model>, seed S" and the end of the run folder's name: how a run is named beside its maps."""
    name = os.path.basename(os.path.dirname(os.path.abspath(folder)))
    short = name if len(name) <= 26 else "..." + name[-24:]
    return f"{'CAL' if cfg.cal.enabled else 'ID only'}, {cfg.model.name}, seed {cfg.system.seed}\n{short}"


def _out_folder(folder: str) -> str:
    try:
        os.makedirs(folder, exist_ok=True)
    except OSError as e:
        raise ActivationMapError(f"{folder}: cannot create the folder ({e.strerror or type(e).__name__})") from None
    return folder


# ----------------------------------------------------------------------------- from saved runs
def _saved(path: str, model_name: Optional[str] = None, data_root: Optional[str] = None,
           dataset: Optional[str] = None, best: bool = False):
    """(model, config, test data, device, weights file) of a saved run; a model without a spatial map is refused
    before any data is read."""
    from ..training.checkpoint import saved_model_and_data

    return saved_model_and_data(path, model_name, data_root, dataset, best,
                                accept=lambda model, cfg: spatial_layers(model, cfg.model.name))


def activation_maps_from_checkpoint(path: str, queries: int, out_dir: Optional[str] = None,
                                    model_name: Optional[str] = None, data_root: Optional[str] = None,
                                    dataset: Optional[str] = None, best: bool = False) -> List[str]:
    """``benchmark test RUN --activation-maps N``: one PNG per chosen query tracklet in ``out_dir`` (default:
    ``RUN/activation_maps/``); returns their paths."""
    if queries < 1:
        raise ActivationMapError(f"expected a number of query tracklets >= 1, got {queries}")
    model, cfg, data, device, path = _saved(path, model_name, data_root, dataset, best)
    folder = _out_folder(out_dir or os.path.join(os.path.dirname(os.path.abspath(path)), FOLDER))
    label = run_label(path, cfg)
    written = []
    chosen = pick_queries(len(data.query), queries, clothes_changing_queries(data.query, data.gallery))
    for maps in tracklet_maps(model, cfg, data.query, chosen, device):
        written.append(draw_maps([(label, maps)], os.path.join(folder, picture_name(maps)),
                                 _title(maps.item, maps.query)))
    return written


def _same_queries(a, b, run_a: str, run_b: str) -> None:
    def key(items):
        return [(os.path.basename(os.path.normpath(t.source)), t.pid, t.camid) for t in items]

    if key(a) != key(b):
        raise ActivationMapError(f"{run_a} and {run_b} were tested on different query sets: their maps cannot be "
                                 "paired (same dataset and test split needed)")


def activation_pair(run_a: str, run_b: str, queries: int, out_dir: str) -> List[str]:
    """``leaderboard --figures DIR --activation-pair RUN_A RUN_B``: the two runs' maps of the same query
    tracklets, run A's row above run B's, one PNG per tracklet in ``out_dir``; returns their paths."""
    if queries < 1:
        raise ActivationMapError(f"expected a number of query tracklets >= 1, got {queries}")
    model_a, cfg_a, data_a, device, path_a = _saved(run_a)
    model_b, cfg_b, data_b, _, path_b = _saved(run_b)
    _same_queries(data_a.query, data_b.query, run_a, run_b)
    chosen = pick_queries(len(data_a.query), queries, clothes_changing_queries(data_a.query, data_a.gallery))
    maps_a = tracklet_maps(model_a, cfg_a, data_a.query, chosen, device)
    maps_b = tracklet_maps(model_b, cfg_b, data_b.query, chosen, device)
    folder = _out_folder(out_dir)
    labels = run_label(path_a, cfg_a), run_label(path_b, cfg_b)
    return [draw_maps([(labels[0], a), (labels[1], b)], os.path.join(folder, picture_name(a)),
                      _title(a.item, a.query)) for a, b in zip(maps_a, maps_b)]
