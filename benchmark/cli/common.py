"""What every command shares: the user-error rule, the console, the common flags, the run config."""
from __future__ import annotations

import argparse
import logging
import os
import sys
from typing import Dict, List, Sequence, Tuple

from ccvid.base import UserError, did_you_mean
from ccvid.progress import set_progress

from .. import SUITE_LOGGERS
from ..config import Config, ConfigError, check, compose, dotted_key
from ..config.ablations import NAMED_OBJECTIVES, objective_settings
from ..config.checks import choices_of

log = logging.getLogger("benchmark")


class CLIError(UserError):
    """A user error: printed as one line, exit status 2."""


class _Console(logging.Handler):
    """Info to stdout as plain lines, warnings and errors to stderr; looks the streams up at each line."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            msg = record.getMessage()
            if record.levelno >= logging.WARNING:
                sys.stderr.write(f"{record.name.split('.')[0]}: {record.levelname.lower()}: {msg}\n")
            else:
                sys.stdout.write(msg + "\n")
                sys.stdout.flush()
        except BrokenPipeError:  # the reader went away (`benchmark config show | head`): the command stops
            raise
        except Exception:  # pragma: no cover - logging must never raise
            self.handleError(record)


def setup_console(progress: bool) -> None:
    """The console and the progress-bar switch, once per process (idempotent)."""
    set_progress(progress)
    root = logging.getLogger()
    if not any(isinstance(h, _Console) for h in root.handlers):
        root.addHandler(_Console())
    for name in SUITE_LOGGERS:
        logging.getLogger(name).setLevel(logging.INFO)


def say(text: str = "") -> None:
    """Command output: to the console and to the log of a run in progress."""
    log.info(text)


def formatter() -> type:
    return argparse.RawDescriptionHelpFormatter


def progress_parent() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(add_help=False)
    p.add_argument("--no-progress", action="store_true", help="no progress bars (they show on terminals only)")
    return p


def config_parent(sweep: bool = False) -> argparse.ArgumentParser:
    """The flags that build a run config; every one is a shorthand for an override."""
    p = argparse.ArgumentParser(add_help=False)
    g = p.add_argument_group("configuration (later wins: --preset/--config, the flags below, --set, KEY=VALUE)")
    g.add_argument("--preset", help="a built-in config: cpu (default, embedded dataset), paper (video recipe), "
                                    "image (image recipe); see configs/")
    g.add_argument("--config", metavar="FILE", help="a YAML config file, or a run's record.json / run folder to "
                                                     "run it again exactly")
    g.add_argument("--model", help="registered model name (data.model.name; see 'benchmark models')")
    if not sweep:
        g.add_argument("--cal", action="store_true", help="add the Clothes-based Adversarial Loss (cal.enabled)")
        g.add_argument("--objective", metavar="NAME",
                       help="a named objective of the paper's Table 3: " + ", ".join(NAMED_OBJECTIVES)
                            + " (sets cal.enabled and the loss weights; see benchmark/config/ablations.py)")
    g.add_argument("--dataset", help="embedded, ccvid, mevid, ltcc, prcc, ... (data.dataset; see 'benchmark "
                                     "datasets'); a bare --data-root means ccvid")
    g.add_argument("--data-root", help="the dataset's folder (data.root)")
    g.add_argument("--backend", choices=choices_of("data.backend"), help="read frame folders or videos (data.backend)")
    g.add_argument("--backbone", help="registered 2-D backbone: resnet50, resnet18, resnet_tiny, or timm:<name> for a "
                                      "timm frame encoder (model.backbone)")
    g.add_argument("--pretrained", help="ImageNet weights: a local .pth, or 'imagenet' for torchvision's cache "
                                        "(x3d_*, slowfast_r50, mvit_b: a local Kinetics .pyth)")
    g.add_argument("--epochs", type=int, help="optim.epochs")
    g.add_argument("--val-ids", type=int, help="hold out N training ids as query/gallery, for tuning (data.val_ids)")
    g.add_argument("--device", help="auto (default), cpu, cuda, cuda:1 (system.device)")
    g.add_argument("--runs-dir", help="where run folders go (system.runs_dir; default runs)")
    g.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override a config field (repeatable), e.g. optim.lr=3e-4, lr=3e-4, "
                        "synth.clothes_strength=0.5")
    g.add_argument("overrides", nargs="*", metavar="KEY=VALUE", help="overrides anywhere on the line, as --set")
    return p


FLAG_FIELDS: Dict[str, str] = {
    "model": "model.name", "dataset": "data.dataset", "data_root": "data.root", "backend": "data.backend",
    "backbone": "model.backbone", "pretrained": "model.pretrained", "epochs": "optim.epochs",
    "val_ids": "data.val_ids", "device": "system.device", "runs_dir": "system.runs_dir", "decode": "data.decode",
    "cal_epsilon": "cal.epsilon", "seed": "system.seed",
}


def overrides_of(args: argparse.Namespace, **forced) -> List[str]:
    """The flags as dotted overrides, then --set and KEY=VALUE words, then what the command forces (later wins)."""
    items = [f"{key}={_quote(getattr(args, flag))}" for flag, key in FLAG_FIELDS.items()
             if getattr(args, flag, None) is not None]
    objective = getattr(args, "objective", None)
    if objective is not None:
        if objective not in NAMED_OBJECTIVES:
            raise CLIError(f"--objective {objective!r}: expected {', '.join(NAMED_OBJECTIVES)}"
                           f"{did_you_mean(objective, NAMED_OBJECTIVES)}")
        if getattr(args, "cal", False):
            raise CLIError("give --cal or --objective, not both (--objective cal is --cal)")
        items += [f"{key}={_quote(value)}" for key, value in objective_settings(objective).items()]
    if getattr(args, "cal", False):
        items.append("cal.enabled=true")
    items += list(args.set or []) + list(getattr(args, "overrides", None) or [])  # parse_overrides checks them
    return items + [f"{dotted_key(k)}={_quote(v)}" for k, v in forced.items()]


def _quote(value) -> str:
    """A flag's value as override text that YAML reads back unchanged (strings always quoted)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    return "'" + str(value).replace("'", "''") + "'"


def build_config(args: argparse.Namespace, need_root: bool = True, **forced) -> Tuple[Config, List[str]]:
    """The run's config from --preset/--config, the flags and the overrides; checked.

    ``need_root=False``: a dataset's missing folder is a warning, not an error (a config printed, not run).
    """
    recorded, source = None, getattr(args, "config", None)
    if source and (source.endswith(".json") or os.path.isdir(source)):
        from ..records import read_record
        folder = os.path.isdir(source) and not source.endswith(".json")  # a run folder
        path = os.path.join(source, "record.json") if folder else source
        if folder and not os.path.isfile(path):
            raise ConfigError(f"--config {source}: a folder without record.json (give a YAML config file, a "
                              "record.json or a run folder)")
        recorded = read_record(path).config
    cfg = compose(args.preset, source, overrides_of(args, **forced), option="override", recorded=recorded)
    return check(cfg, need_root=need_root)


def add_examples(text: Sequence[str]) -> str:
    return "examples:\n" + "\n".join(f"  {line}" for line in text)
