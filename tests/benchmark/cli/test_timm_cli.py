"""A timm frame encoder through ``benchmark run``: a tiny random-init ViT trains end to end on the embedded default,
with and without CAL, and is tested again from its checkpoint; bad values are one line, exit status 2."""
import hashlib
import json
import os

import pytest
import torch

from tests.benchmark.cli.test_cli import TINY, run_cli

timm = pytest.importorskip("timm")

VIT = ["--set", "model.backbone=timm:test_vit"]  # timm's 0.3M-parameter test ViT, random init, 64x32 input


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    return str(tmp_path_factory.mktemp("cache"))


def record_of(runs):
    (path,) = [os.path.join(d, f) for d, _, fs in os.walk(runs) for f in fs if f == "record.json"]
    return path, json.load(open(path))


@pytest.mark.parametrize("model, cal", [("frames_mean", True), ("frames_transformer", False)])
def test_a_tiny_vit_trains_and_tests_end_to_end(model, cal, tmp_path, cache, capsys):
    runs = tmp_path / "runs"
    args = ["run", "--model", model, *VIT, "--runs-dir", str(runs), "--set", f"cache_dir={cache}", *TINY]
    code, out, err = run_cli(args + (["--cal"] if cal else []), capsys)
    assert code == 0, err[-2000:]
    path, rec = record_of(runs)
    assert rec["config"]["model"]["backbone"] == "timm:test_vit" and rec["config"]["model"]["name"] == model
    assert rec["objective"] == ("cal" if cal else "id") and len(rec["history"]) == 2
    assert ("cal" in rec["history"][1]) is cal
    assert set(rec["metrics"]) == {"general", "cc", "sc"} and rec["metrics"]["general"]["valid_queries"] > 0
    assert rec["model"]["weights"] is None and rec["model"]["parameters"] > 300_000
    # the saved model is rebuilt at the run's input size (its position embedding's grid) and scores the same
    code, out, err = run_cli(["test", os.path.dirname(path), "--no-progress"], capsys)
    assert code == 0, err[-2000:]
    assert f"{100 * rec['metrics']['general']['mAP']:.1f}" in out


def test_local_weights_are_recorded_by_sha256_and_clip_normalisation_runs(tmp_path, cache, capsys):
    torch.manual_seed(0)
    weights = tmp_path / "test_vit.pth"
    torch.save(timm.create_model("test_vit", num_classes=0).state_dict(), str(weights))
    runs = tmp_path / "runs"
    args = ["run", "--model", "frames_attention", *VIT, "--set", f"model.pretrained={weights}",
            "--set", "data.normalize=clip", "--set", "model.frame_pool=cls+avg", "--runs-dir", str(runs),
            "--set", f"cache_dir={cache}", *TINY, "--epochs", "1"]
    code, _, err = run_cli(args, capsys)
    assert code == 0, err[-2000:]
    _, rec = record_of(runs)
    assert rec["model"]["weights"] == str(weights)
    assert rec["model"]["weights_sha256"] == hashlib.sha256(weights.read_bytes()).hexdigest()
    assert rec["config"]["data"]["normalize"] == "clip" and rec["config"]["model"]["frame_pool"] == "cls+avg"


@pytest.mark.parametrize("extra, message", [
    (["--set", "model.backbone=timm:test_vitt"], "model.backbone: unknown timm model 'test_vitt'; did you mean "
                                                 "'timm:test_vit'"),
    (["--set", "model.backbone=timm:test_vit", "--model", "baseline"],
     "model.backbone timm:test_vit: model baseline needs a ResNet-layout backbone"),
    (["--set", "model.backbone=timm:test_vit", "--model", "frames_mean", "--set", "model.pretrained=imagenet"],
     "model.pretrained 'imagenet': no such weights file (a local file, or one of timm for model.backbone"),
    (["--model", "frames_mean", "--set", "model.frame_pool=cls"], "model.frame_pool cls: the ResNet resnet_tiny "
                                                                  "has no class token"),
    (["--model", "baseline", "--set", "model.frame_pool=avg"], "model.frame_pool avg: model baseline has no "
                                                               "per-frame embedding"),
    (["--model", "frames_mean", "--set", "model.frame_pool=mean"], "model.frame_pool: expected auto, cls, avg, max"),
    (["--model", "frames_mean", "--set", "data.normalize=clips"], "data.normalize: expected imagenet, clip, got "
                                                                  "'clips'; did you mean 'clip'?"),
    (["--set", "model.backbone=timm:test_vit", "--model", "frames_mean", "--set", "model.res4_stride=2"],
     "model.res4_stride 2: a ResNet setting"),
])
def test_bad_values_are_one_line_before_training(extra, message, tmp_path, cache, capsys):
    code, out, err = run_cli(["run", "--runs-dir", str(tmp_path / "runs"), "--set", f"cache_dir={cache}", *TINY,
                              *extra], capsys)
    assert code == 2 and message in err, err
    assert len(err.strip().splitlines()) == 1 and not (tmp_path / "runs").exists()
