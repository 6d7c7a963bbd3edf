"""``benchmark run``: data -> model -> train -> evaluate -> run folder and record."""
from __future__ import annotations

import copy
import logging
import os
import random
import time
from functools import partial
from typing import Dict, Optional, Sequence

import numpy as np
import torch

from ccvid.files import write_atomically
from temporal_models import build_model, resolve_weights, sha256_file

from .. import SUITE_LOGGERS
from ..config import Config, ConfigError
from ..evaluation import evaluate, evaluate_single_shot, format_table
from ..records import (RunRecord, git_state, machine, new_run_id, now_iso, package_versions, read_record,
                       write_record)
from . import distributed
from .features import extract_features
from .loaders import load_dataset, test_loader, train_loader
from .rundir import FILES, CheckpointError, RunFolder
from .trainer import Heads, Trainer, TrainingDiverged

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
    """(query, gallery) test features: whole-video clip averages (plus mirrors with ``eval.flip``).

    Under several processes each rank extracts a contiguous shard and rank 0 gathers exactly one
    feature per item, in order (other ranks get None).
    """
    out = []
    for split, items in (("query", data.query), ("gallery", data.gallery)):
        part = items if distributed.world_size() == 1 else [items[i] for i in distributed.shard(len(items))]
        feats = extract_features(model, test_loader(cfg, part), device, split, cfg.eval.clips_per_batch,
                                 flip=cfg.eval.flip, aggregate=cfg.eval.feature)
        out.append(feats if distributed.world_size() == 1 else distributed.gather_rows(feats, len(items)))
    return tuple(out)


def evaluate_model(model, data, cfg: Config, device, save_features: Optional[str] = None) -> Dict[str, Optional[dict]]:
    """Score the test split with the protocols the dataset reports (CC/SC need clothes labels).

    ``eval.shot=single``: one random gallery item per identity, mean and spread over ``eval.draws``
    draws (seeded by draw number only, so every run of a comparison sees the same galleries).
    ``save_features``: also write the test features there (one process only).
    """
    if distributed.world_size() > 1:
        distributed.sync_buffers(model)
        q, g = test_features(model, data, cfg, device)
        return distributed.broadcast(score_features(q, g, data, cfg, device) if distributed.is_main() else None)
    q, g = test_features(model, data, cfg, device)
    if save_features:
        export_features(q, g, data, save_features)
    return score_features(q, g, data, cfg, device)


def export_features(q, g, data, folder: str) -> None:
    """``folder/query.npz`` and ``folder/gallery.npz``: what ``benchmark evaluate`` (or another codebase) reads."""
    from ..evaluation import save_features_npz
    try:
        os.makedirs(folder, exist_ok=True)
    except OSError as e:
        raise ConfigError(f"--save-features {folder}: cannot create the folder ({e.strerror})") from None
    with_clothes = _with_clothes(data)
    for name, feats, items in (("query", q, data.query), ("gallery", g, data.gallery)):
        save_features_npz(os.path.join(folder, f"{name}.npz"), feats, [t.pid for t in items], [t.camid for t in items],
                          [t.clothes for t in items] if with_clothes else None)
        log.info("features: %s (%d x %d)", os.path.join(folder, f"{name}.npz"), *feats.shape)


def _with_clothes(data) -> bool:
    """Whether the dataset reports a clothes protocol (CC or SC), so its clothes labels are scored and saved."""
    return bool({"cc", "sc"} & set(data.meta.get("protocols", ("general", "cc", "sc"))))


def score_features(q, g, data, cfg: Config, device) -> Dict[str, Optional[dict]]:
    """The metrics of test features under the config's protocol (multi- or single-shot, metric, re-ranking)."""
    lab = lambda items, a: np.array([getattr(t, a) for t in items])  # noqa: E731
    with_clothes = _with_clothes(data)
    score = evaluate if cfg.eval.shot == "multi" else partial(evaluate_single_shot, draws=cfg.eval.draws, seed=0)
    return score(q, g, lab(data.query, "pid"), lab(data.gallery, "pid"), lab(data.query, "camid"),
                    lab(data.gallery, "camid"),
                    lab(data.query, "clothes") if with_clothes else None,
                    lab(data.gallery, "clothes") if with_clothes else None,
                    metric=cfg.eval.metric, device=device, features_normalized=True, rerank=cfg.eval.rerank)


def require_batches(cfg: Config, data, loader) -> None:
    """Refuse a training split that gives no P x K batch (it would train nothing and look like a result)."""
    if len(loader) == 0:
        raise ConfigError(
            f"data: the training split of {data.name} ({len(data.train)} tracklets, {data.num_train_pids} ids) "
            f"gives no batch of data.num_ids x data.clips_per_id = {cfg.data.num_ids} x {cfg.data.clips_per_id}; "
            "lower data.num_ids")


def build_model_and_heads(cfg: Config, data, device: torch.device):
    """The model (seeded, in its memory format) and its training heads, as every run builds them."""
    seed_everything(cfg.system.seed)
    m = cfg.model
    model = build_model(m.name, m.backbone, m.pretrained, m.res4_stride, cfg.data.seq_len, init=m.init).to(device)
    if cfg.system.channels_last:
        model = model.to(memory_format=torch.channels_last)
    return model, Heads(model, data.num_train_pids, data.num_train_clothes).to(device)


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

    def __init__(self, cfg: Config, warnings: Sequence[str] = (), resume: Optional[RunFolder] = None):
        self.cfg = cfg
        self.t_start = time.perf_counter()
        # the code and packages that run are those of the start: a commit made while a long run
        # trains must not be written into its record
        self.git, self.versions = git_state(), package_versions()
        if cfg.system.threads > 0:
            torch.set_num_threads(cfg.system.threads)
        self.device = pick_device(cfg.system.device)
        if distributed.launched():
            self.device = distributed.init(cfg.system.device)
        if not distributed.is_main():  # only rank 0 logs and writes
            for name in SUITE_LOGGERS:
                logging.getLogger(name).setLevel(logging.ERROR)
        self.folder = resume or (_open_folder(cfg) if distributed.is_main() else distributed.NullFolder())
        self._pending_eval = False
        try:
            if resume:
                resume.activate()
                log.info("resuming %s", resume.path)
            for w in warnings:
                log.warning(w)
            self._build()
            if resume:
                self._load_state(resume.file("state"))
        except BaseException:
            if not resume:
                self.folder.remove()  # nothing trained yet: leave no half-made run folder behind
            raise

    def _build(self) -> None:
        cfg = self.cfg
        log.info("run folder %s", self.folder.path)
        t0 = time.perf_counter()
        if distributed.world_size() > 1 and not distributed.is_main():
            torch.distributed.barrier()  # rank 0 prepares (e.g. generates) the dataset first
        self.data = load_dataset(cfg)
        if distributed.world_size() > 1 and distributed.is_main():
            torch.distributed.barrier()
        self.train = train_loader(cfg, self.data)
        self.t_data = time.perf_counter() - t0
        d = self.data
        require_batches(cfg, d, self.train)
        self.model, heads = build_model_and_heads(cfg, d, self.device)
        weights = resolve_weights(cfg.model.pretrained, cfg.model.backbone)
        self.weights = {"weights": weights, "weights_sha256": sha256_file(weights) if weights else None}
        trained = self.model
        if distributed.world_size() > 1:
            self.train = distributed.rank_loader(self.train)
            if cfg.system.sync_bn:
                if self.device.type != "cuda":
                    raise ConfigError("system.sync_bn: synchronised BatchNorm needs CUDA devices")
                self.model = torch.nn.SyncBatchNorm.convert_sync_batchnorm(self.model)
            trained = torch.nn.parallel.DistributedDataParallel(
                self.model, device_ids=[self.device.index] if self.device.type == "cuda" else None)
        self.trainer = Trainer(cfg, trained, heads, torch.from_numpy(d.pid2clothes), self.device)
        if distributed.world_size() > 1:
            own = {id(p) for p in self.model.parameters()}
            self.trainer.sync = lambda optimizer: distributed.average_gradients(
                [p for g in optimizer.param_groups for p in g["params"] if id(p) not in own])
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
        total = self.cfg.optim.epochs
        self.folder.activate()
        if self._pending_eval:  # a resumed run stopped while evaluating this epoch
            self._evaluate_epoch()
        while self.epoch < min(epochs, total):
            lr = self.trainer.optimizer.param_groups[0]["lr"]
            t0 = time.perf_counter()
            try:
                logs = self.trainer.train_epoch(self.train, self.epoch)
            except TrainingDiverged as e:
                raise TrainingDiverged(self.fail(f"the run diverged at {e}").error) from None
            self.t_train += time.perf_counter() - t0
            self.epoch += 1
            self.history.append({"epoch": self.epoch, "lr": lr, **{k: round(v, 5) for k, v in logs.items()}})
            self._pending_eval = self.epoch == total or bool(self.cfg.eval.every and
                                                              self.epoch % self.cfg.eval.every == 0)
            self.save_state()  # training is saved before test-time evaluation, which may fail
            if self._pending_eval:
                self._evaluate_epoch()
            else:
                self._log_epoch()

    def _evaluate_epoch(self) -> None:
        entry = self.history[-1]
        t0 = time.perf_counter()
        try:
            self.metrics = evaluate_model(self.model, self.data, self.cfg, self.device)
        except ValueError as e:  # non-finite test features: the model diverged without a non-finite loss
            if "finite" not in str(e):
                raise
            raise TrainingDiverged(self.fail(f"the run diverged by epoch {self.epoch}: {e}").error) from None
        self.t_test += time.perf_counter() - t0
        entry["metrics"] = self.metrics
        self._pending_eval = False
        self.save_state(best=self._improves_selection())
        self._log_epoch()

    def _log_epoch(self) -> None:
        entry = self.history[-1]
        self.folder.append_scalars(entry)
        log.info(f"epoch {entry['epoch']}/{self.cfg.optim.epochs} " + " ".join(
            f"{k}={v:.3f}" for k, v in entry.items() if k not in ("epoch", "lr", "iterations", "metrics"))
            + "".join(f" {p}_mAP={100 * m['mAP']:.1f}" for p, m in (entry.get("metrics") or {}).items() if m))

    def _improves_selection(self) -> bool:
        ref = reference_selection(self.history, self.cfg.eval.selection_rule)
        return bool(ref and ref["epoch"] == self.epoch)

    # ----------------------------------------------------------------- the training state
    def save_state(self, best: bool = False) -> None:
        """``state.pt``: everything an exact resume needs, written atomically; ``best.pt`` too when asked."""
        if not self.cfg.system.save_checkpoint or not distributed.is_main():
            return
        state = {"format": STATE_FORMAT, "epoch": self.epoch, "pending_eval": self._pending_eval,
                 "model": self.model.state_dict(), "heads": self.trainer.heads.state_dict(),
                 "optimizer": self.trainer.optimizer.state_dict(),
                 "clothes_optimizer": self.trainer.clothes_optimizer.state_dict(),
                 "scheduler": self.trainer.scheduler.state_dict(),
                 "scaler": self.trainer.scaler.state_dict() if self.trainer.scaler else None,
                 "history": self.history, "metrics": self.metrics, "forked_at": self.forked_at,
                 "timings": {"data_s": self.t_data, "train_s": self.t_train, "test_s": self.t_test},
                 "rng": rng_state()}
        atomic_save(state, self.folder.file("state"))
        if best:
            atomic_save(state, self.folder.file("best"))

    def _load_state(self, path: str) -> None:
        if not os.path.exists(path):  # stopped during the first epoch: start over, which is the same run
            log.info("no training state yet (the run stopped in its first epoch): starting it over")
            self.folder.write_scalars([])
            return
        try:
            state = torch.load(path, map_location=self.device, weights_only=True)
        except FileNotFoundError:
            raise CheckpointError(f"{path}: no training state to resume from") from None
        except Exception as e:
            raise CheckpointError(f"{path}: cannot read the training state ({type(e).__name__})") from None
        if not isinstance(state, dict) or state.get("format") != STATE_FORMAT:
            raise CheckpointError(f"{path}: not a training state written by 'benchmark run'")
        self.model.load_state_dict(state["model"])
        self.trainer.heads.load_state_dict(state["heads"])
        for name in ("optimizer", "clothes_optimizer", "scheduler"):
            getattr(self.trainer, name).load_state_dict(state[name])
        if self.trainer.scaler and state["scaler"]:
            self.trainer.scaler.load_state_dict(state["scaler"])
        self.epoch, self._pending_eval = state["epoch"], state["pending_eval"]
        self.history, self.metrics, self.forked_at = state["history"], state["metrics"], state["forked_at"]
        self.t_data, self.t_train, self.t_test = (state["timings"][k] for k in ("data_s", "train_s", "test_s"))
        set_rng_state(state["rng"])
        self.folder.write_scalars([e for e in self.history if not (self._pending_eval and e is self.history[-1])])
        log.info("resumed after epoch %d of %d", self.epoch, self.cfg.optim.epochs)

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
        try:
            self.train_to(self.cfg.optim.epochs)  # also makes this run's log the active one
        except TrainingDiverged:
            raise
        except Exception as e:  # an error at test time: the training is saved; the record says the run failed
            self.fail(f"{type(e).__name__}: {e}")
            raise
        cfg, folder = self.cfg, self.folder
        if not distributed.is_main():
            return self._record()
        checkpoint = None
        if cfg.system.save_checkpoint:
            checkpoint = folder.file("checkpoint")
            atomic_save({"model": cfg.model.name, "backbone": cfg.model.backbone, "config": cfg.to_dict(),
                         "state_dict": self.model.state_dict()}, checkpoint)
        record = self._record(checkpoint=checkpoint)
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

    def fail(self, error: str) -> RunRecord:
        """Write a record that says the run failed (never averaged into a leaderboard) and keep the last state."""
        state = self.folder.file("state")
        kept = f"; last good training state: {state}" if os.path.isfile(state) and distributed.is_main() else ""
        log.info(f"run failed: {error}{kept}; record.json says so")
        record = self._record(status="failed", error=f"{error}{kept}; its record says failed")
        if distributed.is_main():
            write_record(record, self.folder.path)
        self.folder.close()
        return record

    def _record(self, checkpoint: Optional[str] = None, status: str = "complete",
                error: Optional[str] = None) -> RunRecord:
        cfg, data = self.cfg, self.data
        return RunRecord(
            run_id=self.folder.run_id, created=now_iso(), config=cfg.to_dict(), status=status, error=error,
            dataset={"name": data.name, "root": data.root, "splits": data.summary(), **data.meta,
                     "num_train_pids": data.num_train_pids, "num_train_clothes": data.num_train_clothes},
            model={"name": cfg.model.name, "backbone": cfg.model.backbone, "parameters": self.n_params,
                   "pretrained": cfg.model.pretrained, **self.weights},
            forked_at_epoch=self.forked_at, metrics=self.metrics if status == "complete" else {},
            history=self.history,
            reference_selection=reference_selection(self.history, cfg.eval.selection_rule),
            timings={"data_s": round(self.t_data, 2), "train_s": round(self.t_train, 2),
                     "test_s": round(self.t_test, 2), "total_s": round(time.perf_counter() - self.t_start, 2)},
            versions=self.versions, git=self.git, machine={**machine(), "processes": distributed.world_size()},
            checkpoint=checkpoint,
            files={k: v for k, v in FILES.items() if k == "record" or os.path.exists(self.folder.file(k))})


def run(cfg: Config, warnings: Sequence[str] = ()) -> RunRecord:
    """Train and evaluate one configuration; write and return its run record."""
    try:
        return Session(cfg, warnings).finish()
    finally:
        if distributed.world_size() > 1:
            torch.distributed.destroy_process_group()


def resume(run_dir: str) -> RunRecord:
    """Continue a stopped run from its folder (config.yaml + state.pt); the result equals an uninterrupted run."""
    from ..config import check, compose
    if not os.path.isdir(run_dir):
        raise CheckpointError(f"{run_dir}: no such run folder")
    folder = RunFolder.reopen(run_dir)
    record = folder.file("record")
    if os.path.isfile(record) and read_record(record).status != "failed":
        raise CheckpointError(f"{run_dir}: this run is complete (record.json); nothing to resume")
    cfg, warnings = check(compose(config=folder.file("config")))
    return Session(cfg, warnings, resume=folder).finish()


STATE_FORMAT = "ccreid-bench/training-state/1"


def atomic_save(obj, path: str) -> None:
    """torch.save through a temporary file, flushed and fsynced, then renamed: never a half-written file."""
    write_atomically(path, lambda f: torch.save(obj, f))


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
