"""``benchmark sweep``: the matrix runs once per run, continues where it stopped, shares a runs folder by locks,
lists its pending runs as `benchmark run` commands, and refuses a bad spec before anything trains."""
import json
import os
import shlex
import time

import pytest
import yaml

import benchmark.training
from benchmark.cli import main
from benchmark.cli.sweep import plan
from benchmark.config import CONFIG_DIR
from benchmark.records import load_records
from benchmark.tools.sweep import lock_path, read_spec, record_identity

TINY = ["synth.num_train_ids=4", "synth.num_test_ids=3", "synth.num_frames=12", "synth.max_suits=2",
        "synth.write_videos=false", "synth.workers=1", "num_ids=2", "clips_per_id=2", "epochs=1",
        "cal.start_epoch=0", "save_checkpoint=false"]


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    return str(tmp_path_factory.mktemp("cache"))


def write_spec(folder, runs, cache, **keys):
    spec = {"runs_dir": str(runs), "configs": ["cpu"], "models": ["baseline", "ap3d"], "objectives": ["id", "cal"],
            "seeds": [0], "overrides": TINY + [f"cache_dir={cache}"], **keys}
    path = folder / f"spec-{len(os.listdir(folder))}.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    return str(path)


def sweep(args, capsys):
    code = main(["sweep", *args, "--no-progress"])
    out = capsys.readouterr()
    return code, out.out, out.err


def progress(out):
    return [line for line in out.splitlines() if line.startswith("[")]


def no_training(monkeypatch):
    monkeypatch.setattr(benchmark.training, "run", lambda cfg, warnings=(): pytest.fail("a run trained"))


@pytest.fixture(scope="module")
def swept(tmp_path_factory, cache):
    """2 models x ID / CAL x seed 0, swept once: (spec folder, runs folder, spec, exit status, stdout)."""
    folder = tmp_path_factory.mktemp("spec")
    runs = folder / "runs"
    spec = write_spec(folder, runs, cache)
    code = main(["sweep", spec, "--no-progress"])
    return folder, runs, spec, code


def test_a_sweep_writes_one_record_per_run(swept):
    folder, runs, spec, code = swept
    assert code == 0
    records = load_records([str(runs)])
    assert sorted((r.config["model"]["name"], r.cal) for r in records) == [
        ("ap3d", False), ("ap3d", True), ("baseline", False), ("baseline", True)]
    assert all(r.status == "complete" and r.config["cal"]["epsilon"] == 1.0 for r in records)
    planned = plan(read_spec(spec))
    assert sorted(record_identity(r.config) for r in records) == sorted(p.identity for p in planned)
    assert [p.name for p in planned] == ["baseline-id-embedded-s0", "baseline-cal-embedded-s0",
                                         "ap3d-id-embedded-s0", "ap3d-cal-embedded-s0"]
    assert not os.listdir(runs / ".locks")  # every lock released


def test_a_second_sweep_skips_every_done_run_and_trains_nothing(swept, capsys, monkeypatch):
    folder, runs, spec, _ = swept
    no_training(monkeypatch)
    code, out, err = sweep([spec], capsys)
    assert code == 0, err
    assert progress(out) == ["[1/4] baseline id seed 0: skipped: record exists",
                             "[2/4] baseline cal seed 0: skipped: record exists",
                             "[3/4] ap3d id seed 0: skipped: record exists",
                             "[4/4] ap3d cal seed 0: skipped: record exists"]
    assert "| dataset" in out and "Δ cc mAP" in out  # the leaderboard of runs_dir, CAL's gain included


def hold_lock(runs, identity, age_s, host="elsewhere", pid=4242):
    path = lock_path(str(runs), identity)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as fh:
        json.dump({"host": host, "pid": pid, "started": "2026-01-02T03:04:05+00:00", "time": time.time() - age_s}, fh)
    return path


def test_a_held_lock_skips_its_run_and_a_stale_one_is_taken_over(tmp_path, cache, capsys, monkeypatch):
    runs = tmp_path / "runs"
    spec = write_spec(tmp_path, runs, cache, models=["baseline"], objectives=["id"])
    (planned,) = plan(read_spec(spec))
    lock = hold_lock(runs, planned.identity, age_s=2 * 3600)
    with monkeypatch.context() as m:
        no_training(m)
        code, out, err = sweep([spec, "--no-leaderboard"], capsys)
        assert code == 0, err
        assert progress(out) == ["[1/1] baseline id seed 0: skipped: locked by elsewhere:4242 since "
                                 "2026-01-02T03:04:05+00:00"]
        code, out, err = sweep([spec, "--list"], capsys)  # a locked run is running elsewhere: not listed
        assert code == 0 and out == "" and "locked by elsewhere:4242" in err
    assert os.path.isfile(lock)  # someone else's lock stays
    code, out, err = sweep([spec, "--stale-after", "1", "--no-leaderboard"], capsys)
    assert code == 0, err
    assert "taking over the stale lock of elsewhere:4242 since 2026-01-02T03:04:05+00:00 (older than 1 h)" in out
    assert progress(out)[0].startswith("[1/1] baseline id seed 0: done in ") and "CC mAP" in out
    assert not os.path.exists(lock)
    (record,) = load_records([str(runs)])
    assert record_identity(record.config) == planned.identity


def test_list_prints_the_pending_runs_and_a_listed_command_completes_one(swept, cache, capsys):
    folder, runs, _, _ = swept
    spec = write_spec(folder, runs, cache, seeds=[0, 1])
    code, out, err = sweep([spec, "--list"], capsys)
    assert code == 0, err
    config = os.path.relpath(CONFIG_DIR / "cpu.yaml")
    config = str(CONFIG_DIR / "cpu.yaml") if config.startswith(os.pardir) else config
    tail = f"--runs-dir {shlex.quote(str(runs))} " + " ".join(shlex.quote(o) for o in TINY + [f"cache_dir={cache}"])
    assert out.splitlines() == [f"benchmark run --config {config} --model baseline --objective id --seed 1 {tail}",
                                f"benchmark run --config {config} --model baseline --objective cal --seed 1 {tail}",
                                f"benchmark run --config {config} --model ap3d --objective id --seed 1 {tail}",
                                f"benchmark run --config {config} --model ap3d --objective cal --seed 1 {tail}"]
    assert not os.path.isdir(runs / ".locks") or not os.listdir(runs / ".locks")  # --list takes no lock
    words = shlex.split(out.splitlines()[3])
    assert words[:2] == ["benchmark", "run"] and main(words[1:] + ["--no-progress"]) == 0
    capsys.readouterr()
    ap3d_cal_1 = [p for p in plan(read_spec(spec)) if p.name == "ap3d-cal-embedded-s1"][0]
    made = [r for r in load_records([str(runs)]) if r.seed == 1]
    assert [record_identity(r.config) for r in made] == [ap3d_cal_1.identity]
    code, out, err = sweep([spec, "--list"], capsys)
    assert code == 0 and len(out.splitlines()) == 3 and "--model ap3d --cal --seed 1" not in out


def test_a_failed_run_is_one_line_and_the_sweep_goes_on(tmp_path, cache, capsys, monkeypatch):
    from benchmark.training import TrainingDiverged

    def diverge(cfg, warnings=()):
        raise TrainingDiverged(f"loss is nan at epoch 1 ({cfg.model.name})")
    monkeypatch.setattr(benchmark.training, "run", diverge)
    runs = tmp_path / "runs"
    spec = write_spec(tmp_path, runs, cache, models=["baseline"])
    code, out, err = sweep([spec], capsys)
    assert code == 1
    assert progress(out) == ["[1/2] baseline id seed 0: failed: TrainingDiverged: loss is nan at epoch 1 (baseline)",
                             "[2/2] baseline cal seed 0: failed: TrainingDiverged: loss is nan at epoch 1 (baseline)"]
    assert "0 trained, 0 record exists, 0 locked, 2 failed" in out
    assert "sweep: no leaderboard (-m leaderboards" in out and "no run records" in out  # one line, no traceback
    assert not os.listdir(runs / ".locks")


@pytest.mark.parametrize("change, message", [
    ({"objective": ["id"]}, "objective: unknown key; did you mean 'objectives'?"),
    ({"seeds": 0}, "seeds: expected a list, got int 0"),
    ({"models": []}, "models: empty list"),
    ({"objectives": ["id", "adversarial"]},
     "objectives: expected id, cal, id+triplet, id+clothes_ce, id+neg_clothes_ce, got 'adversarial'"),
    ({"configs": ["cpux"]}, "configs: 'cpux': neither a preset nor a YAML file; did you mean 'cpu'?"),
    ({"datasets": [{"dataset": "ccvid", "path": "/x"}]}, "datasets: expected {dataset: NAME, root: FOLDER} items"),
    ({"overrides": ["seed=3"]}, "overrides: 'seed=3': the matrix sets that field (use the key 'seeds')"),
    ({"overrides": ["epochs"]}, "overrides: expected KEY=VALUE words, got 'epochs'"),
    ({"variants": ["a"]}, "variants: expected a mapping of names to lists of KEY=VALUE words"),
    ({"variants": {"a b": []}}, "variants: expected names (letters, digits, _ . + -), got 'a b'"),
    ({"variants": {"x": ["seed=1"]}}, "variants.x: 'seed=1': the matrix sets that field (use the key 'seeds')"),
    ({"variants": {"x": "cal.epsilon=1"}}, "variants.x: expected a list, got str"),
    ({"variants": {"x": ["cal.clothes_labels=clusters"]}},
     "run baseline id x seed 0 (config cpu): cal.clothes_labels: expected annotated, cluster, colour, camera, got "
     "'clusters'; did you mean 'cluster'?"),
    ({"models": ["baseline", "nope"]}, "run nope id seed 0 (config cpu): model.name: unknown model 'nope'"),
    ({"overrides": TINY + ["num_ids=0"]}, "run baseline id seed 0 (config cpu): data.num_ids: must be >= 1, got 0"),
])
def test_a_bad_spec_is_one_line_naming_the_file_before_any_training(change, message, tmp_path, cache, capsys,
                                                                     monkeypatch):
    no_training(monkeypatch)
    runs = tmp_path / "runs"
    spec = write_spec(tmp_path, runs, cache, **change)
    code, out, err = sweep([spec], capsys)
    assert code == 2 and progress(out) == []
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"benchmark: error: {spec}") and message in lines[0], err
    assert not runs.exists()


def test_variants_are_one_more_axis_each_run_named_and_composed_with_its_words(tmp_path, cache, monkeypatch):
    no_training(monkeypatch)
    spec = write_spec(tmp_path, tmp_path / "runs", cache, models=["baseline"], objectives=["cal"],
                      variants={"annotated": [], "colour": ["cal.clothes_labels=colour"]})
    planned = plan(read_spec(spec))
    assert [p.name for p in planned] == ["baseline-cal-annotated-embedded-s0", "baseline-cal-colour-embedded-s0"]
    assert [p.cfg.cal.clothes_labels for p in planned] == ["annotated", "colour"]
    assert planned[0].identity != planned[1].identity
    assert planned[1].command().endswith("cal.clothes_labels=colour")


def test_the_example_spec_is_the_model_zoo():
    spec = read_spec(os.path.join(os.path.dirname(CONFIG_DIR), "sweeps", "zoo-embedded.yaml"))
    assert len(spec.cells()) == 7 * 2 * 3 and spec.runs_dir == "results/zoo"
    assert spec.overrides == ["cal.epsilon=1.0"] and spec.configs == ["cpu"]
