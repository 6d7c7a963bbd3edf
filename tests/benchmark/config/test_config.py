"""Configs: typed sections, files with inheritance, overrides, per-dataset defaults, checks."""
import math

import pytest
import yaml

from benchmark.config import (CONFIG_DIR, Config, ConfigError, check, compose, from_dict, leaf_keys, make_config,
                              presets, to_yaml, upgrade_config)

# the presets as the flat dicts of the code before config files (commit 53453c9): the YAML files must equal them
OLD_PAPER = dict(dataset="ccvid", backbone="resnet50", pretrained="imagenet", height=256, width=128, epochs=150,
                 lr=3.5e-4, weight_decay=5e-4, lr_steps=[40, 80, 120], cal_epsilon=0.1, cal_start_epoch=50,
                 clothes_start_epoch=0, clothes_lr=None, eval_every=10, workers=4, threads=0,
                 test_clips_per_batch=64)
OLD_IMAGE = dict(dataset="ltcc", model="image", backbone="resnet50", pretrained="imagenet", height=384, width=192,
                 seq_len=1, epochs=60, lr=3.5e-4, weight_decay=5e-4, lr_steps=[20, 40], cal_epsilon=0.1,
                 cal_start_epoch=25, clothes_start_epoch=0, clothes_lr=None, eval_every=5, num_ids=8,
                 clips_per_id=8, label_smoothing=0.1, random_crop=0.5, random_erasing=0.5, test_flip=True,
                 workers=4, threads=0, test_clips_per_batch=128)


def test_overrides_follow_field_types_and_accept_flat_names():
    cfg = make_config("cpu", ["clothes_lr=0.01", "lr_steps=10,35", "cal=true", "pretrained=none",
                              "val_seed=null", "optim.epochs=3", "synth.clothes_strength=0.5", "cal.epsilon=5e-1"])
    assert cfg.optim.clothes_lr == 0.01 and isinstance(cfg.optim.clothes_lr, float)
    assert cfg.optim.lr_steps == [10, 35] and cfg.cal.enabled is True and cfg.model.pretrained is None
    assert cfg.data.val_seed is None and cfg.optim.epochs == 3 and cfg.data.synth == {"clothes_strength": 0.5}
    assert cfg.cal.epsilon == 0.5


@pytest.mark.parametrize("item, message", [
    ("epochs=x", "optim.epochs: Value 'x' of type 'str' could not be converted to Integer"),
    ("cal=maybe", "cal.enabled: Value 'maybe' is not a valid bool"),
    ("epoch=3", "override epoch: unknown config field; did you mean 'epochs'?"),
    ("optim.lrr=3", "override optim.lrr: unknown config field; did you mean 'optim.lr'?"),
    ("epochs", "expected KEY=VALUE"),
])
def test_bad_overrides_name_the_field(item, message):
    with pytest.raises(ConfigError, match=message.replace("?", r"\?").replace("(", r"\(")):
        make_config("cpu", [item])


# what the reference recipes changed on purpose since (issue 11): the clothes classifier starts with CAL,
# Non-Local's convs are drawn as the reference draws them, the image pipeline resizes bilinear; (issue 19) a video of
# 8-31 frames draws from segments of floor(L/8) frames from its start (the reference's TemporalRandomCrop)
FIXED = {"paper": {"cal.clothes_start_epoch": 50, "model.init": "reference", "data.sampling": "stride-head"},
         "image": {"cal.clothes_start_epoch": 25, "model.init": "reference", "data.resize": "bilinear",
                   "data.sampling": "stride-head"}}


@pytest.mark.parametrize("name, old", [("paper", OLD_PAPER), ("image", OLD_IMAGE)])
def test_preset_files_equal_the_presets_they_replace_but_for_the_reference_fixes(name, old):
    cfg = make_config(name)
    expected = Config().flat()
    expected.update(upgrade_config_flat(old))
    expected.update(FIXED[name], preset=name)
    assert cfg.flat() == expected


def upgrade_config_flat(flat):
    return Config.flat(from_dict(upgrade_config(flat)))


def test_cpu_preset_is_the_schema_default():
    assert {"cpu", "image", "paper", "ccvid/ap3d", "mevid/baseline", "prcc/image"} <= set(presets())
    assert make_config("cpu") == Config()


@pytest.mark.parametrize("preset", ["cpu", "paper", "image"])
def test_round_trip_preset_yaml_config(tmp_path, preset):
    cfg = make_config(preset, ["lr=3e-4", "synth.noise=0.1", "dataset_options={split: val}"])
    path = tmp_path / "resolved.yaml"
    path.write_text(to_yaml(cfg))
    assert compose(config=str(path)) == cfg
    assert yaml.safe_load(to_yaml(cfg))["optim"]["lr"] == 3e-4


def test_config_files_inherit_and_name_file_and_line(tmp_path):
    base = tmp_path / "base.yaml"
    base.write_text("_base_: " + str(CONFIG_DIR / "paper.yaml") + "\noptim:\n  lr: 1.0e-4\n")
    mine = tmp_path / "mine.yaml"
    mine.write_text("_base_: base.yaml\nmodel:\n  name: ap3d\ncal:\n  enabled: true\n")
    short = tmp_path / "short.yaml"  # a built-in base named from a user's folder
    short.write_text("_base_: image.yaml\nlr: 1.0e-4\n")
    assert (compose(config=str(short)).preset, compose(config=str(short)).optim.lr) == ("image", 1e-4)
    cfg = compose(config=str(mine))
    assert (cfg.model.name, cfg.optim.lr, cfg.optim.epochs, cfg.cal.enabled, cfg.preset) == ("ap3d", 1e-4, 150,
                                                                                               True, "paper")
    bad = tmp_path / "bad.yaml"
    bad.write_text("optim:\n  lr: 1.0e-4\n  epochs: many\n")
    with pytest.raises(ConfigError, match=rf"^{bad}:3: optim.epochs: Value 'many'"):
        compose(config=str(bad))
    typo = tmp_path / "typo.yaml"
    typo.write_text("cal:\n  epsilom: 0.5\n")
    with pytest.raises(ConfigError, match=rf"^{typo}:2: cal.epsilom: unknown config field; did you mean 'cal.epsilon'"):
        compose(config=str(typo))
    broken = tmp_path / "broken.yaml"
    broken.write_text("optim: [1,\n")
    with pytest.raises(ConfigError, match=rf"^{broken}:\d+: "):
        compose(config=str(broken))
    loop = tmp_path / "loop.yaml"
    loop.write_text("_base_: loop.yaml\n")
    with pytest.raises(ConfigError, match="includes itself"):
        compose(config=str(loop))
    with pytest.raises(ConfigError, match="config file not found"):
        compose(config=str(tmp_path / "none.yaml"))
    with pytest.raises(ConfigError, match="unknown preset; did you mean 'paper'"):
        compose("papper")


def test_image_preset_per_dataset_defaults_fill_only_what_is_not_given(tmp_path):
    last = make_config("image", dataset="last")
    assert (last.data.num_ids, last.data.clips_per_id, last.loss.triplet_weight) == (16, 4, 1.0)
    deep = make_config("image", ["dataset=deepchange", "num_ids=4"])
    assert (deep.data.num_ids, deep.data.clips_per_id, deep.loss.triplet_weight) == (4, 4, 0.0)
    assert make_config("cpu", dataset="last").data.num_ids == 8  # defaults belong to the image preset only
    mine = tmp_path / "mine.yaml"  # a user's own file counts as given
    mine.write_text(f"_base_: {CONFIG_DIR / 'image.yaml'}\ndata:\n  dataset: last\n  num_ids: 6\n")
    cfg = compose(config=str(mine))
    assert (cfg.data.num_ids, cfg.data.clips_per_id) == (6, 4)


def test_loss_recipe_model_takes_the_models_own_losses_and_overrides_still_win():
    suite = make_config("cpu", model="tclnet")
    assert (suite.loss.recipe, suite.loss.triplet_weight) == ("suite", 0.0)
    tcl = make_config("cpu", ["loss.recipe=model"], model="tclnet")
    assert (tcl.loss.triplet_weight, tcl.loss.triplet_margin, tcl.loss.triplet_distance, tcl.loss.triplet_mining) == \
        (1.0, 0.4, "cosine", "hard")
    gait = make_config("cpu", ["loss_recipe=model", "triplet_margin=0.3"], model="gaitset")
    assert (gait.loss.triplet_weight, gait.loss.triplet_margin, gait.loss.triplet_mining) == (1.0, 0.3, "all")


def test_bad_recipe_is_named(monkeypatch):
    from temporal_models import MODELS
    monkeypatch.setitem(MODELS._items, "badrecipe", lambda **_: None)
    monkeypatch.setitem(MODELS._info, "badrecipe", {"losses": {"triplet_wieght": 1.0}})
    with pytest.raises(ConfigError, match="model 'badrecipe': its loss recipe sets 'triplet_wieght'"):
        make_config("cpu", ["loss_recipe=model"], model="badrecipe")


def test_bare_data_root_means_ccvid_and_embedded_with_a_root_is_refused():
    assert make_config("cpu", data_root="/x").data.dataset == "ccvid"
    with pytest.raises(ConfigError, match="the embedded dataset is generated"):
        check(make_config("cpu", dataset="embedded", data_root="/x"))


@pytest.mark.parametrize("override, message", [
    ("num_ids=0", "data.num_ids: must be >= 1, got 0"),
    ("clips_per_id=0", "data.clips_per_id: must be >= 1, got 0"),
    ("seq_len=0", "data.seq_len: must be >= 1, got 0"),
    ("stride=0", "data.stride: must be >= 1, got 0"),
    ("height=0", "data.height: must be >= 1, got 0"),
    ("width=-4", "data.width: must be >= 1, got -4"),
    ("lr=nan", "optim.lr: must be a finite number, got nan"),
    ("lr=inf", "optim.lr: must be a finite number, got inf"),
    ("lr=1e30", None),  # finite: allowed (divergence is caught while training)
    ("lr=0", "optim.lr: must be in (0, inf], got 0"),
    ("lr=-1e-3", "optim.lr: must be in (0, inf], got -0.001"),
    ("weight_decay=-1", "optim.weight_decay: must be in [0, inf], got -1"),
    ("lr_gamma=nan", "optim.lr_gamma: must be a finite number, got nan"),
    ("cal_scale=inf", "cal.scale: must be a finite number, got inf"),
    ("seed=-1", "system.seed: must be in [0, 2^32), got -1"),
    ("device=tpu", "system.device 'tpu': unknown device"),
    ("sampling=tsm", "data.sampling: expected stride, tsn, stride-head, stride-distinct, set, got 'tsm'; "
                     "did you mean 'tsn'?"),
    ("test_clips_per_batch=0", "eval.clips_per_batch: must be >= 1, got 0"),
    ("backend=mp4", "data.backend: expected auto, frames, video, got 'mp4'"),
    ("random_erasing=1.5", "data.random_erasing: must be in [0, 1], got 1.5"),
    ("loss_recipe=own", "loss.recipe: expected suite, model, got 'own'"),
    ("triplet_mining=semi", "loss.triplet_mining: expected hard, all, got 'semi'"),
    ("lr_steps=[25,10]", "optim.lr_steps: increasing epochs >= 1, got [25, 10]"),
    ("dataset=ltc", "data.dataset: unknown dataset 'ltc'; did you mean 'ltcc'?"),
    ("dataset=prcc", "data.dataset prcc needs --data-root"),
    ("model=basline", "model.name: unknown model 'basline'; did you mean 'baseline'?"),
    ("pretrained=/no/such.pth", "model.pretrained '/no/such.pth': no such weights file"),
    ("pretrained=imagenet-v2", None),  # the names the weights loader reads from torchvision's cache
    ("pretrained=imagenet-v1", None),
])
def test_every_field_is_checked(override, message):
    cfg = make_config("cpu", [override])
    if message is None:
        check(cfg)
        return
    with pytest.raises(Exception, match=message.replace("?", r"\?").replace("(", r"\(").replace("[", r"\[")
                       .replace(")", r"\)").replace("]", r"\]").replace("^", r"\^")) as e:
        check(cfg)
    assert len(str(e.value).splitlines()) == 1


def test_device_cuda_without_cuda_is_refused(monkeypatch):
    import torch
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(ConfigError, match="CUDA is not available"):
        check(make_config("cpu", ["device=cuda"]))


def test_cal_that_cannot_take_effect_is_refused():
    with pytest.raises(ConfigError, match="cal.start_epoch 30 >= optim.epochs 30: CAL would never train"):
        check(make_config("cpu", ["cal_start_epoch=30"], cal=True))
    check(make_config("cpu", ["cal_start_epoch=30"]))  # without --cal the start does not matter
    with pytest.raises(ConfigError, match="clothes_start_epoch 40 >= optim.epochs 30"):
        check(make_config("cpu", ["clothes_start_epoch=40"], cal=True))


def test_threads_beyond_the_cores_are_capped_with_a_warning(monkeypatch):
    import os
    monkeypatch.setattr(os, "cpu_count", lambda: 2)
    cfg, warnings = check(make_config("cpu", ["threads=1000"]))
    assert cfg.system.threads == 2 and warnings == ["system.threads 1000 > 2 cores on this machine: using 2"]


def test_flat_format_1_configs_upgrade_to_sections():
    flat = {"preset": "cpu", "model": "ap3d", "cal": True, "cal_epsilon": 0.5, "lr_steps": [10, 25],
            "synth": {"clothes_strength": 0.5}, "progress": False, "seed": 2}
    nested = upgrade_config(flat)
    assert nested == {"preset": "cpu", "model": {"name": "ap3d"}, "cal": {"enabled": True, "epsilon": 0.5},
                      "optim": {"lr_steps": [10, 25]}, "data": {"synth": {"clothes_strength": 0.5}},
                      "system": {"seed": 2}}
    cfg = from_dict(nested)
    assert cfg.model.name == "ap3d" and cfg.system.seed == 2 and cfg.optim.lr == Config().optim.lr
    assert set(leaf_keys()) >= {"optim.lr", "cal.epsilon", "data.root", "system.runs_dir"}
    assert not math.isnan(cfg.optim.lr)
