"""Size, cost and speed of the registered temporal models: ``model_rows`` (for ``benchmark models``)."""
from __future__ import annotations

import logging
import statistics
import time
import warnings
from typing import List, Optional, Sequence, Tuple

import torch
from torch import nn

from ccvid.base import UserError

from temporal_models import ModelOutput

HEADERS = ["model", "parameters", "GFLOPs/clip", "clips/s", "own losses (--set loss_recipe=model)"]


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
        with warnings.catch_warnings():
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


def model_rows(names: Optional[Sequence[str]] = None, backbone: str = "resnet50", height: int = 256,
               width: int = 128, seq_len: int = 8, measure_speed: bool = True, batch: int = 2,
               repeats: int = 3) -> Tuple[List[str], List[list]]:
    """One row per registered model: [name, parameters, GFLOPs per clip, clips/s, own losses].

    - parameters: the model's own (backbone, temporal modules, BN necks); the ID and
      clothes classifiers, which depend on the dataset, are excluded;
    - GFLOPs per ``seq_len``-frame clip of ``height`` x ``width``, fvcore's count (one
      multiply-add = one flop; see :func:`count_gflops`);
    - clips/s: eval-mode inference on this machine, a batch of ``batch`` clips, one
      warm-up pass then ``repeats`` timed passes (median), under the caller's ``torch.set_num_threads``.
      ``None`` when ``measure_speed`` is False;
    - own losses: the loss recipe the model registered (its own codebase's), as text.

    Models are built with random weights (``pretrained=None``), which does not change
    any of the three numbers.
    """
    from temporal_models import MODELS, build_model

    names = list(names) if names is not None else sorted(MODELS.names())
    rows = []
    for name in names:
        torch.manual_seed(0)
        model = build_model(name, backbone=backbone, pretrained=None, seq_len=seq_len)
        model.eval()
        params = count_parameters(model)
        try:
            gflops = count_gflops(model, torch.randn(1, 3, seq_len, height, width))
            speed = None
            if measure_speed:
                speed = clips_per_second(model, torch.randn(batch, 3, seq_len, height, width), repeats)
        except RuntimeError as e:  # e.g. a clip too small for the backbone's strides
            raise ModelTableError(f"model {name}: cannot run a {seq_len}-frame {height}x{width} clip through it "
                                  f"({str(e).splitlines()[0]})") from None
        rows.append([name, params, gflops, speed, recipe_text(MODELS.loss_recipe(name))])
        del model
    return list(HEADERS), rows
