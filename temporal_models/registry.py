"""The model and backbone registries (:class:`ccvid.base.Registry`), also filled from an entry-point group.

    from temporal_models import register_model

    @register_model("mymodel")
    def build(backbone, seq_len=8, **kwargs):
        return MyModel(backbone)

Outside packages make their models visible to ``benchmark run --model NAME``
without editing this repository by declaring, in their ``pyproject.toml``::

    [project.entry-points."ccreid.temporal_models"]
    mymodel = "my_package.models"          # a module whose import registers models
    # or: mymodel = "my_package.models:build"   # a factory, registered as "mymodel"

A model may also name the losses its own codebase trains it with
(``@register_model("tclnet", losses={"triplet_weight": 1.0, ...})``, or a
``loss_recipe`` dict attribute on an entry-point factory): config fields that
``benchmark run --set loss_recipe=model`` applies to runs of that model.
"""
from __future__ import annotations

from typing import Any, Dict

from ccvid.base import Registry, UnknownNameError

MODEL_ENTRY_POINT_GROUP = "ccreid.temporal_models"


class ModelRegistry(Registry):
    def loss_recipe(self, name: str) -> Dict[str, Any]:
        """The config fields of ``name``'s own loss recipe ({} for models that have none)."""
        obj = self.get(name)
        return dict(self.info(name).get("losses") or getattr(obj, "loss_recipe", None) or {})


MODELS = ModelRegistry("model", MODEL_ENTRY_POINT_GROUP)
BACKBONES = Registry("backbone")

register_model = MODELS.register
register_backbone = BACKBONES.register

__all__ = ["BACKBONES", "MODELS", "MODEL_ENTRY_POINT_GROUP", "ModelRegistry", "UnknownNameError", "register_backbone",
           "register_model"]
