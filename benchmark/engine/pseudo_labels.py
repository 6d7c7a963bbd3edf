"""Clothes labels for CAL where a dataset has none: pseudo outfits from the training split alone.

``cal.clothes_labels`` names the source (:data:`CLOTHES_LABEL_SOURCES`, stated here once):

* ``annotated``: the dataset's own clothes labels (the paper's setting; nothing here runs);
* ``camera``: the (identity, camera) pair is the outfit;
* ``colour``: per training tracklet, hue and brightness histograms of the upper and the lower body over a
  few frames (:func:`colour_statistics`), clustered within each identity (:func:`cluster_within_identity`);
* ``cluster``: the same within-identity clustering on the current model's tracklet features (the session
  computes them at ``cal.start_epoch`` and every ``cal.relabel_every`` epochs after it).

Within an identity, tracklets are clustered agglomeratively (average linkage, scikit-learn) until the
clusters are farther apart than a cut (:func:`cut_distance`: :data:`RELATIVE_CUT` x the median distance
between two tracklets of one identity, pooled over identities, the scale that separates "same outfit" from
"another outfit" in the features at hand), so the number of outfits per identity follows from the data,
never fixed. Nothing here reads
the query or the gallery, and nothing draws random numbers. :func:`agreement` scores pseudo labels against
the true ones (adjusted Rand index within identities, purity), where a dataset has them.

Plain values only (arrays, tracklets): nothing here imports the run config, so the config can name
:data:`CLOTHES_LABEL_SOURCES` as the owner of ``cal.clothes_labels`` without a cycle.
"""
from __future__ import annotations

from collections import defaultdict
from typing import Dict, Hashable, List, Optional, Sequence, Tuple

import numpy as np

from ccvid.records import ReIDDataset, Tracklet, build_pid2clothes

CLOTHES_LABEL_SOURCES = ("annotated", "cluster", "colour", "camera")
# within an identity, clusters closer than this share of the median distance between two tracklets of one identity
# merge (chosen on the training split of the validation set, seed 0: docs/pseudo-labels.md)
RELATIVE_CUT = 0.75
COLOUR_FRAMES = 4          # frames per tracklet read for its colour statistics
COLOUR_SIZE = (64, 32)     # (height, width) they are read at
HUE_BINS, VALUE_BINS = 6, 3
# the body regions, as fractions of the crop: (top, bottom, left, right); the central columns keep most of the
# background out
REGIONS = {"upper": (0.25, 0.48, 0.38, 0.62), "lower": (0.52, 0.72, 0.38, 0.62)}


def has_clothes_labels(data: ReIDDataset) -> bool:
    """False when the dataset says it has none (``meta["clothes_labels"]`` False) or no training identity
    wears more than one clothes id (CAL would only see one outfit per person)."""
    if data.meta.get("clothes_labels") is False:
        return False
    outfits: Dict[int, set] = defaultdict(set)
    for t in data.train:
        outfits[t.pid].add(t.clothes)
    return any(len(c) > 1 for c in outfits.values())


def dense_labels(keys: Sequence[Hashable]) -> np.ndarray:
    """Keys -> 0..C-1 in order of first appearance."""
    index: Dict[Hashable, int] = {}
    return np.array([index.setdefault(k, len(index)) for k in keys], dtype=np.int64)


def camera_labels(train: Sequence[Tracklet]) -> np.ndarray:
    """One outfit per (identity, camera)."""
    return dense_labels([(t.pid, t.camid) for t in train])


def identity_labels(train: Sequence[Tracklet]) -> np.ndarray:
    """One outfit per identity (what ``cluster`` starts from, before the model's features are clustered)."""
    return dense_labels([t.pid for t in train])


def _evenly(length: int, n: int) -> List[int]:
    if length <= n:
        return list(range(length))
    return [int(round(x)) for x in np.linspace(0, length - 1, n)]


def _region_histogram(hsv: np.ndarray) -> np.ndarray:
    """(N, 3) HSV pixels in [0, 1] -> hue histogram weighted by saturation, then a value histogram weighted by
    its complement (greys, black and white), normalised to sum 1: a gain-robust colour signature."""
    h, s, v = hsv[:, 0], hsv[:, 1], hsv[:, 2]
    hue = np.bincount(np.minimum((h * HUE_BINS).astype(int), HUE_BINS - 1), weights=s * v, minlength=HUE_BINS)
    value = np.bincount(np.minimum((v * VALUE_BINS).astype(int), VALUE_BINS - 1), weights=1 - s,
                        minlength=VALUE_BINS)
    hist = np.concatenate([hue, value])
    return hist / max(hist.sum(), 1e-12)


def _rgb_to_hsv(rgb: np.ndarray) -> np.ndarray:
    """(..., 3) RGB in [0, 1] -> HSV in [0, 1] (hue as a fraction of the circle)."""
    mx, mn = rgb.max(-1), rgb.min(-1)
    delta = mx - mn
    safe = np.where(delta > 0, delta, 1.0)
    r, g, b = rgb[..., 0], rgb[..., 1], rgb[..., 2]
    hue = np.where(mx == r, ((g - b) / safe) % 6, np.where(mx == g, (b - r) / safe + 2, (r - g) / safe + 4)) / 6
    hue = np.where(delta > 0, hue, 0.0)
    sat = np.where(mx > 0, delta / np.where(mx > 0, mx, 1.0), 0.0)
    return np.stack([hue, sat, mx], -1)


def describe_frames(frames: np.ndarray) -> np.ndarray:
    """uint8 (T, H, W, 3) -> the colour signature of the upper and the lower body (square roots of the
    histograms, so that Euclidean distances are Hellinger distances)."""
    hsv = _rgb_to_hsv(frames.astype(np.float64) / 255.0)
    _, height, width, _ = frames.shape
    parts = []
    for top, bottom, left, right in REGIONS.values():
        region = hsv[:, int(top * height):int(bottom * height), int(left * width):int(right * width)]
        parts.append(np.sqrt(_region_histogram(region.reshape(-1, 3))))
    return np.concatenate(parts)


def colour_statistics(train: Sequence[Tracklet], frames: int = COLOUR_FRAMES,
                      size: Tuple[int, int] = COLOUR_SIZE) -> np.ndarray:
    """(tracklets, D) colour signatures of ``frames`` evenly spaced frames of each training tracklet, read
    with the suite's own frame readers."""
    from samplers import reader_for, tracklet_length

    out = []
    for t in train:
        clip = reader_for(t).read(t, _evenly(tracklet_length(t), frames), size)
        out.append(describe_frames(clip))
    return np.stack(out) if out else np.zeros((0, 2 * (HUE_BINS + VALUE_BINS)))


def cut_distance(x: np.ndarray, pids: np.ndarray, metric: str, factor: float = RELATIVE_CUT) -> float:
    """``factor`` x the median distance between two tracklets of one identity, pooled over all identities.

    Most identities of a clothes-changing training set wear several outfits, so the pairs of one identity mix
    "same outfit" (near) and "another outfit" (far), and a cut below their median separates the two, in any
    features: colour signatures, or a model's, which an identity loss has pulled together within identities
    (the median distance between *different* identities, the first rule tried, put every identity in one
    outfit there: docs/pseudo-labels.md). At most 4,096 tracklets (every k-th) enter the median."""
    from sklearn.metrics import pairwise_distances

    rows = np.arange(0, len(x), max(1, len(x) // 4096))
    within = []
    for p in np.unique(pids[rows]):
        own = rows[pids[rows] == p]
        if len(own) > 1:
            within.append(pairwise_distances(x[own], metric=metric)[np.triu_indices(len(own), 1)])
    return float(factor * np.median(np.concatenate(within))) if within else 0.0


def _outfits_of_one(x: np.ndarray, metric: str, cut: float) -> np.ndarray:
    """Outfit labels 0..k-1 of one identity's tracklets (rows of ``x``): average-linkage clusters no farther
    apart than ``cut``, so k follows from the data."""
    from sklearn.cluster import AgglomerativeClustering

    if len(x) < 2 or cut <= 0:
        return np.zeros(len(x), dtype=np.int64)
    model = AgglomerativeClustering(n_clusters=None, distance_threshold=cut, metric=metric, linkage="average")
    return model.fit_predict(x).astype(np.int64)


def cluster_within_identity(features: np.ndarray, pids: Sequence[int], metric: str = "euclidean",
                            factor: float = RELATIVE_CUT) -> np.ndarray:
    """Pseudo outfits 0..C-1 of tracklets (rows of ``features``) clustered within each identity (module
    docstring); identities' outfits are numbered in order of the identities' first tracklets."""
    pids = np.asarray(pids)
    x = np.asarray(features, dtype=np.float64)
    cut = cut_distance(x, pids, metric, factor)
    keys: List[Tuple[int, int]] = [(0, 0)] * len(pids)
    for p in dict.fromkeys(pids.tolist()):
        rows = np.flatnonzero(pids == p)
        for row, outfit in zip(rows, _outfits_of_one(x[rows], metric, cut)):
            keys[row] = (p, int(outfit))
    return dense_labels(keys)


def agreement(pseudo: Sequence[int], true: Sequence[int], pids: Sequence[int]) -> Dict[str, float]:
    """How pseudo outfits agree with the true ones over the training tracklets.

    ``ari``: the adjusted Rand index within each identity, averaged with tracklet weights (across identities
    both labelings always disagree, which would inflate a global index); ``purity``: the share of tracklets
    whose pseudo outfit's most common true outfit is theirs; ``classes`` / ``true_classes``: how many.
    """
    from sklearn.metrics import adjusted_rand_score

    pseudo, true, pids = np.asarray(pseudo), np.asarray(true), np.asarray(pids)
    weighted, total = 0.0, 0
    for p in np.unique(pids):
        rows = pids == p
        if len(set(true[rows].tolist())) < 2 and len(set(pseudo[rows].tolist())) < 2:
            score = 1.0  # one outfit, found as one
        else:
            score = adjusted_rand_score(true[rows], pseudo[rows])
        weighted += score * rows.sum()
        total += int(rows.sum())
    majority = 0
    for c in np.unique(pseudo):
        majority += np.bincount(dense_labels(true[pseudo == c].tolist())).max()
    return {"ari": round(float(weighted / max(total, 1)), 4), "purity": round(float(majority / max(len(true), 1)), 4),
            "classes": int(len(np.unique(pseudo))), "true_classes": int(len(set(zip(pids.tolist(), true.tolist()))))}


def source_labels(source: str, train: Sequence[Tracklet], features: Optional[np.ndarray] = None) -> np.ndarray:
    """The pseudo outfits of ``source`` for the training tracklets (``cluster`` needs the model's ``features``;
    without them it starts from one outfit per identity)."""
    pids = [t.pid for t in train]
    if source == "camera":
        return camera_labels(train)
    if source == "colour":
        return cluster_within_identity(colour_statistics(train), pids)
    if source == "cluster":
        if features is None:
            return identity_labels(train)
        return cluster_within_identity(features, pids, metric="cosine")
    raise ValueError(f"clothes labels {source!r}: expected one of {', '.join(CLOTHES_LABEL_SOURCES[1:])}")


def with_labels(data: ReIDDataset, labels: np.ndarray) -> ReIDDataset:
    """A copy of ``data`` whose training tracklets wear ``labels`` (test splits unchanged)."""
    import dataclasses

    train = [dataclasses.replace(t, clothes=int(c)) for t, c in zip(data.train, labels)]
    num = int(labels.max()) + 1 if len(labels) else 0
    return dataclasses.replace(data, train=train, num_train_clothes=num,
                               pid2clothes=build_pid2clothes(train, data.num_train_pids, num), meta=dict(data.meta))
