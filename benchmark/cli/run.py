"""``benchmark run``: train and evaluate one config, once per seed."""
from __future__ import annotations

from .common import FLAG_FIELDS, CLIError, add_examples, build_config, config_parent, formatter, progress_parent

EXAMPLES = add_examples([
    "benchmark run --model baseline --cal                 # embedded dataset, CPU default",
    "benchmark run --model ap3d --cal --seeds 0 1 2       # three seeds",
    "benchmark run --model baseline --cal --val-ids 20    # tune on held-out training ids",
    "benchmark run --config configs/paper.yaml --data-root /data/CCVID --model ap3d --cal",
    "benchmark run --preset paper --data-root /data/CCVID --pretrained imagenet --cal optim.lr=3e-4",
    "benchmark run --preset image --dataset ltcc --data-root /data/LTCC_ReID --cal",
    "benchmark run --model baseline --set synth.clothes_strength=0.5 cal.epsilon=0.5",
    "benchmark run --model tclnet --cal loss.recipe=model    # with TCLNet's own triplet losses",
    "benchmark run --model baseline --objective id+clothes_ce   # an ablation of the paper's Table 3",
    "benchmark run --config runs/<run id>/record.json     # the same run again, exactly",
    "benchmark run --resume runs/<run id>                 # continue a killed run where it stopped",
])


def register(sub) -> None:
    p = sub.add_parser("run", help="train and evaluate a temporal model (optionally with CAL)",
                       parents=[config_parent(), progress_parent()], epilog=EXAMPLES, formatter_class=formatter(),
                       description="Train a temporal model with the ID loss (and CAL with --cal), evaluate "
                                   "whole-video features (general / CC / SC), and fill a run folder: config.yaml, "
                                   "log.txt, metrics.csv, model.pt, record.json.")
    p.add_argument("--seed", type=int, help="system.seed (default 0)")
    p.add_argument("--seeds", type=int, nargs="+", help="run once per seed (overrides --seed)")
    p.add_argument("--cal-epsilon", type=float, help="CAL's epsilon (Eq. 5; cal.epsilon)")
    p.add_argument("--resume", metavar="RUN_DIR", help="continue a stopped run from its folder (state.pt); "
                                                        "takes no other configuration")
    p.set_defaults(func=main)


CONFIG_OPTIONS = ("preset", "config", *FLAG_FIELDS, "seeds")


def main(args) -> int:
    from ..training import resume, run
    if args.resume:
        given = [f"--{k.replace('_', '-')}" for k in CONFIG_OPTIONS if getattr(args, k, None) is not None]
        given += ["--cal"] * bool(args.cal) + [f"--objective {args.objective}"] * bool(args.objective)
        given += [f"override {o}" for o in args.set]
        if given:
            raise CLIError(f"--resume continues a run with its own config; remove {', '.join(given)}")
        resume(args.resume)
        return 0

    seeds = args.seeds if args.seeds is not None else [args.seed]
    configs = []
    for seed in seeds:  # every config is checked before the first run starts
        args.seed = seed
        configs.append(build_config(args))
    for cfg, warnings in configs:
        run(cfg, warnings)
    return 0
