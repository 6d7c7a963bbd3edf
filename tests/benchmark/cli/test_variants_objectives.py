"""Test variants (eval.variant, eval.extra_variants, `benchmark test --variants`) and the named objectives of the
paper's Table 3 (`--objective`), end to end on a tiny embedded dataset."""
import json
import os

import pytest

from benchmark.cli import main
from benchmark.config.ablations import NAMED_OBJECTIVES, objective_name, objective_settings
from benchmark.records import RunRecord, load_records

TINY = ["--set", "synth.num_train_ids=4", "--set", "synth.num_test_ids=3", "--set", "synth.num_frames=12",
        "--set", "synth.max_suits=2", "--set", "synth.write_videos=false", "--set", "synth.workers=1",
        "--set", "num_ids=2", "--set", "clips_per_id=2", "--set", "lr_steps=1", "--epochs", "2",
        "--set", "cal_start_epoch=1", "--no-progress"]


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    return str(tmp_path_factory.mktemp("cache"))


def only_record(runs):
    (record,) = load_records([str(runs)])
    return record


def test_extra_variants_are_scored_and_kept_and_pooling_frames_ignores_their_order(tmp_path, cache, capsys):
    runs = tmp_path / "runs"
    assert main(["run", "--model", "baseline", "--runs-dir", str(runs), "--set", f"cache_dir={cache}", *TINY,
                 "eval.extra_variants=shuffled,reversed,first-frame,static"]) == 0
    record = only_record(runs)
    assert list(record.variants) == ["whole", "shuffled", "reversed", "first-frame", "static"]
    assert record.variants["whole"] == record.metrics
    for order in ("shuffled", "reversed"):  # C2D averages its frames' features: their order cannot matter
        for p in ("general", "cc"):
            assert record.variants[order][p]["mAP"] == pytest.approx(record.metrics[p]["mAP"], abs=1e-6)
    assert record.variants["first-frame"]["general"]["mAP"] != record.metrics["general"]["mAP"]
    capsys.readouterr()
    # again through `benchmark test`: one table, and the record keeps what it scored
    folder = os.path.dirname(record.path)
    assert main(["test", folder, "--variants", "whole", "reversed", "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "variant" in out and "Δ cc mAP vs whole" in out and "reversed" in out and "+0.0" in out
    again = json.load(open(record.path))
    assert again["variants"]["reversed"] == record.variants["reversed"]


def test_a_headline_variant_is_the_records_metrics(tmp_path, cache):
    runs = tmp_path / "runs"
    assert main(["run", "--model", "baseline", "--runs-dir", str(runs), "--set", f"cache_dir={cache}", *TINY,
                 "eval.variant=first-frame"]) == 0
    record = only_record(runs)
    assert list(record.variants) == ["first-frame"] and record.variants["first-frame"] == record.metrics
    assert record.config["eval"]["variant"] == "first-frame"


@pytest.mark.parametrize("objective", ["id+clothes_ce", "id+neg_clothes_ce", "id+triplet"])
def test_a_named_objective_trains_its_term_and_names_the_record(objective, tmp_path, cache):
    runs = tmp_path / "runs"
    assert main(["run", "--model", "baseline", "--objective", objective, "--runs-dir", str(runs),
                 "--set", f"cache_dir={cache}", *TINY]) == 0
    record = only_record(runs)
    term = objective.split("+")[1]
    assert record.objective == objective and term in record.history[1]
    if term != "triplet":  # the clothes terms start with cal.start_epoch, as CAL would
        assert term not in record.history[0]
    if term == "neg_clothes_ce":
        assert record.history[1][term] < 0


@pytest.mark.parametrize("args, message", [
    (["--objective", "cal", "--cal"], "give --cal or --objective, not both"),
    (["--objective", "id+clothes"], "--objective 'id+clothes': expected id, cal, id+triplet, id+clothes_ce, "
                                    "id+neg_clothes_ce; did you mean 'id+clothes_ce'?"),
    (["eval.variant=shuffle"], "eval.variant: expected whole, first-frame, shuffled, reversed, static, got "
                               "'shuffle'; did you mean 'shuffled'?"),
    (["eval.extra_variants=first-frame,backwards"], "eval.extra_variants: expected whole, first-frame"),
])
def test_bad_objectives_and_variants_are_one_line(args, message, tmp_path, capsys):
    runs = tmp_path / "runs"
    assert main(["run", "--runs-dir", str(runs), "--no-progress", *args]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0], err
    assert not runs.exists()


def test_objective_names_follow_the_config():
    assert [objective_name(objective_settings(n)) for n in NAMED_OBJECTIVES] == list(NAMED_OBJECTIVES)
    assert objective_name({"cal.enabled": True, "loss.triplet_weight": 1.0}) == "cal+triplet"
    # a model's own triplet loss (TCLNet's, GaitSet's) is part of the model, not a term of the objective
    assert objective_name({"loss.triplet_weight": 1.0, "loss.recipe": "model"}) == "id"
    # the ID loss off by its weight: named, unless it is a model's own recipe (GaitSet's: the triplet alone)
    assert objective_name({"loss.triplet_weight": 1.0, "loss.id_weight": 0.0}) == "no_id+triplet"
    assert objective_name({"cal.enabled": True, "loss.id_weight": 0.0}) == "no_id+cal"
    assert objective_name({"loss.triplet_weight": 1.0, "loss.recipe": "model", "loss.id_weight": 0.0}) == "id"
    assert objective_name({"loss.id_weight": 1.0}) == "id"
    old = {"format": "ccreid-bench/run-record/2", "config": {"cal": {"enabled": True}}, "metrics": {}}
    assert RunRecord.from_dict(old).objective == "cal" and RunRecord.from_dict(old).variants == {}


def test_the_published_vocabulary_is_the_named_objectives():
    from leaderboards.published import OBJECTIVES
    assert set(OBJECTIVES) == set(NAMED_OBJECTIVES) | {"own"}
