"""The objectives of the paper's Table 3 by name, and the name of a run's objective.

A named objective is a set of config fields (``--objective NAME`` on ``benchmark run``, the
``objectives`` of a sweep spec); every field of :data:`OBJECTIVE_FIELDS` it does not name is
switched off. The loss terms themselves are in :mod:`benchmark.engine.objectives`.

- ``id``: the identity loss alone (the baseline);
- ``cal``: with the Clothes-based Adversarial Loss;
- ``id+triplet``: the triplet loss instead of CAL;
- ``id+clothes_ce``: "w/ clothes classifier": the backbone also minimises the clothes classification
  loss (from ``cal.start_epoch``);
- ``id+neg_clothes_ce``: "CAL(-L_C)": the adversarial term is minus the clothes classification loss
  (from ``cal.start_epoch``).

These names are the ``objective`` of a run record and of the published rows
(``leaderboards/published/``), so the paper's Table 3 rows sit beside ours.
"""
from __future__ import annotations

from typing import Any, Dict, Mapping

OBJECTIVE_FIELDS: Dict[str, Any] = {  # field -> its "off" value
    "cal.enabled": False, "loss.triplet_weight": 0.0, "loss.clothes_ce_weight": 0.0,
    "loss.neg_clothes_ce_weight": 0.0}
NAMED_OBJECTIVES: Dict[str, Dict[str, Any]] = {
    "id": {},
    "cal": {"cal.enabled": True},
    "id+triplet": {"loss.triplet_weight": 1.0},
    "id+clothes_ce": {"loss.clothes_ce_weight": 1.0},
    "id+neg_clothes_ce": {"loss.neg_clothes_ce_weight": 1.0},
}
# the terms beside ID / CAL that name an objective, in its name's order
_EXTRAS = (("loss.triplet_weight", "triplet"), ("loss.clothes_ce_weight", "clothes_ce"),
           ("loss.neg_clothes_ce_weight", "neg_clothes_ce"))


def objective_settings(name: str) -> Dict[str, Any]:
    """Every objective field for the named objective (the ones it does not name switched off)."""
    return {**OBJECTIVE_FIELDS, **NAMED_OBJECTIVES[name]}


def objective_name(flat: Mapping[str, Any]) -> str:
    """The objective of a flat config (``{"cal.enabled": ..., ...}``): ``cal`` or ``id``, then ``+term`` for each
    other term it trains (a model's own losses, ``loss.recipe=model``, are part of that model, not terms: GaitSet's
    triplet without an ID loss is still ``id``). An ID loss switched off by its weight (``loss.id_weight`` 0) outside
    a model's own recipe names the objective ``no_id+...`` (``cal`` alone: ``no_id+cal``)."""
    model_recipe = flat.get("loss.recipe") == "model"
    extras = [tag for field, tag in _EXTRAS if (flat.get(field) or 0) > 0
              and not (tag == "triplet" and model_recipe)]
    id_weight = flat.get("loss.id_weight")
    if id_weight is not None and id_weight <= 0 and not model_recipe:
        return "+".join(["no_id", *(["cal"] if flat.get("cal.enabled") else []), *extras])
    return "+".join(["cal" if flat.get("cal.enabled") else "id", *extras])
