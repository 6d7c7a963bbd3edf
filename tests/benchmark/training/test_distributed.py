"""torchrun with two CPU processes (gloo): one record and one checkpoint, the single process's iterations
per epoch, and a checkpoint that scores in one process exactly what the two ranks recorded."""
import json
import os
import subprocess
import sys

import pytest

from benchmark.training.distributed import RankSlice, shard

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
TINY = ["synth.num_train_ids=8", "synth.num_test_ids=3", "synth.num_frames=12", "synth.max_suits=2",
        "synth.write_videos=false", "synth.workers=1", "num_ids=4", "clips_per_id=2", "threads=1",
        "--epochs", "2", "--no-progress"]


def test_rank_slices_make_up_every_global_batch():
    base = list(range(23))
    parts = [list(RankSlice(base, 8, r, 2)) for r in range(2)]
    assert [len(p) for p in parts] == [8, 8] and len(RankSlice(base, 8, 0, 2)) == 8
    for b in range(2):  # global batch b = rank 0's half then rank 1's half, the short tail dropped
        assert parts[0][4 * b:4 * b + 4] + parts[1][4 * b:4 * b + 4] == base[8 * b:8 * b + 8]
    with pytest.raises(ValueError, match="does not split over 3 processes"):
        RankSlice(base, 8, 0, 3)
    assert list(shard(5)) == [0, 1, 2, 3, 4]  # one process: everything


def test_a_rank_loader_keeps_the_loaders_collate_function():
    from torch.utils.data import DataLoader

    from benchmark.training.distributed import rank_loader
    from samplers import collate_clips
    loader = DataLoader(list(range(16)), batch_size=4, sampler=list(range(16)), collate_fn=collate_clips)
    assert rank_loader(loader).collate_fn is collate_clips  # data.decode=device batches survive torchrun


def test_two_cpu_processes_train_one_run(tmp_path):
    from benchmark.training import evaluate_checkpoint
    runs, cache = tmp_path / "runs", tmp_path / "cache"
    env = {**os.environ, "PYTHONPATH": REPO, "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", "-m", "benchmark",
           "run", "--model", "baseline", "--runs-dir", str(runs), f"cache_dir={cache}", *TINY]
    proc = subprocess.run(cmd, env=env, cwd=str(tmp_path), capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    (folder,) = os.listdir(runs)  # one record and one checkpoint, written by rank 0 only
    files = sorted(os.listdir(runs / folder))
    assert files.count("record.json") == 1 and files.count("model.pt") == 1
    rec = json.load(open(runs / folder / "record.json"))
    assert rec["machine"]["processes"] == 2 and rec["status"] == "complete"
    # the same global batches as one process: 8 ids x 2 suits = 96 tracklets / (4 x 2) = 12 iterations
    assert [e["iterations"] for e in rec["history"]] == [12, 12]
    one = evaluate_checkpoint(str(runs / folder / "model.pt"))
    for protocol, scores in rec["metrics"].items():
        for k, v in scores.items():
            assert one[protocol][k] == pytest.approx(v, abs=1e-5), (protocol, k)
