"""Pseudo clothes labels in a run (``cal.clothes_labels``; the computation: :mod:`benchmark.engine.pseudo_labels`).

``annotated`` (the default) changes nothing: :func:`prepare` returns None and the run is today's, bit for
bit. Any other source relabels the training split before the model is built: the loader's clothes become
training-tracklet indices, which the trainer maps to their current outfit (``Trainer.clothes_of``), so that
``cluster`` can change the outfits between epochs without touching the loader (or its worker processes).
``cluster`` starts from one outfit per identity, clusters the current model's whole-video features of the
training tracklets at ``cal.start_epoch`` and every ``cal.relabel_every`` epochs after it, and rebuilds the
clothes classifier at the new number of classes (:meth:`~.trainer.Trainer.set_clothes_labels`).

A dataset without clothes labels is refused for ``--cal`` with ``annotated`` (one line naming the switch);
where true labels exist, every computation logs its agreement with them and the record keeps the last one
(``dataset.pseudo_clothes``).
"""
from __future__ import annotations

import dataclasses
import logging
import time
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional

import numpy as np

from ccvid import ReIDDataset

from ..config import Config, ConfigError
from ..config.checks import no_clothes_labels
from ..engine.pseudo_labels import agreement, has_clothes_labels, source_labels, with_labels

log = logging.getLogger(__name__)


@dataclass
class ClothesLabels:
    """The pseudo outfits of a run's training tracklets, where they came from and how they agree with the truth."""

    source: str
    data: ReIDDataset              # the dataset with the training split wearing the pseudo outfits
    indexed: ReIDDataset           # the same, each training tracklet's clothes = its index (what the loader reads)
    true: Optional[np.ndarray]     # the dataset's own training clothes (None: it has none)
    labels: np.ndarray
    computed_at: Optional[int] = None  # the epoch of the last clustering of model features (cluster)
    seconds: float = 0.0
    refreshes: List[Dict[str, Any]] = field(default_factory=list)

    def summary(self) -> Dict[str, Any]:
        """What the record keeps: the source, the classes and the agreement with the true outfits."""
        out: Dict[str, Any] = {"source": self.source, "classes": int(self.labels.max()) + 1,
                               "seconds": round(self.seconds, 2)}
        if self.true is not None:
            out.update(agreement(self.labels, self.true, self.pids))
        if self.source == "cluster":
            out["computed_at_epoch"] = self.computed_at
            out["refreshes"] = list(self.refreshes)
        return out

    @property
    def pids(self) -> np.ndarray:
        return np.array([t.pid for t in self.data.train])

    def log(self, when: str) -> Dict[str, Any]:
        s = self.summary()
        agree = (f"; agreement with the true outfits: ARI {s['ari']:.3f}, purity {s['purity']:.3f} "
                 f"({s['true_classes']} true)" if "ari" in s else "; the dataset has no true outfits to compare")
        log.info(f"clothes labels {self.source} {when}: {s['classes']} classes{agree}")
        return s


def prepare(cfg: Config, data: ReIDDataset) -> Optional[ClothesLabels]:
    """None for annotated labels (refusing CAL on a dataset without them); else the run's pseudo outfits."""
    source = cfg.cal.clothes_labels
    if source == "annotated":
        if cfg.cal.enabled and not has_clothes_labels(data):
            raise ConfigError(no_clothes_labels(data.name))
        return None
    t0 = time.perf_counter()
    true = np.array([t.clothes for t in data.train]) if has_clothes_labels(data) else None
    labels = source_labels(source, data.train)
    indexed = dataclasses.replace(data, train=[dataclasses.replace(t, clothes=i) for i, t in enumerate(data.train)])
    out = ClothesLabels(source, with_labels(data, labels), indexed, true, labels, seconds=time.perf_counter() - t0)
    out.log("from the training split" if source != "cluster" else
            f"start as one outfit per identity, until the model's features are clustered at epoch "
            f"{cfg.cal.start_epoch + 1}")
    return out


def due(cfg: Config, epoch: int) -> bool:
    """Whether ``cluster`` labels are (re)computed before ``epoch`` (0-based) trains."""
    c = cfg.cal
    if c.clothes_labels != "cluster" or epoch < c.start_epoch:
        return False
    return epoch == c.start_epoch or bool(c.relabel_every and (epoch - c.start_epoch) % c.relabel_every == 0)


def refresh(labels: Optional[ClothesLabels], cfg: Config, model, trainer, device, epoch: int) -> None:
    """Cluster the model's features of the training tracklets into new outfits when they are due."""
    if labels is None or not due(cfg, epoch):
        return
    t0 = time.perf_counter()
    train = labels.data.train
    set_labels(labels, trainer, source_labels("cluster", train, training_features(model, cfg, train, device)), epoch)
    labels.seconds += time.perf_counter() - t0
    s = labels.log(f"clustered from the model's features before epoch {epoch + 1}")
    labels.refreshes.append({k: s[k] for k in ("classes", "ari", "purity") if k in s} | {"epoch": epoch})


def training_features(model, cfg: Config, train, device) -> np.ndarray:
    """The model's whole-video features of the training tracklets, as the test extracts them (what ``cluster``
    clusters)."""
    from temporal_models.features import extract_features

    from .loaders import test_loader
    return extract_features(model, test_loader(cfg, train), device, "pseudo labels", cfg.eval.clips_per_batch,
                            normalization=cfg.data.normalize).numpy()


def set_labels(labels: ClothesLabels, trainer, outfits: np.ndarray, epoch: Optional[int]) -> None:
    """New outfits for the run: the labelled dataset, the trainer's map and its resized clothes classifier."""
    labels.labels, labels.computed_at = np.asarray(outfits, dtype=np.int64), epoch
    labels.data = with_labels(labels.data, labels.labels)
    trainer.set_clothes_labels(labels.labels, labels.data.pid2clothes)


def state(labels: Optional[ClothesLabels]) -> Dict[str, Any]:
    """What a training state keeps of them (nothing for annotated labels)."""
    if labels is None:
        return {}
    return {"clothes_labels": {"labels": labels.labels.tolist(), "computed_at": labels.computed_at,
                               "seconds": labels.seconds, "refreshes": labels.refreshes}}


def restore(labels: Optional[ClothesLabels], trainer, saved: Optional[Dict[str, Any]]) -> None:
    """Resize the trainer to the saved outfits before its heads' weights are loaded back."""
    if labels is None or not saved:
        return
    set_labels(labels, trainer, np.array(saved["labels"]), saved["computed_at"])
    labels.seconds, labels.refreshes = saved["seconds"], list(saved["refreshes"])

