"""Size, cost and speed of the registered temporal models: ``model_rows`` (for ``benchmark models``)."""
from __future__ import annotations

import contextlib
import logging
import statistics
import time
import warnings
from typing import Iterator, List, Optional, Sequence, Tuple

import torch
from torch import nn

from ccvid.base import UserError

from temporal_models import ModelOutput

HEADERS = ["model", "parameters", "GFLOPs/clip", "clips/s", "own losses (--set loss_recipe=model)", "train MiB/clip"]
DEVICES = ("cpu", "meta")  # where model_rows builds and counts: meta builds no weights and computes nothing


def recipe_text(recipe: dict) -> str:
    """{"triplet_weight": 1.0, "triplet_margin": 0.4} -> "triplet weight=1.0 margin=0.4"; {} -> "-"."""
    triplet = [f"{k[len('triplet_'):]}={v}" for k, v in recipe.items() if k.startswith("triplet_")]
    other = [f"{k}={v}" for k, v in recipe.items() if not k.startswith("triplet_")]
    return " ".join((["triplet"] + triplet if triplet else []) + other) or "-"


class _Outputs(nn.Module):
    """Every output tensor of a model as a tuple (tracing wants tensors, not dicts of lists)."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, clips: torch.Tensor):
        out = ModelOutput.of(self.model(clips))
        tensors = [out.features, *out.id_features, *(out.triplet_features or [])]
        return tuple(tensors)


def count_parameters(model: nn.Module) -> int:
    """All parameters of the model (the harness's classifiers live outside it)."""
    return sum(p.numel() for p in model.parameters())


def count_gflops(model: nn.Module, clip: torch.Tensor) -> float:
    """GFLOPs of one forward pass on ``clip`` (1, 3, T, H, W), counted by fvcore.

    fvcore counts one fused multiply-add as ONE flop (so its "GFLOPs" are GMACs;
    the usual ResNet-50 figure of ~4.1 GFLOPs per 224x224 image is in this unit).
    It counts convolutions, matmul / einsum / linear, batch-norm and a few
    pooling / upsampling ops; element-wise ops (ReLU, additions, softmax) are not
    counted, and its warnings about ops it has no formula for are silenced.
    """
    was_training = model.training
    model.eval()
    try:
        with warnings.catch_warnings(), unfused_attention(model):
            warnings.simplefilter("ignore")
            from fvcore.nn import FlopCountAnalysis

            logger = logging.getLogger("fvcore")
            level = logger.level
            logger.setLevel(logging.ERROR)
            try:
                analysis = FlopCountAnalysis(_Outputs(model), (clip,))
                analysis.unsupported_ops_warnings(False).uncalled_modules_warnings(False)
                analysis.tracer_warnings("none")
                total = analysis.total()
            finally:
                logger.setLevel(level)
    finally:
        model.train(was_training)
    return total / 1e9


@contextlib.contextmanager
def unfused_attention(model: nn.Module) -> Iterator[None]:
    """timm's attention as explicit matmuls inside the block (``fused_attn`` off), so that the counters see
    q @ k and attn @ v; each module's own setting is restored afterwards."""
    fused = [(m, m.fused_attn) for m in model.modules() if isinstance(getattr(m, "fused_attn", None), bool)]
    for m, _ in fused:
        m.fused_attn = False
    try:
        yield
    finally:
        for m, value in fused:
            m.fused_attn = value


def count_gflops_meta(model: nn.Module, clip: torch.Tensor) -> float:
    """GFLOPs of one forward pass on a meta ``clip``, counted by torch's FlopCounterMode and halved into
    fvcore's unit (one multiply-add = one flop). It counts convolutions and matrix products only, about 0.5 %
    under fvcore's count of the same model (fvcore adds batch-norm and pooling)."""
    from torch.utils.flop_counter import FlopCounterMode
    with torch.no_grad(), unfused_attention(model), FlopCounterMode(display=False) as counter:
        model(clip)
    return counter.get_total_flops() / 2e9


def train_memory_mib(model: nn.Module, clips: torch.Tensor) -> float:
    """MiB per clip of the tensors autograd keeps for the backward pass of one training forward on ``clips``
    (B >= 2: BatchNorm needs two samples), fp32: the activation memory of training, counted through
    ``saved_tensors_hooks`` (each saved tensor's base once; weights, gradients and optimiser state excluded).
    On the meta device nothing is computed."""
    params = {id(p) for p in model.parameters()}
    saved: dict = {}

    def pack(t: torch.Tensor) -> torch.Tensor:
        base = t if t._base is None else t._base
        if id(base) not in params:
            saved[id(base)] = base
        return t

    was_training = model.training
    model.train()
    try:
        with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
            model(clips)
    finally:
        model.train(was_training)
    return sum(b.numel() * b.element_size() for b in saved.values()) / clips.shape[0] / 2**20


@torch.no_grad()
def clips_per_second(model: nn.Module, clips: torch.Tensor, repeats: int = 3, warmup: int = 1) -> float:
    """Eval-mode inference throughput on the batch ``clips``, under the caller's torch thread setting.

    ``warmup`` untimed passes, then ``repeats`` timed ones; the median pass time is
    used, which is less sensitive to other processes on a shared machine than the mean.
    """
    was_training = model.training
    model.eval()
    try:
        for _ in range(warmup):
            model(clips)
        times = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            model(clips)
            times.append(time.perf_counter() - t0)
    finally:
        model.train(was_training)
    return clips.shape[0] / statistics.median(times)


class ModelTableError(UserError):
    """A model that cannot run the clip size asked for; names the model and the size."""


def unavailable_models() -> List[str]:
    """Registered models whose optional package (an extra: pytorchvideo, ...) is not installed, with the reason."""
    from temporal_models import MODELS

    return [reason for reason in map(MODELS.missing_dependency, MODELS.names()) if reason]


def model_rows(names: Optional[Sequence[str]] = None, backbone: str = "resnet50", height: int = 256,
               width: int = 128, seq_len: int = 8, measure_speed: bool = True, batch: int = 2,
               repeats: int = 3, device: str = "cpu") -> Tuple[List[str], List[list]]:
    """One row per registered model: [name, parameters, GFLOPs per clip, clips/s, own losses, train MiB/clip].

    - parameters: the model's own (backbone, temporal modules, BN necks); the ID and
      clothes classifiers, which depend on the dataset, are excluded;
    - GFLOPs per ``seq_len``-frame clip of ``height`` x ``width``, fvcore's count (one
      multiply-add = one flop; see :func:`count_gflops`);
    - clips/s: eval-mode inference on this machine, a batch of ``batch`` clips, one
      warm-up pass then ``repeats`` timed passes (median), under the caller's ``torch.set_num_threads``.
      ``None`` when ``measure_speed`` is False;
    - own losses: the loss recipe the model registered (its own codebase's), as text;
    - train MiB/clip: the activations one training clip keeps for backward, fp32, counted on the meta
      device (:func:`train_memory_mib`); None where the model cannot run there.

    ``device="meta"``: built and counted on the meta device, no weights and no compute (a large timm
    encoder at its recipe's size in a second): GFLOPs by :func:`count_gflops_meta`, no clips/s.
    Models are built with random weights (``pretrained=None``), which does not change
    any of the numbers. Without ``names``: every registered model whose optional package is
    installed (:func:`unavailable_models` names the others); with a ``timm:<name>`` backbone, the models
    that take a frame encoder.
    """
    from temporal_models import BACKBONES, MODELS

    if device not in DEVICES:
        raise ModelTableError(f"device {device!r}: expected {', '.join(DEVICES)}")
    if names is None:
        names = sorted(n for n in MODELS.names() if not MODELS.missing_dependency(n))
        if BACKBONES.family(backbone):
            names = [n for n in names if MODELS.takes_frame_encoders(n)]
    rows = []
    for name in names:
        if BACKBONES.family(backbone) and not MODELS.takes_frame_encoders(name):
            raise ModelTableError(f"model {name}: needs a ResNet-layout backbone, not {backbone} (a frame encoder "
                                  f"goes with {MODELS.frame_encoder_models()})")
        rows.append(_row(name, backbone, height, width, seq_len, measure_speed and device == "cpu", batch, repeats,
                         device))
    return list(HEADERS), rows


def _build(name: str, backbone: str, height: int, width: int, seq_len: int, device: str) -> nn.Module:
    from temporal_models import build_model
    torch.manual_seed(0)
    with torch.device(device):
        model = build_model(name, backbone=backbone, pretrained=None, seq_len=seq_len, img_size=(height, width))
    return model.eval()


def _row(name: str, backbone: str, height: int, width: int, seq_len: int, measure_speed: bool, batch: int,
         repeats: int, device: str) -> list:
    from temporal_models import MODELS
    shape = (3, seq_len, height, width)
    try:
        model = _build(name, backbone, height, width, seq_len, device)
        params = count_parameters(model)
        if device == "meta":
            gflops, speed = count_gflops_meta(model, torch.randn(1, *shape, device="meta")), None
        else:
            gflops = count_gflops(model, torch.randn(1, *shape))
            speed = clips_per_second(model, torch.randn(batch, *shape), repeats) if measure_speed else None
    except RuntimeError as e:  # e.g. a clip too small for the backbone's strides
        raise ModelTableError(f"model {name}: cannot run a {seq_len}-frame {height}x{width} clip through it "
                              f"({str(e).splitlines()[0]})") from None
    try:  # on the meta device: the model already built there, or a weightless copy of the CPU one
        meta = model if device == "meta" else _build(name, backbone, height, width, seq_len, "meta")
        del model
        memory = train_memory_mib(meta, torch.randn(2, *shape, device="meta"))
    except (RuntimeError, NotImplementedError, TypeError):  # an op without a meta kernel
        memory = None
    return [name, params, gflops, speed, recipe_text(MODELS.loss_recipe(name)), memory]
