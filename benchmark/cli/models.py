"""``benchmark models``: the registered models with parameters, GFLOPs and measured clips/s."""
from __future__ import annotations

from .common import CLIError, add_examples, formatter, say


def register(sub) -> None:
    m = sub.add_parser("models", help="registered models: parameters, GFLOPs per clip, measured clips/s",
                       formatter_class=formatter(),
                       epilog=add_examples(["benchmark models", "benchmark models ap3d i3d --backbone resnet18",
                                            "benchmark models --backbone resnet_tiny --height 64 --width 32",
                                            "benchmark models --backbone timm:eva02_large_patch14_clip_224.merged2b "
                                            "--height 224 --width 224 --meta"]))
    m.add_argument("names", nargs="*", help="models to show (default: all registered)")
    m.add_argument("--backbone", default="resnet50", help="a registered backbone, or timm:<name>")
    m.add_argument("--height", type=int, default=256)
    m.add_argument("--width", type=int, default=128)
    m.add_argument("--seq-len", type=int, default=8)
    m.add_argument("--threads", type=int, default=2)
    m.add_argument("--no-speed", action="store_true", help="skip the clips/s measurement")
    m.add_argument("--meta", action="store_true",
                   help="build and count on the meta device: no weights, no compute, no clips/s (large encoders)")
    m.set_defaults(func=main)


def main(args) -> int:
    import torch
    from tabulate import tabulate

    from ..tools.model_table import model_rows, unavailable_models
    for flag in ("height", "width", "seq_len"):
        if getattr(args, flag) < 1:
            raise CLIError(f"--{flag.replace('_', '-')} must be at least 1, got {getattr(args, flag)}")
    if args.threads < 0:
        raise CLIError(f"--threads must be at least 0 (0: torch's default), got {args.threads}")
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    headers, rows = model_rows(args.names or None, backbone=args.backbone, height=args.height, width=args.width,
                               seq_len=args.seq_len, measure_speed=not args.no_speed,
                               device="meta" if args.meta else "cpu")
    shown = [[n, f"{p:,}", f"{g:.2f}" if g is not None else "n/a", f"{c:.2f}" if c is not None else "-", losses,
              f"{mem:.0f}" if mem is not None else "n/a"]
             for n, p, g, c, losses, mem in rows]
    say(f"backbone {args.backbone}, {args.seq_len}-frame {args.height}x{args.width} clips, "
        f"{'meta device (no weights, no compute)' if args.meta else f'{torch.get_num_threads()} threads'}")
    say(tabulate(shown, headers=headers, tablefmt="github", disable_numparse=True))
    if not args.names:
        for reason in unavailable_models():
            say(f"not shown: {reason}")
    return 0
