"""A procedural clothes-changing *video* re-id dataset, written in the CCVID layout.

Identity lives in clothes-irrelevant cues (body proportions, skin, hair, gait),
clothes in strong, easy cues (garment colours, texture, sleeves, bottoms, shoes,
bag), so that a network trained with the identity loss alone is tempted by the
clothes shortcut and a clothes-adversarial loss has something to remove.

Every person is a 3-D stick figure walking in place, seen by each camera from its
own yaw (side view walking right, oblique walking left, frontal) over its own
background, gain and scale, centred as in a tracker's crop. All frames of a video
are drawn at once as signed distances over a (T, H, W) grid with smoothed edges.

Randomness is keyed, never sequential: camera ``(seed, 0, cam)``, identity
``(seed, 1, pid)``, suit ``(seed, 2, pid, suit)``, video ``(seed, 3, pid, suit,
cam, rep)``, each a fixed block of uniforms: the output does not depend on the
worker count, and the strength knobs move values without reshuffling others.
"""
from __future__ import annotations

import colorsys
import contextlib
import functools
import hashlib
import json
import math
import multiprocessing as mp
import os
import shutil
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable, Dict, List, Optional, Tuple

import numpy as np

from .records import DatasetError

FORMAT_VERSION = 3  # the instrument's version, part of the cache key: bump whenever the output changes
INSTRUMENT = f"embedded-v{FORMAT_VERSION}"  # what a run record names (dataset.instrument)
_VIEWS = ((0.0, 0.84), (math.radians(140), 0.78), (math.radians(90), 0.88))  # (yaw, person scale)
_HAIR = ("short", "long", "ponytail", "bun", "bald")
_SKIN = (np.array([0.96, 0.82, 0.70]), np.array([0.36, 0.23, 0.16]))
_HAIR_COLOURS = np.array([[.08, .06, .05], [.28, .17, .10], [.50, .33, .18], [.85, .72, .45],
                          [.62, .26, .12], [.72, .72, .72]])
_GREY = 0.5
_EDGE = 1.25  # width of the smoothed edge in pixels


@dataclass
class SynthConfig:
    """Knobs of the embedded dataset (the defaults are the design of EMBEDDED-DATASET-NOTES)."""

    seed: int = 0
    num_train_ids: int = 60
    num_test_ids: int = 120         # test-only identities cost generation and test time, not training time
    min_suits: int = 2
    max_suits: int = 5
    num_cameras: int = 3
    videos_per_suit_camera: int = 2
    num_frames: int = 48            # whole-video tiling sees 6 clips of 8 x 4 frames
    height: int = 64
    width: int = 32
    clothes_strength: float = 0.6   # 0: everyone wears the same grey clothes (0.6 chosen on validation ids)
    identity_strength: float = 1.0  # 0: everyone has the same body, gait, skin and hair
    # the share of identity pairs that are gait twins: the same body, head, hair, skin, pose shapes and
    # wardrobe, apart only in cadence, which no single frame and no unordered set of frames shows. 0 by the
    # rule fixed before the validation runs (docs/embedded-dataset.md): 0.25 already cost C2D + CAL general
    # top-1 below 70% on held-out training ids, and no registered model learned cadence at any share
    twin_share: float = 0.0
    noise: float = 0.02             # std of Gaussian pixel noise (pixel values in [0, 1])
    write_videos: bool = True
    workers: int = 2

    def __post_init__(self):
        for k in ("clothes_strength", "identity_strength", "twin_share", "noise"):
            setattr(self, k, float(getattr(self, k)))
        checks = [(self.seed >= 0, "seed >= 0"),
                  (self.num_train_ids >= 1 and self.num_test_ids >= 1, "at least one train and one test id"),
                  (self.num_train_ids + self.num_test_ids <= 999, "at most 999 ids (3-digit pids)"),
                  (1 <= self.min_suits <= self.max_suits <= 9, "1 <= min_suits <= max_suits <= 9"),
                  (1 <= self.num_cameras <= 99, "1 <= num_cameras <= 99"),
                  (1 <= self.videos_per_suit_camera <= 9, "1 <= videos_per_suit_camera <= 9"),
                  (self.num_frames >= 1, "num_frames >= 1"),
                  (self.height >= 16 and self.width >= 16 and self.height % 2 == 0 and self.width % 2 == 0,
                   "height and width even and >= 16"),
                  (0.0 <= self.clothes_strength <= 1.0, "0 <= clothes_strength <= 1"),
                  (0.0 <= self.identity_strength <= 2.0, "0 <= identity_strength <= 2"),
                  (0.0 <= self.twin_share <= 1.0, "0 <= twin_share <= 1"),
                  (self.noise >= 0.0, "noise >= 0")]
        bad = [msg for ok, msg in checks if not ok]
        if bad:
            raise ValueError("SynthConfig: " + "; ".join(bad))


def config_hash(cfg: SynthConfig) -> str:
    """Short hash of everything that changes the output (``workers`` does not)."""
    d = asdict(cfg)
    d.pop("workers")
    d["format_version"] = FORMAT_VERSION
    return hashlib.sha1(json.dumps(d, sort_keys=True).encode()).hexdigest()[:12]


# ----------------------------------------------------------------------------- parameters
def _uniforms(cfg: SynthConfig, *key: int, n: int = 32) -> np.ndarray:
    return np.random.default_rng([cfg.seed, *key]).random(n)


def _hsv(h: float, s: float, v: float) -> np.ndarray:
    return np.array(colorsys.hsv_to_rgb(h % 1.0, s, v))


def twin_of(cfg: SynthConfig, pid: int) -> Optional[int]:
    """The gait twin of ``pid`` (None for most people).

    Identities pair up in their split, (1, 2), (3, 4), ... of the training ids and likewise of the test
    ids; a pair is twinned with probability ``twin_share`` (keyed ``(seed, 4, first pid)``).
    """
    first = 1 if pid <= cfg.num_train_ids else cfg.num_train_ids + 1
    last = cfg.num_train_ids if pid <= cfg.num_train_ids else cfg.num_train_ids + cfg.num_test_ids
    a = pid - (pid - first) % 2
    if a + 1 > last or _uniforms(cfg, 4, a, n=1)[0] >= cfg.twin_share:
        return None
    return a + 1 if pid == a else a


def _body(cfg: SynthConfig, pid: int) -> int:
    """Whose body (and wardrobe) ``pid`` has: its own, or its twin pair's first pid."""
    twin = twin_of(cfg, pid)
    return pid if twin is None else min(pid, twin)


def _identity(cfg: SynthConfig, pid: int) -> Dict:
    """Clothes-irrelevant cues of one person; identity_strength scales their spread around the average.

    Lengths are fractions of the body height; angles in radians; ``period`` in frames;
    ``gait_phase`` shifts the knee flexion within the stride. Gait twins (:func:`twin_of`) share every
    cue a frame shows (drawn from the pair's first pid) and their wardrobe (:func:`_suit`), and differ
    only in cadence: the first walks a stride in 20-24 frames, the second 6-8 frames slower (scaled by
    identity_strength). So the identity loss cannot tell them apart by anything but timing, and at test
    time a twin in the query's own clothes is an impostor that only the order of frames rejects.
    Everyone else's stride lasts 20-28 frames: at the clip sampler's stride of 4 frames, 5 to 7
    samples per cycle.
    """
    twin = twin_of(cfg, pid)
    body = _body(cfg, pid)
    u, s = _uniforms(cfg, 1, body), cfg.identity_strength
    sp = lambda i, mean, half: mean + s * half * (2 * u[i] - 1)  # noqa: E731
    hair = _HAIR_COLOURS.mean(0)
    hair = hair + s * (_HAIR_COLOURS[int(u[8] * 6)] + 0.06 * (u[9] - 0.5) - hair)
    skin = _SKIN[0] + sp(6, 0.5, 0.5) * (_SKIN[1] - _SKIN[0]) + sp(7, 0, 0.03) * np.array([1, 0, -1])
    suits = cfg.min_suits + int(u[19] * (cfg.max_suits - cfg.min_suits + 1))
    return dict(head=sp(0, .068, .012), neck=sp(1, .035, .015), leg=sp(2, .48, .04),
                shoulder=sp(3, .115, .025), hip=sp(4, .09, .02), limb=sp(5, .026, .007),
                skin=skin, hair=hair, style=_HAIR[int(u[10] * 5)] if u[11] < s else "short",
                period=_period(cfg, pid, twin), gait_phase=sp(13, 0, .6), stride=sp(14, .36, .12),
                arm=sp(15, .40, .25), knee=sp(16, .65, .30), bounce=sp(17, .012, .008), lean=sp(18, .05, .07),
                suits=suits)


def _period(cfg: SynthConfig, pid: int, twin: Optional[int]) -> float:
    """Frames per stride: 24 +- 4 (scaled by identity_strength); a twin pair 20-24 and 6-8 frames more."""
    s = cfg.identity_strength
    if twin is None:
        return 24 + s * 4 * (2 * _uniforms(cfg, 1, pid)[12] - 1)
    first = min(pid, twin)
    u = _uniforms(cfg, 1, first)
    fast = 24 - s * 4 * u[12]
    return fast if pid == first else fast + s * (6 + 2 * u[20])


def _suit(cfg: SynthConfig, pid: int, suit: int) -> Dict:
    """Clothes cues of one suit; clothes_strength blends colours to grey and scales the odd garments' share.

    The label ``u<top hue bin>t<texture><s|l sleeves>_l<bottoms hue bin>b<type>_s<shoe bin>_a<bag>_c<suit>``
    ends with the suit number, so the suits of one person always have distinct labels. Gait twins wear
    the same suits (drawn from the pair's first pid); each twin's suits are still clothes of its own.
    """
    u, c = _uniforms(cfg, 2, _body(cfg, pid), suit), cfg.clothes_strength
    col = lambda i: _GREY + c * (_hsv(u[i], .25 + .75 * u[i + 1], .2 + .75 * u[i + 2]) - _GREY)  # noqa: E731
    texture = 1 + int(u[15] * 3) if u[16] < 0.7 * c else 0          # plain, stripes, checks, logo
    short = bool(u[17] < 0.5 * c)
    bottoms = 1 if u[18] < 0.25 * c else 2 if u[18] < 0.45 * c else 0  # trousers, shorts, skirt
    bag = 1 + int(u[19] * 2) if u[20] < 0.6 * c else 0               # none, backpack, shoulder bag
    label = (f"u{int(u[0] * 12)}t{texture}{'s' if short else 'l'}_l{int(u[6] * 12)}b{bottoms}"
             f"_s{int(u[9] * 12)}_a{bag}_c{suit}")
    return dict(top=col(0), top2=col(3), bottom=col(6), shoe=col(9) * 0.7, bag_colour=col(12),
                texture=texture, short=short, bottoms=bottoms, bag=bag, label=label)


def _camera(cfg: SynthConfig, cam: int) -> Dict:
    u = _uniforms(cfg, 0, cam)
    yaw, scale = _VIEWS[cam - 1] if cam <= len(_VIEWS) else (u[0] * math.pi, 0.78 + 0.1 * u[1])
    return dict(yaw=yaw, scale=scale, wall=_hsv(u[2], .1 + .3 * u[3], .35 + .5 * u[4]),
                floor=_hsv(u[5], .1 + .2 * u[6], .25 + .4 * u[7]), horizon=.55 + .3 * u[8],
                band_freq=1 / (4 + 8 * u[9]), band_amp=.04 + .1 * u[10], gain=1 + .12 * (2 * u[11:14] - 1))


# ----------------------------------------------------------------------------- drawing
def _len(x, y):
    return np.sqrt(x * x + y * y)  # (np.hypot is 5x slower)


def _col(v) -> np.ndarray:
    return np.asarray(v, np.float32).reshape(-1, 1, 1)


def _f32(v) -> np.ndarray:
    return np.asarray(v, np.float32)


def _paint(img: np.ndarray, shape, colour) -> None:
    """Composite ``shape = (sdf, (x0, x1, y0, y1))`` onto the planar img (3, T, H, W) in place.

    The sdf is evaluated only on the pixels of the box (over all frames); colour is
    an RGB triple or a function of the pixel grid returning (3, T, h, w).
    """
    sdf, (x0, x1, y0, y1) = shape
    _, _, H, W = img.shape
    x0, x1 = max(int(x0) - 2, 0), min(int(x1) + 3, W)
    y0, y1 = max(int(y0) - 2, 0), min(int(y1) + 3, H)
    if x1 <= x0 or y1 <= y0:
        return
    X = np.arange(x0, x1, dtype=np.float32)[None, None, :] + 0.5
    Y = np.arange(y0, y1, dtype=np.float32)[None, :, None] + 0.5
    a = np.clip(0.5 - sdf(X, Y) * (1 / _EDGE), 0, 1)
    a = a * a * (3 - 2 * a)
    sub = img[:, :, y0:y1, x0:x1]
    c = colour(X, Y) if callable(colour) else np.asarray(colour, np.float32).reshape(3, 1, 1, 1)
    sub += a * (c - sub)


def _bounds(points, pad) -> Tuple[float, float, float, float]:
    xs = np.concatenate([np.ravel(p[0]) for p in points])
    ys = np.concatenate([np.ravel(p[1]) for p in points])
    return xs.min() - pad, xs.max() + pad, ys.min() - pad, ys.max() + pad


def _capsule(a, b, ra, rb=None):
    """Segment a-b (per-frame points) with radius ra at a tapering to rb at b."""
    rb = ra if rb is None else rb
    ax, ay, bx, by = map(_col, (*a, *b))
    ex, ey = bx - ax, by - ay
    inv = 1 / (ex * ex + ey * ey + 1e-6)

    def sdf(X, Y):
        px, py = X - ax, Y - ay
        h = np.clip((px * ex + py * ey) * inv, 0, 1)
        return _len(px - ex * h, py - ey * h) - (ra + (rb - ra) * h)
    return sdf, _bounds((a, b), max(ra, rb))


def _frame(a, b) -> Callable:
    """Local coordinates (across u, along v, length L) of the axis a -> b."""
    ax, ay, bx, by = map(_col, (*a, *b))
    L = np.hypot(bx - ax, by - ay) + 1e-6
    ux, uy = (bx - ax) / L, (by - ay) / L
    return lambda X, Y: ((X - ax) * uy - (Y - ay) * ux, (X - ax) * ux + (Y - ay) * uy, L)


def _tbox(a, b, wa, wb, rr=1.0):
    """Box along a -> b, half width wa at a and wb at b, corners rounded by rr (pixels)."""
    local = _frame(a, b)
    wa, wb = _col(wa), _col(wb)

    def sdf(X, Y):
        u, v, L = local(X, Y)
        w = wa + (wb - wa) * np.clip(v / L, 0, 1)
        qx, qy = np.abs(u) - w + rr, np.abs(v - L / 2) - L / 2 + rr
        return _len(np.maximum(qx, 0), np.maximum(qy, 0)) + np.minimum(np.maximum(qx, qy), 0) - rr
    return sdf, _bounds((a, b), float(max(np.max(wa), np.max(wb))))


def _texture(kind: int, c1, c2, local, width) -> Callable:
    """Top garment colour field: plain, stripes, checks or a logo, in torso coordinates."""
    c1, c2 = (np.asarray(c, np.float32).reshape(3, 1, 1, 1) for c in (c1, c2))

    def colour(X, Y):
        u, v, L = local(X, Y)
        if kind == 1:
            p = np.clip(0.5 + 2 * np.sin(2 * np.pi * v / (L / 4.5)), 0, 1)
        elif kind == 2:
            per = L / 3.5
            p = np.clip(0.5 + 3 * np.sin(2 * np.pi * u / per) * np.sin(2 * np.pi * v / per), 0, 1)
        else:
            p = np.clip(0.5 - (_len(u - width[0], v - 0.68 * L) - 0.35 * width[1]), 0, 1)
        return c1 + p * (c2 - c1)
    return colour


@functools.lru_cache(maxsize=1)
def _noise_bank() -> np.ndarray:
    return np.random.default_rng(20220619).standard_normal(1 << 22, dtype=np.float32)


def _noise(rng: np.random.Generator, shape) -> np.ndarray:
    """Unit Gaussian noise: a random window of a fixed bank (10x faster than drawing it)."""
    n, bank = int(np.prod(shape)), _noise_bank()
    if n > bank.size // 2:
        return rng.standard_normal(shape, dtype=np.float32)
    start = int(rng.integers(bank.size - n))
    return bank[start:start + n].reshape(shape)


def render_tracklet(cfg: SynthConfig, pid: int, suit: int, cam: int, rep: int) -> np.ndarray:
    """The frames (T, H, W, 3) uint8 of one video: person ``pid`` in suit ``suit`` (1-based) seen by ``cam``."""
    return _render(cfg, _identity(cfg, pid), _suit(cfg, pid, suit), _camera(cfg, cam), (pid, suit, cam, rep))


def _render(cfg: SynthConfig, idn: Dict, st: Dict, cm: Dict, key: Tuple[int, ...]) -> np.ndarray:
    """Draw person ``idn`` in suit ``st`` seen by camera ``cm``; ``key`` seeds the per-video jitter.

    The gait gives the pose of every frame (camera-free), the view projects it to pixels, and the
    parts are painted back to front over the background, all frames at once.
    """
    rng = np.random.default_rng([cfg.seed, 3, *key])
    j = rng.random(16)  # per-video jitter: [0] gait phase, [1:4] place and size, [4:7] gain, [7:11] background
    t = np.arange(cfg.num_frames, dtype=np.float64)
    view = _view(cfg, cm, j)
    fig = _Figure(idn, st, _pose(idn, _gait_phase(idn, t, j[0])), view)
    img = _background(cfg, cm, j, t, view.scale * _walk_speed(idn) * view.cos)  # planar (3, T, H, W) while drawing
    for shape, colour in _layers(fig):
        _paint(img, shape, colour)
    return _expose(cfg, img, cm, j, rng)


# ----------------------------------------------------------------------------- pose: gait -> joints
def _gait_phase(idn: Dict, t: np.ndarray, start: float) -> np.ndarray:
    """Stride phase (radians) of frames ``t``: one turn per ``period`` frames, from ``start`` turns."""
    return 2 * np.pi * t / idn["period"] + 2 * np.pi * start


def _walk_speed(idn: Dict) -> float:
    """Ground covered per frame (body heights) by a walker in place: two steps of 2 leg sin(stride) per period."""
    return 4 * idn["leg"] * math.sin(idn["stride"]) / idn["period"]


def _pose(idn: Dict, th: np.ndarray) -> Dict:
    """Joints at stride phases ``th`` (T,), in figure units (forward, lateral, up; body height 1).

    Camera-free, so the gait is a cue of its own: the hips bounce twice per stride, the torso leans
    forward by ``lean``, legs and arms swing half a stride apart (``legs`` and ``arms`` by side, -1/+1).
    """
    leg, lean, reach = idn["leg"], idn["lean"], idn["neck"] + idn["head"]  # reach: chest to head centre
    torso = 1 - leg - idn["neck"] - 2 * idn["head"]
    hip_u = leg * 0.97 + idn["bounce"] * np.cos(2 * th)
    chest = (torso * math.sin(lean), 0.0, hip_u + torso * math.cos(lean))
    head = (chest[0] + reach * math.sin(lean), 0.0, chest[2] + reach * math.cos(lean))
    return dict(torso=torso, hip_u=hip_u, pelvis=(0.0, 0.0, hip_u), chest=chest, head=head,
                legs={side: _leg_pose(idn, th, hip_u, side) for side in (-1, 1)},
                arms={side: _arm_pose(idn, th, chest, torso, side) for side in (-1, 1)})


def _leg_pose(idn: Dict, th: np.ndarray, hip_u: np.ndarray, side: int) -> Dict:
    """Hip, knee, ankle and toe of leg ``side``: the thigh swings by ``stride``; the knee bends by up to
    ``knee`` in the part of the stride that ``gait_phase`` picks (a person's timing)."""
    ph = th + (0 if side > 0 else np.pi)
    a = idn["stride"] * np.sin(ph)  # thigh angle, forward positive
    k = a - (0.05 + idn["knee"] * np.clip(np.cos(ph + idn["gait_phase"]), 0, 1) ** 1.5)  # shin angle
    leg, lat = idn["leg"], side * idn["hip"] * 0.55
    knee = (leg / 2 * np.sin(a), lat, hip_u - leg / 2 * np.cos(a))
    ankle = (knee[0] + leg / 2 * np.sin(k), lat, knee[2] - leg / 2 * np.cos(k))
    return dict(hip=(0, lat, hip_u), knee=knee, ankle=ankle, toe=(ankle[0] + .065, lat, ankle[2] - .01))


def _arm_pose(idn: Dict, th: np.ndarray, chest: Tuple, torso: float, side: int) -> Dict:
    """Shoulder, elbow and wrist of arm ``side``, swinging by ``arm`` against the leg of its side; the
    elbow bends more when the arm is in front."""
    ph = th + (np.pi if side > 0 else 0)
    b = idn["arm"] * np.sin(ph)  # upper arm angle, forward positive
    e = b + 0.15 + 0.6 * np.maximum(b, 0)  # forearm angle
    lat = side * (idn["shoulder"] - idn["limb"] * 0.5)
    sh = (chest[0], lat, chest[2] - .01)
    n = 0.45 * torso  # length of each arm segment
    elbow = (sh[0] + n * np.sin(b), lat * 1.05, sh[2] - n * np.cos(b))
    wrist = (elbow[0] + n * np.sin(e), lat * 1.1, elbow[2] - n * np.cos(e))
    return dict(shoulder=sh, elbow=elbow, wrist=wrist)


# ----------------------------------------------------------------------------- view: figure -> pixels
@dataclass
class _View:
    """One video's view of the figure: its feet at (``cx``, ``ground``) pixels, ``scale`` pixels per body
    height, turned by the camera's yaw (``cos``, ``sin``)."""

    cx: float
    ground: float
    scale: float
    cos: float
    sin: float

    def __call__(self, fwd, lat, up) -> Tuple[np.ndarray, np.ndarray]:
        """Figure coordinates (forward, lateral, up; height 1) -> pixels (x, y), per frame."""
        fwd, lat, up = np.broadcast_arrays(fwd, lat, up)
        return self.cx + self.scale * (fwd * self.cos - lat * self.sin), self.ground - self.scale * up

    def width(self, lateral: float, depth: float) -> float:
        """On-screen half width (pixels) of a part with half extents ``lateral`` across and ``depth`` deep."""
        return math.hypot(lateral * self.sin, depth * self.cos) * self.scale

    def far(self, side: int) -> bool:
        """Whether the limbs of ``side`` are behind the body: drawn before it, and shaded."""
        return side * self.cos < -0.25


def _view(cfg: SynthConfig, cm: Dict, j: np.ndarray) -> _View:
    """Camera ``cm``'s view, jittered per video: size by +-5 %, place by +-1.5 px across and +-1 px up."""
    S = cm["scale"] * cfg.height * (0.95 + 0.1 * j[3])
    return _View(cx=cfg.width / 2 + 3 * (j[1] - .5), ground=cfg.height / 2 + S / 2 + 2 * (j[2] - .5), scale=S,
                 cos=math.cos(cm["yaw"]), sin=math.sin(cm["yaw"]))


@dataclass
class _Figure:
    """What the part helpers share: person ``idn`` in suit ``st``, in ``pose``, seen by ``view``."""

    idn: Dict
    st: Dict
    pose: Dict
    view: _View

    @property
    def limb(self) -> float:
        return self.idn["limb"] * self.view.scale  # limb radius, pixels

    @property
    def head_r(self) -> float:
        return self.idn["head"] * self.view.scale  # head radius, pixels


# ----------------------------------------------------------------------------- the figure's parts, in pixels
def _layers(fig: _Figure) -> List[Tuple]:
    """The parts (shape, colour) back to front: far arms, what hangs behind, legs (far one first), hair
    behind the head, neck and trunk, head, hair over it, what crosses the front, near arms."""
    v = fig.view
    far_arms = [part for side in (-1, 1) if v.far(side) for part in _arm_parts(fig, side)]
    near_arms = [part for side in (-1, 1) if not v.far(side) for part in _arm_parts(fig, side)]
    legs = [part for side in sorted((-1, 1), key=lambda s: s * v.cos) for part in _leg_parts(fig, side)]
    hair_behind, hair_over = _hair_parts(fig)
    head = v(*fig.pose["head"])
    return (far_arms + _bag_parts_behind(fig) + legs + hair_behind + _trunk_parts(fig)
            + [(_capsule(head, head, fig.head_r), fig.idn["skin"])] + hair_over + _bag_parts_front(fig) + near_arms)


def _shade(colour, far: bool) -> np.ndarray:
    """Darker on the far side of the body, which tells the two legs (arms) apart."""
    return np.asarray(colour) * (0.82 if far else 1.0)


def _leg_parts(fig: _Figure, side: int) -> List[Tuple]:
    """Thigh, shin and shoe of leg ``side``: shorts bare the shin, a skirt the thigh as well."""
    joints, far, st, skin, limb = fig.pose["legs"][side], fig.view.far(side), fig.st, fig.idn["skin"], fig.limb
    hip, knee, ankle, toe = (fig.view(*joints[k]) for k in ("hip", "knee", "ankle", "toe"))
    thigh = skin if st["bottoms"] == 2 else st["bottom"]
    shin = skin if st["bottoms"] else st["bottom"]
    return [(_capsule(hip, knee, limb * 1.25, limb), _shade(thigh, far)),
            (_capsule(knee, ankle, limb, limb * 0.85), _shade(shin, far)),
            (_capsule(ankle, toe, limb * 0.8), _shade(st["shoe"], far))]


def _arm_parts(fig: _Figure, side: int) -> List[Tuple]:
    """Upper arm (sleeve), forearm (bare with short sleeves) and hand of arm ``side``."""
    joints, far, st, skin, limb = fig.pose["arms"][side], fig.view.far(side), fig.st, fig.idn["skin"], fig.limb
    sh, elbow, wrist = (fig.view(*joints[k]) for k in ("shoulder", "elbow", "wrist"))
    return [(_capsule(sh, elbow, limb * 1.1, limb * 0.9), _shade(st["top"], far)),
            (_capsule(elbow, wrist, limb * 0.9, limb * 0.75), _shade(skin if st["short"] else st["top"], far)),
            (_capsule(wrist, wrist, limb * 0.8), _shade(skin, far))]


def _trunk_parts(fig: _Figure) -> List[Tuple]:
    """Neck, the hips of the bottoms, a skirt, and the torso in its top (plain or textured), back to front."""
    v, p, idn, st, bottom = fig.view, fig.pose, fig.idn, fig.st, fig.st["bottom"]
    pelvis, chest, hip_u, hip, shoulder = p["pelvis"], p["chest"], p["hip_u"], idn["hip"], idn["shoulder"]
    parts = [(_capsule(v(*chest), v(*p["head"]), fig.head_r * .45), idn["skin"]),
             (_tbox(v(*pelvis), v(0, 0, hip_u - .07), v.width(hip, hip * .7), v.width(hip * .8, hip * .6),
                    fig.limb * .8), bottom)]
    if st["bottoms"] == 2:  # skirt
        parts.append((_tbox(v(*pelvis), v(0, 0, hip_u - idn["leg"] * .45), v.width(hip, hip * .7),
                            v.width(hip * 1.5, hip * 1.1), 1.0), bottom))
    tw = (v.width(hip, hip * .7), v.width(shoulder, shoulder * .55))  # torso half widths at hips, shoulders
    fill = st["top"] if st["texture"] == 0 else _texture(st["texture"], st["top"], st["top2"],
                                                         _frame(v(*pelvis), v(*chest)), (-0.45 * tw[1] * v.cos, tw[1]))
    return parts + [(_tbox(v(*pelvis), v(*chest), *tw, fig.limb), fill)]


def _hair_parts(fig: _Figure) -> Tuple[List[Tuple], List[Tuple]]:
    """Hair behind the head (long, ponytail, bun) and over it (none when bald), placed around the head
    centre in pixels: "back" is where the figure's -forward projects on screen."""
    hx, hy = fig.view(*fig.pose["head"])
    back, style, r = -fig.view.cos, fig.idn["style"], fig.head_r
    behind = []
    if style == "long":
        behind.append(_capsule((hx + back * .3 * r, hy), (hx + back * .5 * r, hy + 2.6 * r), r * .95))
    elif style == "ponytail":
        behind.append(_capsule((hx + back * .9 * r, hy - .2 * r), (hx + back * 1.5 * r, hy + 1.3 * r), r * .35))
    elif style == "bun":
        bun = (hx + back * .6 * r, hy - .8 * r)
        behind.append(_capsule(bun, bun, r * .5))
    over = [] if style == "bald" else [_hair_cap(hx, hy, r, back)]
    return [(s, fig.idn["hair"]) for s in behind], [(s, fig.idn["hair"]) for s in over]


def _hair_cap(hx, hy, r: float, back: float):
    """Hair on the head of radius ``r`` at (hx, hy): a disc a little larger than the head, shifted back,
    cut by a line tilted towards the back so that the face stays bare."""
    nx, ny = back * .7, -1.0
    nn = math.hypot(nx, ny)
    ccx, ccy, rr = _col(hx + back * .08 * r), _col(hy - .08 * r), r * 1.1
    hcx, hcy = _col(hx), _col(hy)

    def sdf(X, Y):
        return np.maximum(_len(X - ccx, Y - ccy) - rr, -((X - hcx) * nx + (Y - hcy) * ny) / nn - .1 * r)
    return sdf, _bounds(((hx, hy),), rr + 1)


def _shoulder_bag(fig: _Figure) -> Tuple[Tuple, float, bool]:
    """The shoulder bag hanging at the hip of side +1: its shape, its lateral place, whether it is near."""
    v, hip_u, lat = fig.view, fig.pose["hip_u"], fig.idn["hip"] + .03
    w = v.width(.02, .07)
    return _tbox(v(0, lat, hip_u - .08), v(0, lat, hip_u + .04), w, w, 1.0), lat, lat * v.cos >= 0


def _backpack(fig: _Figure) -> Tuple:
    """A box on the back, from a quarter to nine tenths up the torso, following its lean."""
    v, p, idn = fig.view, fig.pose, fig.idn
    chest, hip_u, torso, lean = p["chest"], p["hip_u"], p["torso"], idn["lean"]
    bd = idn["shoulder"] * .55 + .05  # how far behind the spine its centre sits
    w = v.width(idn["shoulder"] * .8, .06)
    return _tbox(v(-bd * math.cos(lean) + chest[0] * .25, 0, hip_u + torso * .25),
                 v(-bd * math.cos(lean) + chest[0] * .9, 0, hip_u + torso * .9), w, w, 1.5)


def _bag_parts_behind(fig: _Figure) -> List[Tuple]:
    """What hangs behind the body: a backpack, or a shoulder bag on the far hip."""
    colour = fig.st["bag_colour"]
    if fig.st["bag"] == 1:
        return [(_backpack(fig), colour)]
    if fig.st["bag"] == 2:
        bag, _, near = _shoulder_bag(fig)
        return [] if near else [(bag, colour)]
    return []


def _bag_parts_front(fig: _Figure) -> List[Tuple]:
    """What crosses the front of the body: backpack straps, or a shoulder bag's strap (and the bag on the near hip)."""
    v, p, idn, st = fig.view, fig.pose, fig.idn, fig.st
    chest, hip_u, torso = p["chest"], p["hip_u"], p["torso"]
    strap_r, strap_colour = .3 * fig.limb + .3, _shade(st["bag_colour"], True)
    if st["bag"] == 1:
        lats = [side * idn["shoulder"] * .5 for side in (-1, 1)]
        return [(_capsule(v(chest[0], lat, chest[2]), v(chest[0] * .4, lat * 1.2, hip_u + torso * .3), strap_r),
                 strap_colour) for lat in lats]
    if st["bag"] == 2:
        bag, lat, near = _shoulder_bag(fig)
        strap = _capsule(v(chest[0], -idn["shoulder"] * .6, chest[2]), v(0, lat, hip_u - .02), strap_r)
        return [(strap, strap_colour)] + ([(bag, st["bag_colour"])] if near else [])
    return []


# ----------------------------------------------------------------------------- background and camera
def _background(cfg: SynthConfig, cm: Dict, j: np.ndarray, t: np.ndarray, scroll: float) -> np.ndarray:
    """Planar (3, T, H, W) float32: a wall with vertical bands scrolling ``scroll`` pixels per frame against
    the walk (the walker stays in place), a floor below the horizon; colours shifted per video."""
    H, W = cfg.height, cfg.width
    x, y = np.arange(W) + 0.5, np.arange(H) + 0.5
    bands = cm["band_amp"] * np.sin(2 * np.pi * cm["band_freq"] * (x[None] + scroll * t[:, None])
                                    + 2 * np.pi * j[10])
    shift = (.08 * (j[7:10] - .5))[:, None, None, None]
    wall = _f32((cm["wall"][:, None, None, None] + shift) * (1 + bands[:, None, :]))
    hz = cm["horizon"] * H
    floor = _f32((cm["floor"][:, None, None, None] + shift) * (1 + .3 * (y - hz) / H)[:, None])
    m = _f32(np.clip((y - hz) / 1.5 + .5, 0, 1)[:, None])
    return wall + m * (floor - wall)


def _expose(cfg: SynthConfig, img: np.ndarray, cm: Dict, j: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Camera gain (jittered per video), sensor noise on luminance, rounding: planar -> (T, H, W, 3) uint8."""
    img *= _f32(cm["gain"] * (1 + .08 * (j[4:7] - .5)) * 255)[:, None, None, None]
    if cfg.noise > 0:
        img += _noise(rng, img.shape[1:]) * np.float32(cfg.noise * 255)
    img += 0.5
    return np.clip(img, 0, 255).astype(np.uint8).transpose(1, 2, 3, 0).copy()


# ----------------------------------------------------------------------------- writing
def _plan(cfg: SynthConfig) -> List[Tuple[str, str, str, int, int, int, int, str]]:
    """All tracklets: (split, session, folder, pid, suit, cam, rep, clothes label)."""
    rows = []
    for pid in range(1, cfg.num_train_ids + cfg.num_test_ids + 1):
        train = pid <= cfg.num_train_ids
        for suit in range(1, _identity(cfg, pid)["suits"] + 1):
            label = _suit(cfg, pid, suit)["label"]
            for cam in range(1, cfg.num_cameras + 1):
                for rep in range(1, cfg.videos_per_suit_camera + 1):
                    split = "train" if train else "query" if rep == 1 else "gallery"
                    rows.append((split, "session1" if train else "session2", f"{pid:03d}_{cam:02d}_{suit}{rep}",
                                 pid, suit, cam, rep, label))
    return rows


def _write_jpegs(folder: Path, frames: np.ndarray) -> None:
    from PIL import Image
    folder.mkdir(parents=True)
    for i, fr in enumerate(frames, 1):
        Image.fromarray(fr).save(folder / f"{i:05d}.jpg", quality=95, subsampling=0)


def _write_mp4(path: Path, frames: np.ndarray, fps: int = 25) -> None:
    """H.264, GOP 8, no B-frames. 4:4:4 chroma: at 64x32, 4:2:0 smears the 1-2 px colour details
    (stripes, checks, logos, shoes) and the decoded frames fall to 23-30 dB PSNR against the JPEGs."""
    import av
    with av.open(str(path), "w") as out:
        st = out.add_stream("libx264", rate=fps)
        st.width, st.height, st.pix_fmt = frames.shape[2], frames.shape[1], "yuv444p"
        st.codec_context.thread_count = 1
        st.options = {"crf": "15", "preset": "ultrafast", "threads": "1",
                      "x264-params": "keyint=8:min-keyint=8:scenecut=0:bframes=0"}
        for fr in frames:
            out.mux(st.encode(av.VideoFrame.from_ndarray(fr, format="rgb24")))
        out.mux(st.encode())


def _make_video(job) -> int:
    cfg, root, (_, session, folder, pid, suit, cam, rep, _) = job
    frames = render_tracklet(cfg, pid, suit, cam, rep)
    _write_jpegs(root / session / folder, frames)
    if cfg.write_videos:
        _write_mp4(root / "videos" / session / f"{folder}.mp4", frames)
    return len(frames)


class OutputExists(DatasetError, FileExistsError):
    """The output folder of :func:`generate` exists and is not empty (nothing is overwritten)."""


def _start_output(out: Path) -> Path:
    """The hidden sibling folder the dataset is built in; a one-line :class:`DatasetError` naming ``out`` when
    it cannot be made there (``out`` taken, below a file, on a read-only or virtual file system)."""
    if out.is_dir() and any(out.iterdir()):
        raise OutputExists(f"{out}: already exists and is not empty (give a new or empty folder)")
    if out.exists() and not out.is_dir():
        raise OutputExists(f"{out}: already exists and is not a folder")
    tmp = out.parent / f".{out.name}.tmp-{os.getpid()}-{os.urandom(4).hex()}"
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp.mkdir()
    except OSError as e:
        why = e.strerror or type(e).__name__
        raise DatasetError(f"{out}: cannot create the dataset folder there ({why})") from None
    return tmp


def generate(out_dir, cfg: SynthConfig = None) -> Path:
    """Write the dataset of ``cfg`` to ``out_dir`` (which must not exist or be empty); return its path.

    Layout (docs/reference-facts.md, D): ``{train,query,gallery}.txt`` with lines ``session1/007_02_31<TAB>007<TAB>
    <clothes label>``; frames ``session<S>/<pid>_<cam>_<suit><rep>/00001.jpg ...`` (train ids in
    session1, test ids in session2; one video per test (id, suit, camera) is a query, the rest
    gallery); with ``write_videos`` the same frames as ``videos/session<S>/<folder>.mp4``; and
    ``synth.json`` (config, counts, format version). The dataset is built in a hidden sibling
    folder and renamed into place at the end, so ``synth.json`` exists only in a complete dataset.
    """
    from .progress import bar
    cfg = cfg or SynthConfig()
    out = Path(out_dir)
    tmp = _start_output(out)
    try:
        rows = _plan(cfg)
        for split in ("train", "query", "gallery"):
            with open(tmp / f"{split}.txt", "w") as f:
                f.writelines(f"{r[1]}/{r[2]}\t{r[3]:03d}\t{r[7]}\n" for r in rows if r[0] == split)
        for session in ("session1", "session2"):
            (tmp / session).mkdir()
            if cfg.write_videos:
                (tmp / "videos" / session).mkdir(parents=True)
        jobs = [(cfg, tmp, r) for r in rows]
        pool = None
        if cfg.workers > 1:  # started before the progress bar's monitor thread exists
            pool = mp.get_context("fork" if "fork" in mp.get_all_start_methods() else "spawn").Pool(cfg.workers)
        with pool or contextlib.nullcontext():
            done = pool.imap_unordered(_make_video, jobs, chunksize=4) if pool else map(_make_video, jobs)
            for _ in bar(done, total=len(jobs), desc="embedded dataset", unit="video"):
                pass
        counts = {split: {"ids": len({r[3] for r in rows if r[0] == split}),
                          "tracklets": sum(r[0] == split for r in rows),
                          "clothes": len({(r[3], r[4]) for r in rows if r[0] == split})}
                  for split in ("train", "query", "gallery")}
        counts["frames"] = len(rows) * cfg.num_frames
        meta = {"format_version": FORMAT_VERSION, "config": asdict(cfg), "config_hash": config_hash(cfg),
                "counts": counts}
        (tmp / "synth.json").write_text(json.dumps(meta, indent=2) + "\n")
        try:
            os.replace(tmp, out)
        except OSError as e:
            raise OutputExists(f"{out}: appeared while generating ({e.strerror or e})") from None
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out


def ensure_dataset(cache_root, cfg: SynthConfig = None) -> Path:
    """``cache_root/<config hash>``, generated unless its ``synth.json`` is already there."""
    cfg = cfg or SynthConfig()
    out = Path(cache_root) / config_hash(cfg)
    if (out / "synth.json").is_file():
        return out
    if out.exists():  # not ours: a complete dataset always has synth.json
        shutil.rmtree(out)
    try:
        return generate(out, cfg)
    except FileExistsError:
        if (out / "synth.json").is_file():  # another process finished it first
            return out
        raise
