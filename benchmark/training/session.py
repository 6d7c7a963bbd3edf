"""``benchmark run``: a session trains a run epoch by epoch, evaluates it, and writes its folder and record.

The parts come from :func:`~.build.build_training` (also used by ``benchmark profile train``),
test time from :mod:`.testing`, the training state from :mod:`.checkpoint`.
"""
from __future__ import annotations

import copy
import logging
import os
import time
from typing import Dict, Optional, Sequence

import torch

from .. import SUITE_LOGGERS
from ..config import Config
from ..config.ablations import objective_name
from ..evaluation import format_table, reference_selection
from ..evaluation.selection import SELECTION_SCORES
from ..records import RunRecord, git_state, machine, new_run_id, now_iso, package_versions, read_record, write_record
from . import clothes_labels, distributed
from .build import build_training, pick_device
from .checkpoint import OPTIMISER_STATES, atomic_save, read_training_state, restore_training_state, training_state
from .rundir import FILES, CheckpointError, RunFolder
from .testing import evaluate_model, evaluate_variants
from .trainer import Trainer, TrainingDiverged

log = logging.getLogger(__name__)


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
        parts = build_training(cfg, self.device)
        self.t_data = parts.data_s
        self.data, self.train, self.model, self.trainer = parts.data, parts.loader, parts.model, parts.trainer
        self.weights = parts.weights
        self.pseudo = parts.clothes_labels  # pseudo outfits (cal.clothes_labels); None: the dataset's own
        d = self.data
        self.n_params = sum(p.numel() for p in self.model.parameters())
        self.epoch = 0
        self.history: list = []
        self.metrics: Dict[str, Optional[dict]] = {}
        self.variants: Dict[str, Dict[str, Optional[dict]]] = {}  # test variant -> metrics, at the end
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
            clothes_labels.refresh(self.pseudo, self.cfg, self.model, self.trainer, self.device, self.epoch)
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
            selection = self._selection_scores()
        except ValueError as e:  # non-finite test features: the model diverged without a non-finite loss
            if "finite" not in str(e):
                raise
            raise TrainingDiverged(self.fail(f"the run diverged by epoch {self.epoch}: {e}").error) from None
        entry["metrics"] = self.metrics
        if selection is not None:
            entry[SELECTION_SCORES] = selection
        self.t_test += time.perf_counter() - t0
        self._pending_eval = False
        self.save_state(best=self._improves_selection())
        self._log_epoch()

    def _selection_scores(self) -> Optional[Dict[str, Optional[dict]]]:
        """The epoch's scores on ``eval.selection_clips`` when the rule picks by other clips than the headline's
        (TCLNet's code picks on each video's first clip and reports that epoch on its chunks); else None."""
        clips = self.cfg.eval.selection_clips
        if not self.cfg.eval.selection_rule or clips is None or clips == self.cfg.data.test_clips:
            return None
        return evaluate_model(self.model, self.data, self.cfg.replace(**{"data.test_clips": clips}), self.device)

    def _log_epoch(self) -> None:
        entry = self.history[-1]
        self.folder.append_scalars(entry)
        log.info(f"epoch {entry['epoch']}/{self.cfg.optim.epochs} " + " ".join(
            f"{k}={v:.3f}" for k, v in entry.items() if k not in ("epoch", "lr", "iterations", "metrics",
                                                                  SELECTION_SCORES))
            + "".join(f" {p}_mAP={100 * m['mAP']:.1f}" for p, m in (entry.get("metrics") or {}).items() if m))

    def _improves_selection(self) -> bool:
        ref = reference_selection(self.history, self.cfg.eval.selection_rule)
        return bool(ref and ref["epoch"] == self.epoch)

    # ----------------------------------------------------------------- the training state
    def _timings(self) -> Dict[str, float]:
        return {"data_s": self.t_data, "train_s": self.t_train, "test_s": self.t_test}

    def save_state(self, best: bool = False) -> None:
        """``state.pt``: everything an exact resume needs, written atomically; ``best.pt`` too when asked."""
        if not self.cfg.system.save_checkpoint or not distributed.is_main():
            return
        state = training_state(self.model, self.trainer, epoch=self.epoch, pending_eval=self._pending_eval,
                               history=self.history, metrics=self.metrics, forked_at=self.forked_at,
                               timings=self._timings(), **clothes_labels.state(self.pseudo))
        atomic_save(state, self.folder.file("state"))
        if best:
            atomic_save(state, self.folder.file("best"))

    def _load_state(self, path: str) -> None:
        if not os.path.exists(path):  # stopped during the first epoch: start over, which is the same run
            log.info("no training state yet (the run stopped in its first epoch): starting it over")
            self.folder.write_scalars([])
            return
        state = read_training_state(path, self.device)
        clothes_labels.restore(self.pseudo, self.trainer, state.get("clothes_labels"))  # resized before loading
        restore_training_state(state, self.model, self.trainer)
        self.epoch, self._pending_eval = state["epoch"], state["pending_eval"]
        self.history, self.metrics, self.forked_at = state["history"], state["metrics"], state["forked_at"]
        self.t_data, self.t_train, self.t_test = (state["timings"][k] for k in ("data_s", "train_s", "test_s"))
        self.folder.write_scalars([e for e in self.history if not (self._pending_eval and e is self.history[-1])])
        log.info("resumed after epoch %d of %d", self.epoch, self.cfg.optim.epochs)

    def fork(self, **changes) -> "Session":
        """A deep copy whose config differs by dotted ``changes`` from now on (e.g. ``**{"cal.enabled": True}``)."""
        other = copy.copy(self)
        other.cfg = self.cfg.replace(**changes)
        other.model = copy.deepcopy(self.model)
        heads = copy.deepcopy(self.trainer.heads)
        other.trainer = Trainer(other.cfg, other.model, heads, self.trainer.pid2clothes, self.device)
        other.trainer.clothes_of, other.pseudo = self.trainer.clothes_of, copy.deepcopy(self.pseudo)
        for name in OPTIMISER_STATES:
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
        self._score_variants()
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
            by = f" on {cfg.eval.selection_clips} clips" if SELECTION_SCORES in ref else ""
            log.info(f"the reference's rule ({ref['rule']}{by}, chosen on the TEST set) keeps epoch {ref['epoch']}:\n"
                     f"{format_table(ref['metrics'])}")
        write_record(record, folder.path)
        log.info("record: %s", record.path)
        folder.close()
        return record

    def _score_variants(self) -> None:
        """The headline's test variant, and each of ``eval.extra_variants`` scored now, for the record."""
        self.variants = {self.cfg.eval.variant: self.metrics}
        extra = [v for v in self.cfg.eval.extra_variants if v != self.cfg.eval.variant]
        if extra:
            t0 = time.perf_counter()
            self.variants.update(evaluate_variants(self.model, self.data, self.cfg, self.device, extra))
            self.t_test += time.perf_counter() - t0
            log.info("test variants: " + ", ".join(
                f"{v} cc_mAP={100 * m['cc']['mAP']:.1f}" if (m.get("cc") or {}).get("mAP") is not None else v
                for v, m in self.variants.items()))

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
        cfg, data = self.cfg, self.data if self.pseudo is None else self.pseudo.data  # the outfits trained on last
        return RunRecord(
            run_id=self.folder.run_id, created=now_iso(), config=cfg.to_dict(), status=status, error=error,
            dataset={"name": data.name, "root": data.root, "splits": data.summary(), **data.meta,
                     **({"pseudo_clothes": self.pseudo.summary()} if self.pseudo is not None else {}),
                     "num_train_pids": data.num_train_pids, "num_train_clothes": data.num_train_clothes},
            model={"name": cfg.model.name, "backbone": recorded_backbone(cfg), "parameters": self.n_params,
                   "pretrained": cfg.model.pretrained, **self.weights},
            forked_at_epoch=self.forked_at, metrics=self.metrics if status == "complete" else {},
            objective=objective_name(cfg.flat()),
            variants=self.variants if status == "complete" else {},
            history=self.history,
            reference_selection=reference_selection(self.history, cfg.eval.selection_rule),
            timings={"data_s": round(self.t_data, 2), "train_s": round(self.t_train, 2),
                     "test_s": round(self.t_test, 2), "total_s": round(time.perf_counter() - self.t_start, 2)},
            versions=self.versions, git=self.git, machine={**machine(), "processes": distributed.world_size()},
            checkpoint=checkpoint,
            files={k: v for k, v in FILES.items() if k == "record" or os.path.exists(self.folder.file(k))})


def recorded_backbone(cfg: Config) -> str:
    """``own`` for a model that brings its own network (``model.backbone`` is a placeholder it ignores)."""
    from temporal_models import MODELS
    return "own" if MODELS.owns_backbone(cfg.model.name) else cfg.model.backbone


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
