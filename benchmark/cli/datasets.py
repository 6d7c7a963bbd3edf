"""``benchmark datasets``: the adapters, a tree's check, a sample sheet; ``benchmark synth``."""
from __future__ import annotations

from .common import CLIError, add_examples, formatter, log, progress_parent, say


def register(sub) -> None:
    d = sub.add_parser("datasets", help="list the dataset adapters, check a tree, or draw a sample sheet",
                       parents=[progress_parent()], formatter_class=formatter(),
                       description="Without an action: the adapters, their kind, protocols and expected layout. "
                                   "'check' reads a tree with its adapter and prints its statistics, or names the "
                                   "first file or line that is wrong. 'sheet' draws a PNG of the first training "
                                   "identities across their suits and cameras.",
                       epilog=add_examples(["benchmark datasets",
                                            "benchmark datasets check --dataset ccvid --data-root /data/CCVID",
                                            "benchmark datasets check --dataset mevid --data-root /data/MEVID "
                                            "--verify-files",
                                            "benchmark datasets check --dataset mars --data-root /data/MARS "
                                            "--clothes-labels colour",
                                            "benchmark datasets check --dataset embedded --clothes-labels cluster "
                                            "--features-of runs/<a run>   # its model's features, clustered",
                                            "benchmark datasets sheet --out sheet.png      # the embedded dataset",
                                            "benchmark datasets sheet --dataset ltcc --data-root /data/LTCC_ReID "
                                            "--out ltcc.png"]))
    d.add_argument("action", nargs="?", choices=("list", "check", "sheet"), default="list")
    d.add_argument("--dataset", help="adapter name (see 'benchmark datasets'; default for sheet: embedded)")
    d.add_argument("--data-root", help="the dataset's root folder")
    d.add_argument("--verify-files", action="store_true", help="also check that every frame / image file exists")
    d.add_argument("--out", help="sheet: the PNG to write")
    d.add_argument("--ids", type=int, default=6, help="sheet: identities to show (default: 6)")
    d.add_argument("--clothes-labels", metavar="SOURCE",
                   help="check: also compute the pseudo clothes labels of this source of cal.clothes_labels "
                        "(colour, camera; cluster: the features of a saved run's model, --features-of RUN) for "
                        "the training split and print their classes and agreement with the true outfits (ARI, "
                        "purity)")
    d.add_argument("--features-of", metavar="RUN",
                   help="check --clothes-labels cluster: the saved run (its folder or model.pt) whose model "
                        "describes the training tracklets")
    d.set_defaults(func=main)

    s = sub.add_parser("synth", help="write the embedded clothes-changing dataset (CCVID layout)",
                       parents=[progress_parent()], formatter_class=formatter(),
                       epilog=add_examples(["benchmark synth --out /tmp/embedded     # the default embedded dataset",
                                            "benchmark synth --out /tmp/small --set num_train_ids=10 "
                                            "--set num_test_ids=10"]))
    s.add_argument("--out", required=True, help="output folder")
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="a SynthConfig field, e.g. clothes_strength=0.5")
    s.set_defaults(func=synth_main)


def main(args) -> int:
    from tabulate import tabulate

    from ccvid.catalog import DATASETS, check_dataset, dataset_infos, format_check_report, get_dataset
    if args.action == "check":
        if not args.dataset:
            raise CLIError("datasets check needs --dataset NAME (and --data-root DIR for a dataset on disk)")
        if get_dataset(args.dataset).needs_root and not args.data_root:
            raise CLIError(f"datasets check --dataset {args.dataset} needs --data-root DIR")
        _check_source(args.clothes_labels)
        if (args.clothes_labels == "cluster") != bool(args.features_of):
            raise CLIError("--clothes-labels cluster clusters a model's features: give --features-of RUN (a saved "
                           "run), and --features-of only with it")
        say(format_check_report(check_dataset(args.dataset, args.data_root, verify_files=args.verify_files)))
        if args.clothes_labels:
            say(_pseudo_report(args.dataset, args.data_root, args.clothes_labels, args.features_of))
        return 0
    if args.action == "sheet":
        return _sheet(args)
    rows = [[d.name, d.kind, ", ".join(d.protocols), d.description] for d in dataset_infos()]
    say(tabulate(rows, headers=["dataset", "kind", "protocols", "layout"], tablefmt="github"))
    for name, error in DATASETS.plugin_errors.items():
        log.warning(f"dataset plugin {name!r} failed to load: {error}")
    return 0


def _check_source(source) -> None:
    """``--clothes-labels``: a pseudo-label source its owner names (read here, not when the parser is built: the
    owner's package imports torch, which ``benchmark --help`` never does)."""
    from ..config.checks import choices_of
    sources = [s for s in choices_of("cal.clothes_labels") if s != "annotated"]
    if source is not None and source not in sources:
        raise CLIError(f"--clothes-labels {source!r}: expected one of {', '.join(sources)}")


def _pseudo_report(dataset: str, root, source: str, run=None) -> str:
    """One line: the pseudo outfits of ``source`` on the training split, and how they agree with the true ones
    (``cluster``: of the features of the saved ``run``'s model)."""
    import numpy as np

    from ..engine.pseudo_labels import agreement, has_clothes_labels, source_labels
    if run:
        from ..training.checkpoint import saved_run
        from ..training.clothes_labels import training_features
        saved = saved_run(run, data_root=root, dataset=dataset)
        data = saved.data
        labels = source_labels(source, data.train, training_features(saved.model, saved.cfg, data.train, saved.device))
    else:
        from ccvid.catalog import read_dataset
        data = read_dataset(dataset, root)
        labels = source_labels(source, data.train)
    line = f"clothes labels {source} (training split): {int(labels.max()) + 1} classes"
    if not has_clothes_labels(data):
        return f"{line}; {data.name} has no true outfits to compare"
    s = agreement(labels, np.array([t.clothes for t in data.train]), [t.pid for t in data.train])
    return f"{line}; agreement with the true outfits: ARI {s['ari']:.3f}, purity {s['purity']:.3f} " \
           f"({s['true_classes']} true classes)"


def _sheet(args) -> int:
    from ccvid.sheet import sample_sheet

    from ..config import Config
    from ..training.loaders import load_dataset
    if not args.out:
        raise CLIError("datasets sheet needs --out FILE.png")
    if args.ids < 1:
        raise CLIError("--ids must be at least 1")
    cfg = Config()
    if args.dataset or args.data_root:
        cfg = cfg.replace(**{"data.dataset": args.dataset or "ccvid", "data.root": args.data_root})
        if not args.data_root:
            raise CLIError("datasets sheet --dataset NAME needs --data-root DIR")
    say(f"sheet: {sample_sheet(load_dataset(cfg), args.out, max_ids=args.ids)}")
    return 0


def synth_main(args) -> int:
    from ccvid.synth import SynthConfig, generate

    from ..config import ConfigError
    from ..config.compose import parse_overrides
    values = parse_overrides(args.set, option="--set", aliases=False)
    try:
        cfg = SynthConfig(seed=args.seed, **values)
    except (TypeError, ValueError) as e:
        raise ConfigError(f"--set: {e}") from None
    say(f"wrote the embedded dataset to {generate(args.out, cfg)}")
    return 0
