"""Schedules by name: the linear warm-up multiplies the schedule (the TransReID line's WarmupMultiStepLR), resumes
from its state, changes nothing when off, and its settings are checked before a run."""
import pytest
import torch

from benchmark.config import ConfigError, check, make_config
from benchmark.engine.optimizers import build_scheduler


def rates(cfg, epochs, state=None, start=0):
    p = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.SGD([p], lr=1.0)
    sched = build_scheduler(cfg.optim.scheduler, opt, cfg.optim)
    if state is not None:
        sched.load_state_dict(state)
        for group, lr in zip(opt.param_groups, sched.get_last_lr()):
            group["lr"] = lr
    out = []
    for _ in range(start, epochs):
        out.append(round(opt.param_groups[0]["lr"], 6))
        opt.step()
        sched.step()
    return out, sched


def test_the_warm_up_ramps_linearly_then_the_steps_apply():
    cfg = make_config("cpu", ["optim.warmup_epochs=4", "optim.warmup_factor=0.2", "optim.lr_steps=[6]"])
    got, _ = rates(cfg, 8)
    assert got == [0.2, 0.4, 0.6, 0.8, 1.0, 1.0, 0.1, 0.1]  # factor + (1 - factor) * epoch / 4, then x gamma


def test_no_warm_up_is_the_schedule_alone():
    got, sched = rates(make_config("cpu", ["optim.lr_steps=[2]"]), 4)
    assert got == [1.0, 1.0, 0.1, 0.1] and isinstance(sched, torch.optim.lr_scheduler.MultiStepLR)


def test_a_resumed_warm_up_continues_where_it_stopped():
    cfg = make_config("cpu", ["optim.warmup_epochs=4", "optim.warmup_factor=0.2", "optim.lr_steps=[6]"])
    _, sched = rates(cfg, 3)
    resumed, _ = rates(cfg, 8, state=sched.state_dict(), start=3)
    assert resumed == [0.8, 1.0, 1.0, 0.1, 0.1]


@pytest.mark.parametrize("word", ["optim.warmup_epochs=-1", "optim.warmup_factor=0", "optim.warmup_factor=1.5"])
def test_bad_warm_up_settings_are_refused(word):
    with pytest.raises(ConfigError, match=word.split("=")[0]):
        check(make_config("cpu", [word]))
