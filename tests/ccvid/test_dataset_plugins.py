"""Outside packages add datasets through the "ccreid.datasets" entry-point group, as models through theirs."""
import json
import os
import subprocess
import sys

from conftest import install_plugin, write_frames

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PLUGIN = os.path.join(REPO, "tests", "plugins", "tiny_dataset_plugin")


def tiny_tree(root):
    """4 training and 3 test people, 2 outfits and 2 cameras each, in the plugin's own layout."""
    for split, pids in (("train", range(1, 5)), ("test", range(11, 14))):
        for pid in pids:
            for outfit in (1, 2):
                for cam in (1, 2):
                    part = split if split == "train" else ("query" if (outfit, cam) == (1, 1) else "gallery")
                    write_frames(os.path.join(root, part, f"{pid}_{cam}_{outfit}"), 12, seed=pid * 10 + outfit)


def test_an_installed_dataset_plugin_is_listed_checked_and_trains_through_the_cli(tmp_path):
    env = install_plugin(PLUGIN, tmp_path)
    tree = tmp_path / "TinySet"
    tiny_tree(str(tree))

    def benchmark(*args):
        return subprocess.run([sys.executable, "-m", "benchmark", *args], env=env, cwd=str(tmp_path),
                              capture_output=True, text=True, timeout=300)

    listed = benchmark("datasets")
    assert listed.returncode == 0 and "| tinyset" in listed.stdout and "a test plugin's videos" in listed.stdout
    checked = benchmark("datasets", "check", "--dataset", "tinyset", "--data-root", str(tree))
    assert checked.returncode == 0, checked.stderr
    assert "tinyset (video)" in checked.stdout and "protocols general, cc, sc" in checked.stdout
    runs = tmp_path / "runs"
    ran = benchmark("run", "--dataset", "tinyset", "--data-root", str(tree), "--cal", "--epochs", "2",
                    "--no-progress", "--runs-dir", str(runs), "cal.start_epoch=1", "num_ids=2", "clips_per_id=2",
                    "height=16", "width=8")
    assert ran.returncode == 0, ran.stderr[-3000:]
    (record,) = [os.path.join(d, f) for d, _, fs in os.walk(runs) for f in fs if f == "record.json"]
    record = json.load(open(record))
    assert record["dataset"]["name"] == "tinyset" and record["dataset"]["kind"] == "video"
    assert record["dataset"]["protocols"] == ["general", "cc", "sc"] and record["metrics"]["cc"] is not None
    unknown = benchmark("run", "--dataset", "tinyst", "--data-root", str(tree), "--no-progress")
    assert unknown.returncode == 2 and "did you mean 'tinyset'?" in unknown.stderr


def test_a_dataset_registration_states_kind_and_protocols_once():
    import pytest

    from ccvid import register_dataset
    with pytest.raises(ValueError, match="kind must be one of video, image"):
        register_dataset("x", kind="audio", protocols=("general",), description="")
    with pytest.raises(ValueError, match="protocols must be a non-empty sequence"):
        register_dataset("x", kind="video", protocols="general", description="")
