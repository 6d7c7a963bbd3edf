"""What a run saves and reads back: the training state (``state.pt``, with every random state) for an exact
resume, and the model (``model.pt``), rebuilt and evaluated again."""
from __future__ import annotations

import os
import random
import warnings
from dataclasses import dataclass
from typing import Any, Callable, Dict, Optional, Tuple

import numpy as np
import torch

from ccvid.base import UserError
from ccvid.files import write_atomically

from temporal_models import TemporalModel, build_model

from ..config import Config, ConfigError, from_dict, upgrade_config
from ..config.checks import check_fields
from .build import pick_device
from .loaders import load_dataset
from .rundir import CheckpointError
from .testing import evaluate_model

STATE_FORMAT = "ccreid-bench/training-state/1"
OPTIMISER_STATES = ("optimizer", "clothes_optimizer", "scheduler")  # the trainer's, by attribute name


def atomic_save(obj, path: str) -> None:
    """torch.save through a temporary file, flushed and fsynced, then renamed: never a half-written file."""
    write_atomically(path, lambda f: torch.save(obj, f))


def training_state(model, trainer, **progress: Any) -> Dict[str, Any]:
    """Everything an exact resume needs: weights, heads, optimiser states, ``progress`` and every random state."""
    return {"format": STATE_FORMAT, **progress, "model": model.state_dict(), "heads": trainer.heads.state_dict(),
            **{name: getattr(trainer, name).state_dict() for name in OPTIMISER_STATES},
            "scaler": trainer.scaler.state_dict() if trainer.scaler else None, "rng": rng_state()}


def read_training_state(path: str, device: torch.device) -> Dict[str, Any]:
    """A ``state.pt`` written by :func:`training_state`; :class:`CheckpointError` naming the file otherwise."""
    try:
        state = torch.load(path, map_location=device, weights_only=True)
    except FileNotFoundError:
        raise CheckpointError(f"{path}: no training state to resume from") from None
    except Exception as e:
        raise CheckpointError(f"{path}: cannot read the training state ({type(e).__name__})") from None
    if not isinstance(state, dict) or state.get("format") != STATE_FORMAT:
        raise CheckpointError(f"{path}: not a training state written by 'benchmark run'")
    return state


def restore_training_state(state: Dict[str, Any], model, trainer) -> None:
    """Load weights, heads, optimiser states and random states back (the progress fields are the caller's)."""
    model.load_state_dict(state["model"])
    trainer.heads.load_state_dict(state["heads"])
    for name in OPTIMISER_STATES:
        getattr(trainer, name).load_state_dict(state[name])
    if trainer.scaler and state["scaler"]:
        trainer.scaler.load_state_dict(state["scaler"])
    set_rng_state(state["rng"])


def rng_state() -> dict:
    """Every global random state, as tensors and numbers (loadable with weights_only)."""
    version, internal, gauss = random.getstate()
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    return {"python": [version, torch.tensor(internal, dtype=torch.int64), gauss],
            "numpy": [kind, torch.from_numpy(keys.astype(np.int64)), pos, has_gauss, cached],
            "torch": torch.get_rng_state(),
            "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else []}


def set_rng_state(state: dict) -> None:
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(int(x) for x in internal.tolist()), gauss))
    kind, keys, pos, has_gauss, cached = state["numpy"]
    np.random.set_state((kind, keys.numpy().astype(np.uint32), pos, has_gauss, cached))
    torch.set_rng_state(state["torch"].cpu())
    if state["cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all([s.cpu() for s in state["cuda"]])


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
    if not isinstance(ckpt["config"], dict):
        raise CheckpointError(f"{path}: its config is a {type(ckpt['config']).__name__}, not a mapping of sections")
    try:
        cfg = from_dict(upgrade_config(ckpt["config"]), path)
        check_fields(cfg)  # a value no run could have trained with (a negative height, an unknown model)
    except ConfigError as e:
        raise CheckpointError(f"{path}: its config does not load ({e})") from None
    model = build_model(cfg.model.name, cfg.model.backbone, None, cfg.model.res4_stride, cfg.data.seq_len,
                        img_size=(cfg.data.height, cfg.data.width), frame_pool=cfg.model.frame_pool)
    if not isinstance(ckpt["state_dict"], dict):
        raise CheckpointError(f"{path}: its state_dict is a {type(ckpt['state_dict']).__name__}, not weights by name")
    try:
        model.load_state_dict(ckpt["state_dict"])
    except RuntimeError as e:
        first = str(e).splitlines()[1].strip() if len(str(e).splitlines()) > 1 else str(e)
        raise CheckpointError(f"{path}: weights do not fit model {cfg.model.name!r} ({first})") from None
    return model, cfg


def evaluate_checkpoint(path: str, model_name: Optional[str] = None, data_root: Optional[str] = None,
                        save_features: Optional[str] = None, dataset: Optional[str] = None,
                        best: bool = False) -> Dict[str, Optional[dict]]:
    """Evaluate a saved model on its own dataset (or on ``data_root``, or on another ``dataset``); returns the metrics.

    ``path``: a ``model.pt`` or the run folder holding it. ``save_features``: a folder for the
    query and gallery ``.npz`` features. ``best``: the weights of the run's ``best.pt`` (the epoch its
    selection rule kept) instead of the last epoch's.
    """
    model, cfg, data, device, _ = saved_model_and_data(path, model_name, data_root, dataset, best)
    return evaluate_model(model, data, cfg, device, save_features=save_features)


def model_file(path: str) -> str:
    """The ``model.pt`` a ``benchmark test`` argument names (the file, or the run folder holding it)."""
    if os.path.isdir(path) and os.path.isfile(os.path.join(path, "model.pt")):
        return os.path.join(path, "model.pt")
    return path


def load_best_weights(model_path: str, model, cfg: Config) -> Dict[str, Any]:
    """Load the ``best.pt`` beside ``model_path`` into ``model``; returns which checkpoint it is (file, epoch, rule).

    ``best.pt`` is the training state of the epoch the run's ``eval.selection_rule`` kept (chosen on the test set).
    """
    best = os.path.join(os.path.dirname(os.path.abspath(model_path)), "best.pt")
    if not os.path.isfile(best):
        raise CheckpointError(f"{best}: no such file (a run writes best.pt when its eval.selection_rule keeps an "
                              f"evaluated epoch; this run's rule is {cfg.eval.selection_rule or 'none'})")
    state = read_training_state(best, torch.device("cpu"))
    try:
        model.load_state_dict(state["model"])
    except (RuntimeError, KeyError, TypeError) as e:
        raise CheckpointError(f"{best}: its weights do not fit model {cfg.model.name!r} ({type(e).__name__})") from None
    return {"checkpoint": "best.pt", "epoch": state.get("epoch"), "selection_rule": cfg.eval.selection_rule,
            "chosen_on": "test set"}


def retarget(cfg: Config, data_root: Optional[str] = None, dataset: Optional[str] = None) -> Config:
    """The saved run's config pointed at other test data: ``dataset`` (a registered name, read from ``data_root`` or
    the run's own folder) or ``data_root`` alone (the run's dataset kind; the embedded dataset's is CCVID's layout)."""
    from ccvid.catalog import get_dataset

    if dataset:
        try:
            info = get_dataset(dataset)
        except UserError as e:
            raise CheckpointError(f"--dataset {dataset!r}: {e}") from None
        root = data_root or (cfg.data.root if info.needs_root else None)
        if info.needs_root and not root:
            raise CheckpointError(f"--dataset {dataset}: the run read no folder; give --data-root DIR "
                                  f"({info.description})")
        return cfg.replace(**{"data.dataset": dataset, "data.root": root, "data.val_ids": 0, "data.options": {}})
    if data_root:
        name = "ccvid" if cfg.data.dataset == "embedded" else cfg.data.dataset
        return cfg.replace(**{"data.dataset": name, "data.root": data_root, "data.val_ids": 0})
    return cfg


@dataclass
class SavedRun:
    """A saved run ready to be evaluated: its model (on ``device``), config (pointed at the test data), test data,
    the weights file loaded, and which checkpoint that is (``source``: file, epoch, the rule that kept it)."""

    model: Any
    cfg: Config
    data: Any
    device: torch.device
    path: str
    source: Dict[str, Any]


def saved_run(path: str, model_name: Optional[str] = None, data_root: Optional[str] = None,
              dataset: Optional[str] = None, best: bool = False,
              accept: Optional[Callable[[Any, Config], None]] = None) -> SavedRun:
    """The saved run at ``path`` (a ``model.pt`` or the run folder holding it); ``data_root`` and ``dataset``: other
    test data (:func:`retarget`); ``best``: the weights of the run's ``best.pt`` (:func:`load_best_weights`);
    ``accept(model, config)``: called before any weights or data are read, to refuse a model a tool cannot use."""
    path = model_file(path)
    model, cfg = load_checkpoint(path, model_name)
    if accept is not None:
        accept(model, cfg)
    source: Dict[str, Any] = {"checkpoint": "model.pt", "epoch": cfg.optim.epochs}
    if best:
        source = load_best_weights(path, model, cfg)
        path = os.path.join(os.path.dirname(os.path.abspath(path)), "best.pt")
    cfg = retarget(cfg, data_root, dataset)
    device = pick_device("auto")
    return SavedRun(model.to(device), cfg, load_dataset(cfg), device, path, source)


def saved_model_and_data(path: str, model_name: Optional[str] = None, data_root: Optional[str] = None,
                         dataset: Optional[str] = None, best: bool = False,
                         accept: Optional[Callable[[Any, Config], None]] = None):
    """(model on its device, config, test data, device, checkpoint path) of a saved run (:func:`saved_run`)."""
    run = saved_run(path, model_name, data_root, dataset, best, accept)
    return run.model, run.cfg, run.data, run.device, run.path


def record_evaluation(checkpoint: str, cfg: Config, source: Dict[str, Any],
                      metrics: Dict[str, Optional[dict]]) -> Optional[str]:
    """Add an evaluation on another dataset to the ``record.json`` beside ``checkpoint`` (none there, or a failed
    run: None); an earlier evaluation of the same dataset, folder and checkpoint is replaced. Returns its path."""
    from ..records import now_iso, write_record

    record, path = _complete_record_beside(checkpoint)
    if record is None:
        return None
    entry = {"dataset": cfg.data.dataset, "root": cfg.data.root, **source, "of_run": record.run_id,
             "of_dataset": record.config.get("data", {}).get("dataset"),
             "what": "an evaluation of this run's saved model on another dataset, not a run of it",
             "metrics": metrics, "created": now_iso()}
    same = ("dataset", "root", "checkpoint")
    record.evaluations = [e for e in record.evaluations if any(e.get(k) != entry[k] for k in same)] + [entry]
    return write_record(record, os.path.dirname(path))


def record_variants(checkpoint: str, scores: Dict[str, Dict[str, Optional[dict]]]) -> Optional[str]:
    """Add test variants' metrics to the ``record.json`` beside ``checkpoint`` (none there: None); returns its path."""
    from ..records import write_record

    record, path = _complete_record_beside(checkpoint)
    if record is None:
        return None
    record.variants = {**record.variants, **scores}
    return write_record(record, os.path.dirname(path))


def _complete_record_beside(checkpoint: str):
    """(the complete run record beside ``checkpoint``, its path); (None, path) when there is none or it failed."""
    from ..records import read_record

    path = os.path.join(os.path.dirname(os.path.abspath(checkpoint)), "record.json")
    if not os.path.isfile(path):
        return None, path
    record = read_record(path)
    return (record if record.status == "complete" else None), path
