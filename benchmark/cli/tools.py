"""``benchmark pack`` and ``benchmark profile``: the fast video path and its measurements."""
from __future__ import annotations

import argparse

from ..config.checks import choices_of
from .common import CLIError, add_examples, build_config, config_parent, formatter, log, progress_parent, say

EXAMPLES_PACK = add_examples([
    "benchmark pack --data-root /data/CCVID --measure     # size / PSNR / clip-read table per GOP and CRF",
    "benchmark pack --data-root /data/CCVID --out /data/CCVID-packed --workers 4",
    "benchmark pack --data-root /data/CCVID --out /data/CCVID-packed    # again: resumes, skips packed videos",
    "benchmark run --data-root /data/CCVID-packed --backend video",
])
EXAMPLES_PROFILE = add_examples([
    "benchmark profile loaders                            # embedded dataset, 256 clips at 256x128, 2 threads",
    "benchmark profile loaders --clips 64 --threads 1",
    "benchmark profile loaders --data-root /data/CCVID --video-root /data/CCVID-packed --size 256x128",
    "benchmark profile train --iterations 20              # the embedded default's training throughput",
    "benchmark profile train --preset paper --data-root /data/CCVID --pretrained imagenet --cal",
    "benchmark profile train --model ap3d --cal height=128 width=64 --iterations 10",
    "benchmark profile train --preset paper --data-root /data/CCVID --device cuda --decode both",
])


def _size(text: str):
    try:
        h, w = (int(v) for v in text.lower().split("x"))
        if h > 0 and w > 0:
            return h, w
    except ValueError:
        pass
    raise argparse.ArgumentTypeError(f"expected HEIGHTxWIDTH, e.g. 256x128, got {text!r}")


def register(sub) -> None:
    k = sub.add_parser("pack", help="frame folders -> one H.264 video per tracklet (read with --backend video)",
                       parents=[progress_parent()], epilog=EXAMPLES_PACK, formatter_class=formatter(),
                       description="Encode every tracklet of a CCVID-layout dataset as DST/<tracklet path>.mp4 "
                                   "(4:4:4 H.264, fixed GOP, no B-frames), copy the annotation files, print the "
                                   "PSNR against the JPEGs and the size on disk. Each video is written to a temporary "
                                   "file and renamed, so an interrupted pack resumes where it stopped. --measure "
                                   "prints the table the defaults were chosen from (benchmark/tools/pack.py).")
    k.add_argument("--data-root", required=True, help="CCVID-layout folder of frame folders (SRC)")
    k.add_argument("--out", help="output folder (DST): new, empty, or an unfinished pack to resume")
    k.add_argument("--gop", type=int, default=16, help="frames per keyframe (default: 16)")
    k.add_argument("--crf", type=float, default=10, help="x264 constant quality, lower is better (default: 10)")
    k.add_argument("--pix-fmt", default="yuv444p", choices=("yuv444p", "yuv420p"),
                   help="chroma sampling (default: yuv444p; 4:2:0 smears clothes colours)")
    k.add_argument("--workers", type=int, default=1, help="encoding processes (default: 1)")
    k.add_argument("--no-check", action="store_true", help="skip decoding the videos again for the PSNR")
    k.add_argument("--measure", action="store_true",
                   help="measure size, PSNR and random-clip reads per GOP / CRF / chroma on a sample; write nothing")
    k.add_argument("--measure-tracklets", type=int, default=24, help="sample size of --measure (default: 24)")
    k.set_defaults(func=pack_main)

    f = sub.add_parser("profile", help="measure parts of the pipeline ('profile loaders', 'profile train')",
                       epilog=EXAMPLES_PROFILE, formatter_class=formatter())
    fsub = f.add_subparsers(dest="what", metavar="WHAT", required=True)
    _register_profile_loaders(fsub)
    _register_profile_train(fsub)


def _register_profile_loaders(fsub) -> None:
    lo = fsub.add_parser("loaders", help="clips/s of our loaders vs the per-frame PIL yardstick, with PSNR",
                         parents=[progress_parent()], epilog=EXAMPLES_PROFILE, formatter_class=formatter(),
                         description="Times the training (one random clip per video) and test (whole videos "
                                     "tiled into clips) loaders from frame folders (PIL) and packed videos "
                                     "(decord) up to normalised float batches, against the classic per-frame "
                                     "pipeline (PIL open, RGB, bicubic resize, to_tensor, normalize) on the same "
                                     "clips, and prints the PSNR of ours against it.")
    lo.add_argument("--data-root", help="CCVID-layout folder of frame folders (default: the embedded dataset)")
    lo.add_argument("--video-root", help="a pack of the same dataset (default: pack the sampled tracklets now, "
                                         "with the pack defaults, into a temporary folder)")
    lo.add_argument("--clips", type=int, default=256, help="clips per mode (default: 256)")
    lo.add_argument("--size", type=_size, default=(256, 128), help="HEIGHTxWIDTH read (default: 256x128)")
    lo.add_argument("--threads", type=int, default=2, help="torch threads and loader threads (default: 2)")
    lo.add_argument("--repeats", type=int, default=3,
                    help="interleaved passes per pipeline; the best time counts (default: 3)")
    lo.add_argument("--batch", type=int, default=32, help="clips per normalised batch (default: 32)")
    lo.set_defaults(func=profile_main)


def _register_profile_train(fsub) -> None:
    tr = fsub.add_parser("train", help="training throughput of any run config: clips/s, data wait, forward, "
                                       "backward, peak memory (writes no run folder)",
                         parents=[config_parent(), progress_parent()], epilog=EXAMPLES_PROFILE,
                         formatter_class=formatter(),
                         description="Builds the data, model and trainer of a run config exactly as "
                                     "'benchmark run' does (same flags), runs --warmup untimed and --iterations "
                                     "timed training steps with the last epoch's settings, and prints clips/s, "
                                     "the share of each iteration spent waiting for the next batch, the forward "
                                     "and backward(+optimizer) time per iteration and the peak memory "
                                     "(benchmark/tools/profile.py). Nothing is written: no run folder, no record.")
    tr.add_argument("--iterations", type=int, default=20, help="timed training steps (default: 20)")
    tr.add_argument("--warmup", type=int, default=2, help="untimed steps first (default: 2)")
    tr.add_argument("--decode", metavar="WHERE",
                    help="where training JPEGs are decoded: cpu (loader workers), device (in batches on the "
                         "training device: nvJPEG on CUDA), or both, one after the other, compared "
                         "(default: the config's data.decode)")
    tr.set_defaults(func=profile_train_main)


def pack_main(args) -> int:
    from ..tools.pack import PackSettings, format_measure, format_summary, measure, pack

    if args.measure:
        say(format_measure(measure(args.data_root, tracklets=args.measure_tracklets)))
        return 0
    if not args.out:
        raise CLIError("pack needs --out DST (or --measure)")
    settings = PackSettings(gop=args.gop, crf=args.crf, pix_fmt=args.pix_fmt)
    summary = pack(args.data_root, args.out, settings, workers=args.workers, check=not args.no_check)
    say(format_summary(summary, args.out))
    return 0


def profile_main(args) -> int:
    from ..tools.profile import format_profile, profile_loaders

    if args.clips < 1 or args.threads < 1 or args.batch < 1 or args.repeats < 1:
        raise CLIError("--clips, --threads, --batch and --repeats must be at least 1")
    say(format_profile(profile_loaders(args.data_root, args.video_root, clips=args.clips, size=args.size,
                                       threads=args.threads, batch=args.batch, repeats=args.repeats)))
    return 0


def profile_train_main(args) -> int:
    from ..tools.profile_train import format_decode_comparison, format_train_profile, profile_train

    if args.iterations < 1 or args.warmup < 0:
        raise CLIError("--iterations must be at least 1 and --warmup at least 0")
    both = args.decode == "both"
    cfg, warnings = build_config(args, **({"data.decode": "cpu"} if both else {}))  # a wrong word: data.decode's
    for w in warnings:
        log.warning(w)
    modes = list(choices_of("data.decode")) if both else [cfg.data.decode]
    results = []
    for mode in modes:
        cfg.data.decode = mode
        results.append(profile_train(cfg, iterations=args.iterations, warmup=args.warmup))
        say(format_train_profile(results[-1]))
    if len(results) == 2:
        say(format_decode_comparison(*results))
    return 0
