"""Clips to features: a registry of temporal models over 2-D ResNet backbones."""
import inspect

from .registry import BACKBONES, MODELS, UnknownNameError, register_backbone, register_model
from .base import ModelOutput, TemporalModel
from . import backbones, baseline  # noqa: F401  (register the built-in entries)
from . import gaitset, image, tclnet, video_resnet  # noqa: F401  (the model zoo and the image baseline)
from .backbones import WeightsError, resolve_weights, sha256_file
from .nonlocal_block import INITS, check_init


def _takes(factory, arg: str) -> bool:
    """Whether ``factory`` accepts the keyword ``arg`` (by name or through **kwargs)."""
    try:
        params = inspect.signature(factory).parameters.values()
    except (TypeError, ValueError):  # no signature to read: pass only what every factory takes
        return False
    return any(p.name == arg or p.kind is inspect.Parameter.VAR_KEYWORD for p in params)


def build_model(name: str, backbone: str = "resnet50", pretrained=None, res4_stride: int = 1,
                seq_len: int = 8, init: str = "pytorch", **kwargs) -> TemporalModel:
    """Build a registered temporal model over a registered 2-D backbone.

    ``init`` ("pytorch" | "reference", see :mod:`.nonlocal_block`) goes to factories that take it
    (by name or **kwargs); an older plugin factory without either still builds, with its own init.
    """
    factory = MODELS.get(name)
    check_init(init)
    net = BACKBONES.get(backbone)(pretrained=pretrained, res4_stride=res4_stride)
    if _takes(factory, "init"):
        kwargs["init"] = init
    return factory(backbone=net, seq_len=seq_len, **kwargs)


__all__ = ["BACKBONES", "INITS", "MODELS", "UnknownNameError", "WeightsError", "register_backbone",
           "register_model", "ModelOutput", "TemporalModel", "build_model", "resolve_weights", "sha256_file"]
