"""A pytorchvideo network through the command line: trained on the embedded default with and without CAL,
listed by `benchmark models`, and refused in one line (exit status 2) when it cannot run."""
import importlib.util
import json
import os
import sys

import pytest

from benchmark.cli import main
from benchmark.records import load_records

# the embedded default kept tiny (as tests/benchmark/cli/test_cli.py does): 4 + 3 identities of 12 frames
TINY = ["--set", "synth.num_train_ids=4", "--set", "synth.num_test_ids=3", "--set", "synth.num_frames=12",
        "--set", "synth.max_suits=2", "--set", "synth.write_videos=false", "--set", "synth.workers=1",
        "--set", "num_ids=2", "--set", "clips_per_id=2", "--set", "lr_steps=1", "--epochs", "2",
        "--set", "cal_start_epoch=1", "--no-progress"]
needs_pytorchvideo = pytest.mark.skipif(importlib.util.find_spec("pytorchvideo") is None,
                                        reason="the pytorchvideo extra is not installed")
pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    return str(tmp_path_factory.mktemp("cache"))


def record_of(runs):
    (path,) = [os.path.join(d, f) for d, _, fs in os.walk(runs) for f in fs if f == "record.json"]
    return json.load(open(path))


@needs_pytorchvideo
@pytest.mark.parametrize("cal", [False, True])
def test_a_tiny_x3d_trains_on_the_embedded_default(tmp_path, cache, capsys, cal):
    runs = tmp_path / "runs"
    args = ["run", "--model", "x3d_tiny", "--runs-dir", str(runs), "--set", f"cache_dir={cache}", *TINY]
    assert main(args + (["--cal"] if cal else [])) == 0, capsys.readouterr().err
    assert "cc" in capsys.readouterr().out
    rec = record_of(runs)
    assert rec["config"]["model"]["name"] == "x3d_tiny" and rec["config"]["cal"]["enabled"] is cal
    assert rec["objective"] == ("cal" if cal else "id")
    assert rec["model"]["parameters"] == 103_480  # pytorchvideo's tiny X3D without its classifier + the BN neck
    assert set(rec["metrics"]) == {"general", "cc", "sc"} and len(rec["history"]) == 2
    assert ("cal" in rec["history"][1]) is cal and "cal" not in rec["history"][0]
    assert os.path.isfile(rec["checkpoint"])
    # the saved model builds again (no 2-D backbone) and scores the same test set
    assert main(["test", rec["checkpoint"], "--no-progress"]) == 0
    assert rec["model"]["backbone"] == "own"  # not the config's placeholder ResNet, which it ignores
    from leaderboards.tables import leaderboard_rows
    (row,) = leaderboard_rows(load_records([str(runs)]))[1]
    assert row[1:3] == ["x3d_tiny", "own"]


@needs_pytorchvideo
def test_models_lists_the_tiny_network_with_its_cost(capsys):
    assert main(["models", "x3d_tiny", "--backbone", "resnet_tiny", "--height", "64", "--width", "32",
                 "--no-speed"]) == 0
    out = capsys.readouterr().out
    (row,) = [line for line in out.splitlines() if line.startswith("| x3d_tiny")]
    cells = [c.strip() for c in row.strip("|").split("|")]
    assert cells[1] == "103,480" and float(cells[2]) > 0


def refused(args, tmp_path, capsys):
    runs = tmp_path / "runs"
    code = main(["run", "--runs-dir", str(runs), "--no-progress", *args])
    err = capsys.readouterr().err
    assert code == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("benchmark: error: ") and "Traceback" not in err, err
    assert not runs.exists() or not os.listdir(runs)
    return lines[0]


def test_without_the_extra_a_run_is_refused_in_one_line(tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "pytorchvideo", None)  # as when the extra is not installed
    line = refused(["--model", "x3d_m"], tmp_path, capsys)
    assert "model 'x3d_m' needs pytorchvideo" in line and "pip install 'ccreid-bench[pytorchvideo]'" in line


@needs_pytorchvideo
@pytest.mark.parametrize("args, message", [
    (["--model", "slowfast_r50", "--set", "seq_len=6"], "data.seq_len 6: model slowfast_r50 needs a multiple of 4"),
    (["--model", "x3d_m", "--pretrained", "imagenet"],
     "model.pretrained imagenet: model x3d_m brings its own network; give its Kinetics weights as a local file"),
    (["--model", "mvit_b", "--pretrained", "/nonexistent/MVIT_B_16x4.pyth"],
     "model.pretrained '/nonexistent/MVIT_B_16x4.pyth': no such weights file"),
])
def test_bad_values_are_refused_in_one_line(tmp_path, capsys, args, message):
    assert message in refused(args, tmp_path, capsys)


@needs_pytorchvideo
def test_the_models_own_recipe_sets_its_kinetics_clip(capsys):
    assert main(["config", "show", "--model", "x3d_m", "--set", "loss_recipe=model"]) == 0
    out = capsys.readouterr().out
    assert "seq_len: 16" in out and "stride: 5" in out


@needs_pytorchvideo
def test_kinetics_weights_from_a_local_file_are_recorded_by_sha256(tmp_path, cache):
    """What a run's record holds (session.py writes parts.weights into it), without training: the parts alone."""
    import hashlib

    import torch

    from benchmark.config import check, make_config
    from benchmark.training.build import build_training
    from temporal_models import build_model
    torch.manual_seed(1)
    net = build_model("x3d_m", backbone="resnet50").net
    state = dict(net.state_dict(), **{"blocks.5.proj.weight": torch.zeros(400, 2048),
                                      "blocks.5.proj.bias": torch.zeros(400)})  # pytorchvideo's .pyth layout
    path = tmp_path / "X3D_M.pyth"
    torch.save({"model_state": state}, path)
    tiny = [t for t in TINY if t.startswith("synth.")]  # the embedded data of the runs above
    cfg, _ = check(make_config("cpu", [*tiny, "data.num_ids=2", "data.clips_per_id=2", f"data.cache_dir={cache}"],
                               model__name="x3d_m", model__pretrained=str(path)))
    parts = build_training(cfg, torch.device("cpu"))
    assert parts.weights == {"weights": str(path), "weights_sha256": hashlib.sha256(path.read_bytes()).hexdigest()}
    for k, v in parts.model.net.state_dict().items():
        assert torch.equal(v, state[k]), k
