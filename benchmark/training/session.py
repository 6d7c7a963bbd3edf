"""``benchmark run``: data -> model -> train -> evaluate -> run record."""
from __future__ import annotations

import copy
import dataclasses
import datetime as _dt
import os
import random
import time
from typing import Any, Dict, Optional

import numpy as np
import torch

from temporal_models import build_model

from ..config import Config, validate
from .loaders import load_dataset, test_loader, train_loader
from .trainer import Heads, Trainer, extract_features
from ..evaluation import evaluate
from ..records import RECORD_FORMAT, git_state, machine, new_run_id, package_versions, write_record


def pick_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def test_features(model, data, cfg: Config, device, progress: bool = True):
    """(query, gallery) test features: whole-video clip averages (plus mirrors with ``test_flip``)."""
    return tuple(extract_features(model, test_loader(cfg, items), device, progress, split,
                                  cfg.test_clips_per_batch, flip=cfg.test_flip)
                 for split, items in (("query", data.query), ("gallery", data.gallery)))


def evaluate_model(model, data, cfg: Config, device, progress: bool = True) -> Dict[str, Any]:
    """Score the test split with the protocols the dataset reports (CC/SC need clothes labels)."""
    q, g = test_features(model, data, cfg, device, progress)
    lab = lambda items, a: np.array([getattr(t, a) for t in items])  # noqa: E731
    with_clothes = bool({"cc", "sc"} & set(data.meta.get("protocols", ("general", "cc", "sc"))))
    return evaluate(q, g, lab(data.query, "pid"), lab(data.gallery, "pid"), lab(data.query, "camid"),
                    lab(data.gallery, "camid"),
                    lab(data.query, "clothes") if with_clothes else None,
                    lab(data.gallery, "clothes") if with_clothes else None,
                    metric=cfg.metric, device=device, features_normalized=True,
                    rerank=cfg.rerank)


class Session:
    """One training run in progress: data, model, trainer and history.

    :meth:`train_to` advances it epoch by epoch; :meth:`fork` copies it so that
    variants (CAL on/off, other epsilons) can share the epochs before CAL starts
    (training is deterministic, so a fork equals a fresh run of the variant);
    :meth:`finish` evaluates and writes the run record.
    """

    def __init__(self, cfg: Config, log=print):
        validate(cfg)
        self.cfg, self.log = cfg, log
        self.t_start = time.perf_counter()
        # the code and packages that run are those of the start: a commit made while a long run
        # trains must not be written into its record
        self.git, self.versions = git_state(), package_versions()
        if cfg.threads > 0:
            torch.set_num_threads(cfg.threads)
        self.device = pick_device(cfg.device)
        t0 = time.perf_counter()
        self.data = load_dataset(cfg, cfg.progress)
        self.train = train_loader(cfg, self.data)
        self.t_data = time.perf_counter() - t0
        seed_everything(cfg.seed)
        self.model = build_model(cfg.model, cfg.backbone, cfg.pretrained, cfg.res4_stride, cfg.seq_len).to(self.device)
        heads = Heads(self.model, self.data.num_train_pids, self.data.num_train_clothes).to(self.device)
        self.trainer = Trainer(cfg, self.model, heads, torch.from_numpy(self.data.pid2clothes), self.device)
        self.n_params = sum(p.numel() for p in self.model.parameters())
        self.epoch = 0
        self.history: list = []
        self.metrics: Dict[str, Any] = {}
        self.t_train = self.t_test = 0.0
        self.forked_at: Optional[int] = None
        d = self.data
        log(f"{cfg.model}{' + CAL' if cfg.cal else ''} on {d.name}: {len(d.train)} train tracklets "
            f"({d.num_train_pids} ids, {d.num_train_clothes} clothes), {len(d.query)} query, "
            f"{len(d.gallery)} gallery; {self.n_params / 1e6:.2f}M parameters; {len(self.train)} iterations/epoch "
            f"on {self.device}")

    def train_to(self, epochs: int) -> None:
        cfg = self.cfg
        while self.epoch < min(epochs, cfg.epochs):
            t0 = time.perf_counter()
            logs = self.trainer.train_epoch(self.train, self.epoch, cfg.progress)
            self.t_train += time.perf_counter() - t0
            self.epoch += 1
            entry = {"epoch": self.epoch, **{k: round(v, 5) for k, v in logs.items()}}
            if self.epoch == cfg.epochs or (cfg.eval_every and self.epoch % cfg.eval_every == 0):
                t0 = time.perf_counter()
                self.metrics = evaluate_model(self.model, self.data, cfg, self.device, cfg.progress)
                self.t_test += time.perf_counter() - t0
                entry["metrics"] = self.metrics
            self.history.append(entry)
            if cfg.progress:
                self.log(f"epoch {self.epoch}/{cfg.epochs} " + " ".join(
                    f"{k}={v:.3f}" for k, v in logs.items() if k != "iterations"))

    def fork(self, **changes) -> "Session":
        """A deep copy whose config differs by ``changes`` from now on (e.g. ``cal=True``)."""
        other = copy.copy(self)
        other.cfg = dataclasses.replace(self.cfg, **changes)
        other.model = copy.deepcopy(self.model)
        heads = copy.deepcopy(self.trainer.heads)
        other.trainer = Trainer(other.cfg, other.model, heads, self.trainer.pid2clothes, self.device)
        for name in ("optimizer", "clothes_optimizer", "scheduler"):
            getattr(other.trainer, name).load_state_dict(copy.deepcopy(getattr(self.trainer, name).state_dict()))
        other.history = copy.deepcopy(self.history)
        other.metrics = copy.deepcopy(self.metrics)
        other.forked_at = self.epoch
        return other

    def finish(self) -> Dict[str, Any]:
        self.train_to(self.cfg.epochs)
        cfg = self.cfg
        run_id = new_run_id(cfg.to_dict())
        run_dir = os.path.join(cfg.runs_dir, run_id)
        suffix = 1
        while os.path.exists(run_dir):
            suffix += 1
            run_dir = os.path.join(cfg.runs_dir, f"{run_id}-{suffix}")
        checkpoint = None
        if cfg.save_checkpoint:
            os.makedirs(run_dir, exist_ok=True)
            checkpoint = os.path.join(run_dir, "model.pt")
            torch.save({"model": cfg.model, "backbone": cfg.backbone, "config": cfg.to_dict(),
                        "state_dict": self.model.state_dict()}, checkpoint)
        data = self.data
        record = {
            "format": RECORD_FORMAT,
            "run_id": os.path.basename(run_dir),
            "created": _dt.datetime.now().astimezone().isoformat(timespec="seconds"),
            "config": cfg.to_dict(),
            "seed": cfg.seed,
            "dataset": {"name": data.name, "root": data.root, "splits": data.summary(), **data.meta,
                        "num_train_pids": data.num_train_pids, "num_train_clothes": data.num_train_clothes},
            "model": {"name": cfg.model, "backbone": cfg.backbone, "parameters": self.n_params,
                      "pretrained": cfg.pretrained},
            "selection": "last epoch",
            "forked_at_epoch": self.forked_at,
            "metrics": self.metrics,
            "history": self.history,
            "timings": {"data_s": round(self.t_data, 2), "train_s": round(self.t_train, 2),
                        "test_s": round(self.t_test, 2), "total_s": round(time.perf_counter() - self.t_start, 2)},
            "versions": self.versions,
            "git": self.git,
            "machine": machine(),
            "checkpoint": checkpoint,
        }
        record["path"] = write_record(record, run_dir)
        return record


class CheckpointError(Exception):
    """A checkpoint that is missing, unreadable or from another model; the message names the file."""


def load_checkpoint(path: str, model_name: Optional[str] = None):
    """Rebuild the model saved by ``benchmark run`` at ``path``; returns (model, config)."""
    from ..config import Config
    if not os.path.isfile(path):
        raise CheckpointError(f"{path}: checkpoint not found")
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:
        raise CheckpointError(f"{path}: cannot read checkpoint ({type(e).__name__})") from None
    if not isinstance(ckpt, dict) or not {"model", "config", "state_dict"} <= set(ckpt):
        raise CheckpointError(f"{path}: not a checkpoint written by 'benchmark run'")
    if model_name and model_name != ckpt["model"]:
        raise CheckpointError(f"{path}: checkpoint is from model {ckpt['model']!r}, not {model_name!r}")
    cfg = Config.from_dict(ckpt["config"])
    model = build_model(cfg.model, cfg.backbone, None, cfg.res4_stride, cfg.seq_len)
    try:
        model.load_state_dict(ckpt["state_dict"])
    except RuntimeError as e:
        first = str(e).splitlines()[1].strip() if len(str(e).splitlines()) > 1 else str(e)
        raise CheckpointError(f"{path}: weights do not fit model {cfg.model!r} ({first})") from None
    return model, cfg


def evaluate_checkpoint(path: str, model_name: Optional[str] = None, data_root: Optional[str] = None,
                    progress: bool = True) -> Dict[str, Any]:
    """Evaluate a saved model on its own dataset (or on ``data_root``); returns the metrics."""
    model, cfg = load_checkpoint(path, model_name)
    if data_root:
        dataset = "ccvid" if cfg.dataset == "embedded" else cfg.dataset
        cfg = dataclasses.replace(cfg, dataset=dataset, data_root=data_root, val_ids=0)
    cfg.progress = progress
    device = pick_device("auto")
    data = load_dataset(cfg, progress)
    return evaluate_model(model.to(device), data, cfg, device, progress)


def run(cfg: Config, log=print) -> Dict[str, Any]:
    """Train and evaluate one configuration; write and return its run record."""
    return Session(cfg, log).finish()
