"""Hostile input, part 3: config files and records given to ``benchmark run``, checkpoints given to
``benchmark test``, records given to ``leaderboard``.

Each case: a non-zero exit (2), one line on stderr naming the file, no traceback, nothing trained and no
record.json that looks complete. (The field-by-field config refusals are in tests/benchmark/cli and
tests/benchmark/config; these are the files themselves.)
"""
import json
import os
import pickle
import subprocess
import sys

import pytest
import torch

from benchmark.cli import main
from hostile_helpers import complete_records, no_hang, refused, write
from leaderboards.cli import main as leaderboard


# --------------------------------------------------------------------------- config files
def run_with(config, tmp_path, capsys, *names):
    runs = tmp_path / "runs"
    with no_hang():
        code = main(["run", "--runs-dir", str(runs), "--config", str(config), "--no-progress"])
    line = refused(code, capsys, *names, runs=runs)
    assert not runs.exists() or not os.listdir(runs)
    return line


@pytest.mark.parametrize("text, expected", [
    ("- optim\n- data\n", "a config file holds a mapping of sections, not a list"),
    ("just a sentence\n", "a config file holds a mapping of sections, not a str"),
    ("optim: {lr: [1,\n", ":"),
])
def test_config_that_is_not_a_mapping(tmp_path, capsys, text, expected):
    path = tmp_path / "mine.yaml"
    write(path, text)
    run_with(path, tmp_path, capsys, path, expected)


def test_config_whose_base_does_not_exist(tmp_path, capsys):
    path = tmp_path / "mine.yaml"
    write(path, "_base_: not-there.yaml\noptim:\n  lr: 1.0e-4\n")
    run_with(path, tmp_path, capsys, tmp_path / "not-there.yaml", "config file not found")


def test_config_that_is_not_utf8(tmp_path, capsys):
    path = tmp_path / "mine.yaml"
    write(path, b"optim:\n  lr: 1.0e-4 # \xff\xfe\n", mode="wb")
    run_with(path, tmp_path, capsys, path, "cannot read config file")


def test_config_that_is_a_folder(tmp_path, capsys):
    path = tmp_path / "mine.yaml"
    path.mkdir()
    run_with(path, tmp_path, capsys, path)


@pytest.mark.parametrize("content, expected", [
    (None, "not a regular file"),  # record.json is a folder
    ("{\"format\": ", "not a JSON run record"),
    ('{"format": "ccreid-bench/run-record/7", "config": {}, "metrics": {}}', "newer than this suite's"),
    ('["a", "list"]', "not a run record"),
])
def test_rerun_from_a_bad_record(tmp_path, capsys, content, expected):
    path = tmp_path / "old" / "record.json"
    if content is None:
        path.mkdir(parents=True)
    else:
        write(path, content)
    run_with(path, tmp_path, capsys, path, expected)


# --------------------------------------------------------------------------- checkpoints
class Payload:
    """Unpickling this runs code: it makes a folder. A checkpoint must never be able to."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.mkdir, (self.marker,))


def checkpoint(tmp_path, kind):
    path = tmp_path / "model.pt"
    marker = str(tmp_path / "code-ran")
    if kind == "text":
        path.write_text("this is not a checkpoint\n")
    elif kind == "pickle-with-code":
        path.write_bytes(pickle.dumps({"model": Payload(marker), "config": {}, "state_dict": {}}, protocol=2))
    elif kind == "torch-save-with-code":
        torch.save({"model": Payload(marker), "config": {}, "state_dict": {}}, str(path))
    elif kind == "truncated":
        torch.save({"model": "baseline", "config": {}, "state_dict": {"w": torch.zeros(64, 64)}}, str(path))
        path.write_bytes(path.read_bytes()[:300])
    elif kind == "not-ours":
        torch.save({"weights": torch.zeros(3)}, str(path))
    elif kind == "config-a-list":
        torch.save({"model": "baseline", "config": ["data", "model"], "state_dict": {}}, str(path))
    elif kind == "negative-height":
        torch.save({"model": "baseline", "config": {"data": {"height": -5}}, "state_dict": {}}, str(path))
    elif kind == "unknown-model":
        torch.save({"model": "nope", "config": {"model": {"name": "nope"}}, "state_dict": {}}, str(path))
    elif kind == "weights-a-list":
        torch.save({"model": "baseline", "config": {}, "state_dict": [1, 2]}, str(path))
    elif kind == "folder":
        path.mkdir()
    elif kind == "fifo":
        os.mkfifo(path)
    return path, marker


@pytest.mark.parametrize("kind, expected", [
    ("text", "cannot read checkpoint"),
    ("pickle-with-code", "cannot read checkpoint"),
    ("torch-save-with-code", "cannot read checkpoint"),
    ("truncated", "cannot read checkpoint"),
    ("not-ours", "not a checkpoint written by 'benchmark run'"),
    ("config-a-list", "its config is a list, not a mapping of sections"),
    ("negative-height", "its config does not load (data.height: must be >= 1, got -5)"),
    ("unknown-model", "its config does not load (model.name: unknown model 'nope'"),
    ("weights-a-list", "its state_dict is a list, not weights by name"),
    ("folder", "not a regular file"),
    ("fifo", "not a regular file"),
    ("missing", "checkpoint not found"),
])
def test_bad_checkpoint(tmp_path, capsys, kind, expected):
    path, marker = checkpoint(tmp_path, kind)
    with no_hang():
        code = main(["test", str(path), "--no-progress"])
    refused(code, capsys, path, expected)
    assert not os.path.exists(marker)  # refused, never run


def test_plain_pickle_checkpoint_from_the_command_line(tmp_path):
    path = tmp_path / "model.pt"
    marker = str(tmp_path / "code-ran")
    path.write_bytes(pickle.dumps({"model": Payload(marker)}, protocol=4))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    p = subprocess.run([sys.executable, "-m", "benchmark", "test", str(path), "--no-progress"], capture_output=True,
                       text=True, timeout=120, env=env)
    assert not os.path.exists(marker)
    assert p.returncode == 2 and "Traceback" not in p.stderr
    assert p.stderr.strip().splitlines() == [f"benchmark: error: {path}: cannot read checkpoint (UnpicklingError)"]


# --------------------------------------------------------------------------- records for the leaderboard
def record(seed=0, cal=False, **changes):
    rec = {"format": "ccreid-bench/run-record/2", "run_id": f"r{seed}{cal}", "status": "complete",
           "config": {"data": {"dataset": "embedded"}, "model": {"name": "baseline", "backbone": "resnet_tiny"},
                      "cal": {"enabled": cal}, "system": {"seed": seed}},
           "metrics": {"general": {"top1": 0.9, "mAP": 0.5}, "cc": {"top1": 0.3, "mAP": 0.2}},
           "timings": {"train_s": 60.0}}
    rec.update(changes)
    return rec


def records(tmp_path, *recs):
    for i, rec in enumerate(recs):
        write(tmp_path / "runs" / f"run{i}" / "record.json", rec if isinstance(rec, str) else json.dumps(rec))
    return tmp_path / "runs"


@pytest.mark.parametrize("changes, expected", [
    ({"metrics": {"general": 5}}, "metrics.general: expected an object of scores or null, got int"),
    ({"metrics": {"general": {"top1": "high", "mAP": 0.5}}}, "metrics.general.top1: expected a number or null"),
    ({"metrics": {"general": {"top1": True}}}, "metrics.general.top1: expected a number or null, got bool"),
    ({"metrics": {"cc": {"top1": 0.2, "std": {"mAP": "x"}}}}, "metrics.cc.std.mAP: expected a number or null"),
    ({"timings": {}}, "timings.train_s: missing"),
    ({"timings": {"train_s": "one minute"}}, "timings.train_s: expected seconds"),
    ({"timings": [60.0]}, "timings: expected an object"),
    ({"reference_selection": "epoch 3"}, "reference_selection: expected an object or null"),
    ({"reference_selection": {"rule": "cc-top1", "epoch": 3, "metrics": {"cc": [1]}}},
     "reference_selection.metrics.cc: expected an object of scores"),
    ({"reference_selection": {"rule": None, "epoch": 3, "metrics": {"cc": {"top1": 0.1}}}},
     "reference_selection.rule: expected a rule name"),
    ({"status": "half-done"}, "status 'half-done': expected 'complete' or 'failed'"),
    ({"config": {"system": {"seed": "zero"}}}, "config.system.seed: expected a whole number"),
    ({"config": {"cal": True}}, "config.cal: expected an object, got bool"),
])
def test_record_the_tables_cannot_read(tmp_path, capsys, changes, expected):
    folder = records(tmp_path, record(0), record(1, **changes))
    refused(leaderboard([str(folder)]), capsys, folder / "run1" / "record.json", expected)


def test_record_with_a_nan_metric(tmp_path, capsys):
    text = json.dumps(record(1)).replace('"mAP": 0.5', '"mAP": NaN')
    folder = records(tmp_path, record(0), text)
    refused(leaderboard([str(folder)]), capsys, folder / "run1" / "record.json", "is not a finite number")


def test_record_that_is_a_fifo(tmp_path, capsys):
    folder = records(tmp_path, record(0))
    os.mkfifo(folder / "run0" / "other.json")
    fifo = folder / "run1" / "record.json"
    fifo.parent.mkdir()
    os.mkfifo(fifo)
    with no_hang():
        code = leaderboard([str(folder)])
    refused(code, capsys, fifo, "not a regular file")


def test_unknown_format_lists_the_valid_ones(tmp_path, capsys):
    folder = records(tmp_path, record(0))
    line = refused(leaderboard([str(folder), "--format", "markdown"]), capsys, "--format 'markdown'")
    assert "github" in line and "latex" in line and "plain" in line


def test_missing_path(tmp_path, capsys):
    refused(leaderboard([str(tmp_path / "nowhere")]), capsys, tmp_path / "nowhere", "no such file or folder")


def test_failed_runs_are_reported_and_never_averaged(tmp_path, capsys):
    failed = record(1, status="failed", error="training diverged: the ID loss is nan", metrics={}, timings={})
    folder = records(tmp_path, record(0), failed, record(2))
    assert leaderboard([str(folder)]) == 0
    out = capsys.readouterr()
    assert out.err.strip().splitlines() == [
        f"leaderboard: skipped failed run {folder / 'run1' / 'record.json'} (training diverged: the ID loss is nan)"]
    row = [line for line in out.out.splitlines() if line.startswith("| embedded")]
    assert len(row) == 1 and "| 2 " in row[0]  # two seeds averaged, not three


def test_only_failed_runs_is_an_error(tmp_path, capsys):
    folder = records(tmp_path, record(1, status="failed", metrics={}))
    assert leaderboard([str(folder)]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 2 and "skipped failed run" in lines[0]
    assert lines[1] == f"leaderboard: error: no complete run records (record.json) under {folder}"
    assert complete_records(folder) == []


@pytest.mark.parametrize("kind", ["config", "record"])
def test_a_fifo_given_as_a_config_or_record_is_refused_not_read(tmp_path, capsys, kind):
    path = tmp_path / ("x.yaml" if kind == "config" else "record.json")
    os.mkfifo(path)
    with no_hang():
        code = main(["run", "--config", str(path), "--no-progress"])
    err = capsys.readouterr().err
    assert code == 2 and len(err.strip().splitlines()) == 1 and "not a regular file" in err and str(path) in err


def test_a_config_folder_without_a_record_is_named(tmp_path, capsys):
    folder = tmp_path / "dir.yaml"
    folder.mkdir()
    assert main(["run", "--config", str(folder), "--no-progress"]) == 2
    assert "a folder without record.json" in capsys.readouterr().err
