"""Training (ID loss, optionally CAL's two-step update) and whole-video feature extraction."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Dict, Optional

import torch
import torch.nn.functional as F
from torch import nn
from tqdm import tqdm

from samplers import normalize_clips
from samplers.transforms import random_crop, random_erasing
from temporal_models.heads import Classifier, NormalizedClassifier

from ..config import Config
from .losses import cal_loss, triplet_loss, within_identity_clothes_accuracy


class Heads(nn.Module):
    """The training-only parts around a model: one ID classifier per ID feature, a clothes classifier."""

    def __init__(self, model, num_pids: int, num_clothes: int):
        super().__init__()
        self.id_classifiers = nn.ModuleList(Classifier(d, num_pids) for d in model.id_feature_dims)
        self.clothes_classifier = NormalizedClassifier(model.feature_dim, num_clothes)


@dataclass
class Trainer:
    """Owns the model, the classifiers and both optimizers; one call of :meth:`step` = one iteration.

    Step 1 (clothes): the clothes classifier learns on detached features with its
    own optimizer (from ``clothes_start_epoch``). Step 2 (backbone): ID loss
    (+ triplet) and, with ``cfg.cal`` from ``cal_start_epoch``, CAL through the
    just-updated clothes classifier; only the model and ID classifiers step.
    The clothes classifier is trained in both modes (it is the diagnostic of how
    much clothes information the features carry); only the CAL term differs.
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
        self.optimizer = torch.optim.Adam(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
        self.clothes_optimizer = torch.optim.Adam(self.heads.clothes_classifier.parameters(),
                                                  lr=cfg.clothes_lr or cfg.lr, weight_decay=cfg.weight_decay)
        self.scheduler = torch.optim.lr_scheduler.MultiStepLR(self.optimizer, list(cfg.lr_steps), cfg.lr_gamma)
        self.pid2clothes = self.pid2clothes.to(self.device)

    def step(self, clips: torch.Tensor, pids: torch.Tensor, clothes: torch.Tensor, epoch: int) -> Dict[str, float]:
        cfg = self.cfg
        out = self.model(clips)
        feats = out["features"]
        id_loss = sum(F.cross_entropy(cls(f), pids, label_smoothing=cfg.label_smoothing)
                      for cls, f in zip(self.heads.id_classifiers, out["id_features"]))
        loss = id_loss
        logs = {"id_loss": id_loss.item()}
        if cfg.triplet_weight > 0:
            trip = sum(self._triplet(t, pids) for t in out.get("triplet_features") or out["id_features"])
            loss = loss + cfg.triplet_weight * trip
            logs["triplet"] = trip.item()

        clothes_cls = self.heads.clothes_classifier
        pos_mask = self.pid2clothes[pids]
        detached = clothes_cls(feats.detach())
        clothes_loss = F.cross_entropy(cfg.cal_scale * detached, clothes)
        if epoch >= cfg.clothes_start_epoch:
            self.clothes_optimizer.zero_grad(set_to_none=True)
            clothes_loss.backward()
            self.clothes_optimizer.step()
        logs["clothes_loss"] = clothes_loss.item()
        logs["clothes_acc_within_id"] = within_identity_clothes_accuracy(detached.detach(), clothes, pos_mask)

        if cfg.cal and epoch >= cfg.cal_start_epoch:
            adv = cal_loss(clothes_cls(feats), clothes, pos_mask, cfg.cal_scale, cfg.cal_epsilon)
            loss = loss + adv
            logs["cal"] = adv.item()
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        clothes_cls.zero_grad(set_to_none=True)  # CAL's gradients must not train the clothes classifier
        logs["loss"] = loss.item()
        return logs

    def _triplet(self, t: torch.Tensor, pids: torch.Tensor) -> torch.Tensor:
        cfg = self.cfg
        kw = dict(margin=cfg.triplet_margin, distance=cfg.triplet_distance, mining=cfg.triplet_mining)
        if t.dim() == 3:  # (B, P, d): one loss per part
            return torch.stack([triplet_loss(t[:, p], pids, **kw) for p in range(t.shape[1])]).mean()
        return triplet_loss(t, pids, **kw)

    def augment(self, clips: torch.Tensor, epoch: int, iteration: int) -> torch.Tensor:
        """Random crop and erasing of the image recipe; seeded by (seed, epoch, iteration) so forks repeat."""
        cfg = self.cfg
        if cfg.random_crop <= 0 and cfg.random_erasing <= 0:
            return clips
        gen = torch.Generator().manual_seed((cfg.seed * 1_000_003 + epoch) * 100_003 + iteration)
        return random_erasing(random_crop(clips, cfg.random_crop, gen), cfg.random_erasing, gen)

    def train_epoch(self, loader, epoch: int, progress: bool = True) -> Dict[str, float]:
        self.model.train()
        self.heads.train()
        for obj in (loader.sampler, loader.dataset):
            if hasattr(obj, "set_epoch"):
                obj.set_epoch(epoch)
        sums: Dict[str, float] = {}
        n = 0
        bar = tqdm(loader, desc=f"epoch {epoch + 1}/{self.cfg.epochs}", leave=False, disable=None if progress else True,
                   dynamic_ncols=True)
        for it, (clips, pids, _camids, clothes) in enumerate(bar):
            clips = self.augment(normalize_clips(clips.to(self.device, non_blocking=True)), epoch, it)
            logs = self.step(clips, pids.to(self.device), clothes.to(self.device), epoch)
            for k, v in logs.items():
                sums[k] = sums.get(k, 0.0) + v
            n += 1
            bar.set_postfix(loss=f"{logs['loss']:.3f}")
        self.scheduler.step()
        return {k: v / max(n, 1) for k, v in sums.items()} | {"iterations": n}


@torch.no_grad()
def extract_features(model: nn.Module, loader, device: torch.device, progress: bool = True,
                     desc: str = "features", max_clips: int = 128, flip: bool = False) -> torch.Tensor:
    """Average the clip features of each video, then L2-normalise: (num_videos, D).

    ``flip``: each clip's feature is f(clip) + f(mirrored clip) (the image recipe's test feature).
    """
    model.eval()
    sums: Optional[torch.Tensor] = None
    num_videos = getattr(loader.dataset, "num_videos", len(loader.dataset))  # items may be pieces of videos
    counts = torch.zeros(num_videos)
    for clips, owner in tqdm(loader, desc=desc, leave=False, disable=None if progress else True, dynamic_ncols=True):
        feats = []
        for i in range(0, len(clips), max_clips):
            x = normalize_clips(clips[i:i + max_clips].to(device, non_blocking=True))
            f = model(x)["features"]
            if flip:
                f = f + model(x.flip(-1))["features"]
            feats.append(f.float().cpu())
        feats = torch.cat(feats)
        if sums is None:
            sums = torch.zeros(num_videos, feats.shape[1])
        sums.index_add_(0, owner, feats)  # owner holds each clip's dataset index
        counts.index_add_(0, owner, torch.ones(len(owner)))
    return F.normalize(sums / counts[:, None], dim=1)
