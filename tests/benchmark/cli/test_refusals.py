"""Bad input is refused before any work: one line on stderr naming the field, exit status 2, no run folder."""
import os

import pytest

from benchmark.cli import main

TINY = ["synth.num_train_ids=4", "synth.num_test_ids=3", "synth.num_frames=12", "synth.max_suits=2",
        "synth.write_videos=false", "synth.workers=1", "num_ids=2", "clips_per_id=2", "--epochs", "2",
        "--no-progress"]


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    return str(tmp_path_factory.mktemp("cache"))


def refused(args, tmp_path, capsys):
    runs = tmp_path / "runs"
    code = main(["run", "--runs-dir", str(runs), *args])
    err = capsys.readouterr().err
    assert code == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("benchmark: error: ") and "Traceback" not in err, err
    assert not runs.exists() or not os.listdir(runs)  # nothing ran, nothing was left behind
    return lines[0]


@pytest.mark.parametrize("override, message", [
    ("num_ids=0", "data.num_ids: must be >= 1, got 0"),
    ("clips_per_id=0", "data.clips_per_id: must be >= 1, got 0"),
    ("seq_len=0", "data.seq_len: must be >= 1, got 0"),
    ("stride=0", "data.stride: must be >= 1, got 0"),
    ("height=0", "data.height: must be >= 1"),
    ("width=-8", "data.width: must be >= 1"),
    ("lr=nan", "optim.lr: must be a finite number, got nan"),
    ("lr=inf", "optim.lr: must be a finite number, got inf"),
    ("lr=0", "optim.lr: must be in (0, inf]"),
    ("weight_decay=-0.1", "optim.weight_decay: must be in [0, inf]"),
    ("seed=-3", "system.seed: must be in [0, 2^32), got -3"),
    ("device=tpu", "system.device 'tpu': unknown device"),
    ("sampling=dense", "data.sampling: expected stride, tsn, stride-head, stride-distinct, set, got 'dense'"),
    ("data.test_clips=first", "data.test_clips: expected tile, chunks, begin, all, got 'first'"),
    ("eval.selection_clips=first", "eval.selection_clips: expected tile, chunks, begin, all, got 'first'"),
    ("cal.memory_write=median", "cal.memory_write: expected last, mean, got 'median'"),
    ("loss.id_weight=-1", "loss.id_weight: must be in [0, inf], got -1"),
    ("eval.normalize=maybe", "eval.normalize: Value 'maybe' is not a valid bool"),
    ("test_clips_per_batch=0", "eval.clips_per_batch: must be >= 1, got 0"),
    ("cal_start_epoch=20", "cal.start_epoch 20 >= optim.epochs 20: CAL would never train"),
    ("lr=fast", "optim.lr: Value 'fast' of type 'str' could not be converted to Float"),
    ("learning_rate=1", "override learning_rate: unknown config field"),
    ("data.decode=gpu", "data.decode: expected cpu, device, got 'gpu'"),
])
def test_bad_fields_are_refused_before_data_loads(override, message, tmp_path, capsys, monkeypatch):
    import benchmark.training.build as build
    monkeypatch.setattr(build, "load_dataset", lambda cfg: pytest.fail("data loaded before the check"))
    line = refused(["--model", "baseline", "--cal", "--set", override, "--epochs", "20", "--no-progress"],
                   tmp_path, capsys)
    assert message in line


def test_cuda_without_cuda_is_refused(tmp_path, capsys, monkeypatch):
    import torch
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert "system.device 'cuda': CUDA is not available" in refused(["--device", "cuda"], tmp_path, capsys)


def test_a_negative_seed_flag_is_refused(tmp_path, capsys):
    assert "system.seed: must be in [0, 2^32), got -1" in refused(["--seed", "-1"], tmp_path, capsys)


def test_a_runs_folder_that_cannot_be_created_is_refused(tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    code = main(["run", "--runs-dir", str(blocker / "runs"), "--no-progress"])
    err = capsys.readouterr().err
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert f"system.runs_dir '{blocker / 'runs'}': cannot create a run folder there" in err


def test_a_training_split_smaller_than_one_batch_is_refused(tmp_path, cache, capsys):
    line = refused([*TINY, f"cache_dir={cache}", "num_ids=50"], tmp_path, capsys)
    assert "gives no batch of data.num_ids x data.clips_per_id = 50 x 2" in line


def test_every_seed_is_checked_before_the_first_run(tmp_path, capsys):
    # seed 1 is fine, seed -1 is not: nothing may train for seed 1 first
    assert "system.seed" in refused(["--seeds", "1", "-1"], tmp_path, capsys)


def test_threads_beyond_the_cores_are_capped_with_a_warning(capsys, monkeypatch):
    monkeypatch.setattr(os, "cpu_count", lambda: 2)
    assert main(["config", "show", "threads=1000"]) == 0
    out = capsys.readouterr().out
    assert "# warning: system.threads 1000 > 2 cores on this machine: using 2" in out
    assert "  threads: 2\n" in out


def test_config_show_prints_a_config_file_that_loads_back(tmp_path, capsys):
    assert main(["config", "show", "--preset", "paper", "--data-root", "/data/CCVID", "optim.lr=1e-4"]) == 0
    text = capsys.readouterr().out
    path = tmp_path / "mine.yaml"
    path.write_text(text)
    from benchmark.config import compose
    cfg = compose(config=str(path))
    assert (cfg.preset, cfg.data.dataset, cfg.data.root, cfg.optim.lr) == ("paper", "ccvid", "/data/CCVID", 1e-4)
    assert main(["config", "show", "--preset", "paper", "--config", str(path)]) == 2
    assert "not both" in capsys.readouterr().err


def test_device_decoding_of_png_frames_is_refused_before_training(ccvid_tree, tmp_path, capsys, monkeypatch):
    from PIL import Image

    import benchmark.training.trainer as trainer
    monkeypatch.setattr(trainer.Trainer, "train_epoch", lambda *a: pytest.fail("training started"))
    frame = ccvid_tree / "session2" / "003_01" / "00002.jpg"
    Image.open(frame).save(frame.with_suffix(".png"))
    frame.unlink()
    line = refused(["--dataset", "ccvid", "--data-root", str(ccvid_tree), "num_ids=2", "clips_per_id=2",
                    "data.decode=device", "--epochs", "1", "--no-progress"], tmp_path, capsys)
    assert f"{frame.with_suffix('.png')}: not a JPEG file; data.decode=device decodes JPEG frames only" in line


@pytest.mark.parametrize("args, message", [
    (["models", "--height", "-5"], "--height must be at least 1, got -5"),
    (["models", "baseline", "--seq-len", "0"], "--seq-len must be at least 1, got 0"),
    (["models", "baseline", "--width", "0"], "--width must be at least 1, got 0"),
    (["models", "baseline", "--threads", "-1"], "--threads must be at least 0"),
    (["models", "nope"], "unknown model 'nope'"),
    (["models", "baseline", "--backbone", "resnet9000"], "unknown backbone 'resnet9000'"),
    (["synth", "--out", "{full}"], "{full}: already exists and is not empty"),
    (["synth", "--out", "{file}"], "{file}: already exists and is not a folder"),
    (["synth", "--out", "{file}/sub"], "{file}/sub: cannot create the dataset folder there"),
    (["synth", "--out", "/proc/ccreid-test"], "/proc/ccreid-test: cannot create the dataset folder there"),
])
def test_other_commands_refuse_bad_options_in_one_line(args, message, capsys, tmp_path):
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "kept.txt").write_text("mine")
    (tmp_path / "file").write_text("a file")
    places = {"full": str(tmp_path / "full"), "file": str(tmp_path / "file")}
    args, message = [a.format(**places) for a in args], message.format(**places)
    code = main([*args, "--no-progress"] if args[0] == "synth" else args)
    err = capsys.readouterr().err
    assert code == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("benchmark: error: ") and message in lines[0], err
    assert (tmp_path / "full" / "kept.txt").read_text() == "mine"  # nothing overwritten
