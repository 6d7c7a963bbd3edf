import pytest

from benchmark.config import ConfigError, make_config, validate


def test_overrides_follow_field_types():
    cfg = make_config("cpu", ["clothes_lr=0.01", "lr_steps=10,35", "cal=true", "pretrained=none",
                              "val_seed=None", "epochs=3", "synth.clothes_strength=0.5"])
    assert cfg.clothes_lr == 0.01 and isinstance(cfg.clothes_lr, float)
    assert cfg.lr_steps == (10, 35) and cfg.cal is True and cfg.pretrained is None
    assert cfg.val_seed is None and cfg.epochs == 3 and cfg.synth == {"clothes_strength": 0.5}


@pytest.mark.parametrize("item, message", [
    ("epochs=x", "epochs: cannot parse 'x' as int"),
    ("cal=maybe", "cal: cannot parse 'maybe' as bool"),
    ("epoch=3", "--set epoch: unknown config field; did you mean 'epochs'?"),
    ("epochs", "expected KEY=VALUE"),
])
def test_bad_overrides_name_the_option(item, message):
    with pytest.raises(ConfigError, match=message.replace("?", r"\?").replace("(", r"\(")):
        make_config("cpu", [item])


def test_presets():
    paper = make_config("paper")
    assert (paper.backbone, paper.height, paper.width, paper.epochs, paper.lr_steps) == \
        ("resnet50", 256, 128, 150, (40, 80, 120))
    assert (paper.cal_epsilon, paper.cal_start_epoch, paper.lr, paper.num_ids, paper.clips_per_id) == \
        (0.1, 50, 3.5e-4, 8, 4)
    with pytest.raises(ConfigError, match="needs --data-root"):
        validate(paper)
    with pytest.raises(ConfigError, match="unknown preset"):
        make_config("fast")


def test_image_preset_and_its_per_dataset_defaults():
    img = make_config("image", data_root="/x")
    assert (img.model, img.height, img.width, img.seq_len, img.epochs, img.lr_steps) == \
        ("image", 384, 192, 1, 60, (20, 40))
    assert (img.cal_start_epoch, img.num_ids, img.clips_per_id, img.label_smoothing) == (25, 8, 8, 0.1)
    assert (img.random_crop, img.random_erasing, img.test_flip, img.eval_every) == (0.5, 0.5, True, 5)
    last = make_config("image", dataset="last")
    assert (last.num_ids, last.clips_per_id, last.triplet_weight) == (16, 4, 1.0)
    deep = make_config("image", ["dataset=deepchange", "num_ids=4"])
    assert (deep.num_ids, deep.clips_per_id, deep.triplet_weight) == (4, 4, 0.0)  # --set wins over the default
    assert make_config("cpu", dataset="last").num_ids == 8  # defaults belong to the image preset only


def test_unknown_dataset_and_bad_probabilities_are_named():
    with pytest.raises(ConfigError, match=r"--dataset 'ltc': unknown dataset; did you mean 'ltcc'\?"):
        validate(make_config("cpu", dataset="ltc", data_root="/x"))
    with pytest.raises(ConfigError, match="--dataset prcc needs --data-root"):
        validate(make_config("cpu", dataset="prcc"))
    with pytest.raises(ConfigError, match="random_erasing: a probability"):
        validate(make_config("cpu", ["random_erasing=1.5"]))


def test_loss_recipe_model_takes_the_models_own_losses_and_set_still_wins():
    suite = make_config("cpu", model="tclnet")
    assert (suite.loss_recipe, suite.triplet_weight) == ("suite", 0.0)  # one recipe for every model by default
    tcl = make_config("cpu", ["loss_recipe=model"], model="tclnet")
    assert (tcl.triplet_weight, tcl.triplet_margin, tcl.triplet_distance, tcl.triplet_mining) == \
        (1.0, 0.4, "cosine", "hard")
    gait = make_config("cpu", ["loss_recipe=model", "triplet_margin=0.3"], model="gaitset")
    assert (gait.triplet_weight, gait.triplet_margin, gait.triplet_distance, gait.triplet_mining) == \
        (1.0, 0.3, "euclidean", "all")
    base = make_config("cpu", ["loss_recipe=model"], model="baseline")  # no recipe of its own
    assert (base.triplet_weight, base.triplet_margin) == (0.0, 0.3)


def test_bad_loss_options_and_recipes_are_named(monkeypatch):
    from temporal_models import MODELS

    with pytest.raises(ConfigError, match="loss_recipe: expected suite or model, got 'own'"):
        validate(make_config("cpu", ["loss_recipe=own"]))
    with pytest.raises(ConfigError, match="triplet_mining: expected hard or all"):
        validate(make_config("cpu", ["triplet_mining=semi"]))
    monkeypatch.setitem(MODELS._items, "badrecipe", lambda **_: None)
    monkeypatch.setitem(MODELS._losses, "badrecipe", {"triplet_wieght": 1.0})
    with pytest.raises(ConfigError, match="model 'badrecipe': its loss recipe sets 'triplet_wieght'"):
        make_config("cpu", ["loss_recipe=model"], model="badrecipe")
