"""Saved models: rebuild one from ``model.pt`` and evaluate it again."""
from __future__ import annotations

import os
import warnings
from typing import Dict, Optional, Tuple

import torch

from temporal_models import TemporalModel, build_model

from ..config import Config, ConfigError, from_dict, upgrade_config
from .loaders import load_dataset
from .rundir import CheckpointError
from .session import evaluate_model, pick_device


def load_checkpoint(path: str, model_name: Optional[str] = None) -> Tuple[TemporalModel, Config]:
    """Rebuild the model saved by ``benchmark run`` at ``path``; returns (model, config)."""
    if not os.path.exists(path):
        raise CheckpointError(f"{path}: checkpoint not found")
    if not os.path.isfile(path):  # a folder, a FIFO (a read would hang), a device
        raise CheckpointError(f"{path}: not a regular file (a model.pt is expected)")
    try:
        with warnings.catch_warnings():  # torch warns about old pickles before refusing them: one line is ours
            warnings.simplefilter("ignore")
            ckpt = torch.load(path, map_location="cpu", weights_only=True)  # never runs code from the file
    except Exception as e:
        raise CheckpointError(f"{path}: cannot read checkpoint ({type(e).__name__})") from None
    if not isinstance(ckpt, dict) or not {"model", "config", "state_dict"} <= set(ckpt):
        raise CheckpointError(f"{path}: not a checkpoint written by 'benchmark run'")
    if model_name and model_name != ckpt["model"]:
        raise CheckpointError(f"{path}: checkpoint is from model {ckpt['model']!r}, not {model_name!r}")
    try:
        cfg = from_dict(upgrade_config(ckpt["config"]), path)
    except ConfigError as e:
        raise CheckpointError(f"{path}: its config does not load ({e})") from None
    model = build_model(cfg.model.name, cfg.model.backbone, None, cfg.model.res4_stride, cfg.data.seq_len)
    try:
        model.load_state_dict(ckpt["state_dict"])
    except RuntimeError as e:
        first = str(e).splitlines()[1].strip() if len(str(e).splitlines()) > 1 else str(e)
        raise CheckpointError(f"{path}: weights do not fit model {cfg.model.name!r} ({first})") from None
    return model, cfg


def evaluate_checkpoint(path: str, model_name: Optional[str] = None, data_root: Optional[str] = None,
                        save_features: Optional[str] = None) -> Dict[str, Optional[dict]]:
    """Evaluate a saved model on its own dataset (or on ``data_root``); returns the metrics.

    ``path``: a ``model.pt`` or the run folder holding it. ``save_features``: a folder for the
    query and gallery ``.npz`` features.
    """
    model, cfg, data, device, _ = saved_model_and_data(path, model_name, data_root)
    return evaluate_model(model, data, cfg, device, save_features=save_features)


def saved_model_and_data(path: str, model_name: Optional[str] = None, data_root: Optional[str] = None):
    """(model on its device, config, test data, device, checkpoint path) of a saved run.

    ``path``: a ``model.pt`` or the run folder holding it; ``data_root``: the run's dataset kind,
    read from another folder (the embedded dataset's kind is CCVID's layout).
    """
    if os.path.isdir(path) and os.path.isfile(os.path.join(path, "model.pt")):
        path = os.path.join(path, "model.pt")
    model, cfg = load_checkpoint(path, model_name)
    if data_root:
        dataset = "ccvid" if cfg.data.dataset == "embedded" else cfg.data.dataset
        cfg = cfg.replace(**{"data.dataset": dataset, "data.root": data_root, "data.val_ids": 0})
    device = pick_device("auto")
    return model.to(device), cfg, load_dataset(cfg), device, path
