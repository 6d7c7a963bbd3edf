"""Video networks from pytorchvideo that bring their own backbone: X3D-S, X3D-M, SlowFast R50, MViT-B 16x4.

Each is built by pytorchvideo's own builder with the Kinetics-400 arguments of its model zoo (the
``pytorchvideo.models.hub`` entries, never a download), its classifier removed, and the suite's head put
in its place: the network's own pooled feature -> BN neck (:func:`.heads.bn_neck`) -> :class:`ModelOutput`
(one ID branch, as the C2D baseline). Registered with ``own_backbone=True``: ``model.backbone`` and
``model.res4_stride`` do not apply to them. They need the ``pytorchvideo`` extra
(``pip install 'ccreid-bench[pytorchvideo]'``); only ``pytorchvideo.models`` is imported (its
``transforms`` package does not import with torchvision >= 0.17, which removed
``torchvision.transforms.functional_tensor``; the suite has its own clip pipeline).

The networks (``name``: pytorchvideo builder, feature before the BN neck, Kinetics-400 clip as frames x
step, the model zoo's checkpoint):

- ``x3d_s``: ``create_x3d`` (13 frames, 160x160); conv5 -> global average pool -> lin5, 2048-d; 13 x 6;
  ``X3D_S.pyth``
- ``x3d_m``: ``create_x3d`` (16 frames, 224x224; the same network as X3D-S); 2048-d; 16 x 5; ``X3D_M.pyth``
- ``slowfast_r50``: ``create_slowfast`` (R50, "8x8"); both pathways globally pooled and concatenated,
  2304-d; 32 x 2 with alpha 4 (the slow pathway: 8 frames at step 8); ``SLOWFAST_8x8_R50.pyth``
- ``mvit_b``: ``create_multiscale_vision_transformers`` (MViT-B, 16x224x224); the class token after the
  last norm, 768-d; 16 x 4; ``MVIT_B_16x4.pyth``
- ``x3d_tiny``: ``create_x3d`` with widths 8-64 and 7 blocks, 128-d; a CPU-sized network for the
  embedded dataset and the tests, random init only.

Sizes: the fixed-size pieces are made size-free so that clips of any re-id size go through (256x128,
or the embedded 64x32): X3D's and SlowFast's fixed average pools (kernels for 224x224 Kinetics crops)
become global average pools, and MViT-B's position embedding (a 56x56 spatial grid and 8 temporal
steps for 16x224x224 clips) is resized to the clip's patch grid in every forward pass (bicubic in
space, linear in time), so its Kinetics weights load unchanged. SlowFast's slow pathway takes
``T // 4`` frames evenly spread over the clip (pytorchvideo's ``PackPathway``), so ``T`` must be a
multiple of 4. The suite's clips are ImageNet-normalised; these networks renormalise them to
Kinetics' mean 0.45 and std 0.225 (a fixed affine map, no parameters).

Kinetics weights come only from a local file (``model.pretrained=PATH``: a ``.pyth`` of
pytorchvideo's model zoo, or any state dict of the same network), are checked key by key (the
Kinetics classifier is dropped; any other missing, unexpected or wrongly shaped key is a
:class:`WeightsError` naming the file) and recorded by SHA-256 in the run record, as ResNet weights are.
"""
from __future__ import annotations

import contextlib
import importlib
import os
import warnings
from typing import Any, Dict, Iterator, Optional

import torch
import torch.nn.functional as F
from torch import nn

from ccvid.base import UserError
from samplers.datasets import IMAGENET_MEAN, IMAGENET_STD

from .backbones import IMAGENET_SPECS, WeightsError, check_fit
from .base import ModelOutput, TemporalModel
from .heads import bn_neck
from .registry import MODELS, register_model

KINETICS_MEAN, KINETICS_STD = (0.45, 0.45, 0.45), (0.225, 0.225, 0.225)
SLOWFAST_ALPHA = 4  # frames of the fast pathway per frame of the slow one (pytorchvideo's slowfast_r50)
# the arguments of pytorchvideo.models.hub's Kinetics-400 entries (hub/x3d.py, hub/slowfast.py,
# hub/vision_transformers.py), and the name of each one's checkpoint in pytorchvideo's model zoo
ARCHS: Dict[str, Dict[str, Any]] = {
    "x3d_s": {"builder": ("x3d", "create_x3d"), "file": "X3D_S.pyth",
              "args": {"input_clip_length": 13, "input_crop_size": 160}},
    "x3d_m": {"builder": ("x3d", "create_x3d"), "file": "X3D_M.pyth",
              "args": {"input_clip_length": 16, "input_crop_size": 224}},
    "slowfast_r50": {"builder": ("slowfast", "create_slowfast"), "file": "SLOWFAST_8x8_R50.pyth",
                     "args": {"model_depth": 50, "slowfast_fusion_conv_kernel_size": (7, 1, 1)}},
    "mvit_b": {"builder": ("vision_transformers", "create_multiscale_vision_transformers"),
               "file": "MVIT_B_16x4.pyth",
               "args": {"spatial_size": 224, "temporal_size": 16, "embed_dim_mul": [[1, 2.0], [3, 2.0], [14, 2.0]],
                        "atten_head_mul": [[1, 2.0], [3, 2.0], [14, 2.0]],
                        "pool_q_stride_size": [[1, 1, 2, 2], [3, 1, 2, 2], [14, 1, 2, 2]],
                        "pool_kv_stride_adaptive": [1, 8, 8], "pool_kvq_kernel": [3, 3, 3]}},
    # a CPU-sized X3D for the embedded dataset and the tests (random init only)
    "x3d_tiny": {"builder": ("x3d", "create_x3d"), "file": None,
                 "args": {"input_clip_length": 4, "input_crop_size": 64, "stem_dim_in": 8, "width_factor": 1.0,
                          "depth_factor": 0.5, "head_dim_out": 128}},
}
# frames x sample rate of each network's Kinetics-400 recipe (pytorchvideo's and PySlowFast's model zoos);
# SlowFast's "8x8" is its slow pathway: 32 frames at step 2 for the fast one, every 4th for the slow one
KINETICS_CLIPS = {"x3d_s": (13, 6), "x3d_m": (16, 5), "slowfast_r50": (32, 2), "mvit_b": (16, 4)}
# parameters of pytorchvideo's builders with their Kinetics-400 classifier, as its model zoo publishes them
# (millions; MViT-B 16x4: the MViT paper's 36.6M, torchvision's mvit_v1_b 36,610,672)
PUBLISHED_PARAMS_M = {"x3d_s": 3.79, "x3d_m": 3.79, "slowfast_r50": 34.57, "mvit_b": 36.61}


class ClipError(UserError):
    """A clip length a video network cannot take (SlowFast: a multiple of alpha)."""


def pytorchvideo_builder(arch: str):
    """pytorchvideo's builder function of ``arch`` (a :class:`MissingDependencyError` without the extra)."""
    MODELS.require(arch)
    module, func = ARCHS[arch]["builder"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # its layers call the deprecated torch.jit.script at import
        return getattr(importlib.import_module(f"pytorchvideo.models.{module}"), func)


def build_pytorchvideo(arch: str) -> nn.Module:
    """pytorchvideo's own network of ``arch``, classifier included, random init (what its model zoo counts).

    Under ``with torch.device("meta")`` too: MViT's builder reads a tensor's value (``.item()``), so there the
    network is built on the CPU with its parameters on meta (:func:`parameters_on_meta`), then moved whole.
    """
    build = pytorchvideo_builder(arch)
    if torch.empty(0).device.type != "meta":
        return build(**ARCHS[arch]["args"])
    with torch.device("cpu"), parameters_on_meta():
        net = build(**ARCHS[arch]["args"])
    return net.to("meta")


@contextlib.contextmanager
def parameters_on_meta() -> Iterator[None]:
    """Every parameter created inside goes to the meta device (no memory, no init cost): for counting.

    ``with torch.device("meta")`` cannot build MViT (its builder reads a tensor value with ``.item()``), so
    parameters are moved one by one as modules register them; buffers stay on the CPU.
    """
    register = nn.Module.register_parameter

    def on_meta(module: nn.Module, name: str, param: Optional[nn.Parameter]) -> None:
        if param is not None and param.device.type != "meta":
            param = nn.Parameter(param.to("meta"), requires_grad=param.requires_grad)
        register(module, name, param)

    nn.Module.register_parameter = on_meta
    try:
        yield
    finally:
        nn.Module.register_parameter = register


def load_kinetics(net: nn.Module, spec: Optional[str], arch: str, classifier: str) -> Optional[str]:
    """Load Kinetics weights into ``net`` (pytorchvideo's network, classifier removed) from the file ``spec``.

    Returns the path (None without ``spec``). The checkpoint's ``model_state`` (pytorchvideo's ``.pyth``),
    ``state_dict`` or the dict itself is read; keys under ``classifier`` (the Kinetics classifier) are
    dropped; anything else that does not fit is a :class:`WeightsError` naming the file.
    """
    if not spec:
        return None
    file = ARCHS[arch]["file"]
    if file is None:
        raise WeightsError(f"{arch} has no pretrained weights; drop --pretrained")
    if spec in IMAGENET_SPECS:
        raise WeightsError(f"model.pretrained {spec}: {arch} takes Kinetics-400 weights from a local file "
                           f"(pytorchvideo's {file}), not torchvision's ImageNet ResNet weights")
    path = os.path.expanduser(spec)
    if not os.path.isfile(path):
        raise WeightsError(f"{spec}: pretrained weights file not found (pytorchvideo's {file} for {arch})")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:
        raise WeightsError(f"{path}: cannot load weights ({type(e).__name__}; a file of tensors is expected: "
                           "save the checkpoint's model_state alone)") from None
    for key in ("model_state", "state_dict"):
        if isinstance(state, dict) and isinstance(state.get(key), dict):
            state = state[key]
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise WeightsError(f"{path}: not a state dict of {arch} (tensors by name)")
    state = {k[len("module."):] if k.startswith("module.") else k: v for k, v in state.items()}
    state = {k: v for k, v in state.items() if not k.startswith(classifier)}
    check_fit(net.state_dict(), state, path, arch)
    net.load_state_dict(state)
    return path


def _drop_classifier(head: nn.Module) -> int:
    """Remove a pytorchvideo head's dropout, projection and activation; returns the projection's input width."""
    dim = head.proj.in_features
    for part in ("dropout", "proj", "activation"):
        if hasattr(head, part):
            setattr(head, part, None)
    return dim


class VideoNetwork(TemporalModel):
    """A pytorchvideo network (``self.net``, its state dict names unchanged) under the suite's BN neck."""

    def __init__(self, net: nn.Module, dim: int, arch: str):
        super().__init__()
        self.net, self.arch = net, arch
        self.bn = bn_neck(dim)
        self.feature_dim = dim
        self.id_feature_dims = [dim]

    def kinetics_input(self, clips: torch.Tensor) -> torch.Tensor:
        """ImageNet-normalised clips (B, 3, T, H, W) -> Kinetics-normalised ones."""
        shape = (1, 3, 1, 1, 1)
        img_mean, img_std = (torch.tensor(v, dtype=clips.dtype, device=clips.device).view(shape)
                             for v in (IMAGENET_MEAN, IMAGENET_STD))
        k_mean, k_std = (torch.tensor(v, dtype=clips.dtype, device=clips.device).view(shape)
                         for v in (KINETICS_MEAN, KINETICS_STD))
        return (clips * img_std + img_mean - k_mean) / k_std

    def trunk(self, clips: torch.Tensor) -> torch.Tensor:  # pragma: no cover - interface
        """Kinetics-normalised clips -> (B, D) pooled features."""
        raise NotImplementedError

    def forward(self, clips: torch.Tensor) -> ModelOutput:
        f = self.bn(self.trunk(self.kinetics_input(clips)))
        return ModelOutput(f, [f])


def _swish_to_silu(net: nn.Module) -> None:
    """pytorchvideo's Swish (x * sigmoid(x) through a custom autograd function that uses the deprecated
    ``ctx.saved_variables``) -> torch's SiLU, the same function; neither has parameters."""
    for parent in list(net.modules()):
        for name, child in parent.named_children():
            if type(child).__name__ == "Swish" and not list(child.parameters()):
                setattr(parent, name, nn.SiLU())


class X3D(VideoNetwork):
    """X3D: stem, 4 stages, conv5, a global average pool (was a fixed-size one), lin5 (2048-d)."""

    def __init__(self, net: nn.Module, arch: str):
        head = net.blocks[-1]
        head.pool.pool = nn.AdaptiveAvgPool3d(1)
        _swish_to_silu(net)
        super().__init__(net, _drop_classifier(head), arch)

    def trunk(self, clips: torch.Tensor) -> torch.Tensor:
        return self.net(clips)  # the head's output_pool flattens to (B, 2048)


class SlowFast(VideoNetwork):
    """SlowFast: the slow pathway sees every ``alpha``-th frame; both pathways globally pooled and concatenated."""

    def __init__(self, net: nn.Module, arch: str, seq_len: int, alpha: int = SLOWFAST_ALPHA):
        if seq_len % alpha:
            raise ClipError(f"{arch} needs data.seq_len a multiple of {alpha} (its slow pathway takes every "
                               f"{alpha}th frame), got {seq_len}")
        net.blocks[-2].pool = nn.ModuleList(nn.AdaptiveAvgPool3d(1) for _ in net.blocks[-2].pool)
        super().__init__(net, _drop_classifier(net.blocks[-1]), arch)
        self.alpha = alpha

    def trunk(self, clips: torch.Tensor) -> torch.Tensor:
        t = clips.shape[2]
        index = torch.linspace(0, t - 1, t // self.alpha, device=clips.device).long()
        return self.net([clips.index_select(2, index), clips])


class MViT(VideoNetwork):
    """MViT-B: patch embedding, position embedding resized to the clip's patch grid, 16 blocks, class token."""

    def __init__(self, net: nn.Module, arch: str):
        dim = net.head.proj.in_features
        net.head = None
        super().__init__(net, dim, arch)

    def position_embedding(self, t: int, h: int, w: int) -> torch.Tensor:
        """(1, 1 + t*h*w, C): the class token's, then space-time (time-major), resized from the built grid."""
        enc = self.net.cls_positional_encoding
        t0, h0, w0 = enc.patch_embed_shape
        spatial, temporal = enc.pos_embed_spatial, enc.pos_embed_temporal
        c = spatial.shape[-1]
        if (h, w) != (h0, w0):
            grid = spatial.reshape(1, h0, w0, c).permute(0, 3, 1, 2)
            grid = F.interpolate(grid, size=(h, w), mode="bicubic", align_corners=False)
            spatial = grid.permute(0, 2, 3, 1).reshape(1, h * w, c)
        if t != t0:
            temporal = F.interpolate(temporal.transpose(1, 2), size=t, mode="linear",
                                     align_corners=False).transpose(1, 2)
        pos = spatial.repeat(1, t, 1) + temporal.repeat_interleave(h * w, dim=1)
        return torch.cat([enc.pos_embed_class, pos], dim=1)

    def trunk(self, clips: torch.Tensor) -> torch.Tensor:
        net = self.net
        maps = net.patch_embed.patch_model(clips)  # (B, C, t, h, w)
        t, h, w = maps.shape[2:]
        x = maps.flatten(2).transpose(1, 2)
        cls = net.cls_positional_encoding.cls_token.expand(x.shape[0], -1, -1)
        x = torch.cat([cls, x], dim=1) + self.position_embedding(t, h, w)
        for part in (net.pos_drop, net.norm_patch_embed):
            x = part(x) if part is not None else x
        thw = [t, h, w]
        for block in net.blocks:
            x, thw = block(x, thw)
        return net.norm_embed(x)[:, 0]


def build_video_network(arch: str, pretrained: Optional[str] = None, seq_len: int = 8) -> VideoNetwork:
    """pytorchvideo's ``arch`` network with the suite's head, Kinetics weights loaded from ``pretrained``."""
    net = build_pytorchvideo(arch)
    if arch.startswith("x3d"):
        model, classifier = X3D(net, arch), f"blocks.{len(net.blocks) - 1}.proj."
    elif arch == "slowfast_r50":
        model, classifier = SlowFast(net, arch, seq_len), f"blocks.{len(net.blocks) - 1}.proj."
    else:
        model, classifier = MViT(net, arch), "head."
    load_kinetics(model.net, pretrained, arch, classifier)
    return model


def _register(arch: str, doc: str) -> None:
    def build(pretrained: Optional[str] = None, seq_len: int = 8, **_) -> VideoNetwork:
        return build_video_network(arch, pretrained, seq_len)

    build.__name__, build.__doc__ = f"build_{arch}", doc
    multiple = SLOWFAST_ALPHA if arch == "slowfast_r50" else 1
    register_model(arch, own_backbone=True, requires="pytorchvideo", clip=KINETICS_CLIPS.get(arch),
                   seq_len_multiple=multiple)(build)


_register("x3d_s", "X3D-S (pytorchvideo, Kinetics recipe 13x6): 3.8M parameters, conv net, its own backbone.")
_register("x3d_m", "X3D-M (pytorchvideo, Kinetics recipe 16x5): X3D-S's network, trained on 16 frames at 224.")
_register("slowfast_r50", "SlowFast R50 8x8 (pytorchvideo; 32 frames at step 2, alpha 4): two pathways.")
_register("mvit_b", "MViT-B 16x4 (pytorchvideo, Kinetics recipe 16x4): multiscale video transformer.")
_register("x3d_tiny", "A CPU-sized X3D (widths 8-64, 7 blocks, 128-d) for the embedded dataset; random init.")
