"""Optimisers and learning-rate schedules by name (``optim.optimizer``, ``optim.scheduler``), and numeric precision.

A run has two optimisers of the same kind: one for the model and its ID classifiers (learning rate
``optim.lr``), one for the clothes classifier (``optim.clothes_lr``, or ``optim.lr`` when null); the
schedule drives the model's. Add one with a registered builder::

    @register_optimizer("adamw")
    def adamw(params, lr, weight_decay):
        return torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay)

A scheduler builder takes ``(optimizer, optim_config)`` and is stepped once per epoch. With
``optim.warmup_epochs`` > 0 the schedule is multiplied by a linear warm-up from ``optim.warmup_factor`` x
the rate to the full rate over that many epochs (the TransReID line's ``WarmupMultiStepLR``, linear method:
``factor + (1 - factor) * epoch / warmup_epochs``); with 0 (the default) the schedule is the builder's alone.
"""
from __future__ import annotations

from typing import Any, Dict, Iterable, Optional

import torch

from ccvid.base import Registry

OPTIMIZERS = Registry("optimizer", "ccreid.optimizers")
SCHEDULERS = Registry("scheduler", "ccreid.schedulers")
register_optimizer = OPTIMIZERS.register
register_scheduler = SCHEDULERS.register

# system.precision -> the autocast dtype (None: plain fp32); fp16 also scales the loss (CUDA only)
PRECISIONS: Dict[str, Optional[torch.dtype]] = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}


@register_optimizer("adam")
def adam(params: Iterable[torch.nn.Parameter], lr: float, weight_decay: float) -> torch.optim.Optimizer:
    """Adam with L2 weight decay, as the reference trains every model."""
    return torch.optim.Adam(params, lr=lr, weight_decay=weight_decay)


@register_optimizer("sgd")
def sgd(params: Iterable[torch.nn.Parameter], lr: float, weight_decay: float) -> torch.optim.Optimizer:
    """SGD with momentum 0.9 and L2 weight decay (the EVA02-L CCVID code's SOLVER.OPTIMIZER_NAME default)."""
    return torch.optim.SGD(params, lr=lr, weight_decay=weight_decay, momentum=0.9)


@register_scheduler("multistep")
def multistep(optimizer: torch.optim.Optimizer, o: Any) -> torch.optim.lr_scheduler.LRScheduler:
    """The learning rate times ``optim.lr_gamma`` at each epoch of ``optim.lr_steps``."""
    return torch.optim.lr_scheduler.MultiStepLR(optimizer, list(o.lr_steps), o.lr_gamma)


@register_scheduler("constant")
def constant(optimizer: torch.optim.Optimizer, o: Any) -> torch.optim.lr_scheduler.LRScheduler:
    """A constant learning rate (``optim.lr_steps`` unused), as GaitSet's and MEVID's TCLNet runs train."""
    return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda epoch: 1.0)


def build_optimizer(name: str, params: Iterable[torch.nn.Parameter], lr: float,
                    weight_decay: float) -> torch.optim.Optimizer:
    return OPTIMIZERS.get(name)(params, lr=lr, weight_decay=weight_decay)


def build_scheduler(name: str, optimizer: torch.optim.Optimizer, o: Any) -> torch.optim.lr_scheduler.LRScheduler:
    warmup = getattr(o, "warmup_epochs", 0)
    if not warmup:
        return SCHEDULERS.get(name)(optimizer, o)
    ramp = torch.optim.lr_scheduler.LinearLR(optimizer, start_factor=o.warmup_factor, end_factor=1.0,
                                             total_iters=warmup)
    return torch.optim.lr_scheduler.ChainedScheduler([ramp, SCHEDULERS.get(name)(optimizer, o)], optimizer)
