"""The objectives a run optimises: a table of named terms, built from the config.

A term is a function of one iteration's :class:`Batch` that returns a scalar loss, registered by
name with :func:`register_objective`, which also says

- ``step``: which of the two optimiser steps of an iteration it belongs to: ``"clothes"`` (step 1:
  the clothes classifier learns on detached features, with its own optimiser) or ``"model"``
  (step 2: the model and the ID classifiers);
- ``weight``: the dotted config field that holds its weight (none: weight 1);
- ``when``: whether it is on for a config at an epoch (default: always).

:func:`objective_terms` lists, in the order of registration, the terms that are on; the trainer
sums each step's terms (weight x term) and logs each under its name, and a run folder's
``metrics.csv`` has a column per registered name (:func:`scalar_names`). A new objective is
one function here plus the config field of its weight (and of its parameters), so that a run
switches it on by its config and its record says so::

    @register_objective("center", weight="loss.center_weight", when=lambda cfg, epoch: cfg.loss.center_weight > 0)
    def center(batch: Batch) -> torch.Tensor:
        ...

This module imports nothing of the run config: terms read the fields they need from ``batch.cfg``.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Dict, List, Optional, Tuple

import torch
import torch.nn.functional as F

from ccvid.base import Registry

from .losses import cal_loss, memory_cal_loss, triplet_loss, update_clothes_memory

STEPS = ("model", "clothes")   # the order of the table in logs and metrics.csv; the clothes step runs first
# what an iteration logs besides its terms: the total of the model step, and the clothes classifier's
# accuracy among the suits of the sample's own identity (CAL aims to lower it)
DIAGNOSTICS = ("clothes_acc_within_id",)
TOTAL = "loss"

# no entry-point group: a term installed with a package would change the loss of every run without its config
# saying so
OBJECTIVES = Registry("objective")


@dataclass
class Batch:
    """What a term sees in one iteration."""

    cfg: Any                          # the run config (read-only)
    epoch: int                        # 0-based
    output: Any                       # the model's ModelOutput: features, id_features, triplet_features
    pids: torch.Tensor                # (B,) training identity labels
    clothes: torch.Tensor             # (B,) training clothes labels
    pos_mask: torch.Tensor            # (B, C) 1 for the clothes classes of the sample's identity
    heads: Any                        # the training heads: id_classifiers, clothes_classifier, clothes memory
    clothes_logits: Optional[torch.Tensor] = None  # step 1's cosines of the detached features (clothes step)


@dataclass(frozen=True)
class Term:
    """One term of a run's loss: its name, function, step and weight."""

    name: str
    fn: Callable[[Batch], torch.Tensor]
    step: str
    weight: float


def register_objective(name: str, *, step: str = "model", weight: Optional[str] = None,
                       when: Optional[Callable[[Any, int], bool]] = None) -> Callable:
    """Register ``fn(batch) -> scalar tensor`` as the objective ``name`` (see the module docstring)."""
    if step not in STEPS:
        raise ValueError(f"objective {name!r}: step must be one of {', '.join(STEPS)}, got {step!r}")
    return OBJECTIVES.register(name, step=step, weight=weight, when=when)


def _field(cfg: Any, dotted: str) -> Any:
    value = cfg
    for part in dotted.split("."):
        value = getattr(value, part)
    return value


def objective_terms(cfg: Any, epoch: int, step: Optional[str] = None) -> List[Term]:
    """The terms on at ``epoch`` (of ``step`` only, when given), in the order of registration."""
    out = []
    for name, fn in OBJECTIVES.items():
        info = OBJECTIVES.info(name)
        term_step = info.get("step", "model")
        when = info.get("when")
        if (step is None or term_step == step) and (when is None or when(cfg, epoch)):
            weight = info.get("weight")
            out.append(Term(name, fn, term_step, 1.0 if weight is None else float(_field(cfg, weight))))
    return out


def weighted_sum(terms: List[Term], batch: Batch, logs: Dict[str, float]) -> Optional[torch.Tensor]:
    """Sum of weight x term, in order (None without terms); each term's value is logged under its name."""
    total = None
    for term in terms:
        value = term.fn(batch)
        logs[term.name] = value.item()
        weighted = value if term.weight == 1.0 else term.weight * value
        total = weighted if total is None else total + weighted
    return total


def scalar_names() -> Tuple[str, ...]:
    """What an epoch logs: the total, every registered term (model step, then clothes step), the diagnostics."""
    names = OBJECTIVES.names()
    by_step = [n for s in STEPS for n in names if OBJECTIVES.info(n).get("step", "model") == s]
    return (TOTAL, *by_step, *DIAGNOSTICS)


# --------------------------------------------------------------------------- the built-in terms
@register_objective("id_loss", weight="loss.id_weight", when=lambda cfg, epoch: cfg.loss.id_weight > 0)
def id_loss(batch: Batch) -> torch.Tensor:
    """Cross-entropy of each ID feature's classifier (label smoothing ``loss.label_smoothing``), summed; weight
    ``loss.id_weight`` (0: off, as GaitSet's own recipe, which trains the triplet loss only)."""
    smoothing = batch.cfg.loss.label_smoothing
    return sum(F.cross_entropy(cls(f), batch.pids, label_smoothing=smoothing)
               for cls, f in zip(batch.heads.id_classifiers, batch.output.id_features))


@register_objective("triplet", weight="loss.triplet_weight", when=lambda cfg, epoch: cfg.loss.triplet_weight > 0)
def triplet(batch: Batch) -> torch.Tensor:
    """The triplet loss of ``loss.triplet_*`` on each triplet feature (each ID feature if the model gives none);
    a (B, P, d) feature is one loss per part, averaged."""
    s = batch.cfg.loss
    kw = dict(margin=s.triplet_margin, distance=s.triplet_distance, mining=s.triplet_mining)

    def one(t: torch.Tensor) -> torch.Tensor:
        if t.dim() == 3:
            return torch.stack([triplet_loss(t[:, p], batch.pids, **kw) for p in range(t.shape[1])]).mean()
        return triplet_loss(t, batch.pids, **kw)
    return sum(one(t) for t in batch.output.triplet_features or batch.output.id_features)


def _cal_classifier(batch: Batch) -> torch.Tensor:
    """The paper's CAL: through the clothes classifier just updated by step 1."""
    c = batch.cfg.cal
    logits = batch.heads.clothes_classifier(batch.output.features)
    return cal_loss(logits, batch.clothes, batch.pos_mask, c.scale, c.epsilon)


def _cal_memory(batch: Batch) -> torch.Tensor:
    """The reference's memory-bank CAL: the batch is written into the clothes memory first (``cal.memory_write``),
    then CAL against it."""
    c, heads, feats = batch.cfg.cal, batch.heads, batch.output.features
    update_clothes_memory(heads.clothes_memory, heads.clothes_memory_filled, feats, batch.clothes, c.memory_momentum,
                          c.memory_write)
    return memory_cal_loss(feats, batch.clothes, batch.pos_mask, heads.clothes_memory, heads.clothes_memory_filled,
                           c.scale, c.epsilon)


CAL_VARIANTS: Dict[str, Callable[[Batch], torch.Tensor]] = {"classifier": _cal_classifier, "memory": _cal_memory}


@register_objective("cal", when=lambda cfg, epoch: cfg.cal.enabled and epoch >= cfg.cal.start_epoch)
def cal(batch: Batch) -> torch.Tensor:
    """The Clothes-based Adversarial Loss (``cal.variant``: classifier, the paper's, or memory, the reference's)."""
    return CAL_VARIANTS[batch.cfg.cal.variant](batch)


def _through_clothes_classifier(batch: Batch) -> torch.Tensor:
    """The clothes classification loss of the features through the clothes classifier (as the clothes step's)."""
    logits = batch.heads.clothes_classifier(batch.output.features)
    return F.cross_entropy(batch.cfg.cal.scale * logits, batch.clothes)


@register_objective("clothes_ce", weight="loss.clothes_ce_weight",
                    when=lambda cfg, epoch: cfg.loss.clothes_ce_weight > 0 and epoch >= cfg.cal.start_epoch)
def clothes_ce(batch: Batch) -> torch.Tensor:
    """Table 3's "w/ clothes classifier": the backbone also minimises the clothes classification loss."""
    return _through_clothes_classifier(batch)


@register_objective("neg_clothes_ce", weight="loss.neg_clothes_ce_weight",
                    when=lambda cfg, epoch: cfg.loss.neg_clothes_ce_weight > 0 and epoch >= cfg.cal.start_epoch)
def neg_clothes_ce(batch: Batch) -> torch.Tensor:
    """Table 3's "CAL(-L_C)": the adversarial term is minus the clothes classification loss."""
    return -_through_clothes_classifier(batch)


@register_objective("clothes_loss", step="clothes")
def clothes_loss(batch: Batch) -> torch.Tensor:
    """The clothes classifier's cross-entropy on the detached features, logits scaled by ``cal.scale``."""
    return F.cross_entropy(batch.cfg.cal.scale * batch.clothes_logits, batch.clothes)
