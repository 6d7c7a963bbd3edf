"""Training: the ID loss, optionally CAL's two-step update (docs/reference-facts.md, C)."""
from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from typing import Dict

import torch
import torch.nn.functional as F
from torch import nn

from ccvid.progress import bar
from samplers import EncodedClips, normalize_clips
from samplers.transforms import random_crop, random_erasing
from temporal_models import ModelOutput
from temporal_models.heads import Classifier, NormalizedClassifier

from ..config import Config
from .losses import (cal_loss, memory_cal_loss, triplet_loss, update_clothes_memory,
                     within_identity_clothes_accuracy)


class TrainingDiverged(RuntimeError):
    """A non-finite loss or gradient; the message names the epoch, the iteration and what went wrong."""


class Heads(nn.Module):
    """The training-only parts around a model: one ID classifier per ID feature, a clothes classifier.

    Also the clothes memory of memory-bank CAL (``cal.variant = "memory"``), as buffers so
    that it moves with ``.to``, is in ``state_dict`` and is deep-copied (forks) with the
    heads: ``clothes_memory`` (clothes x dim, one unit vector per clothes class) and
    ``clothes_memory_filled`` (which classes were written). Both start at zero and draw no random numbers; the classifier variant never
    touches them.
    """

    def __init__(self, model, num_pids: int, num_clothes: int):
        super().__init__()
        self.id_classifiers = nn.ModuleList(Classifier(d, num_pids) for d in model.id_feature_dims)
        self.clothes_classifier = NormalizedClassifier(model.feature_dim, num_clothes)
        self.register_buffer("clothes_memory", torch.zeros(num_clothes, model.feature_dim))
        self.register_buffer("clothes_memory_filled", torch.zeros(num_clothes, dtype=torch.bool))


@dataclass
class Trainer:
    """Owns the model, the classifiers and both optimizers; one call of :meth:`step` = one iteration.

    Step 1 (clothes): the clothes classifier learns on detached features with its
    own optimizer (from ``cal.clothes_start_epoch``). Step 2 (backbone): ID loss
    (+ triplet) and, with ``cal.enabled`` from ``cal.start_epoch``, CAL through the
    just-updated clothes classifier; only the model and ID classifiers step.
    The clothes classifier is trained in both modes (it is the diagnostic of how
    much clothes information the features carry); only the CAL term differs.

    ``cal.variant = "memory"`` (the reference's memory-bank CAL): from ``cal.start_epoch``
    the batch is first written into ``heads.clothes_memory`` (detached, momentum
    ``cal.memory_momentum``) and CAL is then taken against that memory, so the batch's
    own classes are always in it; the clothes classifier still learns as above, as the
    diagnostic only. Before ``cal.start_epoch`` (or without ``cal.enabled``) the memory
    is not written, as in the reference, which updates it only inside the CAL term.
    """

    cfg: Config
    model: nn.Module
    heads: Heads
    pid2clothes: torch.Tensor
    device: torch.device
    optimizer: torch.optim.Optimizer = field(init=False)
    clothes_optimizer: torch.optim.Optimizer = field(init=False)
    scheduler: torch.optim.lr_scheduler.MultiStepLR = field(init=False)

    def __post_init__(self):
        cfg = self.cfg
        params = list(self.model.parameters()) + list(self.heads.id_classifiers.parameters())
        o = cfg.optim
        self.optimizer = torch.optim.Adam(params, lr=o.lr, weight_decay=o.weight_decay)
        self.clothes_optimizer = torch.optim.Adam(self.heads.clothes_classifier.parameters(),
                                                  lr=o.clothes_lr or o.lr, weight_decay=o.weight_decay)
        self.scheduler = torch.optim.lr_scheduler.MultiStepLR(self.optimizer, list(o.lr_steps), o.lr_gamma)
        self.pid2clothes = self.pid2clothes.to(self.device)
        precision = cfg.system.precision
        self.amp_dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(precision)
        self.scaler = torch.amp.GradScaler("cuda") if precision == "fp16" else None
        self.sync = None  # several processes: averages the gradients DistributedDataParallel does not own

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
        """One iteration: the clothes step, then the backbone step (see the class docstring)."""
        with self._autocast():
            return self._step(clips, pids, clothes, epoch)

    def _step(self, clips: torch.Tensor, pids: torch.Tensor, clothes: torch.Tensor, epoch: int) -> Dict[str, float]:
        cfg = self.cfg
        out = ModelOutput.of(self.model(clips))
        feats = out.features
        id_loss = sum(F.cross_entropy(cls(f), pids, label_smoothing=cfg.loss.label_smoothing)
                      for cls, f in zip(self.heads.id_classifiers, out.id_features))
        loss = id_loss
        logs = {"id_loss": id_loss.item()}
        if cfg.loss.triplet_weight > 0:
            trip = sum(self._triplet(t, pids) for t in out.triplet_features or out.id_features)
            loss = loss + cfg.loss.triplet_weight * trip
            logs["triplet"] = trip.item()

        clothes_cls = self.heads.clothes_classifier
        pos_mask = self.pid2clothes[pids]
        detached = clothes_cls(feats.detach())
        clothes_loss = F.cross_entropy(cfg.cal.scale * detached, clothes)
        if epoch >= cfg.cal.clothes_start_epoch:
            self.clothes_optimizer.zero_grad(set_to_none=True)
            self._backward(clothes_loss, self.clothes_optimizer, "clothes loss")
        logs["clothes_loss"] = clothes_loss.item()
        logs["clothes_acc_within_id"] = within_identity_clothes_accuracy(detached.detach(), clothes, pos_mask)

        if cfg.cal.enabled and epoch >= cfg.cal.start_epoch:
            if cfg.cal.variant == "memory":
                memory, filled = self.heads.clothes_memory, self.heads.clothes_memory_filled
                update_clothes_memory(memory, filled, feats, clothes, cfg.cal.memory_momentum)
                adv = memory_cal_loss(feats, clothes, pos_mask, memory, filled, cfg.cal.scale, cfg.cal.epsilon)
            else:
                adv = cal_loss(clothes_cls(feats), clothes, pos_mask, cfg.cal.scale, cfg.cal.epsilon)
            loss = loss + adv
            logs["cal"] = adv.item()
        self.optimizer.zero_grad(set_to_none=True)
        self._backward(loss, self.optimizer, "loss")
        if self.scaler is not None:
            self.scaler.update()
        clothes_cls.zero_grad(set_to_none=True)  # CAL's gradients must not train the clothes classifier
        logs["loss"] = loss.item()
        return logs

    def _triplet(self, t: torch.Tensor, pids: torch.Tensor) -> torch.Tensor:
        s = self.cfg.loss
        kw = dict(margin=s.triplet_margin, distance=s.triplet_distance, mining=s.triplet_mining)
        if t.dim() == 3:  # (B, P, d): one loss per part
            return torch.stack([triplet_loss(t[:, p], pids, **kw) for p in range(t.shape[1])]).mean()
        return triplet_loss(t, pids, **kw)

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
        clips = self.augment(normalize_clips(clips.to(self.device, non_blocking=True)), epoch, iteration)
        return clips, pids.to(self.device), clothes.to(self.device)

    def train_epoch(self, loader, epoch: int) -> Dict[str, float]:
        self.start_epoch(loader, epoch)
        sums: Dict[str, float] = {}
        n = 0
        bars = bar(loader, desc=f"epoch {epoch + 1}/{self.cfg.optim.epochs}")
        for it, (clips, pids, _camids, clothes) in enumerate(bars):
            clips, pids, clothes = self.prepare(clips, pids, clothes, epoch, it)
            try:
                logs = self.step(clips, pids, clothes, epoch)
            except TrainingDiverged as e:
                raise TrainingDiverged(f"epoch {epoch + 1}, iteration {it + 1}: {e}") from None
            for k, v in logs.items():
                sums[k] = sums.get(k, 0.0) + v
            n += 1
            bars.set_postfix(loss=f"{logs['loss']:.3f}")
        self.scheduler.step()
        return {k: v / max(n, 1) for k, v in sums.items()} | {"iterations": n}
