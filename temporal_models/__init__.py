"""Clips to features: a registry of temporal models over 2-D ResNet backbones."""
import inspect

from ccvid.base import UserError

from .registry import BACKBONES, MODELS, UnknownNameError, register_backbone, register_model
from .base import ModelOutput, TemporalModel
from . import backbones, baseline  # noqa: F401  (register the built-in entries)
from . import gaitset, image, tclnet, video_resnet  # noqa: F401  (the model zoo and the image baseline)
from . import frames, timm_encoders  # noqa: F401  (heads over any frame encoder; timm:<name> frame encoders)
from . import video_networks  # noqa: F401  (pytorchvideo networks that bring their own backbone)
from .backbones import WeightsError, resolve_weights, sha256_file
from .nonlocal_block import INITS, check_init


def _takes(factory, arg: str) -> bool:
    """Whether ``factory`` accepts the keyword ``arg`` (by name or through **kwargs)."""
    try:
        params = inspect.signature(factory).parameters.values()
    except (TypeError, ValueError):  # no signature to read: pass only what every factory takes
        return False
    return any(p.name == arg or p.kind is inspect.Parameter.VAR_KEYWORD for p in params)


def _build_own_backbone(name: str, factory, backbone: str, pretrained, seq_len: int, **kwargs) -> TemporalModel:
    """A model registered with ``own_backbone=True``: no 2-D backbone is built; ``backbone`` is ignored when it
    names a registered ResNet (every preset sets one) and refused otherwise (a frame encoder cannot go in it)."""
    if backbone not in BACKBONES.names():
        raise UserError(f"model {name!r} brings its own backbone; model.backbone {backbone!r} does not apply "
                               "(leave model.backbone at a registered ResNet name, which it ignores)")
    MODELS.require(name)
    return factory(pretrained=pretrained, seq_len=seq_len, **kwargs)


def build_model(name: str, backbone: str = "resnet50", pretrained=None, res4_stride: int = 1,
                seq_len: int = 8, init: str = "pytorch", img_size=None, frame_pool: str = "auto",
                **kwargs) -> TemporalModel:
    """Build a registered temporal model over a registered 2-D backbone (none for a model that brings its own).

    ``init`` ("pytorch" | "reference", see :mod:`.nonlocal_block`) goes to factories that take it
    (by name or **kwargs); an older plugin factory without either still builds, with its own init.
    ``img_size`` (H, W) goes to backbones that take it (timm encoders: their position embedding's grid);
    ``frame_pool`` to models registered with ``frame_encoders=True`` (:mod:`.frames`).
    """
    factory = MODELS.get(name)
    check_init(init)
    if MODELS.owns_backbone(name):
        return _build_own_backbone(name, factory, backbone, pretrained, seq_len, **kwargs)
    make = BACKBONES.get(backbone)
    sized = {"img_size": tuple(img_size)} if img_size is not None and _takes(make, "img_size") else {}
    net = make(pretrained=pretrained, res4_stride=res4_stride, **sized)
    if _takes(factory, "init"):
        kwargs["init"] = init
    if MODELS.takes_frame_encoders(name):
        kwargs["frame_pool"] = frame_pool
    return factory(backbone=net, seq_len=seq_len, **kwargs)


__all__ = ["BACKBONES", "INITS", "MODELS", "UnknownNameError", "WeightsError", "register_backbone",
           "register_model", "ModelOutput", "TemporalModel", "build_model", "resolve_weights", "sha256_file"]
