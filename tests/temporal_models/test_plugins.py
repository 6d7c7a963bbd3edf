"""Outside packages add models through the "ccreid.temporal_models" entry-point group."""
import json
import os
import subprocess
import sys

import pytest

from conftest import install_plugin
from temporal_models import MODELS, UnknownNameError, build_model

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PLUGIN = os.path.join(REPO, "tests", "plugins", "tiny_plugin")


def test_installed_plugin_model_trains_through_the_cli(tmp_path):
    env = install_plugin(PLUGIN, tmp_path)
    runs, cache = tmp_path / "runs", tmp_path / "cache"
    cmd = [sys.executable, "-m", "benchmark", "run", "--model", "tinyplug", "--cal", "--no-progress",
           "--epochs", "2", "--set", "cal_start_epoch=1", "--runs-dir", str(runs), "--set", f"cache_dir={cache}",
           "--set", "synth.num_train_ids=4", "--set", "synth.num_test_ids=3", "--set", "synth.num_frames=12",
           "--set", "synth.max_suits=2", "--set", "synth.write_videos=false", "--set", "synth.workers=1",
           "--set", "num_ids=2", "--set", "clips_per_id=2"]
    proc = subprocess.run(cmd, env=env, cwd=str(tmp_path), capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    records = [os.path.join(d, f) for d, _, fs in os.walk(runs) for f in fs if f == "record.json"]
    assert len(records) == 1
    record = json.load(open(records[0]))
    assert record["config"]["model"]["name"] == "tinyplug"  # its forward returns the dict form of older plugins
    assert record["model"]["parameters"] > 0


def test_unknown_model_name_suggests_close_names():
    with pytest.raises(UnknownNameError, match=r"unknown model 'ap3d_n'; did you mean .*ap3d_nl"):
        MODELS.get("ap3d_n")
    with pytest.raises(UnknownNameError, match="did you mean 'tclnet'"):
        build_model("tclnett", backbone="resnet_tiny")
