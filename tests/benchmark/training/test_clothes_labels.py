"""cal.clothes_labels in a run: cluster relabels from the model's features at cal.start_epoch and on its schedule,
resizing the clothes classifier; the record keeps the source and its agreement; bad settings are refused in one
line, exit status 2, before training."""
import json
import os

import numpy as np
import pytest

from benchmark.cli import main
from benchmark.config import make_config
from benchmark.training.session import Session

TINY = ["synth.num_train_ids=4", "synth.num_test_ids=3", "synth.num_frames=12", "synth.max_suits=2",
        "synth.write_videos=false", "synth.workers=1", "num_ids=2", "clips_per_id=2", "lr_steps=1",
        "save_checkpoint=false", "threads=1"]


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    return str(tmp_path_factory.mktemp("cache"))


def test_cluster_labels_are_refreshed_and_resize_the_clothes_classifier(tmp_path, cache):
    over = TINY + [f"cache_dir={cache}", f"runs_dir={tmp_path / 'runs'}", "cal.clothes_labels=cluster",
                   "cal.start_epoch=1", "cal.relabel_every=1"]
    s = Session(make_config("cpu", over, epochs=3, cal=True))
    heads, trainer = s.trainer.heads, s.trainer
    assert heads.clothes_classifier.weight.shape[0] == 4  # one outfit per identity until the first clustering
    assert trainer.clothes_of is not None and len(trainer.clothes_of) == len(s.data.train)
    s.train_to(1)
    first = heads.clothes_classifier
    trainer.set_clothes_labels(np.arange(len(s.data.train)) % 7, np.ones((4, 7)))  # any count: resized to it
    assert heads.clothes_classifier.weight.shape[0] == 7 and heads.clothes_classifier is not first
    assert heads.clothes_memory.shape[0] == 7 and trainer.pid2clothes.shape == (4, 7)
    assert trainer.clothes_optimizer.param_groups[0]["params"][0] is heads.clothes_classifier.weight
    record = s.finish()
    pseudo = record.dataset["pseudo_clothes"]
    classes = int(trainer.clothes_of.max()) + 1
    assert heads.clothes_classifier.weight.shape[0] == classes == pseudo["classes"] == trainer.pid2clothes.shape[1]
    assert [r["epoch"] for r in pseudo["refreshes"]] == [1, 2] and pseudo["computed_at_epoch"] == 2
    assert "ari" in pseudo and "purity" in pseudo and pseudo["true_classes"] >= 4
    assert record.metrics["cc"] is not None and "cal" in record.history[-1]


def test_colour_and_camera_labels_train_and_are_recorded(tmp_path, cache, capsys):
    runs = tmp_path / "runs"
    for source in ("camera", "colour"):
        assert main(["run", "--cal", "--runs-dir", str(runs), "--epochs", "2", "--no-progress", "cal.start_epoch=1",
                     f"cache_dir={cache}", f"cal.clothes_labels={source}", *TINY]) == 0
    out = capsys.readouterr()
    assert "clothes labels camera from the training split:" in out.err + out.out
    records = [json.load(open(runs / d / "record.json")) for d in sorted(os.listdir(runs))]
    sources = {r["dataset"]["pseudo_clothes"]["source"]: r["dataset"]["pseudo_clothes"] for r in records}
    assert set(sources) == {"camera", "colour"} and all("ari" in p and "purity" in p for p in sources.values())
    assert sources["camera"]["classes"] == 12  # 4 ids x 3 cameras


def refused(args, tmp_path, capsys):
    runs = tmp_path / "runs"
    code = main(["run", "--runs-dir", str(runs), "--no-progress", *args])
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1 and "Traceback" not in err, err
    assert not runs.exists() or not os.listdir(runs)
    return lines[0]


@pytest.mark.parametrize("args, message", [
    (["cal.clothes_labels=shirts"], "cal.clothes_labels: expected annotated, cluster, colour, camera, got 'shirts'"),
    (["cal.clothes_labels=colour", "cal.relabel_every=2"], "cal.relabel_every 2: only cal.clothes_labels=cluster"),
    (["cal.relabel_every=-1"], "cal.relabel_every: must be >= 0, got -1"),
])
def test_bad_settings_are_refused_before_data_loads(args, message, tmp_path, capsys, monkeypatch):
    import benchmark.training.build as build
    monkeypatch.setattr(build, "load_dataset", lambda cfg: pytest.fail("data loaded before the check"))
    assert message in refused(["--cal", "--epochs", "20", *args], tmp_path, capsys)


def test_cal_on_a_dataset_whose_people_wear_one_outfit_each_is_refused(tmp_path, cache, capsys):
    one = [a for a in TINY if not a.startswith("synth.max_suits")] + ["synth.min_suits=1", "synth.max_suits=1"]
    line = refused(["--cal", "--epochs", "2", "cal.start_epoch=1", f"cache_dir={cache}", *one], tmp_path, capsys)
    assert "cal.clothes_labels annotated: data.dataset embedded has no clothes labels" in line
    assert "cal.clothes_labels=cluster | colour | camera" in line


def test_datasets_check_clusters_a_saved_runs_features(tmp_path, cache, capsys):
    runs = tmp_path / "runs"
    assert main(["run", "--runs-dir", str(runs), "--epochs", "1", "--no-progress", f"cache_dir={cache}",
                 *[w for w in TINY if w != "save_checkpoint=false"]]) == 0
    (run,) = [runs / d for d in os.listdir(runs)]
    capsys.readouterr()
    assert main(["datasets", "check", "--dataset", "embedded", "--clothes-labels", "cluster", "--features-of",
                 str(run), "--no-progress"]) == 0
    line = capsys.readouterr().out.strip().splitlines()[-1]
    assert line.startswith("clothes labels cluster (training split): ") and "ARI" in line, line
    for args in (["--clothes-labels", "cluster"], ["--clothes-labels", "colour", "--features-of", str(run)]):
        assert main(["datasets", "check", "--dataset", "embedded", *args]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and "--features-of RUN" in err[0], err


def test_datasets_check_refuses_an_unknown_source(capsys):
    assert main(["datasets", "check", "--dataset", "embedded", "--clothes-labels", "annotated"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["benchmark: error: --clothes-labels 'annotated': expected one of cluster, colour, camera"]
