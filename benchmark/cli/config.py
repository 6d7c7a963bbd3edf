"""``benchmark config``: the resolved config of a preset, a file or a recorded run, as YAML."""
from __future__ import annotations

from .common import add_examples, build_config, config_parent, formatter, say


def register(sub) -> None:
    c = sub.add_parser("config", help="print the resolved config (YAML) of a preset, a file or a recorded run",
                       formatter_class=formatter(),
                       description="Compose a config exactly as 'benchmark run' would (preset or file, the flags, "
                                   "the overrides), check every field, and print it as YAML; nothing runs. "
                                   "The output is itself a config file for --config.",
                       epilog=add_examples(["benchmark config show                          # the CPU default",
                                            "benchmark config show --preset paper --data-root /data/CCVID",
                                            "benchmark config show --config configs/ccvid/ap3d.yaml   # no data "
                                            "root needed to read a recipe",
                                            "benchmark config show --config configs/image.yaml --dataset last "
                                            "--data-root /data/last",
                                            "benchmark config show --config runs/<run id>/record.json",
                                            "benchmark config show --preset paper optim.lr=1e-4 > my.yaml",
                                            "benchmark config presets"]))
    csub = c.add_subparsers(dest="action", metavar="ACTION", required=True)
    show = csub.add_parser("show", parents=[config_parent()], formatter_class=formatter(),
                           help="print the resolved config as YAML")
    show.set_defaults(func=show_main)
    pr = csub.add_parser("presets", help="list the built-in configs (configs/*.yaml)")
    pr.set_defaults(func=presets_main)


def show_main(args) -> int:
    from ..config import to_yaml
    cfg, warnings = build_config(args, need_root=False)  # printing a recipe reads no data
    for w in warnings:
        say(f"# warning: {w}")
    say(to_yaml(cfg).rstrip())
    weights = weights_note(cfg.model.pretrained, cfg.model.backbone)
    if weights:
        say(weights)
    return 0


def weights_note(spec, backbone: str):
    """A comment naming the file an ``imagenet`` spec means (the weights are part of the recipe)."""
    from temporal_models import BACKBONES
    from temporal_models.backbones import IMAGENET_SPECS, TORCHVISION_CHECKPOINTS
    family = BACKBONES.family(backbone)
    if family is not None and spec in family.words:
        from temporal_models.timm_encoders import hub_cache, hub_repo
        return (f"# model.pretrained {spec}: the weights of {hub_repo(backbone[len(family.prefix):])} in timm's "
                f"local Hugging Face cache ({hub_cache()}), never downloaded")
    if spec not in IMAGENET_SPECS or backbone not in TORCHVISION_CHECKPOINTS:
        return None
    version = IMAGENET_SPECS[spec]
    names = TORCHVISION_CHECKPOINTS[backbone].get(version) or ()
    return (f"# model.pretrained {spec}: torchvision's ImageNet {version.upper()} file "
            f"{' or '.join(names)} from the torch cache")


def presets_main(args) -> int:
    from ..config import CONFIG_DIR, presets
    for name in presets():
        first = (CONFIG_DIR / f"{name}.yaml").read_text(encoding="utf-8").splitlines()[0].lstrip("# ")
        say(f"{name:22s} {first}")
    return 0
