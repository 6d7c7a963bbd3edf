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

import importlib
from dataclasses import dataclass
from typing import Any, Callable, Dict, Optional, Tuple

from ccvid.base import Registry, UnknownNameError, UserError

MODEL_ENTRY_POINT_GROUP = "ccreid.temporal_models"


class MissingDependencyError(UserError):
    """A model needs an optional package (an extra of the suite) that is not installed."""


class ModelRegistry(Registry):
    """Registered models. Besides ``losses``, a model may be registered with:

    - ``own_backbone=True``: it builds its own network (a pytorchvideo video network); ``build_model``
      builds no 2-D backbone for it, and its factory takes ``pretrained`` and ``seq_len``;
    - ``requires="module"``: the optional package it imports, installed by the extra of that name
      (``pip install 'ccreid-bench[module]'``); asking for the model without it is one line;
    - ``clip=(seq_len, stride)``: the clip length and frame step of its own published recipe, applied
      with the losses by ``loss.recipe=model`` (as ``data.seq_len`` and ``data.stride``).
    """

    def loss_recipe(self, name: str) -> Dict[str, Any]:
        """The config fields of ``name``'s own recipe: its losses and its clip ({} for models that have none)."""
        obj = self.get(name)
        recipe = dict(self.info(name).get("losses") or getattr(obj, "loss_recipe", None) or {})
        clip = self.info(name).get("clip")
        if clip:
            recipe.update({"data.seq_len": clip[0], "data.stride": clip[1]})
        return recipe

    def takes_frame_encoders(self, name: str) -> bool:
        """Whether ``name`` runs over a frame encoder (a ``timm:<name>`` backbone; registered with
        ``frame_encoders=True``, the ``frames_*`` heads) rather than a ResNet-layout backbone."""
        return bool(self.info(name).get("frame_encoders"))

    def frame_encoder_models(self) -> str:
        """The models that take a frame encoder, as a comma-separated list for messages."""
        return ", ".join(n for n in self.names() if self.takes_frame_encoders(n))

    def owns_backbone(self, name: str) -> bool:
        """Whether ``name`` brings its own network (``model.backbone`` does not apply to it)."""
        return bool(self.info(name).get("own_backbone"))

    def missing_dependency(self, name: str) -> Optional[str]:
        """The one-line reason ``name`` cannot be built here (its optional package is missing), or None."""
        module = self.info(name).get("requires")
        if not module:
            return None
        try:
            importlib.import_module(module)
        except ImportError as e:
            return (f"model {name!r} needs {module}, which does not import here ({type(e).__name__}: {e}); "
                    f"install the extra: pip install 'ccreid-bench[{module}]'")
        return None

    def require(self, name: str) -> None:
        """Raise a :class:`MissingDependencyError` when ``name``'s optional package is missing."""
        reason = self.missing_dependency(name)
        if reason:
            raise MissingDependencyError(reason)


@dataclass(frozen=True)
class Family:
    """Backbones named ``PREFIX<name>`` (``timm:vit_base_patch16_clip_224.openai``): a library's models, not
    registered one by one. ``factory(name)`` checks ``name`` (an :class:`UnknownNameError` with a did-you-mean
    for a typo) and returns the backbone factory; ``weights(spec, name)`` is the local file a
    ``model.pretrained`` value stands for (None without one); ``words`` are the non-path values it takes."""

    prefix: str
    factory: Callable[[str], Callable[..., Any]]
    weights: Callable[[Optional[str], str], Optional[str]]
    words: Tuple[str, ...] = ()


class BackboneRegistry(Registry):
    """Registered backbones, plus families of backbones named by a prefix (:class:`Family`)."""

    def __init__(self, kind: str):
        super().__init__(kind)
        self.families: Dict[str, Family] = {}

    def add_family(self, family: Family) -> Family:
        self.families[family.prefix] = family
        return family

    def family(self, name: str) -> Optional[Family]:
        """The family ``name`` belongs to (by its prefix), or None for a registered name."""
        return next((f for p, f in self.families.items() if str(name).startswith(p)), None)

    def get(self, name: str) -> Any:
        fam = self.family(name)
        return fam.factory(name[len(fam.prefix):]) if fam else super().get(name)

    def __contains__(self, name: str) -> bool:
        try:
            self.get(name)
        except UnknownNameError:
            return False
        return True


MODELS = ModelRegistry("model", MODEL_ENTRY_POINT_GROUP)
BACKBONES = BackboneRegistry("backbone")

register_model = MODELS.register
register_backbone = BACKBONES.register

__all__ = ["BACKBONES", "BackboneRegistry", "Family", "MODELS", "MODEL_ENTRY_POINT_GROUP", "MissingDependencyError",
           "ModelRegistry", "UnknownNameError", "register_backbone", "register_model"]
