"""``benchmark sweep --executor slurm | submitit-local``: one submitit job per pending run, each running the local
sweep's own lock-train-release; tested end to end with submitit's LocalExecutor (real processes), and the Slurm path
up to sbatch with a stand-in sbatch. A stopped job releases its lock and a re-submission runs only what is missing;
a live lock is respected at submission and inside a job; the records give the local sweep's leaderboard; a bad
``resources:`` mapping or a missing extra is one line and exit status 2 before anything is submitted."""
import contextlib
import io
import json
import os
import re
import signal
import subprocess
import sys
import time

import pytest
import yaml

pytest.importorskip("submitit")

from benchmark.cli import main  # noqa: E402
from benchmark.cli.sweep import job, plan  # noqa: E402
from benchmark.records import load_records  # noqa: E402
from benchmark.tools.cluster import make_executor, outcome, submit  # noqa: E402
from benchmark.tools.sweep import lock_path, read_spec, record_identity  # noqa: E402
from leaderboards.tables import cal_gain_rows, leaderboard_rows, render  # noqa: E402
from tests.benchmark.cli.test_sweep import progress, sweep  # noqa: E402  (the local sweep's test helpers)

TINY = ["synth.num_train_ids=4", "synth.num_test_ids=3", "synth.num_frames=12", "synth.max_suits=2",
        "synth.write_videos=false", "synth.workers=1", "num_ids=2", "clips_per_id=2", "epochs=1",
        "cal.start_epoch=0", "save_checkpoint=false", "threads=1"]
LOCAL = "submitit-local"


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    return str(tmp_path_factory.mktemp("cache"))


def write_spec(folder, runs, cache, name="spec", **keys):
    spec = {"runs_dir": str(runs), "configs": ["cpu"], "models": ["baseline"], "objectives": ["id", "cal"],
            "seeds": [0], "overrides": TINY + [f"cache_dir={cache}"], "resources": {"timeout_min": 10}, **keys}
    path = folder / f"{name}.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    return str(path)


def job_logs(runs):
    folder = runs / ".submitit"
    return sorted(f for f in os.listdir(folder) if f.endswith("_log.out")) if folder.is_dir() else []


def until(condition, what, seconds=120):
    t0 = time.time()
    while not condition():
        if time.time() - t0 > seconds:
            raise AssertionError(f"{what}: not within {seconds} s")
        time.sleep(0.02)


@pytest.fixture(scope="module")
def swept(tmp_path_factory, cache):
    """The same spec (baseline ID / CAL, seed 0) swept in this process, then as submitit-local jobs:
    (spec folder, spec, exit status of each, stdout of the submission)."""
    folder = tmp_path_factory.mktemp("spec")
    local = main(["sweep", write_spec(folder, folder / "local", cache, "local"), "--no-progress", "--no-leaderboard"])
    spec = write_spec(folder, folder / "jobs", cache)
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(["sweep", spec, "--executor", LOCAL, "--wait", "--no-progress"])
    assert local == 0 and code == 0, err.getvalue()
    return folder, spec, out.getvalue()


def test_every_pending_run_is_one_job_that_runs_once(swept):
    folder, spec, out = swept
    lines = progress(out)
    assert [re.sub(r"job \d+", "job N", x) for x in lines[:2]] == [
        "[1/2] baseline id seed 0: submitted as job N", "[2/2] baseline cal seed 0: submitted as job N"]
    assert lines[2].startswith("[1/2] baseline id seed 0: done in ") and "CC mAP" in lines[2]
    assert lines[3].startswith("[2/2] baseline cal seed 0: done in ") and "CC mAP" in lines[3]
    assert "2 trained, 0 record exists, 0 locked, 0 failed" in out and "| dataset" in out  # summary, leaderboard
    ids = [re.search(r"job (\d+)", x).group(1) for x in lines[:2]]
    runs = folder / "jobs"
    assert job_logs(runs) == sorted(f"{i}_0_log.out" for i in ids)  # one job each, its log where the output says
    assert str(runs / ".submitit" / "JOB_ID_0_log.out") in out
    assert "baseline + CAL on embedded" in (runs / ".submitit" / f"{ids[1]}_0_log.out").read_text()
    records = load_records([str(runs)])
    assert sorted(record_identity(r.config) for r in records) == sorted(p.identity for p in plan(read_spec(spec)))
    assert all(r.status == "complete" for r in records) and not os.listdir(runs / ".locks")


def table(records):
    """The leaderboard and CAL-gain tables without the training-time column (a timing, not a result)."""
    headers, rows = leaderboard_rows(records)
    assert headers[-1] == "train min"
    return render(headers[:-1], [r[:-1] for r in rows]) + "\n" + render(*cal_gain_rows(records))


def test_the_jobs_records_give_the_local_sweeps_leaderboard(swept):
    folder, spec, _ = swept
    local, jobs = load_records([str(folder / "local")]), load_records([str(folder / "jobs")])
    assert len(local) == len(jobs) == 2
    assert table(local) == table(jobs) and "| embedded" in table(jobs)
    by_identity = {record_identity(r.config): r for r in local}
    for r in jobs:  # training is deterministic per seed: the same numbers, not just the same rounded table
        twin = by_identity[record_identity(r.config)]
        assert r.metrics == twin.metrics and r.history == twin.history and r.path != twin.path


def test_a_second_submission_submits_nothing(swept, capsys):
    folder, spec, _ = swept
    before = job_logs(folder / "jobs")
    code, out, err = sweep([spec, "--executor", LOCAL, "--wait", "--no-leaderboard"], capsys)
    assert code == 0, err
    assert progress(out) == ["[1/2] baseline id seed 0: skipped: record exists",
                             "[2/2] baseline cal seed 0: skipped: record exists"]
    assert "2 runs: 0 submitted (submitit-local), 2 record exists, 0 locked" in out
    assert job_logs(folder / "jobs") == before and len(load_records([str(folder / "jobs")])) == 2


def test_a_stopped_job_releases_its_lock_and_a_resubmission_runs_only_what_is_missing(tmp_path, cache, capsys):
    runs = tmp_path / "runs"
    spec = write_spec(tmp_path, runs, cache, seeds=[1], overrides=TINY + ["epochs=3", f"cache_dir={cache}"])
    planned = {p.name: p for p in plan(read_spec(spec))}
    stopped, finished = planned["baseline-id-embedded-s1"], planned["baseline-cal-embedded-s1"]
    code, out, err = sweep([spec, "--executor", LOCAL], capsys)  # submit and return
    assert code == 0, err
    assert "2 runs: 2 submitted (submitit-local), 0 record exists, 0 locked" in out
    job_id = int(re.search(r"baseline id seed 1: submitted as job (\d+)", out).group(1))
    lock = lock_path(str(runs), stopped.identity)
    until(lambda: os.path.isfile(lock), "the job's lock")
    os.kill(job_id, signal.SIGTERM)  # as scancel does: the job is told to stop while it trains
    until(lambda: not os.path.exists(lock), "the stopped job releasing its lock", 60)
    until(lambda: len(load_records([str(runs)])) == 1 and not os.listdir(runs / ".locks"), "the other job")
    (record,) = load_records([str(runs)])
    assert record_identity(record.config) == finished.identity  # the stopped run left no record
    mtime = os.stat(record.path).st_mtime_ns
    code, out, err = sweep([spec, "--executor", LOCAL, "--wait", "--no-leaderboard"], capsys)
    assert code == 0, err
    lines = progress(out)
    assert lines[0] == "[2/2] baseline cal seed 1: skipped: record exists"
    assert lines[1].startswith("[1/2] baseline id seed 1: submitted as job ")
    assert lines[2].startswith("[1/2] baseline id seed 1: done in ") and len(lines) == 3
    records = load_records([str(runs)])
    assert sorted(record_identity(r.config) for r in records) == sorted([stopped.identity, finished.identity])
    assert os.stat(record.path).st_mtime_ns == mtime and all(r.status == "complete" for r in records)
    assert not os.listdir(runs / ".locks")


def hold_lock(runs, identity):
    path = lock_path(str(runs), identity)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as fh:
        json.dump({"host": "elsewhere", "pid": 4242, "started": "2026-01-02T03:04:05+00:00", "time": time.time()}, fh)
    return path


def test_a_live_lock_is_respected_at_submission_and_inside_a_job(tmp_path, cache, capsys):
    runs = tmp_path / "runs"
    spec = write_spec(tmp_path, runs, cache, objectives=["id"], seeds=[2])
    (planned,) = plan(read_spec(spec))
    lock = hold_lock(runs, planned.identity)
    code, out, err = sweep([spec, "--executor", LOCAL, "--wait"], capsys)
    assert code == 0, err
    assert progress(out) == ["[1/1] baseline id seed 2: skipped: locked by elsewhere:4242 since "
                             "2026-01-02T03:04:05+00:00"]
    assert "0 submitted" in out and job_logs(runs) == []
    # a job that finds the lock taken when it starts (submitted before the holder came) trains nothing either
    (j,) = submit(make_executor(LOCAL, str(runs), {"timeout_min": 5}, "t"), job, [(planned, str(runs), 86400.0)])
    assert outcome(j) == ("locked", "skipped: locked by elsewhere:4242 since 2026-01-02T03:04:05+00:00")
    assert os.path.isfile(lock) and load_records([str(runs)]) == []


def fake_slurm(tmp_path, monkeypatch):
    """srun and sbatch stand-ins: sbatch keeps the script it was given and answers as Slurm does."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "srun").write_text("#!/bin/sh\nexit 0\n")
    (bin_dir / "sbatch").write_text(f"#!/bin/sh\ncp \"$1\" {tmp_path}/sbatch.sh\necho 'Submitted batch job 4242'\n")
    for f in ("srun", "sbatch"):
        os.chmod(bin_dir / f, 0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")


def test_slurm_gets_one_job_array_with_the_specs_resources(tmp_path, cache, capsys, monkeypatch):
    fake_slurm(tmp_path, monkeypatch)
    resources = {"partition": "gpu", "gpus_per_node": 1, "cpus_per_task": 4, "mem_gb": 16, "timeout_min": 30,
                 "array_parallelism": 1, "setup": ["source venv/bin/activate"],
                 "slurm": {"account": "proj", "qos": "high"}}
    spec = write_spec(tmp_path, tmp_path / "runs", cache, resources=resources)
    code, out, err = sweep([spec, "--executor", "slurm"], capsys)
    assert code == 0, err
    assert progress(out) == ["[1/2] baseline id seed 0: submitted as job 4242_0",
                             "[2/2] baseline cal seed 0: submitted as job 4242_1"]
    script = (tmp_path / "sbatch.sh").read_text().splitlines()
    for line in ["#SBATCH --partition=gpu", "#SBATCH --gpus-per-node=1", "#SBATCH --cpus-per-task=4",
                 "#SBATCH --mem=16GB", "#SBATCH --time=30", "#SBATCH --array=0-1%1", "#SBATCH --account=proj",
                 "#SBATCH --qos=high", "#SBATCH --nodes=1", "#SBATCH --ntasks-per-node=1",
                 "#SBATCH --job-name=sweep-spec", "source venv/bin/activate"]:
        assert line in script, (line, script)
    assert any(str(tmp_path / "runs" / ".submitit") in x for x in script if x.startswith("#SBATCH --output="))
    assert not (tmp_path / "runs" / ".locks").exists()  # a job takes its lock when it starts, not at submission


def test_slurm_without_slurm_is_one_line(tmp_path, cache, capsys, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))  # no srun
    code, out, err = sweep([write_spec(tmp_path, tmp_path / "runs", cache), "--executor", "slurm"], capsys)
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1 and "srun" in lines[0] and "--executor submitit-local" in lines[0], err
    assert progress(out) == []


@pytest.mark.parametrize("resources, message", [
    ({"gpu_per_node": 1}, "resources.gpu_per_node: unknown key; did you mean 'gpus_per_node'?"),
    ({"timeout_min": 0}, "resources.timeout_min: expected a whole number >= 1, got 0"),
    ({"timeout_min": "2h"}, "resources.timeout_min: expected a whole number >= 1, got '2h'"),
    ({"gpus_per_node": 4}, "resources.gpus_per_node: expected 0 or 1, got 4: a job trains one run in one process"),
    ({"mem_gb": -1}, "resources.mem_gb: expected a number of GB > 0, got -1"),
    ({"partition": ""}, "resources.partition: expected a partition name, got ''"),
    ({"setup": "module load cuda"}, "resources.setup: expected a list of shell lines"),
    ({"slurm": {"time": "01:00:00"}}, "resources.slurm.time: set by resources.timeout_min"),
    ({"slurm": {"array": "0-3"}}, "resources.slurm.array: set by the sweep (one job per run)"),
    ({"slurm": {"qos": None}}, "resources.slurm.qos: expected a value (or true for a bare flag), got None"),
    ([1], "resources: expected a mapping of partition, timeout_min"),
])
def test_bad_resources_are_one_line_naming_the_spec_before_anything_is_submitted(resources, message, tmp_path,
                                                                                   cache, capsys):
    runs = tmp_path / "runs"
    spec = write_spec(tmp_path, runs, cache, resources=resources)
    for executor in ("slurm", LOCAL, "local"):  # checked as part of the spec, whichever executor
        code, out, err = sweep([spec, "--executor", executor], capsys)
        lines = err.strip().splitlines()
        assert code == 2 and len(lines) == 1 and lines[0].startswith(f"benchmark: error: {spec}:"), err
        assert message in lines[0], (message, err)
        assert progress(out) == [] and not runs.exists()


def test_without_submitit_the_extra_is_named_and_the_rest_works(tmp_path, cache, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "submitit", None)  # import submitit now fails, as when it is not installed
    spec = write_spec(tmp_path, tmp_path / "runs", cache)
    for executor in ("slurm", LOCAL):
        code, out, err = sweep([spec, "--executor", executor], capsys)
        lines = err.strip().splitlines()
        assert code == 2 and len(lines) == 1 and progress(out) == [], err
        assert lines[0] == (f"benchmark: error: --executor {executor} needs submitit, which is not installed: pip "
                            "install -e '.[cluster]' (the optional extra 'cluster') or pip install submitit")
    code, out, err = sweep([spec, "--list"], capsys)
    assert code == 0 and len(out.splitlines()) == 2, err
    # and no module of the suite imports it on its own
    probe = ("import sys; sys.modules['submitit'] = None; import benchmark.cli, benchmark.tools.cluster, "
             "benchmark.cli.sweep; print('ok')")
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120)
    assert done.stdout.strip() == "ok", done.stderr


def test_executor_flags_that_do_not_go_together(tmp_path, cache, capsys):
    spec = write_spec(tmp_path, tmp_path / "runs", cache)
    for args, message in [(["--wait"], "--wait: only with --executor slurm or submitit-local"),
                          (["--list", "--executor", LOCAL], "--list prints the pending runs, --executor "
                                                            "submitit-local submits them")]:
        code, out, err = sweep([spec, *args], capsys)
        assert code == 2 and message in err and len(err.strip().splitlines()) == 1, err


def test_a_stop_while_the_lock_is_being_taken_leaves_no_lock(tmp_path, monkeypatch):
    """SIGTERM may land inside take_lock (seen in CI: during the lock's fsync) or just after it returns."""
    from benchmark.tools import sweep as sweep_tools

    def stopped(fd):
        raise KeyboardInterrupt("stopped by SIGTERM")

    monkeypatch.setattr(sweep_tools.os, "fsync", stopped)
    with pytest.raises(KeyboardInterrupt):
        sweep_tools.take_lock(str(tmp_path), "abc", "run", 86400.0)
    assert not os.path.exists(lock_path(str(tmp_path), "abc"))
    monkeypatch.undo()
    mine, _ = sweep_tools.take_lock(str(tmp_path), "mine", "run", 86400.0)
    theirs = hold_lock(tmp_path, "theirs")
    sweep_tools.release_if_mine(str(tmp_path), "mine")
    sweep_tools.release_if_mine(str(tmp_path), "theirs")
    assert not os.path.exists(mine) and os.path.isfile(theirs)
