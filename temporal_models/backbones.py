"""2-D ResNet backbones with torchvision's layout (conv1, bn1, relu, maxpool, layer1..layer4).

Temporal models fold time into the batch and run these per frame, or inflate
their blocks (see the model zoo). ``res4_stride=1`` removes the last
down-sampling (docs/reference-facts.md, A). Weights are never downloaded: ImageNet weights
come from a local file (``pretrained=PATH``) or from torchvision's cache when the file is
already there:

    "imagenet", "imagenet-v1"   torchvision's V1 weights (IMAGENET1K_V1), the ones the reference
                                trained from: resnet50-0676ba61.pth, or TCLNet's older name for
                                the same weights, resnet50-19c8e357.pth
    "imagenet-v2"               torchvision's V2 weights (IMAGENET1K_V2, resnet50-11ad3fa6.pth),
                                only when asked for by name

:func:`resolve_weights` says which file a spec stands for and :func:`sha256_file` hashes
it, so a run can record exactly which weights it started from.
"""
from __future__ import annotations

import hashlib
import os
from typing import Dict, List, Optional, Sequence, Type, Union

import torch
from torch import nn
from torchvision.models import resnet as tv_resnet

from ccvid.base import UserError

from .registry import BACKBONES, register_backbone

# torchvision's ImageNet checkpoints as named in its hub cache, per version; within a version the
# first name found wins (torchvision's current name, then the older name of the same weights).
TORCHVISION_CHECKPOINTS = {
    "resnet50": {"v1": ("resnet50-0676ba61.pth", "resnet50-19c8e357.pth"),
                 "v2": ("resnet50-11ad3fa6.pth",)},
    "resnet18": {"v1": ("resnet18-f37072fd.pth", "resnet18-5c106cde.pth")},
}
# --pretrained names that read torchvision's cache; "imagenet" is V1, the reference's weights
IMAGENET_SPECS = {"imagenet": "v1", "imagenet-v1": "v1", "imagenet-v2": "v2"}
RES4_STRIDES = (1, 2)  # the last stage's stride: 1 (the reference's last stride 1) or 2 (torchvision's)


class WeightsError(UserError):
    """Pretrained weights are missing or do not fit the backbone."""


class ResNetBackbone(nn.Module):
    """conv1 -> bn1 -> relu -> maxpool -> layer1..layer4; ``forward`` maps (N,3,H,W) -> (N,C,h,w)."""

    def __init__(self, block: Type[nn.Module], layers: Sequence[int], widths: Sequence[int],
                 stem_width: int, res4_stride: int = 1, stem_kernel: int = 7, stem_stride: int = 2):
        super().__init__()
        self.conv1 = nn.Conv2d(3, stem_width, stem_kernel, stem_stride, stem_kernel // 2, bias=False)
        self.bn1 = nn.BatchNorm2d(stem_width)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        self.inplanes = stem_width
        strides = (1, 2, 2, res4_stride)
        for i, (n, w, s) in enumerate(zip(layers, widths, strides), 1):
            setattr(self, f"layer{i}", self._make_layer(block, w, n, s))
        self.out_channels = widths[-1] * block.expansion
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)

    def _make_layer(self, block, planes: int, blocks: int, stride: int) -> nn.Sequential:
        downsample = None
        if stride != 1 or self.inplanes != planes * block.expansion:
            downsample = nn.Sequential(
                nn.Conv2d(self.inplanes, planes * block.expansion, 1, stride, bias=False),
                nn.BatchNorm2d(planes * block.expansion))
        layers: List[nn.Module] = [block(self.inplanes, planes, stride, downsample)]
        self.inplanes = planes * block.expansion
        layers += [block(self.inplanes, planes) for _ in range(1, blocks)]
        return nn.Sequential(*layers)

    def stages(self) -> List[nn.Sequential]:
        return [self.layer1, self.layer2, self.layer3, self.layer4]

    def stem(self, x: torch.Tensor) -> torch.Tensor:
        return self.maxpool(self.relu(self.bn1(self.conv1(x))))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stem(x)
        for layer in self.stages():
            x = layer(x)
        return x


def cache_folder() -> str:
    """torchvision's checkpoint cache: torch.hub.get_dir()/checkpoints ($TORCH_HOME/hub/checkpoints)."""
    return os.path.join(torch.hub.get_dir(), "checkpoints")


def find_cached_weights(arch: str, version: str = "v1") -> Optional[str]:
    """Path of torchvision's cached ImageNet checkpoint of ``version`` for ``arch``, or None. Never downloads."""
    folder = cache_folder()
    for name in TORCHVISION_CHECKPOINTS.get(arch, {}).get(version, ()):
        path = os.path.join(folder, name)
        if os.path.isfile(path):
            return path
    return None


def resolve_weights(spec: Optional[str], backbone: str = "resnet50") -> Optional[str]:
    """The local file that ``spec`` (None, a path, "imagenet", "imagenet-v1" or "imagenet-v2") stands for.

    None for None; a WeightsError naming where it looked when there is no such file. A backbone of a family
    (``timm:<name>``) resolves its own values (:class:`~.registry.Family`).
    """
    if not spec:
        return None
    family = BACKBONES.family(backbone)
    if family is not None:
        return family.weights(spec, backbone[len(family.prefix):])
    if spec in IMAGENET_SPECS:
        version = IMAGENET_SPECS[spec]
        path = find_cached_weights(backbone, version)
        if path is None:
            names = TORCHVISION_CHECKPOINTS.get(backbone, {}).get(version, ())
            looked = f"; looked for {', '.join(names)}" if names else f"; torchvision has no {version} weights"
            raise WeightsError(
                f"no ImageNet weights for {backbone} in torchvision's cache "
                f"({cache_folder()}{looked}); pass --pretrained PATH to a local file")
        return path
    if not os.path.isfile(spec):
        if spec.startswith("imagenet"):
            raise WeightsError(f"{spec}: neither a weights file nor one of {', '.join(IMAGENET_SPECS)}")
        raise WeightsError(f"{spec}: pretrained weights file not found")
    return spec


def sha256_file(path: str, chunk_size: int = 1 << 20) -> str:
    """Hex SHA-256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(chunk_size), b""):
            digest.update(chunk)
    return digest.hexdigest()


def load_weights(model: nn.Module, pretrained: Union[str, None], arch: str) -> Optional[str]:
    """Load ImageNet weights from ``pretrained`` (a path, or a name of :data:`IMAGENET_SPECS`).

    Returns the path used (see :func:`resolve_weights`). The classifier (``fc.*``) is dropped;
    any other missing or unexpected key is an error naming the file.
    """
    path = resolve_weights(pretrained, arch)
    if path is None:
        return None
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:
        raise WeightsError(f"{path}: cannot load weights ({type(e).__name__})") from None
    if isinstance(state, dict) and "state_dict" in state:
        state = state["state_dict"]
    state = {k: v for k, v in state.items() if not k.startswith("fc.")}
    check_fit(model.state_dict(), state, path, arch)
    model.load_state_dict(state)
    return path


def check_fit(own: Dict[str, torch.Tensor], state: Dict[str, torch.Tensor], path: str, what: str) -> None:
    """A :class:`WeightsError` naming ``path`` unless ``state`` has exactly ``own``'s keys and shapes."""
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    wrong = sorted(k for k in set(own) & set(state) if own[k].shape != state[k].shape)
    if missing or unexpected or wrong:
        first = (missing or unexpected or wrong)[0]
        raise WeightsError(f"{path}: weights do not fit {what} (missing {len(missing)}, unexpected "
                           f"{len(unexpected)}, wrong shape {len(wrong)} keys; first: {first})")


@register_backbone("resnet50")
def resnet50(pretrained: Optional[str] = None, res4_stride: int = 1) -> ResNetBackbone:
    """torchvision ResNet-50 (Bottleneck 3-4-6-3), 2048-d maps; 16x8 maps for 256x128 input."""
    m = ResNetBackbone(tv_resnet.Bottleneck, (3, 4, 6, 3), (64, 128, 256, 512), 64, res4_stride)
    load_weights(m, pretrained, "resnet50")
    return m


@register_backbone("resnet18")
def resnet18(pretrained: Optional[str] = None, res4_stride: int = 1) -> ResNetBackbone:
    """torchvision ResNet-18 (BasicBlock 2-2-2-2), 512-d maps."""
    m = ResNetBackbone(tv_resnet.BasicBlock, (2, 2, 2, 2), (64, 128, 256, 512), 64, res4_stride)
    load_weights(m, pretrained, "resnet18")
    return m


@register_backbone("resnet_tiny")
def resnet_tiny(pretrained: Optional[str] = None, res4_stride: int = 1) -> ResNetBackbone:
    """A CPU-sized ResNet (BasicBlock 1-1-1-1, widths 16-128, 3x3 stride-2 stem).

    Meant for the embedded 64x32 dataset: maps are 4x2 for 64x32 input, as
    ResNet-50's are 16x8 for 256x128. Random init only.
    """
    if pretrained:
        raise WeightsError("resnet_tiny has no pretrained weights; drop --pretrained")
    return ResNetBackbone(tv_resnet.BasicBlock, (1, 1, 1, 1), (16, 32, 64, 128), 16, res4_stride,
                          stem_kernel=3, stem_stride=2)


@register_backbone("resnet_tiny_hr")
def resnet_tiny_hr(pretrained: Optional[str] = None, res4_stride: int = 1) -> ResNetBackbone:
    """``resnet_tiny`` with a stride-1 stem: twice the map resolution (8x4 for 64x32), ~3x the compute."""
    if pretrained:
        raise WeightsError("resnet_tiny_hr has no pretrained weights; drop --pretrained")
    return ResNetBackbone(tv_resnet.BasicBlock, (1, 1, 1, 1), (16, 32, 64, 128), 16, res4_stride,
                          stem_kernel=3, stem_stride=1)
