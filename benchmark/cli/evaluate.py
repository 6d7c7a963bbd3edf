"""``benchmark evaluate`` and ``benchmark test``: score saved features, or a saved model again."""
from __future__ import annotations

import argparse
import json
import os

from .common import CLIError, add_examples, formatter, progress_parent, say


def register(sub) -> None:
    e = sub.add_parser("evaluate", help="score saved features (.npz) with the general / CC / SC protocols",
                       formatter_class=formatter(),
                       description="Each .npz holds 'features' (N x D), 'pids', 'camids' and optionally 'clothes'. "
                                   "Queries are processed in chunks, so the query x gallery matrix is never held "
                                   "in memory. Metrics are fractions in [0, 1]; a protocol without a valid query "
                                   "is null. Features must be finite; labels are numbers (whole floats are "
                                   "compared as integers) or strings, of one kind on both sides; 'clothes' is "
                                   "given on both sides or on neither.",
                       epilog=add_examples(["benchmark evaluate --query q.npz --gallery g.npz",
                                            "benchmark evaluate --query q.npz --gallery g.npz --json "
                                            "--metric euclidean",
                                            "benchmark evaluate --query q.npz --gallery g.npz --rerank"]))
    e.add_argument("--query", required=True)
    e.add_argument("--gallery", required=True)
    e.add_argument("--metric", default="cosine", help="cosine (default) or euclidean")
    e.add_argument("--rerank", action="store_true", help="k-reciprocal re-ranking (k1=20, k2=6, lambda=0.3) first")
    e.add_argument("--json", action="store_true", help="print the metrics as JSON")
    e.set_defaults(func=evaluate_main)

    t = sub.add_parser("test", help="evaluate a saved model (runs/<id>/model.pt) again", formatter_class=formatter(),
                       parents=[progress_parent()],
                       epilog=add_examples(["benchmark test runs/<run id>/model.pt",
                                            "benchmark test runs/<run id> --data-root /data/CCVID",
                                            "benchmark test runs/<run id> --save-features feats/ && "
                                            "benchmark evaluate --query feats/query.npz --gallery feats/gallery.npz",
                                            "benchmark test runs/<run id> --rank-list 8  # runs/<run id>/rank-list.png",
                                            "benchmark test runs/<run id> --rank-list 4 --out figures/",
                                            "benchmark test runs/<run id> --activation-maps 4  "
                                            "# runs/<run id>/activation_maps/query-*.png",
                                            "benchmark test runs/<run id> --variants whole first-frame shuffled "
                                            "reversed static",
                                            "benchmark test runs/<vcclothes run id> --best --dataset vcclothes_sc  "
                                            "# VC-Clothes' SC column as the reference scores it"]))
    t.add_argument("checkpoint", help="a run's model.pt, or its run folder")
    t.add_argument("--model", help="expected model name; a checkpoint of another model is an error")
    t.add_argument("--data-root", help="evaluate on this folder (the run's dataset kind) instead of its dataset")
    t.add_argument("--dataset", metavar="NAME",
                   help="evaluate on another registered dataset (read from --data-root, or the run's own folder), "
                        "e.g. vcclothes_sc / vcclothes_cc for a vcclothes run, or any other for cross-dataset "
                        "testing; the run's record.json keeps the result among its 'evaluations', named as an "
                        "evaluation of this run")
    t.add_argument("--best", action="store_true",
                   help="the weights of the run's best.pt (the epoch its eval.selection_rule kept, chosen on the "
                        "TEST set) instead of the last epoch's model.pt; the reference scores VC-Clothes' SC / CC "
                        "subsets with the full-set run's best checkpoint")
    t.add_argument("--save-features", metavar="DIR",
                   help="also write DIR/query.npz and DIR/gallery.npz (features and labels) for 'benchmark evaluate' "
                        "or another codebase")
    t.add_argument("--rank-list", type=_positive, metavar="N",
                   help="also draw the ranked lists (top 10, green: same identity, red: another; SC/CC: the "
                        "match's clothes) of N queries with a true match, clothes-changing ones first, into "
                        "rank-list.png")
    t.add_argument("--activation-maps", metavar="N",
                   help="draw, for N query tracklets (spread evenly over the query list), 4 frames of their first "
                        "test clip with the model's activation overlaid (Grad-CAM of the last ResNet feature map "
                        "for the BN-neck embedding), one PNG per tracklet into RUN/activation_maps/; models "
                        "without a ResNet feature map (frames_*, x3d_*, slowfast_r50, mvit_b) are refused")
    t.add_argument("--out", metavar="DIR",
                   help="the folder of rank-list.png (default: the run folder) or of the activation maps "
                        "(default: RUN/activation_maps/)")
    t.add_argument("--variants", nargs="+", metavar="VARIANT",
                   help="score these test variants too and print them in one table: whole, first-frame (the "
                        "paper's baseline(F)), shuffled, reversed, static; the drop under shuffled is the model's "
                        "reliance on frame order. The run's record.json keeps them (not with --data-root)")
    t.set_defaults(func=test_main)


def _positive(text: str) -> int:
    try:
        n = int(text)
    except ValueError:
        n = 0
    if n < 1:
        raise argparse.ArgumentTypeError(f"expected a number of queries >= 1, got {text!r}")
    return n


def evaluate_main(args) -> int:
    from ..evaluation import METRICS, evaluate, format_table, load_features_npz

    if args.metric not in METRICS:
        raise CLIError(f"--metric {args.metric!r}: expected {', '.join(METRICS)}")

    sides = {}
    for side, path in (("query", args.query), ("gallery", args.gallery)):
        try:
            sides[side] = load_features_npz(path)
        except FileNotFoundError:
            raise CLIError(f"{path}: file not found") from None
        except ValueError as e:
            raise CLIError(str(e)) from None
    q, g = sides["query"], sides["gallery"]
    if (q["clothes"] is None) != (g["clothes"] is None):
        has, lacks = (args.query, args.gallery) if g["clothes"] is None else (args.gallery, args.query)
        raise CLIError(f"{lacks}: no 'clothes' array, but {has} has one; the CC and SC protocols need clothes "
                       "labels on both sides: add them, or drop them from both")
    try:
        results = evaluate(q["features"], g["features"], q["pids"], g["pids"], q["camids"], g["camids"],
                           q["clothes"], g["clothes"], metric=args.metric, rerank=args.rerank)
    except ValueError as e:
        msg = str(e)  # "q_pids: ..." and "g_pids: ..." are one file's fault; the others are the pair's
        where = {"q_": args.query, "g_": args.gallery}.get(msg[:2], f"{args.query} / {args.gallery}")
        raise CLIError(f"{where}: {msg}") from None
    say(json.dumps(results, indent=2) if args.json else format_table(results))
    return 0


def test_main(args) -> int:
    from ..evaluation import format_table
    from ..training import evaluate_checkpoint

    if args.activation_maps is not None:
        return _test_activation_maps(args)
    if args.variants:
        return _test_variants(args)
    if args.rank_list is None:
        if args.out:
            raise CLIError("--out DIR: the folder of the rank-list picture or of the activation maps; give it with "
                           "--rank-list N or --activation-maps N")
        if args.dataset or args.best:
            return _test_saved_checkpoint(args)
        say(format_table(evaluate_checkpoint(args.checkpoint, args.model, args.data_root, args.save_features)))
        return 0
    from ..tools.ranklist import RankListError, rank_list_from_checkpoint
    try:
        metrics, figure = rank_list_from_checkpoint(args.checkpoint, args.rank_list, args.out, args.model,
                                                    args.data_root, args.save_features, dataset=args.dataset,
                                                    best=args.best)
    except RankListError as e:  # no query with a true match, an unwritable --out
        raise CLIError(f"--rank-list: {e}") from None
    say(format_table(metrics))
    say(f"rank list: {figure}")
    return 0


def _test_activation_maps(args) -> int:
    """``benchmark test RUN --activation-maps N``: one picture per query tracklet; no metrics (a call of its own)."""
    from ..tools.activation_maps import ActivationMapError, activation_maps_from_checkpoint

    text = str(args.activation_maps)
    if not text.isdigit() or int(text) < 1:
        raise CLIError(f"--activation-maps {text!r}: expected a number of query tracklets >= 1")
    if args.rank_list is not None or args.variants or args.save_features:
        raise CLIError("--activation-maps draws pictures only; give --rank-list, --variants or --save-features in "
                       "another call")
    try:
        written = activation_maps_from_checkpoint(args.checkpoint, int(text), args.out, args.model, args.data_root,
                                                  args.dataset, args.best)
    except ActivationMapError as e:  # a model without a ResNet feature map, an unwritable --out
        raise CLIError(f"--activation-maps: {e}") from None
    for path in written:
        say(f"activation map: {path}")
    return 0


def _test_saved_checkpoint(args) -> int:
    """``benchmark test RUN --dataset NAME`` / ``--best``: the table, headed by which checkpoint of which run was
    evaluated on what; an evaluation on another dataset is added to the run's record (its ``evaluations``)."""
    from ..evaluation import format_table
    from ..training.checkpoint import record_evaluation, saved_run
    from ..training.testing import evaluate_model

    run = saved_run(args.checkpoint, args.model, args.data_root, args.dataset, args.best)
    metrics = evaluate_model(run.model, run.data, run.cfg, run.device, save_features=args.save_features)
    say(f"{checkpoint_words(run.source, run.path)}, evaluated on {run.cfg.data.dataset}"
        + (f": an evaluation of the run, not a run of {args.dataset}" if args.dataset else ""))
    say(format_table(metrics))
    if args.dataset:
        kept = record_evaluation(run.path, run.cfg, run.source, metrics)
        if kept:
            say(f"record: {kept} (evaluations: {run.cfg.data.dataset} with {run.source['checkpoint']})")
    return 0


def checkpoint_words(source: dict, path: str) -> str:
    """"best.pt of run R (epoch 40, kept by its cc-top1 rule, chosen on the TEST set)" or "model.pt of run R (the last
    epoch, 60)"."""
    run = os.path.basename(os.path.dirname(os.path.abspath(path)))
    if source["checkpoint"] == "best.pt":
        return (f"best.pt of run {run} (epoch {source['epoch']}, kept by its {source['selection_rule']} rule, chosen "
                "on the TEST set)")
    return f"{source['checkpoint']} of run {run} (the last epoch, {source['epoch']})"


def _test_variants(args) -> int:
    """``benchmark test RUN --variants ...``: one table; the run's record keeps them (its own dataset only)."""
    from ..config.checks import choices_of
    from ..evaluation import format_variants
    from ..training.checkpoint import record_variants, saved_model_and_data
    from ..training.testing import evaluate_variants

    known = list(choices_of("eval.variant"))
    for v in args.variants:
        if v not in known:
            raise CLIError(f"--variants {v!r}: expected {', '.join(known)}")
    if args.rank_list is not None or args.save_features:
        raise CLIError("--variants prints one table of its own; give --rank-list or --save-features in another call")
    model, cfg, data, device, path = saved_model_and_data(args.checkpoint, args.model, args.data_root, args.dataset,
                                                          args.best)
    scores = evaluate_variants(model, data, cfg, device, list(dict.fromkeys(args.variants)))
    say(format_variants(scores))
    if not (args.data_root or args.dataset or args.best):  # the record's variants are of its own last epoch
        kept = record_variants(path, scores)
        if kept:
            say(f"record: {kept} (variants: {', '.join(scores)})")
    return 0
