"""Frame encoders from timm: ``model.backbone=timm:<name>`` for any model timm lists.

``timm:vit_base_patch16_clip_224.openai`` is built with ``timm.create_model(name, pretrained=False,
num_classes=0, img_size=(H, W))`` at the run's input size, so the position embedding has the run's
grid from the start (timm's own way of changing a ViT's input size). Another timm encoder is a config
value, not code: the name is checked against timm's own list (architectures and ``arch.tag`` names).

Weights never come from the network. ``model.pretrained`` is

    PATH      a local file: timm's or the original release's (.safetensors, .pth, .bin), or a suite run's
              ``model.pt`` (its encoder, ``backbone.net.*``: the second stage of a two-stage recipe)
    "timm"    the tag's file in timm's local Hugging Face cache, only when it is already there

and is loaded as timm loads pretrained weights: the model's own ``checkpoint_filter_fn`` converts the
release's layout and resamples the position embedding to the run's grid; the classifier is dropped;
any other missing or unexpected key is a :class:`WeightsError`. :func:`timm_weights` names the file, so
the run records its SHA-256 like a ResNet's.
"""
from __future__ import annotations

import importlib
import os
import sys
from typing import Dict, Optional, Tuple

import torch
from torch import nn

from ccvid.base import UserError, UnknownNameError, did_you_mean

from .backbones import WeightsError, check_fit
from .registry import BACKBONES, Family

PREFIX = "timm:"
CACHE_WORD = "timm"  # model.pretrained=timm: the tag's file in timm's local Hugging Face cache
HF_FILES = ("model.safetensors", "open_clip_pytorch_model.bin", "pytorch_model.bin")  # timm's names, in its order
SUITE_PREFIX = "backbone.net."  # a suite checkpoint's encoder keys (TimmEncoder inside a frames_* model)


def _timm():
    try:
        return importlib.import_module("timm")
    except ImportError:
        raise UserError("model.backbone timm:...: timm is not installed (pip install -e '.[timm]')") from None


def check_name(name: str) -> str:
    """``name`` if timm lists it (an architecture, or ``arch.tag`` with a tag timm knows); else a one-line
    :class:`UnknownNameError` with the closest names."""
    timm = _timm()
    arch, _, tag = name.partition(".")
    if timm.is_model(arch) and (not tag or name in timm.list_pretrained(f"{arch}.*")):
        return name
    known = timm.list_models() + timm.list_pretrained()
    hint = did_you_mean(PREFIX + name, [PREFIX + k for k in known], n=3)
    what = f"tag {tag!r} of timm model {arch!r}" if timm.is_model(arch) else f"timm model {name!r}"
    raise UnknownNameError(f"unknown {what}{hint or ' (timm.list_models() and timm.list_pretrained() list them)'}")


def hub_cache() -> str:
    """The Hugging Face hub cache timm downloads into, read from the environment now ($HF_HUB_CACHE, $HF_HOME)."""
    if os.environ.get("HF_HUB_CACHE"):
        return os.environ["HF_HUB_CACHE"]
    home = os.environ.get("HF_HOME") or os.path.join(os.path.expanduser("~"), ".cache", "huggingface")
    return os.path.join(home, "hub")


def hub_repo(name: str) -> Optional[str]:
    """The Hugging Face repository timm names for ``name``'s weights (its default tag without one), or None."""
    cfg = _timm().models.get_pretrained_cfg(name)
    return getattr(cfg, "hf_hub_id", None) if cfg is not None else None


def cached_file(name: str) -> str:
    """The weights file of ``name``'s tag in the local hub cache; a WeightsError naming where it looked."""
    from huggingface_hub import try_to_load_from_cache
    repo = hub_repo(name)
    if not repo:
        raise WeightsError(f"timm:{name}: timm names no Hugging Face file for it; give model.pretrained=PATH")
    folder = hub_cache()
    for fname in HF_FILES:
        path = try_to_load_from_cache(repo, fname, cache_dir=folder)
        if isinstance(path, str) and os.path.isfile(path):
            return path
    raise WeightsError(f"timm:{name}: no weights of {repo} in the local Hugging Face cache ({folder}; looked for "
                       f"{', '.join(HF_FILES)}); runs never download: fetch it once, or give model.pretrained=PATH")


def timm_weights(spec: Optional[str], name: str) -> Optional[str]:
    """The local file ``model.pretrained`` stands for with a timm backbone (None for None)."""
    if not spec:
        return None
    if spec == CACHE_WORD:
        return cached_file(name)
    if not os.path.isfile(os.path.expanduser(spec)):
        raise WeightsError(f"{spec}: pretrained weights file not found (timm:{name} takes a local file, or "
                           f"'{CACHE_WORD}' for timm's local Hugging Face cache)")
    return os.path.expanduser(spec)


def read_state(path: str) -> Dict[str, torch.Tensor]:
    """A checkpoint's tensors, with timm's reader; a suite run's model.pt gives its encoder's keys."""
    from timm.models import load_state_dict
    try:
        state = load_state_dict(path, use_ema=False)
    except Exception as e:  # a file torch or safetensors cannot read
        raise WeightsError(f"{path}: cannot load weights ({type(e).__name__})") from None
    if any(k.startswith(SUITE_PREFIX) for k in state):
        state = {k[len(SUITE_PREFIX):]: v for k, v in state.items() if k.startswith(SUITE_PREFIX)}
    return state


def load_into(net: nn.Module, path: str, name: str) -> None:
    """Load ``path`` into ``net`` as timm loads pretrained weights (its filter, then a strict key check)."""
    state = read_state(path)
    module = sys.modules[type(net).__module__]
    filter_fn = getattr(module, "checkpoint_filter_fn", None)
    if filter_fn is not None:
        try:
            state = filter_fn(state, net)
        except Exception as e:  # a state dict of another model's layout
            raise WeightsError(f"{path}: weights do not fit timm:{name} ({type(e).__name__}: "
                               f"{str(e).splitlines()[0] if str(e) else ''})") from None
    classifier = (getattr(net, "pretrained_cfg", None) or {}).get("classifier") or "head"
    heads = classifier if isinstance(classifier, (list, tuple)) else (classifier,)
    own = net.state_dict()
    state = {k: v for k, v in state.items() if k in own or not any(k.startswith(h + ".") for h in heads)}
    check_fit(own, state, path, f"timm:{name}")
    net.load_state_dict(state)


class TimmEncoder(nn.Module):
    """A timm model as a frame encoder: ``tokens(x)`` (N, 3, H, W) -> (N, L, D) with ``num_prefix_tokens``
    leading class/register tokens (a CNN's map positions have none); ``own(tokens)`` -> (N, D) is timm's own
    pooled embedding (its ``global_pool`` and ``fc_norm``; the class token after the final norm for CLIP ViTs)."""

    def __init__(self, net: nn.Module, name: str):
        super().__init__()
        self.net, self.name = net, name
        self.out_channels = int(net.num_features)
        self.own_dim = int(getattr(net, "head_hidden_size", None) or net.num_features)
        self.num_prefix_tokens = int(getattr(net, "num_prefix_tokens", 0) or 0)
        self.has_class_token = getattr(net, "cls_token", None) is not None

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.net.forward_features(x)

    def tokens(self, x: torch.Tensor) -> torch.Tensor:
        f = self.features(x)
        return f.flatten(2).transpose(1, 2) if f.dim() == 4 else f  # a CNN's (N, C, h, w) map: h*w tokens

    def own(self, features: torch.Tensor) -> torch.Tensor:
        return self.net.forward_head(features, pre_logits=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.tokens(x)


def build_encoder(name: str, pretrained: Optional[str] = None, img_size: Optional[Tuple[int, int]] = None
                  ) -> TimmEncoder:
    """``timm.create_model(name, pretrained=False, num_classes=0, img_size=...)``, then the local weights."""
    timm = _timm()
    path = timm_weights(pretrained, name)
    kwargs = {"img_size": tuple(img_size)} if img_size is not None else {}
    try:
        net = timm.create_model(name, pretrained=False, num_classes=0, **kwargs)
    except TypeError:  # a model without an input size (a CNN): built for any size
        net = timm.create_model(name, pretrained=False, num_classes=0)
    if path is not None:
        load_into(net, path, name)
    return TimmEncoder(net, name)


def _factory(name: str):
    check_name(name)

    def timm_backbone(pretrained: Optional[str] = None, res4_stride: int = 1,
                      img_size: Optional[Tuple[int, int]] = None) -> TimmEncoder:
        if res4_stride != 1:
            raise UserError(f"model.res4_stride {res4_stride}: a ResNet setting; timm:{name} has no res4 stage")
        return build_encoder(name, pretrained, img_size)
    timm_backbone.__doc__ = f"timm's {name} as a frame encoder (timm.create_model, num_classes=0)"
    return timm_backbone


def _weights(spec: Optional[str], name: str) -> Optional[str]:
    check_name(name)
    return timm_weights(spec, name)


TIMM = BACKBONES.add_family(Family(PREFIX, _factory, _weights, words=(CACHE_WORD,)))
