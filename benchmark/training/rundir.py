"""A run folder, filled as the run goes.

At the start: ``config.yaml`` (the resolved config) and ``log.txt`` (everything the
run logs, through :mod:`logging`). After each epoch: ``state.pt`` (the training
state an exact resume needs, written before that epoch's evaluation; ``best.pt``
when the recipe's selection rule improves), one row of ``metrics.csv`` (and
TensorBoard event files under ``tb/`` when the ``tensorboard`` package is
installed). At the end: ``model.pt`` and ``record.json``.
"""
from __future__ import annotations

import csv
import logging
import os
import shutil
from typing import Any, Dict, List, Optional, Tuple

from ccvid.base import UserError

from .. import SUITE_LOGGERS
from ..config import Config, ConfigError, to_yaml
from ..engine import scalar_names
from ..evaluation import PROTOCOLS

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
# the columns of metrics.csv: the epoch, then what the objectives table logs (every registered term, so that
# a spreadsheet or pandas reads every run alike; a cell is empty where the value does not exist: no CAL term
# before CAL starts, no metrics between evaluations), then the test metrics
PROTOCOL_COLUMNS = tuple(f"{p}_{m}" for p in PROTOCOLS for m in ("top1", "mAP"))


def scalar_columns() -> Tuple[str, ...]:
    return ("epoch", "lr", "iterations", *scalar_names(), *PROTOCOL_COLUMNS)


FILES = {"config": "config.yaml", "log": "log.txt", "scalars": "metrics.csv", "checkpoint": "model.pt",
         "record": "record.json", "state": "state.pt", "best": "best.pt"}


class CheckpointError(UserError):
    """A checkpoint or training state that is missing, unreadable or from another model; names the file."""


class RunFolder:
    """``runs_dir/run_id`` (a suffix ``-2``, ``-3``... when taken), its log handler and scalar files."""

    _active: Optional["RunFolder"] = None  # the folder whose log.txt receives the log lines now

    def __init__(self, runs_dir: str, run_id: str):
        try:
            os.makedirs(runs_dir, exist_ok=True)
            path = os.path.join(runs_dir, run_id)
            suffix = 1
            while True:
                try:
                    os.mkdir(path)
                    break
                except FileExistsError:
                    suffix += 1
                    path = os.path.join(runs_dir, f"{run_id}-{suffix}")
        except OSError as e:
            raise ConfigError(f"system.runs_dir {runs_dir!r}: cannot create a run folder there "
                              f"({e.strerror or type(e).__name__})") from None
        self.path = path
        self.run_id = os.path.basename(path)
        self._handler: Optional[logging.Handler] = None
        self._tb = None

    @classmethod
    def reopen(cls, path: str) -> "RunFolder":
        """An existing run folder, to resume the run in it."""
        folder = cls.__new__(cls)
        folder.path, folder.run_id = path, os.path.basename(os.path.normpath(path))
        folder._handler, folder._tb = None, None
        return folder

    def file(self, kind: str) -> str:
        return os.path.join(self.path, FILES[kind])

    def write_config(self, cfg: Config) -> None:
        with open(self.file("config"), "w", encoding="utf-8") as f:
            f.write(to_yaml(cfg))

    def start_log(self, copy_from: Optional["RunFolder"] = None) -> None:
        """Start ``log.txt`` (with the lines of ``copy_from``, a fork's parent, first) and make it the active log."""
        if copy_from is not None and os.path.isfile(copy_from.file("log")):
            shutil.copyfile(copy_from.file("log"), self.file("log"))
        self.activate()

    def activate(self) -> None:
        """Send the suite's log lines to this folder's ``log.txt`` only (sessions forked from one
        another take turns: each epoch goes to the log of the run that trains it)."""
        if RunFolder._active is self:
            return
        if RunFolder._active is not None:
            RunFolder._active._detach()
        handler = logging.FileHandler(self.file("log"), mode="a", encoding="utf-8")
        handler.setFormatter(logging.Formatter(LOG_FORMAT))
        handler.setLevel(logging.INFO)
        logging.getLogger().addHandler(handler)
        for name in SUITE_LOGGERS:  # the suite's info lines reach the file also when no console is set up
            if logging.getLogger(name).level == logging.NOTSET:
                logging.getLogger(name).setLevel(logging.INFO)
        self._handler = handler
        RunFolder._active = self

    def _detach(self) -> None:
        if self._handler is not None:
            logging.getLogger().removeHandler(self._handler)
            self._handler.close()
            self._handler = None
        if RunFolder._active is self:
            RunFolder._active = None

    def write_scalars(self, history: List[Dict[str, Any]]) -> None:
        """``metrics.csv`` from the whole history (a fork starts with its parent's epochs)."""
        with open(self.file("scalars"), "w", newline="", encoding="utf-8") as f:
            writer = csv.writer(f)
            writer.writerow(scalar_columns())
            for entry in history:
                writer.writerow(_row(entry))

    def append_scalars(self, entry: Dict[str, Any]) -> None:
        """One epoch: a row of ``metrics.csv`` (flushed now) and TensorBoard scalars if available."""
        new = not os.path.isfile(self.file("scalars"))
        with open(self.file("scalars"), "a", newline="", encoding="utf-8") as f:
            writer = csv.writer(f)
            if new:
                writer.writerow(scalar_columns())
            writer.writerow(_row(entry))
        tb = self._tensorboard()
        if tb is not None:
            columns = scalar_columns()
            for name, value in zip(columns[1:], _row(entry)[1:]):
                if value != "":
                    tb.add_scalar(name, value, entry["epoch"])
            tb.flush()

    def _tensorboard(self):
        if self._tb is None:
            try:
                from torch.utils.tensorboard import SummaryWriter
            except ImportError:  # tensorboard is optional
                self._tb = False
            else:
                self._tb = SummaryWriter(os.path.join(self.path, "tb"))
        return self._tb or None

    def close(self) -> None:
        self._detach()
        if self._tb:
            self._tb.close()
            self._tb = None

    def remove(self) -> None:
        """Delete the folder (a run that failed before training wrote nothing worth keeping)."""
        self.close()
        shutil.rmtree(self.path, ignore_errors=True)


def _row(entry: Dict[str, Any]) -> List[Any]:
    flat = dict(entry)
    for protocol, scores in (entry.get("metrics") or {}).items():
        for name, value in (scores or {}).items():
            flat[f"{protocol}_{name}"] = value
    return ["" if flat.get(k) is None else flat[k] for k in scalar_columns()]
