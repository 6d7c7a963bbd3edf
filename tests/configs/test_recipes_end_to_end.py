"""Every recipe file trains and evaluates end to end on a tiny tree in its dataset's exact layout.

Only the input size and the number of epochs are overridden (and a timm recipe's encoder: see TINY_TIMM);
everything else (ResNet-50, ImageNet V1 weights, batch composition, workers, the selection rule) is the
recipe's. The ImageNet file is a randomly initialised torchvision ResNet-50 saved under V1's name in a
temporary torch cache: the weights' values do not matter here, their loading and their record do.
"""
import hashlib
import json
import os
import zlib

import numpy as np
import pytest
from PIL import Image

from benchmark.cli import main
from benchmark.config import CONFIG_DIR

SIZE = ["height=64", "width=32"]
V1 = "resnet50-0676ba61.pth"
# the timm recipes (a CLIP ViT-B/16, EVA02-L) run here with timm's 0.3M-parameter test ViT in their encoder's place,
# its (random) weights in a temporary Hugging Face cache that the recipes' model.pretrained=timm reads
TINY_TIMM = "test_vit.r160_in1k"


def img(path, value):
    os.makedirs(os.path.dirname(str(path)), exist_ok=True)
    rng = np.random.default_rng(value)
    Image.fromarray(rng.integers(0, 255, size=(8, 4, 3), dtype=np.uint8)).save(str(path))


def write(path, text):
    os.makedirs(os.path.dirname(str(path)), exist_ok=True)
    with open(path, "w") as f:
        f.write(text)


# trees: 8 training identities (16 for LaST / DeepChange, whose recipes take 16 ids a batch), two suits
# each; two test identities seen in two suits by two cameras, so every protocol has a valid query
def ccvid_tree(root):
    rows = {"train": [], "query": [], "gallery": []}
    for p in range(8):
        for s in (1, 2):
            rows["train"].append((f"session1/{p + 1:03d}_0{s}", p + 1, f"u{s}_l0_s0_c0_a0"))
    for p in (50, 51):
        rows["query"].append((f"session2/{p:03d}_01", p, "u0_l0_s0_c0_a0"))
        rows["gallery"] += [(f"session3/{p:03d}_01", p, "u1_l0_s0_c0_a0"),
                            (f"session3/{p:03d}_02", p, "u0_l0_s0_c0_a0")]
    for split, items in rows.items():
        write(root / f"{split}.txt", "".join(f"{path}\t{pid:03d}\t{clothes}\n" for path, pid, clothes in items))
        for path, _, _ in items:
            for f in range(6):
                img(root / path / f"{f + 1:05d}.jpg", zlib.crc32(f"{path}{f}".encode()) % 1000)


def mevid_tree(root):
    def name(pid, outfit, cam, tracklet, frame):
        return f"{pid:04d}O{outfit:03d}C{cam:03d}T{tracklet:03d}F{frame:05d}.jpg"
    for split, tracks in (("train", [(p, o, 330 + o, 6) for p in range(1, 9) for o in (1, 2)]),
                          ("test", [(p, o, c, 6) for p in (201, 202) for o, c in ((1, 330), (2, 505), (1, 424))])):
        names, info = [], []
        for t, (pid, outfit, cam, n) in enumerate(tracks):
            info.append(f"{len(names)} {len(names) + n - 1} {pid} {outfit} {cam}")
            names += [name(pid, outfit, cam, t, f) for f in range(n)]
        write(root / f"{split}_name.txt", "".join(n + "\n" for n in names))
        write(root / f"track_{split}_info.txt", "\n".join(info) + "\n")
        for k, n in enumerate(names):
            img(root / f"bbox_{split}" / n[:4] / n, k)
    write(root / "query_IDX.txt", "0\n3\n")


def ltcc_tree(root):
    for p in range(8):
        for s in (1, 2):
            img(root / "train" / f"{p + 1:03d}_{s}_c{s}_{p:06d}.png", p * 2 + s)
    for p in (200, 201):
        img(root / "query" / f"{p}_1_c1_000001.png", p)
        img(root / "test" / f"{p}_1_c2_000002.png", p + 1)
        img(root / "test" / f"{p}_2_c3_000003.png", p + 2)


def prcc_tree(root):
    rgb = root / "rgb"
    for p in range(8):
        for k, cam in enumerate("ABC"):
            img(rgb / "train" / f"{p + 1:03d}" / f"{cam}_cropped_rgb{k:03d}.jpg", p * 3 + k)
    img(rgb / "val" / "099" / "A_cropped_rgb001.jpg", 1)
    for cam in "ABC":
        for p in ("010", "011"):
            img(rgb / "test" / cam / p / "cropped_rgb001.jpg", zlib.crc32(f"{cam}{p}".encode()) % 1000)


def vcclothes_tree(root):
    for p in range(8):
        for cam, clothes in ((1, 1), (2, 2), (3, 1), (4, 2)):
            img(root / "train" / f"{p + 1:04d}-{cam:02d}-{clothes:02d}-01.jpg", p * 4 + cam)
    for p in (20, 21):
        for cam in (1, 2, 3, 4):
            img(root / "query" / f"{p:04d}-{cam:02d}-01-01.jpg", p + cam)
            img(root / "gallery" / f"{p:04d}-{cam:02d}-{1 if cam in (2, 3) else 2:02d}-02.jpg", p + 10 * cam)
            img(root / "gallery" / f"{p:04d}-{cam:02d}-01-03.jpg", p + 20 * cam)


def last_tree(root):
    for p in range(16):
        for s in (0, 1):
            img(root / "train" / f"{p + 1:06d}" / f"{p + 1:06d}_{s}_c{s + 1}_{s}.jpg", p * 2 + s)
    for split in ("test", "val"):
        for p in (900, 901):
            img(root / split / "query" / f"{p:06d}_0_c3_0.jpg", p)
            img(root / split / "gallery" / f"{p:06d}" / f"{p:06d}_1_c4_0.jpg", p + 1)


def deepchange_tree(root):
    lists = {"train-set": [(f"P{p + 1:04d}_c{s}_f{s:03d}.jpg", 10 * p + s) for p in range(16) for s in (1, 2)],
             "test-set-query": [("P0900_c1_f001.jpg", 900), ("P0901_c1_f001.jpg", 910)],
             "test-set-gallery": [("P0900_c3_f005.jpg", 901), ("P0901_c4_f006.jpg", 911), ("P0902_c4_f007.jpg", 920)],
             "val-set-query": [("P0700_c1_f001.jpg", 700)], "val-set-gallery": [("P0700_c2_f001.jpg", 701)]}
    for folder, rows in lists.items():
        for k, (name, _) in enumerate(rows):
            img(root / folder / name, k)
        write(root / f"{folder}-bbox.txt", "".join(f"{name},{tid}\n" for name, tid in rows))


def mars_tree(root):
    from tests.ccvid.test_mars import write_mars
    write_mars(root)


TREES = {"ccvid": ccvid_tree, "mevid": mevid_tree, "ltcc": ltcc_tree, "prcc": prcc_tree, "vcclothes": vcclothes_tree,
         "last": last_tree, "deepchange": deepchange_tree, "mars": mars_tree}
# MARS has no clothes labels: its recipe's CAL runs on pseudo outfits, clustered here at the first epoch (the
# tiny tree has 2 training identities)
WITH_CAL = {"mars/baseline": ["--cal", "cal.start_epoch=0", "cal.clothes_start_epoch=0", "data.num_ids=2"]}
RECIPES = sorted(p.relative_to(CONFIG_DIR).with_suffix("").as_posix() for p in CONFIG_DIR.glob("*/*.yaml"))


@pytest.fixture(scope="module")
def imagenet_v1(tmp_path_factory):
    """A torch cache holding a (random) ResNet-50 under torchvision's V1 file name."""
    import torch
    import torchvision

    home = tmp_path_factory.mktemp("torch_home")
    folder = home / "hub" / "checkpoints"
    folder.mkdir(parents=True)
    torch.manual_seed(0)
    torch.save(torchvision.models.resnet50().state_dict(), str(folder / V1))
    old = os.environ.get("TORCH_HOME")
    os.environ["TORCH_HOME"] = str(home)
    yield folder / V1
    if old is None:
        os.environ.pop("TORCH_HOME", None)
    else:
        os.environ["TORCH_HOME"] = old


@pytest.fixture(scope="module")
def timm_cache(tmp_path_factory):
    """A Hugging Face hub cache holding (random) weights of TINY_TIMM, in the layout timm downloads into."""
    pytest.importorskip("timm")
    from tests.temporal_models.test_timm_encoders import fake_hub_file
    from temporal_models.timm_encoders import hub_repo
    import timm
    import torch

    cache = tmp_path_factory.mktemp("hf") / "hub"
    torch.manual_seed(0)
    path = fake_hub_file(cache, hub_repo(TINY_TIMM), timm.create_model(TINY_TIMM, num_classes=1000).state_dict())
    old = os.environ.get("HF_HUB_CACHE")
    os.environ["HF_HUB_CACHE"] = str(cache)
    yield path
    if old is None:
        os.environ.pop("HF_HUB_CACHE", None)
    else:
        os.environ["HF_HUB_CACHE"] = old


def is_timm(recipe):
    return "backbone: timm:" in (CONFIG_DIR / f"{recipe}.yaml").read_text()


@pytest.mark.parametrize("recipe", RECIPES)
def test_recipe_trains_and_evaluates_end_to_end(recipe, tmp_path, imagenet_v1, request, capsys):
    dataset = recipe.split("/")[0]
    root = tmp_path / dataset
    TREES[dataset](root)
    runs = tmp_path / "runs"
    weights = request.getfixturevalue("timm_cache") if is_timm(recipe) else str(imagenet_v1)
    tiny = [f"backbone=timm:{TINY_TIMM}"] if is_timm(recipe) else []
    code = main(["run", "--config", str(CONFIG_DIR / f"{recipe}.yaml"), "--data-root", str(root),
                 "--runs-dir", str(runs), "--epochs", "1", *SIZE, *tiny, *WITH_CAL.get(recipe, []), "--no-progress"])
    out, err = capsys.readouterr()
    assert code == 0, err[-2000:]
    (folder,) = os.listdir(runs)
    rec = json.load(open(runs / folder / "record.json"))
    assert rec["config"]["preset"] == recipe and rec["config"]["data"]["dataset"] == dataset
    assert rec["model"]["weights"] == weights
    assert rec["model"]["weights_sha256"] == hashlib.sha256(open(weights, "rb").read()).hexdigest()
    assert rec["history"][0]["iterations"] >= 1 and rec["metrics"]["general"] is not None
    ref = rec["reference_selection"]
    if rec["config"]["eval"]["selection_rule"] is None:  # the reference reports the last epoch (or no rule is known)
        assert ref is None and "chosen on the TEST set" not in out
    else:
        assert ref["rule"] == rec["config"]["eval"]["selection_rule"] and ref["chosen_on"] == "test set"
        assert "chosen on the TEST set" in out
    if recipe == "vcclothes/image":
        subsets_of_the_full_set_run(runs / folder, rec, root, capsys)
    if recipe in WITH_CAL:
        assert rec["config"]["cal"]["enabled"] and rec["dataset"]["pseudo_clothes"]["computed_at_epoch"] == 0


def subsets_of_the_full_set_run(folder, rec, root, capsys):
    """VC-Clothes' SC / CC columns: the full-set run's best.pt scored on cameras 2+3 and 3+4, as the reference does
    (Simple-CCReID script.sh lines 10-11, main.py --eval); the record says which checkpoint and that it is an
    evaluation of the full-set run."""
    ref = rec["reference_selection"]
    assert ref["epoch"] == 1 and os.path.isfile(folder / "best.pt")
    for subset in ("vcclothes_sc", "vcclothes_cc"):
        assert main(["test", str(folder), "--best", "--dataset", subset, "--no-progress"]) == 0
        out = capsys.readouterr().out
        assert f"best.pt of run {folder.name} (epoch 1, kept by its cc-top1 rule, chosen on the TEST set), " \
               f"evaluated on {subset}: an evaluation of the run, not a run of {subset}" in out
    after = json.load(open(folder / "record.json"))
    assert after["metrics"] == rec["metrics"]
    got = {e["dataset"]: e for e in after["evaluations"]}
    assert sorted(got) == ["vcclothes_cc", "vcclothes_sc"]
    for e in got.values():
        assert (e["checkpoint"], e["epoch"], e["selection_rule"], e["of_dataset"], e["root"]) == \
            ("best.pt", 1, "cc-top1", "vcclothes", str(root))
        assert list(e["metrics"]) == ["general"] and e["metrics"]["general"]["valid_queries"] > 0
