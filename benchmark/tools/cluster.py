"""A sweep's runs as cluster jobs, through submitit (the optional extra ``cluster``).

``benchmark sweep SPEC --executor slurm`` submits one job per pending run, as one Slurm
job array, with the spec's ``resources:`` (:func:`parameters`); ``--executor
submitit-local`` runs the same jobs as processes of this machine through submitit's
LocalExecutor: the same code path, testable without Slurm. A job runs the local sweep's
own per-run function (benchmark/cli/sweep.py: take the run's lock, train, release), so
the lock per run holds across jobs, machines and sweeps. submitit's files (pickled
jobs, each job's stdout and stderr: ``<job id>_0_log.out``, ``.err``) go to ``runs_dir/.submitit/``.

submitit is imported here only, and only when a sweep is submitted: the suite imports
and runs without it.
"""
from __future__ import annotations

import contextlib
import io
import os
from typing import Any, Callable, Dict, List, Sequence, Tuple

from ccvid.base import UserError

EXTRA = "cluster"
EXECUTORS = {"slurm": "slurm", "submitit-local": "local"}    # --executor -> submitit's cluster name
LOGS = ".submitit"
DEFAULT_TIMEOUT_MIN = 24 * 60


class ClusterError(UserError):
    """A sweep could not be submitted (submitit missing, no Slurm here, the scheduler refused): one line."""


def load_submitit(executor: str):
    """The submitit module, or :class:`ClusterError` naming the extra that installs it."""
    try:
        import submitit
    except ImportError:
        raise ClusterError(f"--executor {executor} needs submitit, which is not installed: pip install -e "
                           f"'.[{EXTRA}]' (the optional extra '{EXTRA}') or pip install submitit") from None
    return submitit


def logs_folder(runs_dir: str) -> str:
    return os.path.join(runs_dir, LOGS)


def parameters(resources: Dict[str, Any], name: str) -> Dict[str, Any]:
    """``AutoExecutor.update_parameters`` arguments from a spec's checked ``resources:`` (one process per job)."""
    r = resources
    out: Dict[str, Any] = {"name": name, "timeout_min": r.get("timeout_min", DEFAULT_TIMEOUT_MIN), "nodes": 1,
                           "tasks_per_node": 1}
    for key in ("gpus_per_node", "cpus_per_task"):
        if key in r:
            out[key] = r[key]
    if "mem_gb" in r:
        out["mem_gb"] = float(r["mem_gb"])
    slurm = {"partition": r.get("partition"), "array_parallelism": r.get("array_parallelism"),
             "setup": list(r["setup"]) if r.get("setup") else None,
             "additional_parameters": dict(r["slurm"]) if r.get("slurm") else None}
    out.update({f"slurm_{k}": v for k, v in slurm.items() if v is not None})
    return out


def make_executor(executor: str, runs_dir: str, resources: Dict[str, Any], name: str):
    """A submitit AutoExecutor for ``--executor`` (slurm | submitit-local), its files under :func:`logs_folder`."""
    submitit = load_submitit(executor)
    try:
        ex = submitit.AutoExecutor(folder=logs_folder(runs_dir), cluster=EXECUTORS[executor])
    except RuntimeError as e:  # SlurmExecutor: no srun on this machine
        raise ClusterError(f"--executor {executor}: {one_line(e)} (--executor submitit-local runs the jobs on this "
                           "machine)") from None
    except OSError as e:
        where = logs_folder(runs_dir)
        raise ClusterError(f"--executor {executor}: cannot create {where} ({e.strerror or e})") from None
    try:
        ex.update_parameters(**parameters(resources, name))
    except (ValueError, NameError, TypeError, AssertionError) as e:
        raise ClusterError(f"resources: submitit refused them: {one_line(e)}") from None
    return ex


def submit(ex, fn: Callable[..., Any], arguments: Sequence[Tuple[Any, ...]]) -> List[Any]:
    """One job per argument tuple, as one job array (one call to the scheduler); the jobs, in order."""
    if not arguments:
        return []
    said = io.StringIO()  # submitit prints a failing sbatch's stderr: it goes into the one-line error instead
    try:
        with contextlib.redirect_stderr(said):
            return list(ex.map_array(fn, *zip(*arguments)))
    except Exception as e:  # the scheduler refused (sbatch: error: ...), or the folder is not writable
        why = one_line(e) or one_line(said.getvalue()) or type(e).__name__
        raise ClusterError(f"submitting {len(arguments)} jobs failed: {why}") from None


def outcome(job) -> Tuple[str, str]:
    """Wait for a job: what its run function returned, or ("failed", why and where its log is)."""
    from submitit.core.utils import UncompletedJobError
    try:
        return tuple(job.result())  # type: ignore[return-value]
    except UncompletedJobError as e:  # FailedJobError too: the function raised, or the job died without a result
        text = str(e)
        if "failed during processing" in text:
            lines = [x for x in text.split("----------------------")[1].strip().splitlines() if x.strip()]
            why = f"raised {lines[-1].strip()}" if lines else "raised"
        else:
            why = f"ended without a result (state {job.state})"
        return "failed", f"failed: job {job.job_id} {why}; log: {job.paths.stderr}"


def one_line(error: Any) -> str:
    """The line of a (multi-line) message that says what went wrong."""
    lines = [x.strip() for x in str(error).splitlines() if x.strip()]
    for line in lines:
        if "error" in line.lower():
            return line
    return lines[0] if lines else ""
