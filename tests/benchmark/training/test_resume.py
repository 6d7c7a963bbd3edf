"""Survive: a run killed with SIGKILL at any moment resumes to exactly the uninterrupted result; a diverging
run stops with one line, keeps its last good state and leaves a record that says it failed."""
import json
import os
import random
import subprocess
import sys

import pytest

from benchmark.cli import main

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
TINY = ["synth.num_train_ids=4", "synth.num_test_ids=3", "synth.num_frames=12", "synth.max_suits=2",
        "synth.write_videos=false", "synth.workers=1", "num_ids=2", "clips_per_id=2", "lr_steps=[2,4]",
        "cal_start_epoch=2", "eval_every=2", "threads=1", "--epochs", "5", "--cal", "--no-progress"]

# a run in a child process that SIGKILLs itself at the N-th training step, or inside the N-th evaluation
KILLER = """
import os, signal, sys
import benchmark.training.session as session
import benchmark.training.trainer as trainer
where, n = sys.argv[1], int(sys.argv[2])
count = [0]
def tick():
    count[0] += 1
    if count[0] == n:
        os.kill(os.getpid(), signal.SIGKILL)
if where == "step":
    step = trainer.Trainer.step
    def killing_step(self, *a, **k):
        tick()
        return step(self, *a, **k)
    trainer.Trainer.step = killing_step
else:
    evaluate = session.evaluate_model
    def killing_evaluate(*a, **k):
        tick()
        return evaluate(*a, **k)
    session.evaluate_model = killing_evaluate
from benchmark.cli import main
sys.exit(main(sys.argv[3:]))
"""


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    return str(tmp_path_factory.mktemp("cache"))


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory, cache):
    runs = tmp_path_factory.mktemp("plain")
    assert main(["run", "--runs-dir", str(runs), f"cache_dir={cache}", *TINY]) == 0
    (folder,) = os.listdir(runs)
    return json.load(open(runs / folder / "record.json"))


def only_folder(runs):
    (folder,) = os.listdir(runs)
    return runs / folder


@pytest.mark.parametrize("where, n", [("step", None), ("step", 3), ("evaluate", 2)])
def test_a_killed_run_resumes_to_the_uninterrupted_result(where, n, tmp_path, cache, uninterrupted):
    iterations = sum(e["iterations"] for e in uninterrupted["history"])
    n = n or random.Random().randint(2, iterations - 1)  # a random moment of the run (n=3: in the first epoch)
    runs = tmp_path / "runs"
    env = {**os.environ, "PYTHONPATH": REPO}
    proc = subprocess.run([sys.executable, "-c", KILLER, where, str(n), "run", "--runs-dir", str(runs),
                           f"cache_dir={cache}", *TINY], env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == -9, (n, proc.stderr[-2000:])
    folder = only_folder(runs)
    assert not (folder / "record.json").exists()  # nothing that looks like a result
    assert main(["run", "--resume", str(folder)]) == 0
    rec = json.load(open(folder / "record.json"))
    assert rec["status"] == "complete"
    assert rec["metrics"] == uninterrupted["metrics"], (where, n)
    assert rec["history"] == uninterrupted["history"], (where, n)
    assert len(open(folder / "metrics.csv").read().splitlines()) == 1 + len(rec["history"])
    assert main(["run", "--resume", str(folder)]) == 2  # a complete run is not resumed twice


def test_resume_takes_no_other_configuration(tmp_path, capsys):
    assert main(["run", "--resume", str(tmp_path), "--model", "ap3d", "lr=1"]) == 2
    err = capsys.readouterr().err
    assert "remove --model, override lr=1" in err and len(err.strip().splitlines()) == 1
    assert main(["run", "--resume", str(tmp_path / "none")]) == 2
    assert "no such run folder" in capsys.readouterr().err


def test_a_diverging_run_stops_with_one_line_and_a_failed_record(tmp_path, cache, capsys):
    runs = tmp_path / "runs"
    code = main(["run", "--runs-dir", str(runs), f"cache_dir={cache}", *TINY, "lr=1e30"])
    err = capsys.readouterr().err
    assert code == 2 and len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert "the run diverged at epoch " in err and ", iteration " in err
    folder = only_folder(runs)
    rec = json.load(open(folder / "record.json"))  # strict JSON: json.load would refuse bare NaN tokens
    assert rec["status"] == "failed" and rec["metrics"] == {} and "diverged" in rec["error"]
    assert not (folder / "model.pt").exists()
    if "last good training state" in err:
        assert (folder / "state.pt").exists()
    from benchmark.records import read_record
    from leaderboards.tables import leaderboard_rows
    assert leaderboard_rows([read_record(str(folder / "record.json"))])[1] == []  # never averaged in


def test_bf16_on_the_cpu_trains_and_says_so(tmp_path, cache):
    runs = tmp_path / "runs"
    assert main(["run", "--runs-dir", str(runs), f"cache_dir={cache}", *TINY, "system.precision=bf16",
                 "system.channels_last=true"]) == 0
    rec = json.load(open(only_folder(runs) / "record.json"))
    assert rec["config"]["system"]["precision"] == "bf16" and rec["config"]["system"]["channels_last"] is True
    assert rec["metrics"]["general"]["mAP"] > 0
