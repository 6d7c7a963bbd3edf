"""Clips to features: a registry of temporal models over 2-D ResNet backbones."""
from .registry import BACKBONES, MODELS, UnknownNameError, register_backbone, register_model
from .base import ModelOutput, TemporalModel
from . import backbones, baseline  # noqa: F401  (register the built-in entries)
from . import gaitset, image, tclnet, video_resnet  # noqa: F401  (the model zoo and the image baseline)
from .backbones import WeightsError


def build_model(name: str, backbone: str = "resnet50", pretrained=None, res4_stride: int = 1,
                seq_len: int = 8, **kwargs) -> TemporalModel:
    """Build a registered temporal model over a registered 2-D backbone."""
    factory = MODELS.get(name)
    net = BACKBONES.get(backbone)(pretrained=pretrained, res4_stride=res4_stride)
    return factory(backbone=net, seq_len=seq_len, **kwargs)


__all__ = ["BACKBONES", "MODELS", "UnknownNameError", "WeightsError", "register_backbone",
           "register_model", "ModelOutput", "TemporalModel", "build_model"]
