"""``benchmark profile train``: training throughput of a run config, with no run folder written."""
import re

import pytest

from benchmark.cli import main
from benchmark.config import make_config
from benchmark.tools.profile_train import format_train_profile, profile_train

TINY = ["synth.num_train_ids=4", "synth.num_test_ids=3", "synth.num_frames=12", "synth.max_suits=2",
        "synth.write_videos=false", "synth.workers=1", "num_ids=2", "clips_per_id=2"]


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    return str(tmp_path_factory.mktemp("cache"))


def number(text, label):
    m = re.search(rf"^{re.escape(label)}\s+([0-9.]+)", text, re.M)
    assert m, f"no {label!r} line in:\n{text}"
    return float(m.group(1))


def test_profile_train_prints_plausible_figures_and_writes_no_run_folder(cache, tmp_path, capsys):
    runs = tmp_path / "runs"
    code = main(["profile", "train", "--model", "baseline", "--cal", *TINY, f"cache_dir={cache}", "--epochs", "2",
                 "cal.start_epoch=1", "--runs-dir", str(runs), "--iterations", "2", "--no-progress"])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert not runs.exists()  # nothing written: no run folder, no record
    assert "baseline + CAL (resnet_tiny) on embedded (48 training tracklets), cpu" in out
    assert "2 iterations timed after 2 warm-up, with epoch 2's settings" in out
    assert "training frames in memory" in out  # the small embedded set is served from memory
    assert 0 < number(out, "clips/s") < 1e5
    share = re.search(r"^data wait\s+([0-9.]+)% of each iteration \(([0-9.]+) ms/iteration in next", out, re.M)
    assert share and 0 <= float(share.group(1)) <= 100 and float(share.group(2)) >= 0, out
    forward, backward, iteration = (number(out, k) for k in ("forward", "backward+optimizer", "iteration"))
    assert 0 < forward < iteration and 0 < backward < iteration
    assert number(out, "prep") + forward + backward <= iteration * 1.01
    peak = re.search(r"^peak memory\s+([0-9]+) MiB resident \(ru_maxrss\)", out, re.M)
    assert peak and 50 < int(peak.group(1)) < 64 * 1024, out


def test_profile_train_runs_on_past_an_epoch(cache):
    cfg = make_config("cpu", TINY + [f"cache_dir={cache}", "device=cpu"], epochs=3)
    r = profile_train(cfg, iterations=2, warmup=11)  # 12 iterations per epoch: the timed ones start a new epoch
    assert r["iterations_per_epoch"] == 12 and r["iterations"] == 2 and r["epoch"] == 3
    assert r["clips_per_s"] > 0 and 0 <= r["data_share"] <= 1
    total = r["data_s"] + r["prep_s"] + r["forward_s"] + r["backward_s"]
    assert total == pytest.approx(r["iteration_s"], rel=1e-6)
    assert r["data_share"] == pytest.approx(r["data_s"] / r["iteration_s"], rel=1e-6)
    assert r["peak_cuda_bytes"] is None and r["peak_rss_bytes"] > 0
    assert "clips/s" in format_train_profile(r)


def test_profile_train_refuses_bad_counts(capsys):
    assert main(["profile", "train", "--iterations", "0", "--no-progress"]) == 2
    assert "--iterations must be at least 1" in capsys.readouterr().err


def test_profile_train_compares_decoding_in_the_loader_and_on_the_device(cache, capsys):
    code = main(["profile", "train", *TINY, f"cache_dir={cache}", "--epochs", "2", "--iterations", "2",
                 "--decode", "both", "--no-progress"])
    out, err = capsys.readouterr()
    assert code == 0, err
    blocks = out.split("training frames read as JPEG bytes, decoded on the device in batches")
    assert len(blocks) == 2 and "training frames in memory" in blocks[0]
    assert "(decode on the device, to device, normalize, augment)" in blocks[1]
    m = re.search(r"^data\.decode=device \(cpu\): ([0-9.]+) clips/s, .*; data\.decode=cpu: ([0-9.]+) clips/s, "
                  r".*\(x([0-9.]+) clips/s on the device\)", out, re.M)
    assert m, out
    assert float(m.group(3)) == pytest.approx(float(m.group(1)) / float(m.group(2)), abs=0.01)
