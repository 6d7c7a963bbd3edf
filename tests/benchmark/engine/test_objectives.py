"""The objectives table: a new term is one registered function; the trainer sums, logs and tabulates it by name."""
import pytest
import torch

from benchmark.config import check, make_config
from benchmark.config.compose import ConfigError
from benchmark.engine import OBJECTIVES, objective_terms, register_objective, scalar_names
from benchmark.training.rundir import scalar_columns
from benchmark.training.trainer import Heads, Trainer
from temporal_models import build_model

PID2CLOTHES = torch.tensor([[1, 1, 0, 0], [0, 0, 1, 1]], dtype=torch.float32)


def trainer(**over):
    torch.manual_seed(0)
    cfg = make_config("cpu", cal=True, cal_start_epoch=1, lr=1e-2, **over)
    model = build_model("baseline", "resnet_tiny")
    return Trainer(cfg, model, Heads(model, 2, 4), PID2CLOTHES, torch.device("cpu"))


def batch():
    g = torch.Generator().manual_seed(1)
    return torch.randn(4, 3, 8, 32, 16, generator=g), torch.tensor([0, 0, 1, 1]), torch.tensor([0, 1, 2, 3])


@pytest.fixture
def norm_term():
    """A new objective, as a contributor would add it: one registered function (its weight field: triplet's)."""
    @register_objective("feature_norm", weight="loss.triplet_weight", when=lambda cfg, epoch: epoch >= 1)
    def feature_norm(b):
        return b.output.features.pow(2).sum(dim=1).mean()
    yield feature_norm
    OBJECTIVES._items.pop("feature_norm")
    OBJECTIVES._info.pop("feature_norm")


def test_the_built_in_table_in_order_and_when_each_term_is_on():
    cfg = make_config("cpu", cal=True, cal_start_epoch=2, triplet_weight=0.5)
    assert [t.name for t in objective_terms(cfg, 0)] == ["id_loss", "triplet", "clothes_loss"]
    assert [(t.name, t.weight) for t in objective_terms(cfg, 2, "model")] == [
        ("id_loss", 1.0), ("triplet", 0.5), ("cal", 1.0)]
    assert [t.name for t in objective_terms(make_config("cpu"), 5, "model")] == ["id_loss"]
    assert scalar_names() == ("loss", "id_loss", "triplet", "cal", "clothes_ce", "neg_clothes_ce", "clothes_loss",
                              "clothes_acc_within_id")


def test_a_new_term_is_summed_logged_and_a_metrics_column(norm_term):
    tr = trainer(triplet_weight=0.25)
    assert "feature_norm" in scalar_columns()  # metrics.csv follows from the names
    first = tr.step(*batch(), epoch=0)
    assert "feature_norm" not in first  # off before epoch 1
    logs = tr.step(*batch(), epoch=1)
    want = logs["id_loss"] + 0.25 * logs["triplet"] + logs["cal"] + 0.25 * logs["feature_norm"]
    assert logs["loss"] == pytest.approx(want, rel=1e-5)
    assert list(logs) == [k for k in scalar_names() if k in logs]  # logged in the table's order


def test_a_term_of_an_unknown_step_is_refused():
    with pytest.raises(ValueError, match="step must be one of model, clothes"):
        register_objective("x", step="backbone")


@pytest.mark.filterwarnings("ignore:Detected call of `lr_scheduler.step\\(\\)` before")
def test_optimiser_and_schedule_are_named_in_the_config():
    tr = trainer(**{"optim__scheduler": "constant", "optim__lr_steps": [1]})
    for _ in range(3):
        tr.scheduler.step()
    assert tr.optimizer.param_groups[0]["lr"] == pytest.approx(1e-2)
    assert isinstance(tr.clothes_optimizer, torch.optim.Adam)
    step = trainer(**{"optim__lr_steps": [1]})
    step.scheduler.step()
    assert step.optimizer.param_groups[0]["lr"] == pytest.approx(1e-3)
    with pytest.raises(ConfigError, match=r"^optim.optimizer: unknown optimizer 'adma'; did you mean 'adam'\?$"):
        check(make_config("cpu", ["optim.optimizer=adma"]))
    with pytest.raises(ConfigError, match=r"^optim.scheduler: unknown scheduler 'cosine' \(known: constant, "):
        check(make_config("cpu", ["optim.scheduler=cosine"]))


def test_a_term_whose_weight_is_not_a_config_field_is_refused_before_training():
    register_objective("orphan", weight="loss.orphan_weight")(lambda b: b.output.features.sum())
    try:
        with pytest.raises(ConfigError, match="objective 'orphan': its weight field 'loss.orphan_weight' is not"):
            check(make_config("cpu"))
    finally:
        OBJECTIVES._items.pop("orphan")
        OBJECTIVES._info.pop("orphan")


def test_the_id_term_has_a_weight_and_is_off_at_zero():
    assert [(t.name, t.weight) for t in objective_terms(make_config("cpu", id_weight=0.5), 0, "model")] == [
        ("id_loss", 0.5)]
    cfg = make_config("cpu", id_weight=0.0, triplet_weight=1.0)
    assert [t.name for t in objective_terms(cfg, 0, "model")] == ["triplet"]  # GaitSet's own recipe: triplet alone
    tr = trainer(id_weight=0.0, triplet_weight=1.0)  # CAL from epoch 1: epoch 0 trains the triplet alone
    heads_before = [p.detach().clone() for p in tr.heads.id_classifiers.parameters()]
    logs = tr.step(*batch(), epoch=0)
    assert "id_loss" not in logs and logs["loss"] == pytest.approx(logs["triplet"])
    assert all(torch.equal(a, b) for a, b in zip(heads_before, tr.heads.id_classifiers.parameters()))
    half = trainer(id_weight=0.5).step(*batch(), epoch=0)
    assert half["loss"] == pytest.approx(0.5 * half["id_loss"], rel=1e-6)


def test_a_run_with_no_term_for_the_model_is_refused_before_training():
    with pytest.raises(ConfigError, match=r"^loss.id_weight 0: epoch 1 would train the model on no loss term"):
        check(make_config("cpu", id_weight=0.0))
    with pytest.raises(ConfigError, match="epoch 1 would train the model on no loss term"):  # before CAL starts
        check(make_config("cpu", ["cal.start_epoch=2"], id_weight=0.0, cal=True))
    check(make_config("cpu", ["cal.start_epoch=0"], id_weight=0.0, cal=True))  # CAL from the first epoch: fine
    check(make_config("cpu", id_weight=0.0, triplet_weight=1.0))
