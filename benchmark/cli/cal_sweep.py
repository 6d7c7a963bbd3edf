"""``benchmark cal-sweep``: CAL variants forked from one ID-only run per seed."""
from __future__ import annotations

from ..config import ConfigError, check
from .common import build_config, config_parent, formatter, progress_parent, say


def register(sub) -> None:
    p = sub.add_parser("cal-sweep", help="CAL epsilon / start-epoch sweep sharing the ID-only epochs",
                       parents=[config_parent(sweep=True), progress_parent()], formatter_class=formatter(),
                       description="For each seed, train the ID-only model up to each CAL start epoch once and "
                                   "fork one run per epsilon there (training is deterministic, so each fork equals a "
                                   "fresh run of that variant); the ID-only run continues to the end. Use "
                                   "--val-ids to choose on held-out training identities, never on the test split.",
                       epilog="examples:\n  benchmark cal-sweep --val-ids 20 --eps 0.1 0.5 1.0 --starts 5 10 "
                              "--seeds 0 1 2\n  benchmark cal-sweep --model ap3d --eps 1.0 --seeds 0 1 2 "
                              "--runs-dir results/zoo\n  leaderboard runs/ --cal-gain")
    p.add_argument("--eps", type=float, nargs="+", default=[0.1, 0.5, 1.0], help="CAL epsilons")
    p.add_argument("--starts", type=int, nargs="+", help="CAL start epochs (default: the config's)")
    p.add_argument("--seeds", type=int, nargs="+", default=[0])
    p.set_defaults(func=main)


def main(args) -> int:
    from ..training import Session

    bases = [build_config(args, **{"system.seed": seed, "cal.enabled": False}) for seed in args.seeds]
    epochs = bases[0][0].optim.epochs
    starts = sorted(set(args.starts or [bases[0][0].cal.start_epoch]))
    if starts[0] < 0 or starts[-1] >= epochs:
        raise ConfigError(f"--starts must lie in [0, {epochs - 1}] (epochs), got {starts}")
    for cfg, _ in bases:
        for start in starts:  # every variant checked before any training
            for eps in args.eps:
                check(cfg.replace(**{"cal.enabled": True, "cal.epsilon": eps, "cal.start_epoch": start}))
    for cfg, warnings in bases:
        base = Session(cfg, warnings)
        records = []
        for start in starts:
            base.train_to(start)
            for eps in args.eps:
                records.append(base.fork(**{"cal.enabled": True, "cal.epsilon": eps, "cal.start_epoch": start})
                               .finish())
        records.append(base.finish())
        say(f"\nseed {cfg.system.seed}:")
        for rec in records:
            c = rec.config["cal"]
            tag = f"CAL eps={c['epsilon']} from epoch {c['start_epoch']}" if c["enabled"] else "ID only"
            say(f"  {tag}: {rec.path}")
    return 0
