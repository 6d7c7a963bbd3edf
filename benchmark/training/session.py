"""``benchmark run``: data -> model -> train -> evaluate -> run folder and record."""
from __future__ import annotations

import copy
import logging
import random
import time
from functools import partial
from typing import Dict, Optional, Sequence

import numpy as np
import torch

from temporal_models import build_model, resolve_weights, sha256_file

from ..config import Config, ConfigError
from ..evaluation import evaluate, evaluate_single_shot, format_table
from ..records import RunRecord, git_state, machine, new_run_id, now_iso, package_versions, write_record
from .features import extract_features
from .loaders import load_dataset, test_loader, train_loader
from .rundir import FILES, RunFolder
from .trainer import Heads, Trainer

log = logging.getLogger(__name__)


def pick_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def test_features(model, data, cfg: Config, device):
    """(query, gallery) test features: whole-video clip averages (plus mirrors with ``eval.flip``)."""
    return tuple(extract_features(model, test_loader(cfg, items), device, split, cfg.eval.clips_per_batch,
                                  flip=cfg.eval.flip, aggregate=cfg.eval.feature)
                 for split, items in (("query", data.query), ("gallery", data.gallery)))


def evaluate_model(model, data, cfg: Config, device) -> Dict[str, Optional[dict]]:
    """Score the test split with the protocols the dataset reports (CC/SC need clothes labels).

    ``eval.shot=single``: one random gallery item per identity, mean and spread over ``eval.draws``
    draws (seeded by draw number only, so every run of a comparison sees the same galleries).
    """
    q, g = test_features(model, data, cfg, device)
    lab = lambda items, a: np.array([getattr(t, a) for t in items])  # noqa: E731
    with_clothes = bool({"cc", "sc"} & set(data.meta.get("protocols", ("general", "cc", "sc"))))
    score = evaluate if cfg.eval.shot == "multi" else partial(evaluate_single_shot, draws=cfg.eval.draws, seed=0)
    return score(q, g, lab(data.query, "pid"), lab(data.gallery, "pid"), lab(data.query, "camid"),
                    lab(data.gallery, "camid"),
                    lab(data.query, "clothes") if with_clothes else None,
                    lab(data.gallery, "clothes") if with_clothes else None,
                    metric=cfg.eval.metric, device=device, features_normalized=True, rerank=cfg.eval.rerank)


SELECTION_RULES = {"cc-top1": ("cc", "top1"), "general-top1": ("general", "top1")}


def reference_selection(history: Sequence[dict], rule: Optional[str]) -> Optional[dict]:
    """The evaluated epoch the reference's rule keeps: the first with the best test top-1 of the rule's protocol.

    Chosen on the test set, as the reference code does; reported apart from the last-epoch headline.
    """
    if rule is None:
        return None
    protocol, metric = SELECTION_RULES[rule]
    best = None
    for entry in history:
        scores = (entry.get("metrics") or {}).get(protocol)
        if scores and scores.get(metric) is not None and (best is None or scores[metric] > best[1]):
            best = (entry, scores[metric])
    if best is None:
        return {"rule": rule, "chosen_on": "test set", "epoch": None, "metrics": None}
    return {"rule": rule, "chosen_on": "test set", "epoch": best[0]["epoch"], "metrics": best[0]["metrics"]}


def _open_folder(cfg: Config, parent: Optional[RunFolder] = None) -> RunFolder:
    folder = RunFolder(cfg.system.runs_dir, new_run_id(cfg.model.name, cfg.cal.enabled, cfg.data.dataset,
                                                       cfg.system.seed))
    folder.write_config(cfg)
    folder.start_log(copy_from=parent)
    return folder


class Session:
    """One training run in progress: its folder, data, model, trainer and history.

    :meth:`train_to` advances it epoch by epoch; :meth:`fork` copies it so that
    variants (CAL on/off, other epsilons) can share the epochs before CAL starts
    (training is deterministic, so a fork equals a fresh run of the variant);
    :meth:`finish` evaluates and writes the run record.
    """

    def __init__(self, cfg: Config, warnings: Sequence[str] = ()):
        self.cfg = cfg
        self.t_start = time.perf_counter()
        # the code and packages that run are those of the start: a commit made while a long run
        # trains must not be written into its record
        self.git, self.versions = git_state(), package_versions()
        if cfg.system.threads > 0:
            torch.set_num_threads(cfg.system.threads)
        self.device = pick_device(cfg.system.device)
        self.folder = _open_folder(cfg)
        try:
            for w in warnings:
                log.warning(w)
            self._build()
        except BaseException:
            self.folder.remove()  # nothing trained yet: leave no half-made run folder behind
            raise

    def _build(self) -> None:
        cfg = self.cfg
        log.info("run folder %s", self.folder.path)
        t0 = time.perf_counter()
        self.data = load_dataset(cfg)
        self.train = train_loader(cfg, self.data)
        self.t_data = time.perf_counter() - t0
        d = self.data
        if len(self.train) == 0:
            raise ConfigError(
                f"data: the training split of {d.name} ({len(d.train)} tracklets, {d.num_train_pids} ids) gives no "
                f"batch of data.num_ids x data.clips_per_id = {cfg.data.num_ids} x {cfg.data.clips_per_id}; "
                "lower data.num_ids")
        seed_everything(cfg.system.seed)
        self.model = build_model(cfg.model.name, cfg.model.backbone, cfg.model.pretrained, cfg.model.res4_stride,
                                 cfg.data.seq_len, init=cfg.model.init).to(self.device)
        weights = resolve_weights(cfg.model.pretrained, cfg.model.backbone)
        self.weights = {"weights": weights, "weights_sha256": sha256_file(weights) if weights else None}
        heads = Heads(self.model, d.num_train_pids, d.num_train_clothes).to(self.device)
        self.trainer = Trainer(cfg, self.model, heads, torch.from_numpy(d.pid2clothes), self.device)
        self.n_params = sum(p.numel() for p in self.model.parameters())
        self.epoch = 0
        self.history: list = []
        self.metrics: Dict[str, Optional[dict]] = {}
        self.t_train = self.t_test = 0.0
        self.forked_at: Optional[int] = None
        log.info(f"{cfg.model.name}{' + CAL' if cfg.cal.enabled else ''} on {d.name}: {len(d.train)} train tracklets "
                 f"({d.num_train_pids} ids, {d.num_train_clothes} clothes), {len(d.query)} query, "
                 f"{len(d.gallery)} gallery; {self.n_params / 1e6:.2f}M parameters; {len(self.train)} "
                 f"iterations/epoch on {self.device}")

    @property
    def run_id(self) -> str:
        return self.folder.run_id

    def train_to(self, epochs: int) -> None:
        cfg = self.cfg
        total = cfg.optim.epochs
        self.folder.activate()
        while self.epoch < min(epochs, total):
            lr = self.trainer.optimizer.param_groups[0]["lr"]
            t0 = time.perf_counter()
            logs = self.trainer.train_epoch(self.train, self.epoch)
            self.t_train += time.perf_counter() - t0
            self.epoch += 1
            entry = {"epoch": self.epoch, "lr": lr, **{k: round(v, 5) for k, v in logs.items()}}
            line = f"epoch {self.epoch}/{total} " + " ".join(
                f"{k}={v:.3f}" for k, v in logs.items() if k != "iterations")
            if self.epoch == total or (cfg.eval.every and self.epoch % cfg.eval.every == 0):
                t0 = time.perf_counter()
                self.metrics = evaluate_model(self.model, self.data, cfg, self.device)
                self.t_test += time.perf_counter() - t0
                entry["metrics"] = self.metrics
                line += "".join(f" {p}_mAP={100 * m['mAP']:.1f}" for p, m in self.metrics.items() if m)
            self.history.append(entry)
            self.folder.append_scalars(entry)
            log.info(line)

    def fork(self, **changes) -> "Session":
        """A deep copy whose config differs by dotted ``changes`` from now on (e.g. ``**{"cal.enabled": True}``)."""
        other = copy.copy(self)
        other.cfg = self.cfg.replace(**changes)
        other.model = copy.deepcopy(self.model)
        heads = copy.deepcopy(self.trainer.heads)
        other.trainer = Trainer(other.cfg, other.model, heads, self.trainer.pid2clothes, self.device)
        for name in ("optimizer", "clothes_optimizer", "scheduler"):
            getattr(other.trainer, name).load_state_dict(copy.deepcopy(getattr(self.trainer, name).state_dict()))
        other.history = copy.deepcopy(self.history)
        other.metrics = copy.deepcopy(self.metrics)
        other.forked_at = self.epoch
        other.folder = _open_folder(other.cfg, parent=self.folder)  # its log starts as a copy of this one's
        other.folder.write_scalars(other.history)
        log.info("forked from %s at epoch %d: %s", self.folder.run_id, self.epoch,
                 ", ".join(f"{k}={v}" for k, v in changes.items()))
        return other

    def finish(self) -> RunRecord:
        """Train to the last epoch, save the model, write and return the run record."""
        self.train_to(self.cfg.optim.epochs)  # also makes this run's log the active one
        cfg, data, folder = self.cfg, self.data, self.folder
        checkpoint = None
        if cfg.system.save_checkpoint:
            checkpoint = folder.file("checkpoint")
            torch.save({"model": cfg.model.name, "backbone": cfg.model.backbone, "config": cfg.to_dict(),
                        "state_dict": self.model.state_dict()}, checkpoint)
        record = RunRecord(
            run_id=folder.run_id, created=now_iso(), config=cfg.to_dict(),
            dataset={"name": data.name, "root": data.root, "splits": data.summary(), **data.meta,
                     "num_train_pids": data.num_train_pids, "num_train_clothes": data.num_train_clothes},
            model={"name": cfg.model.name, "backbone": cfg.model.backbone, "parameters": self.n_params,
                   "pretrained": cfg.model.pretrained, **self.weights},
            forked_at_epoch=self.forked_at, metrics=self.metrics, history=self.history,
            reference_selection=reference_selection(self.history, cfg.eval.selection_rule),
            timings={"data_s": round(self.t_data, 2), "train_s": round(self.t_train, 2),
                     "test_s": round(self.t_test, 2), "total_s": round(time.perf_counter() - self.t_start, 2)},
            versions=self.versions, git=self.git, machine=machine(), checkpoint=checkpoint,
            files={k: v for k, v in FILES.items() if k != "checkpoint" or checkpoint})
        t = record.timings
        log.info(f"{record.run_id}  (last epoch; train {t['train_s']:.0f}s, test {t['test_s']:.0f}s, "
                 f"total {t['total_s']:.0f}s)\n{format_table(record.metrics)}")
        ref = record.reference_selection
        if ref and ref["metrics"]:
            log.info(f"the reference's rule ({ref['rule']}, chosen on the TEST set) keeps epoch {ref['epoch']}:\n"
                     f"{format_table(ref['metrics'])}")
        write_record(record, folder.path)
        log.info("record: %s", record.path)
        folder.close()
        return record


def run(cfg: Config, warnings: Sequence[str] = ()) -> RunRecord:
    """Train and evaluate one configuration; write and return its run record."""
    return Session(cfg, warnings).finish()
