"""Test time: whole-video features of the query and gallery, and their metrics under the dataset's protocols."""
from __future__ import annotations

import logging
import os
from typing import Dict, Optional

import numpy as np

from temporal_models.features import extract_features

from ..config import Config, ConfigError
from ..evaluation import CLOTHES_PROTOCOLS, SHOTS, save_features_npz
from . import distributed
from .loaders import test_loader

log = logging.getLogger(__name__)


def test_features(model, data, cfg: Config, device, variant: Optional[str] = None):
    """(query, gallery) test features: whole-video clip averages (plus mirrors with ``eval.flip``), L2-normalised
    unless ``eval.normalize`` is false, the clips shown as test ``variant`` (default: ``eval.variant``).

    Under several processes each rank extracts a contiguous shard and rank 0 gathers exactly one
    feature per item, in order (other ranks get None).
    """
    out = []
    for split, items in (("query", data.query), ("gallery", data.gallery)):
        part = items if distributed.world_size() == 1 else [items[i] for i in distributed.shard(len(items))]
        feats = extract_features(model, test_loader(cfg, part, variant), device, split, cfg.eval.clips_per_batch,
                                 flip=cfg.eval.flip, aggregate=cfg.eval.feature, normalize=cfg.eval.normalize,
                                 normalization=cfg.data.normalize)
        out.append(feats if distributed.world_size() == 1 else distributed.gather_rows(feats, len(items)))
    return tuple(out)


def evaluate_model(model, data, cfg: Config, device, save_features: Optional[str] = None,
                   variant: Optional[str] = None) -> Dict[str, Optional[dict]]:
    """Score the test split with the protocols the dataset reports (CC/SC need clothes labels).

    ``save_features``: also write the test features there (one process only). ``variant``: the test variant
    (default: ``eval.variant``).
    """
    if distributed.world_size() > 1:
        distributed.sync_buffers(model)
        q, g = test_features(model, data, cfg, device, variant)
        return distributed.broadcast(score_features(q, g, data, cfg, device) if distributed.is_main() else None)
    q, g = test_features(model, data, cfg, device, variant)
    if save_features:
        export_features(q, g, data, save_features)
    return score_features(q, g, data, cfg, device)


def export_features(q, g, data, folder: str) -> None:
    """``folder/query.npz`` and ``folder/gallery.npz``: what ``benchmark evaluate`` (or another codebase) reads."""
    try:
        os.makedirs(folder, exist_ok=True)
    except OSError as e:
        raise ConfigError(f"--save-features {folder}: cannot create the folder ({e.strerror})") from None
    clothes = with_clothes(data)
    for name, feats, items in (("query", q, data.query), ("gallery", g, data.gallery)):
        save_features_npz(os.path.join(folder, f"{name}.npz"), feats, [t.pid for t in items], [t.camid for t in items],
                          [t.clothes for t in items] if clothes else None)
        log.info("features: %s (%d x %d)", os.path.join(folder, f"{name}.npz"), *feats.shape)


def with_clothes(data) -> bool:
    """Whether the dataset reports a clothes protocol (CC or SC), so its clothes labels are scored and saved."""
    return bool(set(CLOTHES_PROTOCOLS) & set(data.meta.get("protocols", CLOTHES_PROTOCOLS)))


def score_features(q, g, data, cfg: Config, device) -> Dict[str, Optional[dict]]:
    """The metrics of test features under the config's test variant (``eval.shot``), metric and re-ranking."""
    def labels(items, attribute):
        return np.array([getattr(t, attribute) for t in items])

    clothes = with_clothes(data)
    return SHOTS[cfg.eval.shot](
        q, g, labels(data.query, "pid"), labels(data.gallery, "pid"), labels(data.query, "camid"),
        labels(data.gallery, "camid"), labels(data.query, "clothes") if clothes else None,
        labels(data.gallery, "clothes") if clothes else None,
        draws=cfg.eval.draws, metric=cfg.eval.metric, device=device, features_normalized=cfg.eval.normalize,
        rerank=cfg.eval.rerank)


def evaluate_variants(model, data, cfg: Config, device, variants) -> Dict[str, Dict[str, Optional[dict]]]:
    """The metrics of each test variant in ``variants`` (name -> protocol -> scores)."""
    return {v: evaluate_model(model, data, cfg, device, variant=v) for v in variants}
