"""``benchmark test RUN --best`` and ``--dataset NAME``: which checkpoint of which run is scored on what; the record.

The reference scores VC-Clothes' SC / CC subsets with the full-set run's best checkpoint (Simple-CCReID script.sh,
main.py --eval); the suite's form of it is an evaluation of a saved run on another dataset, named as such in the
output and in the run's record. Here on the embedded dataset, whose folder is a CCVID tree: the run evaluated as
``--dataset ccvid`` on that folder must give its own numbers back.
"""
import json
import os

import pytest

from benchmark.cli import main

TINY = ["--set", "synth.num_train_ids=4", "--set", "synth.num_test_ids=3", "--set", "synth.num_frames=12",
        "--set", "synth.max_suits=2", "--set", "synth.write_videos=false", "--set", "synth.workers=1",
        "--set", "num_ids=2", "--set", "clips_per_id=2", "--set", "lr_steps=1", "--epochs", "2",
        "--no-progress"]


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """A run evaluated after each of its 2 epochs under the cc-top1 rule: model.pt (epoch 2) and best.pt."""
    runs = tmp_path_factory.mktemp("runs")
    cache = tmp_path_factory.mktemp("cache")
    assert main(["run", "--model", "baseline", "--runs-dir", str(runs), "--set", f"cache_dir={cache}", *TINY,
                 "eval.every=1", "eval.selection_rule=cc-top1"]) == 0
    (folder,) = [os.path.join(runs, d) for d in os.listdir(runs)]
    return folder


def record(folder):
    return json.load(open(os.path.join(folder, "record.json")))


def table_number(scores):
    return f"{100 * scores['mAP']:.1f}"


def test_best_scores_the_epoch_the_rule_kept_and_says_so(run, capsys):
    rec = record(run)
    ref = rec["reference_selection"]
    assert os.path.isfile(os.path.join(run, "best.pt")) and ref["epoch"] in (1, 2)
    capsys.readouterr()
    assert main(["test", run, "--best", "--no-progress"]) == 0
    out = capsys.readouterr().out
    name = os.path.basename(run)
    assert f"best.pt of run {name} (epoch {ref['epoch']}, kept by its cc-top1 rule, chosen on the TEST set)" in out
    assert table_number(ref["metrics"]["cc"]) in out and table_number(ref["metrics"]["general"]) in out
    assert record(run)["evaluations"] == []  # its own dataset: the record already holds that epoch


def test_another_dataset_is_an_evaluation_of_the_run_in_its_record(run, capsys):
    rec = record(run)
    root = rec["dataset"]["root"]
    capsys.readouterr()
    assert main(["test", run, "--dataset", "ccvid", "--data-root", root, "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert f"model.pt of run {os.path.basename(run)} (the last epoch, 2), evaluated on ccvid: an evaluation of " \
           "the run, not a run of ccvid" in out
    assert table_number(rec["metrics"]["cc"]) in out  # the same frames and protocols: the run's own numbers
    assert main(["test", run, "--dataset", "ccvid", "--data-root", root, "--best", "--no-progress"]) == 0
    assert main(["test", run, "--dataset", "ccvid", "--data-root", root, "--no-progress"]) == 0  # replaces
    capsys.readouterr()
    after = record(run)
    assert after["metrics"] == rec["metrics"] and after["history"] == rec["history"]  # the run's own result stays
    last, best = sorted(after["evaluations"], key=lambda e: e["checkpoint"], reverse=True)
    assert (last["dataset"], last["checkpoint"], last["epoch"], last["of_dataset"]) == ("ccvid", "model.pt", 2,
                                                                                          "embedded")
    assert last["of_run"] == os.path.basename(run) and "not a run of it" in last["what"]
    assert last["metrics"]["cc"]["mAP"] == pytest.approx(rec["metrics"]["cc"]["mAP"], abs=1e-6)
    ref = rec["reference_selection"]
    assert (best["checkpoint"], best["epoch"], best["selection_rule"], best["chosen_on"]) == \
        ("best.pt", ref["epoch"], "cc-top1", "test set")
    assert best["metrics"]["cc"]["mAP"] == pytest.approx(ref["metrics"]["cc"]["mAP"], abs=1e-6)


def test_bad_datasets_and_a_missing_best_are_one_line(run, tmp_path, capsys):
    capsys.readouterr()
    assert main(["test", run, "--dataset", "vcclothes_xc", "--data-root", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "--dataset 'vcclothes_xc'" in err and "vcclothes_sc" in err and len(err.strip().splitlines()) == 1
    assert main(["test", run, "--dataset", "ccvid"]) == 2  # the embedded run read no folder
    err = capsys.readouterr().err
    assert "--dataset ccvid: the run read no folder; give --data-root DIR" in err
    assert len(err.strip().splitlines()) == 1
    other = tmp_path / "copy"
    other.mkdir()
    (other / "model.pt").write_bytes(open(os.path.join(run, "model.pt"), "rb").read())
    assert main(["test", str(other), "--best"]) == 2
    err = capsys.readouterr().err
    assert "best.pt: no such file" in err and "cc-top1" in err and len(err.strip().splitlines()) == 1
