"""Training: the objectives' two-step update (clothes classifier, then model; docs/reference-facts.md, C)."""
from __future__ import annotations

import contextlib
import itertools
import time
from dataclasses import dataclass, field
from typing import Callable, Dict, Optional

import torch
from torch import nn

from ccvid.base import UserError
from ccvid.progress import bar
from samplers import EncodedClips, normalize_clips
from samplers.datasets import NORMALIZATIONS
from samplers.transforms import random_crop, random_erasing
from temporal_models import ModelOutput
from temporal_models.heads import Classifier, NormalizedClassifier

from ..config import Config
from ..engine import PRECISIONS, Batch, build_optimizer, build_scheduler, objective_terms, scalar_names, weighted_sum
from ..engine.losses import within_identity_clothes_accuracy


class TrainingDiverged(UserError, RuntimeError):
    """A non-finite loss or gradient; the message names the epoch, the iteration and what went wrong."""


class Heads(nn.Module):
    """The training-only parts around a model: one ID classifier per ID feature, a clothes classifier.

    Also the clothes memory of memory-bank CAL (``cal.variant = "memory"``), as buffers so
    that it moves with ``.to``, is in ``state_dict`` and is deep-copied (forks) with the
    heads: ``clothes_memory`` (clothes x dim, one feature per clothes class) and
    ``clothes_memory_filled`` (which classes were written). Both start at zero and draw no random
    numbers; the classifier variant never touches them.
    """

    def __init__(self, model, num_pids: int, num_clothes: int):
        super().__init__()
        self.id_classifiers = nn.ModuleList(Classifier(d, num_pids) for d in model.id_feature_dims)
        self.set_clothes_classes(model.feature_dim, num_clothes)

    def set_clothes_classes(self, dim: int, num_clothes: int, device: Optional[torch.device] = None) -> None:
        """A fresh clothes classifier and an empty clothes memory for ``num_clothes`` classes (at construction,
        and whenever pseudo clothes labels are computed again)."""
        self.clothes_classifier = NormalizedClassifier(dim, num_clothes).to(device)
        self.register_buffer("clothes_memory", torch.zeros(num_clothes, dim, device=device))
        self.register_buffer("clothes_memory_filled", torch.zeros(num_clothes, dtype=torch.bool, device=device))


@dataclass
class Trainer:
    """Owns the model, the classifiers and both optimisers; one call of :meth:`step` = one iteration.

    The loss is the table of named terms of :mod:`benchmark.engine.objectives`, taken in two steps:

    Step 1 (clothes): the clothes classifier learns on detached features with its own optimiser
    (from ``cal.clothes_start_epoch``; before that its loss is only logged). Step 2 (model): the
    model-step terms (the ID loss unless ``loss.id_weight`` is 0, + triplet, + CAL through the
    just-updated clothes classifier with ``cal.enabled`` from ``cal.start_epoch``); only the model
    and the ID classifiers step.
    The clothes classifier is trained in both modes (it is the diagnostic of how much clothes
    information the features carry); only the CAL term differs.

    ``cal.variant = "memory"`` (the reference's memory-bank CAL): the CAL term first writes the
    batch into ``heads.clothes_memory`` (detached, ``cal.memory_write``, momentum ``cal.memory_momentum``), then takes
    CAL against that memory, so the batch's own classes are always in it; the clothes classifier
    still learns as above, as the diagnostic only. Before ``cal.start_epoch`` (or without
    ``cal.enabled``) the memory is not written, as in the reference, which updates it only inside
    the CAL term.

    The optimisers and the schedule are the config's by name (``optim.optimizer``,
    ``optim.scheduler``; :mod:`benchmark.engine.optimizers`).
    """

    cfg: Config
    model: nn.Module
    heads: Heads
    pid2clothes: torch.Tensor
    device: torch.device
    optimizer: torch.optim.Optimizer = field(init=False)
    clothes_optimizer: torch.optim.Optimizer = field(init=False)
    scheduler: torch.optim.lr_scheduler.LRScheduler = field(init=False)

    def __post_init__(self):
        cfg = self.cfg
        params = list(self.model.parameters()) + list(self.heads.id_classifiers.parameters())
        o = cfg.optim
        self.optimizer = build_optimizer(o.optimizer, params, lr=o.lr, weight_decay=o.weight_decay)
        self.clothes_optimizer = self._clothes_optimizer()
        self.scheduler = build_scheduler(o.scheduler, self.optimizer, o)
        self.pid2clothes = self.pid2clothes.to(self.device)
        precision = cfg.system.precision
        self.amp_dtype = PRECISIONS[precision]
        self.scaler = torch.amp.GradScaler("cuda") if precision == "fp16" else None
        self.sync = None  # several processes: averages the gradients DistributedDataParallel does not own
        # pseudo clothes labels (cal.clothes_labels != annotated): the loader's clothes are training-tracklet
        # indices, mapped here to their current outfit; None (annotated): the loader's labels as they are
        self.clothes_of: Optional[torch.Tensor] = None

    def set_clothes_labels(self, labels, pid2clothes) -> None:
        """Pseudo outfits of the training tracklets (by index) and the identities' outfits: the clothes
        classifier (and the memory of memory-bank CAL) is rebuilt at the new number of classes, with a fresh
        optimiser, since outfit numbers from another clustering mean nothing to the old one."""
        self.clothes_of = torch.as_tensor(labels, dtype=torch.long, device=self.device)
        self.pid2clothes = torch.as_tensor(pid2clothes, dtype=torch.float32, device=self.device)
        heads = self.heads
        heads.set_clothes_classes(heads.clothes_classifier.weight.shape[1], self.pid2clothes.shape[1], self.device)
        self.clothes_optimizer = self._clothes_optimizer()

    def _clothes_optimizer(self) -> torch.optim.Optimizer:
        """The clothes classifier's own optimiser (``optim.clothes_lr``, or ``optim.lr`` when null)."""
        o = self.cfg.optim
        return build_optimizer(o.optimizer, self.heads.clothes_classifier.parameters(), lr=o.clothes_lr or o.lr,
                               weight_decay=o.weight_decay)

    def _autocast(self):
        """Mixed precision for the forward pass and the losses (none in fp32: today's exact path)."""
        if self.amp_dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=self.amp_dtype)

    def _backward(self, loss: torch.Tensor, optimizer: torch.optim.Optimizer, what: str) -> None:
        """backward + step, refusing a non-finite loss or gradient (fp16: the scaler skips such steps)."""
        if self.scaler is not None:
            self.scaler.scale(loss).backward()
            if self.sync:
                self.sync(optimizer)
            self.scaler.step(optimizer)
            return
        if not torch.isfinite(loss):
            raise TrainingDiverged(f"{what} is {loss.item()}")
        loss.backward()
        grads = [p.grad for g in optimizer.param_groups for p in g["params"] if p.grad is not None]
        if grads and not torch.isfinite(torch.nn.utils.get_total_norm(grads)):
            raise TrainingDiverged(f"the gradient of the {what} is not finite")
        if self.sync:
            self.sync(optimizer)
        optimizer.step()

    def step(self, clips: torch.Tensor, pids: torch.Tensor, clothes: torch.Tensor, epoch: int) -> Dict[str, float]:
        """One iteration: the clothes step, then the model step (see the class docstring)."""
        with self._autocast():
            return self._step(clips, pids, clothes, epoch)

    def _step(self, clips: torch.Tensor, pids: torch.Tensor, clothes: torch.Tensor, epoch: int) -> Dict[str, float]:
        cfg = self.cfg
        out = ModelOutput.of(self.model(clips))
        clothes_cls = self.heads.clothes_classifier
        batch = Batch(cfg, epoch, out, pids, clothes, self.pid2clothes[pids], self.heads,
                      clothes_logits=clothes_cls(out.features.detach()))
        logs: Dict[str, float] = {}

        # step 1: the clothes classifier learns on the detached features, with its own optimiser
        clothes_loss = weighted_sum(objective_terms(cfg, epoch, "clothes"), batch, logs)
        if clothes_loss is not None and epoch >= cfg.cal.clothes_start_epoch:
            self.clothes_optimizer.zero_grad(set_to_none=True)
            self._backward(clothes_loss, self.clothes_optimizer, "clothes loss")
        logs["clothes_acc_within_id"] = within_identity_clothes_accuracy(batch.clothes_logits.detach(), clothes,
                                                                         batch.pos_mask)

        # step 2: the model and its ID classifiers, CAL through the clothes classifier just updated
        loss = weighted_sum(objective_terms(cfg, epoch, "model"), batch, logs)
        self.optimizer.zero_grad(set_to_none=True)
        self._backward(loss, self.optimizer, "loss")
        if self.scaler is not None:
            self.scaler.update()
        clothes_cls.zero_grad(set_to_none=True)  # CAL's gradients must not train the clothes classifier
        logs["loss"] = loss.item()
        return {k: logs[k] for k in scalar_names() if k in logs}

    def augment(self, clips: torch.Tensor, epoch: int, iteration: int) -> torch.Tensor:
        """Random crop and erasing of the image recipe; seeded by (seed, epoch, iteration) so forks repeat."""
        d = self.cfg.data
        if d.random_crop <= 0 and d.random_erasing <= 0:
            return clips
        gen = torch.Generator().manual_seed((self.cfg.system.seed * 1_000_003 + epoch) * 100_003 + iteration)
        return random_erasing(random_crop(clips, d.random_crop, gen), d.random_erasing, gen)

    def start_epoch(self, loader, epoch: int) -> None:
        """Training mode, and the epoch's randomness in the sampler and the clips."""
        self.model.train()
        self.heads.train()
        for obj in (loader.sampler, loader.dataset):
            if hasattr(obj, "set_epoch"):
                obj.set_epoch(epoch)

    def prepare(self, clips: torch.Tensor, pids: torch.Tensor, clothes: torch.Tensor, epoch: int, iteration: int):
        """A loader batch on the device: normalised (and augmented) clips, labels.

        JPEG bytes (``data.decode: device``, :class:`samplers.EncodedClips`) are decoded here, on the device.
        """
        if isinstance(clips, EncodedClips):
            clips = clips.decode(self.device)
        mean, std = NORMALIZATIONS[self.cfg.data.normalize]
        clips = self.augment(normalize_clips(clips.to(self.device, non_blocking=True), mean, std), epoch, iteration)
        clothes = clothes.to(self.device)
        if self.clothes_of is not None:  # pseudo labels: the loader gave tracklet indices
            clothes = self.clothes_of[clothes]
        return clips, pids.to(self.device), clothes

    def train_epoch(self, loader, epoch: int, on_step: Optional[Callable[["StepTimes"], bool]] = None
                    ) -> Dict[str, float]:
        """One epoch over ``loader``; returns the mean of each logged value and the number of iterations.

        ``on_step``: called after every iteration with its :class:`StepTimes` (read on a clock that waits
        for the device's queued work); the epoch stops early when it returns True (``benchmark profile
        train`` runs this loop so).
        """
        self.start_epoch(loader, epoch)
        sums: Dict[str, float] = {}
        n = 0
        clock = device_clock(self.device) if on_step is not None else None
        bars = bar(loader, desc=f"epoch {epoch + 1}/{self.cfg.optim.epochs}")
        batches = iter(bars)
        for it in itertools.count():
            start = clock() if clock else 0.0
            try:
                clips, pids, _camids, clothes = next(batches)
            except StopIteration:
                break
            fetched = clock() if clock else 0.0
            clips, pids, clothes = self.prepare(clips, pids, clothes, epoch, it)
            prepared = clock() if clock else 0.0
            try:
                logs = self.step(clips, pids, clothes, epoch)
            except TrainingDiverged as e:
                raise TrainingDiverged(f"epoch {epoch + 1}, iteration {it + 1}: {e}") from None
            for k, v in logs.items():
                sums[k] = sums.get(k, 0.0) + v
            n += 1
            bars.set_postfix(loss=f"{logs['loss']:.3f}")
            if on_step is not None and on_step(StepTimes(start, fetched, prepared, clock())):
                break
        self.scheduler.step()
        return {k: v / max(n, 1) for k, v in sums.items()} | {"iterations": n}


@dataclass(frozen=True)
class StepTimes:
    """The clock at the start of an iteration, after its batch arrived, after its preparation, at its end."""

    start: float
    fetched: float
    prepared: float
    done: float


def device_clock(device: torch.device) -> Callable[[], float]:
    """Wall-clock time that waits for the device's queued work first (CUDA runs asynchronously)."""
    if device.type == "cuda":
        def now() -> float:
            torch.cuda.synchronize(device)
            return time.perf_counter()
        return now
    return time.perf_counter
