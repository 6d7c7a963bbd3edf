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
