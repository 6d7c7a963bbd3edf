"""``benchmark run``: data -> model -> train -> evaluate -> run record."""
from __future__ import annotations

import datetime as _dt
import os
import random
import time
from typing import Any, Dict, Optional

import numpy as np
import torch

from temporal_models import build_model

from .config import Config, validate
from .data import load_dataset, test_loader, train_loader
from .engine import Heads, Trainer, extract_features
from .metrics import evaluate
from .records import RECORD_FORMAT, git_state, machine, new_run_id, package_versions, write_record


def pick_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def evaluate_model(model, data, cfg: Config, device, progress: bool = True) -> Dict[str, Any]:
    q = extract_features(model, test_loader(cfg, data.query), device, progress, "query", cfg.test_clips_per_batch)
    g = extract_features(model, test_loader(cfg, data.gallery), device, progress, "gallery",
                         cfg.test_clips_per_batch)
    lab = lambda items, a: np.array([getattr(t, a) for t in items])  # noqa: E731
    return evaluate(q, g, lab(data.query, "pid"), lab(data.gallery, "pid"), lab(data.query, "camid"),
                    lab(data.gallery, "camid"), lab(data.query, "clothes"), lab(data.gallery, "clothes"),
                    metric=cfg.metric, device=device, features_normalized=True)


def run(cfg: Config, log=print) -> Dict[str, Any]:
    """Train and evaluate one configuration; write and return its run record."""
    validate(cfg)
    t_start = time.perf_counter()
    if cfg.threads > 0:
        torch.set_num_threads(cfg.threads)
    device = pick_device(cfg.device)
    progress = cfg.progress

    t0 = time.perf_counter()
    data = load_dataset(cfg, progress)
    train = train_loader(cfg, data)
    t_data = time.perf_counter() - t0

    seed_everything(cfg.seed)
    model = build_model(cfg.model, cfg.backbone, cfg.pretrained, cfg.res4_stride, cfg.seq_len).to(device)
    heads = Heads(model, data.num_train_pids, data.num_train_clothes).to(device)
    trainer = Trainer(cfg, model, heads, torch.from_numpy(data.pid2clothes), device)
    n_params = sum(p.numel() for p in model.parameters())
    log(f"{cfg.model}{' + CAL' if cfg.cal else ''} on {data.name}: {len(data.train)} train tracklets "
        f"({data.num_train_pids} ids, {data.num_train_clothes} clothes), {len(data.query)} query, "
        f"{len(data.gallery)} gallery; {n_params / 1e6:.2f}M parameters; {len(train)} iterations/epoch on {device}")

    run_id = new_run_id(cfg.to_dict())
    run_dir = os.path.join(cfg.runs_dir, run_id)
    history = []
    t_train = t_test = 0.0
    metrics: Dict[str, Any] = {}
    for epoch in range(cfg.epochs):
        t0 = time.perf_counter()
        logs = trainer.train_epoch(train, epoch, progress)
        t_train += time.perf_counter() - t0
        entry = {"epoch": epoch + 1, **{k: round(v, 5) for k, v in logs.items()}}
        last = epoch + 1 == cfg.epochs
        if last or (cfg.eval_every and (epoch + 1) % cfg.eval_every == 0):
            t0 = time.perf_counter()
            metrics = evaluate_model(model, data, cfg, device, progress)
            t_test += time.perf_counter() - t0
            entry["metrics"] = metrics
        history.append(entry)
        if progress:
            log(f"epoch {epoch + 1}/{cfg.epochs} " + " ".join(
                f"{k}={v:.3f}" for k, v in logs.items() if k != "iterations"))

    checkpoint = None
    if cfg.save_checkpoint:
        os.makedirs(run_dir, exist_ok=True)
        checkpoint = os.path.join(run_dir, "model.pt")
        torch.save({"model": cfg.model, "backbone": cfg.backbone, "config": cfg.to_dict(),
                    "state_dict": model.state_dict()}, checkpoint)

    record = {
        "format": RECORD_FORMAT,
        "run_id": run_id,
        "created": _dt.datetime.now().astimezone().isoformat(timespec="seconds"),
        "config": cfg.to_dict(),
        "seed": cfg.seed,
        "dataset": {"name": data.name, "root": data.root, "splits": data.summary(), **data.meta,
                    "num_train_pids": data.num_train_pids, "num_train_clothes": data.num_train_clothes},
        "model": {"name": cfg.model, "backbone": cfg.backbone, "parameters": n_params,
                  "pretrained": cfg.pretrained},
        "selection": "last epoch",
        "metrics": metrics,
        "history": history,
        "timings": {"data_s": round(t_data, 2), "train_s": round(t_train, 2), "test_s": round(t_test, 2),
                    "total_s": round(time.perf_counter() - t_start, 2)},
        "versions": package_versions(),
        "git": git_state(),
        "machine": machine(),
        "checkpoint": checkpoint,
    }
    record["path"] = write_record(record, run_dir)
    return record
