"""Every published recipe is a config file under configs/<dataset>/ that holds the reference's values.

The expected values are written out here from the reference code's facts (docs/reference-facts.md, C),
independently of the files, and compared with what `benchmark config show --config FILE` prints.
"""
import pytest
import yaml

from benchmark.cli import main
from benchmark.config import CONFIG_DIR

# Simple-CCReID: TemporalRandomCrop (8..31 frames: segments of floor(L/8) frames from the start), dense 64-frame
# pieces, ID loss alone (plus CAL), cosine distances of L2-normalised features, a MultiStepLR schedule; memory-bank
# CAL writes each raw sample in batch order (its dict is keyed by tensors)
VIDEO = {"data.num_ids": 8, "data.clips_per_id": 4, "data.seq_len": 8, "data.stride": 4, "data.dense_piece": 64,
         "data.sampling": "stride-head", "loss.id_weight": 1.0, "optim.scheduler": "multistep",
         "eval.metric": "cosine", "eval.normalize": True, "eval.selection_clips": None, "cal.memory_write": "last",
         "data.height": 256, "data.width": 128, "data.resize": "bicubic", "data.test_clips": "tile",
         "optim.lr": 3.5e-4, "optim.weight_decay": 5e-4, "optim.lr_steps": [40, 80, 120], "optim.lr_gamma": 0.1,
         "optim.epochs": 150, "optim.clothes_lr": None, "cal.start_epoch": 50, "cal.clothes_start_epoch": 50,
         "cal.epsilon": 0.1, "cal.scale": 16.0, "loss.label_smoothing": 0.0, "loss.triplet_weight": 0.0,
         "eval.every": 10, "eval.selection_rule": "cc-top1", "model.pretrained": "imagenet",
         "model.backbone": "resnet50",
         "model.res4_stride": 1, "model.init": "reference", "eval.feature": "mean", "eval.shot": "multi"}
IMAGE = {**VIDEO, "data.num_ids": 8, "data.clips_per_id": 8, "data.seq_len": 1, "data.height": 384, "data.width": 192,
         "data.resize": "bilinear", "optim.lr_steps": [20, 40], "optim.epochs": 60, "cal.start_epoch": 25,
         "cal.clothes_start_epoch": 25, "loss.label_smoothing": 0.1, "eval.every": 5, "model.name": "image",
         "data.random_crop": 0.5, "data.random_erasing": 0.5, "eval.flip": True}
# VideoReID-TCLNet train.py / test.py: whole tracklets (pieces only for DukeMTMC-VideoReID), TemporalRandomCrop
# (4..31 frames: 4 distinct random frames), the epoch picked by general top-1 on TemporalBeginCrop, reported on chunks
TCLNET = {**VIDEO, "data.dataset": "ccvid", "model.name": "tclnet", "data.seq_len": 4, "data.stride": 8,
          "data.sampling": "stride-distinct", "data.dense_piece": 0, "data.test_clips": "chunks", "optim.lr": 3e-4,
          "loss.triplet_weight": 1.0, "loss.triplet_margin": 0.4, "loss.triplet_distance": "cosine",
          "loss.triplet_mining": "hard", "eval.feature": "model", "eval.selection_rule": "general-top1",
          "eval.selection_clips": "begin"}
RECIPES = {
    **{f"ccvid/{m}": {**VIDEO, "data.dataset": "ccvid", "model.name": m}
       for m in ("baseline", "i3d", "nonlocal", "ap3d", "ap3d_nl")},
    "ccvid/tclnet": TCLNET,
    # GaitSet (model/model.py, config.py, utils/evaluator.py, test.py): Adam 1e-4 without weight decay or schedule,
    # the batch-all Euclidean triplet (margin 0.2) alone, random.choices of 30 frames, every frame at test,
    # Euclidean distances of raw features, the last iteration's checkpoint
    "ccvid/gaitset": {**VIDEO, "data.dataset": "ccvid", "model.name": "gaitset", "optim.lr": 1e-4,
                      "optim.weight_decay": 0.0, "optim.scheduler": "constant", "optim.lr_steps": [],
                      "data.seq_len": 30, "data.sampling": "set", "data.dense_piece": 0, "data.test_clips": "all",
                      "loss.id_weight": 0.0, "loss.triplet_weight": 1.0, "loss.triplet_margin": 0.2,
                      "loss.triplet_distance": "euclidean", "loss.triplet_mining": "all", "eval.metric": "euclidean",
                      "eval.normalize": False, "eval.selection_rule": None},
    # the MEVID release's CAL fork: dense sampling off; its test() returns the DS top-1 and cannot run: no rule
    "mevid/baseline": {**VIDEO, "data.dataset": "mevid", "model.name": "baseline", "data.dense_piece": 0,
                       "eval.selection_rule": None},
    # the release's AP3D/train.py and test-all.py: AP3D's own recipe, the epoch-240 checkpoint on whole videos
    "mevid/ap3d": {**VIDEO, "data.dataset": "mevid", "model.name": "ap3d", "data.seq_len": 4, "data.stride": 8,
                   "data.sampling": "stride-distinct", "data.dense_piece": 0, "data.test_clips": "all",
                   "optim.epochs": 240, "optim.lr": 3e-4, "optim.lr_steps": [60, 120, 180], "loss.triplet_weight": 1.0,
                   "loss.triplet_margin": 0.3, "loss.triplet_distance": "cosine", "loss.triplet_mining": "hard",
                   "eval.selection_rule": None},
    # the release's TCLNet/train.py: TCLNet's recipe with the scheduler step commented out
    "mevid/tclnet": {**TCLNET, "data.dataset": "mevid", "optim.scheduler": "constant", "optim.lr_steps": []},
    # the EVA02-L video baseline of "Colors See Colors Ignore" (ICCV 2025; its code read in the public fork
    # james-lat/ICCV-CSCI-Person-ReID-Distillation-Fork): config/defaults.py, train.py, data/__init__.py,
    # Script/image_batch_newton.sh; docs/recipes.md says which values are cited and which inferred
    "ccvid/eva02l": {**VIDEO, "data.dataset": "ccvid", "model.name": "frames_mean",
                     "model.backbone": "timm:eva02_large_patch14_clip_224.merged2b", "model.pretrained": "timm",
                     "model.frame_pool": "cls", "model.init": "pytorch", "data.height": 224, "data.width": 224,
                     "data.normalize": "imagenet", "data.seq_len": 4, "data.stride": 4, "data.num_ids": 8,
                     "data.clips_per_id": 2, "data.random_erasing": 0.5, "data.random_crop": 0.0,
                     "optim.optimizer": "sgd", "optim.lr": 2e-5, "optim.weight_decay": 0.05, "optim.epochs": 100,
                     "optim.lr_steps": [40, 60], "optim.warmup_epochs": 20, "optim.warmup_factor": 0.01,
                     "loss.triplet_weight": 1.0, "loss.triplet_margin": 0.3,
                     "loss.triplet_distance": "euclidean", "eval.every": 2, "eval.selection_rule": "cc-top1"},
    # ours, not published: the paper's video recipe on MARS (identities only) with CAL on clustered pseudo outfits
    "mars/baseline": {**VIDEO, "data.dataset": "mars", "model.name": "baseline", "cal.clothes_labels": "cluster",
                      "cal.relabel_every": 10, "eval.selection_rule": None},
    "ltcc/image": {**IMAGE, "data.dataset": "ltcc"},
    "prcc/image": {**IMAGE, "data.dataset": "prcc"},
    "vcclothes/image": {**IMAGE, "data.dataset": "vcclothes"},  # its SC / CC: evaluations of its best.pt
    "last/image": {**IMAGE, "data.dataset": "last", "data.num_ids": 16, "data.clips_per_id": 4,
                   "loss.triplet_weight": 1.0, "eval.selection_rule": "general-top1"},
    "deepchange/image": {**IMAGE, "data.dataset": "deepchange", "data.num_ids": 16, "data.clips_per_id": 4,
                         "eval.selection_rule": "general-top1"},
}


# a CLIP ViT-B/16 (OpenAI's, QuickGELU) at the re-id size with CLIP's mean and std, otherwise the EVA02-L recipe
RECIPES["ccvid/clip_vitb16"] = {**RECIPES["ccvid/eva02l"],
                                "model.backbone": "timm:vit_base_patch16_clip_quickgelu_224.openai",
                                "data.height": 256, "data.width": 128, "data.normalize": "clip", "data.seq_len": 8,
                                "data.clips_per_id": 4}


def flat(tree, prefix=""):
    for k, v in tree.items():
        if isinstance(v, dict) and not prefix and k not in ("preset",):
            yield from flat(v, f"{k}.")
        else:
            yield f"{prefix}{k}", v


def test_every_recipe_file_is_listed_here():
    files = sorted(p.relative_to(CONFIG_DIR).with_suffix("").as_posix() for p in CONFIG_DIR.glob("*/*.yaml"))
    assert files == sorted(RECIPES)


@pytest.mark.parametrize("recipe", sorted(RECIPES))
def test_config_show_prints_the_reference_values(recipe, capsys):
    assert main(["config", "show", "--config", str(CONFIG_DIR / f"{recipe}.yaml"), "--data-root", "/data/x"]) == 0
    text = capsys.readouterr().out
    shown = dict(flat(yaml.safe_load(text)))
    expected = RECIPES[recipe]
    if expected["model.backbone"].startswith("timm:"):  # the weights: a tag's file in timm's local cache
        assert "# model.pretrained timm: the weights of timm/" in text and "never downloaded" in text
    else:
        assert "torchvision's ImageNet V1 file resnet50-0676ba61.pth or resnet50-19c8e357.pth" in text
    wrong = {k: (shown.get(k), v) for k, v in expected.items() if shown.get(k) != v}
    assert not wrong, wrong
    assert shown["preset"] == recipe and shown["data.root"] == "/data/x"
