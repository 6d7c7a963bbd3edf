"""``benchmark sweep SPEC.yaml``: a matrix of configs x models x objectives x seeds x datasets, run once each.

Every run of the matrix is composed and checked first (as ``benchmark run`` composes
it); then each pending run trains in turn in this process. A run whose complete
record is already under ``runs_dir`` is skipped, and so is one whose lock another
process holds, so a sweep may be stopped and started again, and several machines
may share one ``runs_dir`` (benchmark/tools/sweep.py: the spec, identities, locks).

``--executor slurm`` (or ``submitit-local``) submits one job per pending run instead
(benchmark/tools/cluster.py); each job runs :func:`job`, which is :func:`run_one`, the
local sweep's own lock-train-release, so the same rules hold for jobs.
"""
from __future__ import annotations

import argparse
import os
import shlex
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from typing import Dict, List, Sequence

from ccvid.base import UserError

from ..config import Config
from ..tools.cluster import EXECUTORS, load_submitit, logs_folder, make_executor, outcome, submit
from ..tools.sweep import (Cell, LockHeld, RecordIndex, Spec, describe, identity, lock_holder, read_spec, release,
                           release_if_mine, take_lock)
from . import run as run_command
from .common import CLIError, add_examples, build_config, formatter, progress_parent, say, setup_console

EXAMPLES = add_examples([
    "benchmark sweep configs/sweeps/zoo-embedded.yaml     # the model zoo: 7 models x ID / CAL x 3 seeds",
    "benchmark sweep configs/sweeps/zoo-embedded.yaml     # again: skips what is done, runs the rest",
    "benchmark sweep SPEC.yaml --list > runs.txt          # one `benchmark run` line per pending run",
    "parallel -j 2 < runs.txt                             # ... run by GNU parallel",
    "sbatch --array=1-$(wc -l < runs.txt) job.sh          # ... or Slurm; job.sh: eval \"$(sed -n "
    "${SLURM_ARRAY_TASK_ID}p runs.txt)\"",
    "benchmark sweep SPEC.yaml --stale-after 6            # take over locks of machines dead for 6 h",
    "benchmark sweep SPEC.yaml --executor slurm           # one Slurm job per pending run (a job array), "
    "resources from the spec",
    "benchmark sweep SPEC.yaml --executor slurm --wait    # ... then wait for the jobs and print the summary",
    "benchmark sweep SPEC.yaml --executor submitit-local --wait   # the same jobs as processes of this machine",
])
SPEC_HELP = """spec (YAML):
  runs_dir: results/zoo           # where the run folders go
  configs: [cpu]                  # presets (cpu, paper, ccvid/ap3d, ...: configs/NAME.yaml) or YAML files
  models: [baseline, ap3d]        # optional: each sets model.name (default: the config's own)
  objectives: [id, cal]           # named objectives (--objective): id, cal, id+triplet, id+clothes_ce, ...
  seeds: [0, 1, 2]
  datasets:                       # optional (default: the config's own)
    - {dataset: ccvid, root: /data/CCVID}
  overrides: ["cal.epsilon=1.0"]  # optional, applied to every run
  variants:                       # optional: named sets of KEY=VALUE words, one more axis of the matrix
    annotated: []
    cluster: ["cal.clothes_labels=cluster"]
  resources:                      # optional: each job of --executor slurm | submitit-local (one run, one process)
    partition: gpu                # Slurm partition
    gpus_per_node: 1              # 0 or 1
    cpus_per_task: 8
    mem_gb: 64
    timeout_min: 720              # each job's time limit (default 1440)
    array_parallelism: 16         # at most 16 jobs of the array at a time
    setup: ["source venv/bin/activate"]   # shell lines before each job
    slurm: {account: myproject, qos: normal}   # any other sbatch option

"""


def register(sub) -> None:
    p = sub.add_parser("sweep", help="a matrix of configs x models x ID/CAL x seeds x datasets; resumable, shared",
                       parents=[progress_parent()], epilog=SPEC_HELP + EXAMPLES, formatter_class=formatter(),
                       description="Run every run of a sweep spec that has no complete record under its runs_dir "
                                   "yet, one after another, then print the leaderboard of runs_dir. A run is its "
                                   "resolved config (a short hash without system.runs_dir); a lock file "
                                   "runs_dir/.locks/HASH.lock keeps machines sharing runs_dir from running it twice. "
                                   "--list prints the pending runs as `benchmark run` commands instead.")
    p.add_argument("spec", metavar="SPEC.yaml", help="the sweep spec")
    p.add_argument("--list", action="store_true", help="print one `benchmark run ...` command per pending run "
                                                       "(for Slurm arrays, GNU parallel, any queue); run nothing")
    p.add_argument("--stale-after", type=float, default=24.0, metavar="HOURS",
                   help="take over a run's lock older than this (its machine died; default 24)")
    p.add_argument("--no-leaderboard", action="store_true", help="do not print the leaderboard at the end")
    p.add_argument("--executor", choices=["local", *EXECUTORS], default="local",
                   help="local: train the pending runs one after another in this process (default); slurm: submit "
                        "one job per pending run (a Slurm job array, the spec's resources) through submitit "
                        "(pip install -e '.[cluster]'); submitit-local: the same jobs as processes of this machine. "
                        "submitit's files and each job's log: RUNS_DIR/.submitit/")
    p.add_argument("--wait", action="store_true", help="with --executor slurm | submitit-local: wait for the jobs, "
                                                       "then print the summary and the leaderboard")
    p.set_defaults(func=main)


@dataclass
class Planned:
    """One run of the matrix, composed and checked."""

    cell: Cell
    words: List[str]                # its `benchmark run` arguments
    cfg: Config
    warnings: List[str]
    identity: str
    name: str                       # model-objective[-variant]-dataset-sS
    label: str                      # for progress lines

    def command(self) -> str:
        return " ".join(shlex.quote(w) for w in ["benchmark", "run", *self.words])


def main(args) -> int:
    if not args.stale_after >= 0:
        raise CLIError(f"--stale-after: expected hours >= 0, got {args.stale_after}")
    if args.list and args.executor != "local":
        raise CLIError(f"--list prints the pending runs, --executor {args.executor} submits them: use one")
    if args.wait and args.executor == "local":
        raise CLIError("--wait: only with --executor slurm or submitit-local (the local sweep always waits)")
    spec = read_spec(args.spec)
    if args.executor != "local":
        load_submitit(args.executor)  # before composing anything: a missing extra is the first thing said
    runs = plan(spec)
    index = RecordIndex(spec.runs_dir).refresh()
    stale = args.stale_after * 3600
    if args.list:
        return list_pending(runs, index, spec, stale)
    if args.executor != "local":
        return submit_sweep(args, spec, runs, index, stale)
    counts = {"trained": 0, "record exists": 0, "locked": 0, "failed": 0}
    for i, planned in enumerate(runs, 1):
        outcome, text = run_one(planned, index, spec.runs_dir, stale)
        counts[outcome] += 1
        say(f"[{i}/{len(runs)}] {planned.label}: {text}")
    return summary(args, spec, len(runs), counts)


def _parser() -> argparse.ArgumentParser:
    """A parser with `benchmark run` alone: a sweep's run is composed from exactly the words --list prints."""
    p = argparse.ArgumentParser(prog="benchmark")
    run_command.register(p.add_subparsers(dest="command"))
    return p


def compose_words(parser: argparse.ArgumentParser, words: Sequence[str]):
    return build_config(parser.parse_args(["run", *words]))


def plan(spec: Spec) -> List[Planned]:
    """Every run composed and checked before anything trains; the same run twice in the matrix counts once."""
    parser, cells = _parser(), spec.cells()
    several_configs, several_datasets = len(spec.configs) > 1, len(spec.datasets) > 1
    out, seen = [], set()
    for cell in cells:
        tag = " ".join(filter(None, [cell.model, cell.objective, cell.variant, cell.dataset, f"seed {cell.seed}"]))
        try:
            words = cell.words(spec.runs_dir, spec.overrides)
            cfg, warnings = compose_words(parser, words)
        except UserError as e:
            raise CLIError(f"{spec.path}: run {tag} (config {cell.config_name}): {e}") from None
        ident = identity(cfg.to_dict())
        if ident in seen:
            continue
        seen.add(ident)
        name = "-".join(filter(None, [cfg.model.name, cell.objective, cell.variant, cfg.data.dataset,
                                      f"s{cfg.system.seed}"]))
        label = " ".join([cfg.model.name, cell.objective] + [cell.variant] * bool(cell.variant) +
                         [cfg.data.dataset] * several_datasets +
                         [f"[{cell.config_name}]"] * several_configs + [f"seed {cfg.system.seed}"])
        out.append(Planned(cell, words, cfg, list(warnings), ident, name, label))
    if len(out) < len(cells):
        print(f"benchmark: note: {spec.path}: {len(cells) - len(out)} cells of the matrix are the same run as "
              "another; each run counts once", file=sys.stderr)
    return out


def list_pending(runs: List[Planned], index: RecordIndex, spec: Spec, stale: float) -> int:
    """The pending runs as `benchmark run` commands on stdout; runs locked elsewhere are named on stderr."""
    for planned in runs:
        skip = skipped(planned, index, spec.runs_dir, stale)
        if skip is None:
            print(planned.command())
        elif skip[0] == "locked":
            print(f"benchmark: note: {planned.label}: left out, {skip[1]}", file=sys.stderr)
    sys.stdout.flush()
    return 0


def run_one(planned: Planned, index: RecordIndex, runs_dir: str, stale: float):
    """Lock, train, unlock one run: (outcome, the progress text)."""
    from ..training import run

    if planned.identity in index.refresh().done:
        return "record exists", "skipped: record exists"
    try:
        lock, took_over = take_lock(runs_dir, planned.identity, planned.name, stale)
    except LockHeld as e:
        return "locked", f"skipped: locked by {e}"
    try:
        if took_over is not None:
            say(f"{planned.label}: taking over the stale lock of {describe(took_over)} (older than "
                f"{stale / 3600:g} h)")
        if planned.identity in index.refresh().done:  # finished elsewhere between the scan and the lock
            return "record exists", "skipped: record exists"
        t0 = time.perf_counter()
        try:
            record = run(planned.cfg, planned.warnings)
        except UserError as e:
            return "failed", f"failed: {type(e).__name__}: {e}"
        index.done.setdefault(planned.identity, record.path or "")
        return "trained", f"done in {(time.perf_counter() - t0) / 60:.1f} min, {headline(record.metrics)}"
    finally:
        release(lock)


def job(planned: Planned, runs_dir: str, stale: float):
    """What one submitted job runs: :func:`run_one` (lock, train, release), exactly as the local sweep does.

    SIGTERM (scancel, preemption) stops the run as Ctrl-C stops a local sweep: the lock is
    released and no record is written, so a later submission runs it again. (submitit
    itself turns the time limit's SIGUSR2 into an error: a record that says failed.)"""
    setup_console(progress=False)
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _stop)
    try:
        return run_one(planned, RecordIndex(runs_dir), runs_dir, stale)
    except KeyboardInterrupt:  # the stop may land between taking the lock and the guard that releases it
        release_if_mine(runs_dir, planned.identity)
        raise


def _stop(signum, frame):
    raise KeyboardInterrupt(f"stopped by {signal.Signals(signum).name}")


def skipped(planned: Planned, index: RecordIndex, runs_dir: str, stale: float):
    """(outcome, why) when a run is not pending (not to be listed or submitted): recorded already, or locked by a
    live holder; else None."""
    if planned.identity in index.done:
        return "record exists", "record exists"
    holder = lock_holder(runs_dir, planned.identity, stale)
    if holder is not None:
        return "locked", f"locked by {describe(holder)}"
    return None


def submit_sweep(args, spec: Spec, runs: List[Planned], index: RecordIndex, stale: float) -> int:
    """One job per pending run through submitit; with ``--wait``, each job's outcome, the summary, the leaderboard."""
    name = "sweep-" + os.path.splitext(os.path.basename(spec.path))[0]
    ex = make_executor(args.executor, spec.runs_dir, spec.resources, name)
    counts: Dict[str, int] = {"trained": 0, "record exists": 0, "locked": 0, "failed": 0}
    pending = []
    for i, planned in enumerate(runs, 1):
        skip = skipped(planned, index, spec.runs_dir, stale)
        if skip is None:
            pending.append((i, planned))
            continue
        counts[skip[0]] += 1
        say(f"[{i}/{len(runs)}] {planned.label}: skipped: {skip[1]}")
    jobs = submit(ex, job, [(planned, spec.runs_dir, stale) for _, planned in pending])
    for (i, planned), j in zip(pending, jobs):
        say(f"[{i}/{len(runs)}] {planned.label}: submitted as job {j.job_id}")
    say(f"sweep {spec.path}: {len(runs)} runs: {len(jobs)} submitted ({args.executor}), "
        f"{counts['record exists']} record exists, {counts['locked']} locked")
    if jobs:
        say(f"each job's log: {os.path.join(logs_folder(spec.runs_dir), 'JOB_ID_0_log.out')} (and .err)")
    if not args.wait:
        return 0
    for (i, planned), j in zip(pending, jobs):
        result, text = outcome(j)
        counts[result] += 1
        say(f"[{i}/{len(runs)}] {planned.label}: {text} (job {j.job_id})")
    return summary(args, spec, len(runs), counts)


def summary(args, spec: Spec, total: int, counts: Dict[str, int]) -> int:
    """The sweep's last line (the counts of each outcome), its leaderboard unless --no-leaderboard; the exit status."""
    say(f"sweep {spec.path}: {total} runs: " + ", ".join(f"{n} {k}" for k, n in counts.items()))
    if not args.no_leaderboard:
        leaderboard(spec.runs_dir)
    return 1 if counts["failed"] else 0


def headline(metrics) -> str:
    """``CC mAP 33.1`` (or the general mAP where a dataset has no clothes-changing protocol)."""
    for protocol, name in (("cc", "CC"), ("general", "general")):
        scores = (metrics or {}).get(protocol) or {}
        if scores.get("mAP") is not None:
            return f"{name} mAP {100 * scores['mAP']:.1f}"
    return "no mAP"


def leaderboard(runs_dir: str) -> None:
    """``python -m leaderboards RUNS_DIR --cal-gain`` in a subprocess (benchmark never imports leaderboards)."""
    cmd = [sys.executable, "-m", "leaderboards", runs_dir, "--cal-gain"]
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    except (OSError, subprocess.SubprocessError) as e:
        say(f"sweep: no leaderboard ({' '.join(cmd[1:])}: {type(e).__name__}: {e})")
        return
    if done.returncode != 0:
        why = (done.stderr.strip().splitlines() or [f"exit status {done.returncode}"])[-1]
        say(f"sweep: no leaderboard ({' '.join(cmd[1:])}: {why})")
        return
    say("")
    say(done.stdout.rstrip())
