"""The ``benchmark`` command line."""
from __future__ import annotations

import argparse
import sys
from typing import List, Optional

EXAMPLES_RUN = """examples:
  benchmark run --model baseline --cal                 # embedded dataset, CPU default
  benchmark run --model baseline --seeds 0 1 2         # ID-only baseline, three seeds
  benchmark run --model baseline --cal --val-ids 15    # tune on held-out training ids
  benchmark run --preset paper --model baseline --cal --data-root /data/CCVID --pretrained imagenet
  benchmark run --model baseline --set lr=3e-4 --set synth.clothes_strength=0.5
"""

EXAMPLES_SYNTH = """examples:
  benchmark synth --out /tmp/embedded                  # write the default embedded dataset
  benchmark synth --out /tmp/small --set num_train_ids=10 --set num_test_ids=10
"""


class CLIError(Exception):
    """A user error: printed as one line, exit status 2."""


def _user_errors():
    from ccvid.records import DatasetError
    from temporal_models import UnknownNameError, WeightsError

    from .config import ConfigError
    from .run import CheckpointError
    return (DatasetError, ConfigError, UnknownNameError, WeightsError, CLIError, CheckpointError)


def cmd_run(args) -> int:
    from .config import make_config
    from .metrics import format_table
    from .run import run

    seeds = args.seeds if args.seeds is not None else [args.seed]
    overrides = list(args.set or [])
    fields = dict(model=args.model, backbone=args.backbone, pretrained=args.pretrained, epochs=args.epochs,
                  data_root=args.data_root, backend=args.backend, runs_dir=args.runs_dir,
                  val_ids=args.val_ids, device=args.device, cal_epsilon=args.cal_epsilon,
                  cal=True if args.cal else None, progress=False if args.no_progress else None)
    if args.data_root:
        fields["dataset"] = "ccvid"
    for seed in seeds:
        record = run(make_config(args.preset, overrides, seed=seed, **fields))
        print(f"\n{record['run_id']}  (last epoch; train {record['timings']['train_s']:.0f}s, "
              f"test {record['timings']['test_s']:.0f}s, total {record['timings']['total_s']:.0f}s)")
        print(format_table(record["metrics"]))
        print(f"record: {record['path']}")
    return 0


def cmd_cal_sweep(args) -> int:
    """Train the ID-only prefix once per seed, then fork CAL variants at each CAL start epoch."""
    from .config import ConfigError, make_config
    from .metrics import format_table
    from .run import Session

    fields = dict(model=args.model, backbone=args.backbone, epochs=args.epochs, runs_dir=args.runs_dir,
                  val_ids=args.val_ids, data_root=args.data_root, progress=False if args.no_progress else None)
    if args.data_root:
        fields["dataset"] = "ccvid"
    for seed in args.seeds:
        base = Session(make_config(args.preset, list(args.set or []), seed=seed, cal=False, **fields))
        starts = sorted(set(args.starts or [base.cfg.cal_start_epoch]))
        if starts[0] < 0 or starts[-1] >= base.cfg.epochs:
            raise ConfigError(f"--starts must lie in [0, {base.cfg.epochs - 1}] (epochs), got {starts}")
        records = []
        for start in starts:
            base.train_to(start)
            for eps in args.eps:
                records.append(base.fork(cal=True, cal_epsilon=eps, cal_start_epoch=start).finish())
        records.append(base.finish())
        for rec in records:
            c = rec["config"]
            tag = f"CAL eps={c['cal_epsilon']} from epoch {c['cal_start_epoch']}" if c["cal"] else "ID only"
            print(f"\nseed {seed}, {tag}: {rec['path']}")
            print(format_table(rec["metrics"]))
    return 0


def cmd_evaluate(args) -> int:
    """Score features from any codebase: two .npz files with features, pids, camids (, clothes)."""
    import json

    from .metrics import evaluate, format_table, load_features_npz
    sides = {}
    for side, path in (("query", args.query), ("gallery", args.gallery)):
        try:
            sides[side] = load_features_npz(path)
        except FileNotFoundError:
            raise CLIError(f"{path}: file not found") from None
        except ValueError as e:
            raise CLIError(str(e)) from None
    q, g = sides["query"], sides["gallery"]
    with_clothes = q["clothes"] is not None and g["clothes"] is not None
    try:
        results = evaluate(q["features"], g["features"], q["pids"], g["pids"], q["camids"], g["camids"],
                           q["clothes"] if with_clothes else None, g["clothes"] if with_clothes else None,
                           metric=args.metric)
    except ValueError as e:
        raise CLIError(f"{args.query} / {args.gallery}: {e}") from None
    print(json.dumps(results, indent=2) if args.json else format_table(results))
    return 0


def cmd_test(args) -> int:
    from .metrics import format_table
    from .run import evaluate_checkpoint

    metrics = evaluate_checkpoint(args.checkpoint, args.model, args.data_root, progress=not args.no_progress)
    print(format_table(metrics))
    return 0


def cmd_models(args) -> int:
    import torch
    from tabulate import tabulate

    from .model_table import model_rows
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    headers, rows = model_rows(args.names or None, backbone=args.backbone, height=args.height, width=args.width,
                               seq_len=args.seq_len, measure_speed=not args.no_speed)
    shown = [[n, f"{p:,}", f"{g:.2f}" if g is not None else "n/a", f"{c:.2f}" if c is not None else "-"]
             for n, p, g, c in rows]
    print(f"backbone {args.backbone}, {args.seq_len}-frame {args.height}x{args.width} clips, "
          f"{torch.get_num_threads()} threads")
    print(tabulate(shown, headers=headers, tablefmt="github", disable_numparse=True))
    return 0


def cmd_synth(args) -> int:
    from ccvid.synth import SynthConfig, generate

    from .config import ConfigError, json_or_text
    kwargs = {}
    for item in args.set or []:
        if "=" not in item:
            raise ConfigError(f"--set {item!r}: expected KEY=VALUE")
        k, v = item.split("=", 1)
        kwargs[k.strip()] = json_or_text(v)
    try:
        cfg = SynthConfig(seed=args.seed, **kwargs)
    except (TypeError, ValueError) as e:
        raise ConfigError(f"--set: {e}") from None
    out = generate(args.out, cfg, progress=not args.no_progress)
    print(f"wrote the embedded dataset to {out}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="benchmark",
        description="Clothes-changing video person re-id benchmark (CAL, CVPR 2022): train, evaluate, record.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="run `benchmark COMMAND --help` for the options and examples of each command")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")

    r = sub.add_parser("run", help="train and evaluate a temporal model (optionally with CAL)",
                       description="Train a temporal model with the ID loss (and CAL with --cal), evaluate "
                                   "whole-video features (general / CC / SC), write a JSON run record.",
                       epilog=EXAMPLES_RUN, formatter_class=argparse.RawDescriptionHelpFormatter)
    r.add_argument("--model", default="baseline", help="registered model name (default: baseline)")
    r.add_argument("--cal", action="store_true", help="add the Clothes-based Adversarial Loss")
    r.add_argument("--preset", default="cpu", help="cpu (default, embedded dataset) or paper (REFERENCE C)")
    r.add_argument("--data-root", help="a CCVID-layout folder (train.txt, query.txt, gallery.txt); "
                                       "default: the embedded dataset, generated once into the cache")
    r.add_argument("--backend", choices=("auto", "frames", "video"), help="read frame folders or video files")
    r.add_argument("--backbone", help="registered 2-D backbone (resnet50, resnet18, resnet_tiny)")
    r.add_argument("--pretrained", help="ImageNet weights: a local .pth, or 'imagenet' for torchvision's cache")
    r.add_argument("--epochs", type=int)
    r.add_argument("--cal-epsilon", type=float, help="CAL's epsilon (Eq. 5)")
    r.add_argument("--seed", type=int, default=0)
    r.add_argument("--seeds", type=int, nargs="+", help="run once per seed (overrides --seed)")
    r.add_argument("--val-ids", type=int, help="hold out N training ids as query/gallery (for tuning)")
    r.add_argument("--device", help="auto (default), cpu, cuda, cuda:1 ...")
    r.add_argument("--runs-dir", help="where run records go (default: runs)")
    r.add_argument("--set", action="append", metavar="KEY=VALUE",
                   help="override any config field (repeatable), e.g. lr=3e-4, synth.clothes_strength=0.5")
    r.add_argument("--no-progress", action="store_true", help="no progress bars or per-epoch lines")
    r.set_defaults(func=cmd_run)

    w = sub.add_parser("cal-sweep", help="CAL epsilon / start-epoch sweep sharing the ID-only epochs",
                       description="For each seed, train the ID-only model up to each CAL start epoch once and "
                                   "fork one run per epsilon there (training is deterministic, so each fork equals a "
                                   "fresh run of that variant); the ID-only run continues to the end. Use "
                                   "--val-ids to choose on held-out training identities, never on the test split.",
                       epilog="examples:\n  benchmark cal-sweep --val-ids 20 --eps 0.1 0.5 1.0 --starts 5 10 --seeds 0 1 2\n"
                              "  leaderboard runs/ --cal-gain",
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    w.add_argument("--model", default="baseline")
    w.add_argument("--preset", default="cpu")
    w.add_argument("--backbone")
    w.add_argument("--data-root")
    w.add_argument("--epochs", type=int)
    w.add_argument("--eps", type=float, nargs="+", default=[0.1, 0.5, 1.0], help="CAL epsilons")
    w.add_argument("--starts", type=int, nargs="+", help="CAL start epochs (default: the preset's)")
    w.add_argument("--seeds", type=int, nargs="+", default=[0])
    w.add_argument("--val-ids", type=int, help="hold out N training ids as query/gallery")
    w.add_argument("--runs-dir")
    w.add_argument("--set", action="append", metavar="KEY=VALUE")
    w.add_argument("--no-progress", action="store_true")
    w.set_defaults(func=cmd_cal_sweep)

    e = sub.add_parser("evaluate", help="score saved features (.npz) with the general / CC / SC protocols",
                       description="Each .npz holds 'features' (N x D), 'pids', 'camids' and optionally 'clothes'. "
                                   "Queries are processed in chunks, so the query x gallery matrix is never held "
                                   "in memory. Metrics are fractions in [0, 1]; a protocol without a valid query "
                                   "is null.",
                       epilog="examples:\n  benchmark evaluate --query q.npz --gallery g.npz\n"
                              "  benchmark evaluate --query q.npz --gallery g.npz --json --metric euclidean",
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    e.add_argument("--query", required=True)
    e.add_argument("--gallery", required=True)
    e.add_argument("--metric", choices=("cosine", "euclidean"), default="cosine")
    e.add_argument("--json", action="store_true", help="print the metrics as JSON")
    e.set_defaults(func=cmd_evaluate)

    t = sub.add_parser("test", help="evaluate a saved model (runs/<id>/model.pt) again",
                       epilog="examples:\n  benchmark test runs/<run id>/model.pt\n"
                              "  benchmark test runs/<run id>/model.pt --data-root /data/CCVID",
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    t.add_argument("checkpoint")
    t.add_argument("--model", help="expected model name; a checkpoint of another model is an error")
    t.add_argument("--data-root", help="evaluate on this CCVID-layout folder instead of the run's dataset")
    t.add_argument("--no-progress", action="store_true")
    t.set_defaults(func=cmd_test)

    m = sub.add_parser("models", help="registered models: parameters, GFLOPs per clip, measured clips/s",
                       epilog="examples:\n  benchmark models\n  benchmark models ap3d i3d --backbone resnet18\n"
                              "  benchmark models --backbone resnet_tiny --height 64 --width 32",
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    m.add_argument("names", nargs="*", help="models to show (default: all registered)")
    m.add_argument("--backbone", default="resnet50")
    m.add_argument("--height", type=int, default=256)
    m.add_argument("--width", type=int, default=128)
    m.add_argument("--seq-len", type=int, default=8)
    m.add_argument("--threads", type=int, default=2)
    m.add_argument("--no-speed", action="store_true", help="skip the clips/s measurement")
    m.set_defaults(func=cmd_models)

    s = sub.add_parser("synth", help="write the embedded clothes-changing dataset (CCVID layout)",
                       epilog=EXAMPLES_SYNTH, formatter_class=argparse.RawDescriptionHelpFormatter)
    s.add_argument("--out", required=True, help="output folder")
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--set", action="append", metavar="KEY=VALUE", help="a SynthConfig field, e.g. clothes_strength=0.5")
    s.add_argument("--no-progress", action="store_true")
    s.set_defaults(func=cmd_synth)
    return p


def main(argv: Optional[List[str]] = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return args.func(args)
    except _user_errors() as e:
        print(f"benchmark: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("benchmark: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
