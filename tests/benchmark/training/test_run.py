"""A forked session equals a fresh run of the variant (what ``benchmark cal-sweep`` relies on)."""
import os

import benchmark.training.session as run_module
from benchmark.config import make_config
from benchmark.training.session import Session, run

TINY = ["synth.num_train_ids=4", "synth.num_test_ids=3", "synth.num_frames=12", "synth.max_suits=2",
        "synth.write_videos=false", "synth.workers=1", "num_ids=2", "clips_per_id=2", "lr_steps=1",
        "save_checkpoint=false"]


def test_fork_equals_fresh_run(tmp_path):
    over = TINY + [f"cache_dir={tmp_path / 'cache'}", f"runs_dir={tmp_path / 'runs'}"]
    base = Session(make_config("cpu", over, epochs=3))
    base.train_to(1)
    # the run folder fills as training goes: the resolved config, the log, one scalar row per epoch
    scalars = open(base.folder.file("scalars")).read().splitlines()
    assert len(scalars) == 2 and scalars[1].startswith("1,0.001,")
    assert "epoch 1/3" in open(base.folder.file("log")).read()
    assert "lr: 0.001" in open(base.folder.file("config")).read()
    forked = base.fork(**{"cal.enabled": True, "cal.start_epoch": 1, "cal.epsilon": 0.7}).finish()
    plain = base.finish()
    fresh = run(make_config("cpu", over, epochs=3, cal=True, cal_start_epoch=1, cal_epsilon=0.7))
    assert forked.metrics == fresh.metrics
    assert forked.history[-1]["loss"] == fresh.history[-1]["loss"]
    assert forked.forked_at_epoch == 1 and fresh.forked_at_epoch is None
    assert plain.history[0] == forked.history[0]  # shared ID-only prefix
    assert "cal" in forked.history[-1] and "cal" not in plain.history[-1]
    assert forked.config == fresh.config and forked.run_id != plain.run_id
    forked_rows = open(os.path.join(os.path.dirname(forked.path), "metrics.csv")).read().splitlines()
    assert len(forked_rows) == 4 and forked_rows[1] == scalars[1]  # the fork's history starts with its parent's



def test_record_names_the_commit_the_run_started_from(tmp_path, monkeypatch):
    over = TINY + [f"cache_dir={tmp_path / 'cache'}", f"runs_dir={tmp_path / 'runs'}"]
    monkeypatch.setattr(run_module, "git_state", lambda: {"commit": "start", "dirty": False})
    session = Session(make_config("cpu", over, epochs=1))
    monkeypatch.setattr(run_module, "git_state", lambda: {"commit": "committed meanwhile", "dirty": False})
    assert session.finish().git == {"commit": "start", "dirty": False}


def test_decoding_on_the_device_trains_the_same_run_on_the_cpu(tmp_path):
    """data.decode=device hands the trainer JPEG bytes; on the CPU it decodes the readers' pixels, so the run
    is the default run to the last digit (on CUDA, nvJPEG's rounding differs: docs/performance.md)."""
    over = TINY + [f"cache_dir={tmp_path / 'cache'}", f"runs_dir={tmp_path / 'runs'}"]
    plain = run(make_config("cpu", over, epochs=2))
    device = run(make_config("cpu", over + ["data.decode=device"], epochs=2))
    assert device.config["data"]["decode"] == "device" and plain.config["data"]["decode"] == "cpu"
    assert device.metrics == plain.metrics
    assert [h["loss"] for h in device.history] == [h["loss"] for h in plain.history]
