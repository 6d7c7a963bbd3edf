"""End-to-end and bad-input behaviour of the ``benchmark`` command."""
import json
import os
import subprocess
import sys

import pytest

from benchmark.cli import main

TINY = ["--set", "synth.num_train_ids=4", "--set", "synth.num_test_ids=3", "--set", "synth.num_frames=12",
        "--set", "synth.max_suits=2", "--set", "synth.write_videos=false", "--set", "synth.workers=1",
        "--set", "num_ids=2", "--set", "clips_per_id=2", "--set", "lr_steps=1", "--epochs", "2",
        "--set", "cal_start_epoch=1", "--no-progress"]


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    return str(tmp_path_factory.mktemp("cache"))


def run_cli(args, capsys):
    code = main(args)
    out = capsys.readouterr()
    return code, out.out, out.err


def test_run_fills_a_run_folder_and_a_record_reruns_exactly(tmp_path, cache, capsys):
    runs = tmp_path / "runs"
    args = ["run", "--model", "baseline", "--cal", "--runs-dir", str(runs), "--set", f"cache_dir={cache}", *TINY]
    code, out, _ = run_cli(args, capsys)
    assert code == 0 and "general" in out and "cc" in out
    (first,) = [os.path.join(d, f) for d, _, fs in os.walk(runs) for f in fs if f == "record.json"]
    folder = os.path.dirname(first)
    assert sorted(os.listdir(folder)) == ["config.yaml", "log.txt", "metrics.csv", "model.pt", "record.json",
                                          "state.pt"]
    rec = json.load(open(first))
    assert rec["format"] == "ccreid-bench/run-record/3" and rec["objective"] == "cal"
    assert rec["dataset"]["instrument"] == "embedded-v3" and list(rec["variants"]) == ["whole"]
    cfg = rec["config"]
    assert cfg["cal"]["enabled"] is True and cfg["model"]["name"] == "baseline" and cfg["system"]["seed"] == 0
    assert rec["files"]["log"] == "log.txt" and rec["versions"]["torch"] and "commit" in rec["git"]
    assert set(rec["metrics"]) == {"general", "cc", "sc"}
    assert rec["timings"]["train_s"] > 0 and rec["timings"]["test_s"] > 0
    assert len(rec["history"]) == 2 and "cal" in rec["history"][1] and "cal" not in rec["history"][0]
    assert os.path.isfile(rec["checkpoint"])
    # the log holds what the run printed; metrics.csv one row per epoch; config.yaml is the resolved config
    log_text = open(os.path.join(folder, "log.txt")).read()
    assert "epoch 2/2" in log_text and "record: " in log_text and "cc_mAP=" in log_text
    rows = open(os.path.join(folder, "metrics.csv")).read().splitlines()
    assert rows[0].startswith("epoch,lr,") and len(rows) == 3 and rows[2].split(",")[0] == "2"
    from benchmark.config import compose
    assert compose(config=os.path.join(folder, "config.yaml")).to_dict() == cfg
    # the recorded run again, from its record: the same config and, on the same machine, the same metrics
    again = tmp_path / "again"
    code, _, _ = run_cli(["run", "--config", first, "--runs-dir", str(again), "--no-progress"], capsys)
    assert code == 0
    (second,) = [os.path.join(d, f) for d, _, fs in os.walk(again) for f in fs if f == "record.json"]
    rec2 = json.load(open(second))
    assert rec2["metrics"] == rec["metrics"] and rec2["history"] == rec["history"]
    assert {**rec2["config"], "system": None} == {**cfg, "system": None}


def test_missing_data_root(tmp_path, capsys):
    code, _, err = run_cli(["run", "--data-root", str(tmp_path / "nowhere"), "--no-progress"], capsys)
    assert code == 2
    assert err.strip() == f"benchmark: error: {tmp_path / 'nowhere'}: dataset folder not found"


def test_malformed_annotation_line(ccvid_tree, capsys):
    with open(ccvid_tree / "query.txt", "a") as f:
        f.write("session1/010_09\n")
    code, _, err = run_cli(["run", "--data-root", str(ccvid_tree), "--no-progress"], capsys)
    assert code == 2 and f"{ccvid_tree / 'query.txt'}:3: expected" in err
    assert len(err.strip().splitlines()) == 1


def test_unknown_model_suggests_close_names(tmp_path, cache, capsys):
    code, _, err = run_cli(["run", "--model", "baselin", "--runs-dir", str(tmp_path),
                            "--set", f"cache_dir={cache}", *TINY], capsys)
    assert code == 2 and "unknown model 'baselin'; did you mean 'baseline'?" in err


def test_unknown_config_field(capsys):
    code, _, err = run_cli(["run", "--set", "learning_rate=1"], capsys)
    assert code == 2 and "override learning_rate: unknown config field" in err


def test_undecodable_video_is_one_line_without_traceback(ccvid_tree, tmp_path):
    import shutil
    packed = tmp_path / "packed"
    packed.mkdir()
    for split in ("train", "query", "gallery"):
        shutil.copy(ccvid_tree / f"{split}.txt", packed / f"{split}.txt")
        for line in open(ccvid_tree / f"{split}.txt"):
            path = packed / (line.split()[0] + ".mp4")
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(b"this is not an mp4 file" * 50)
    proc = subprocess.run([sys.executable, "-m", "benchmark", "run", "--data-root", str(packed), "--no-progress",
                           "--runs-dir", str(tmp_path / "runs")], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2
    assert "cannot decode video" in proc.stderr and ".mp4" in proc.stderr
    assert "Traceback" not in proc.stderr and len(proc.stderr.strip().splitlines()) == 1


def test_checkpoint_reloads_and_rejects_other_models(tmp_path, cache, capsys):
    args = ["run", "--model", "baseline", "--runs-dir", str(tmp_path), "--set", f"cache_dir={cache}", *TINY]
    assert main(args) == 0
    (rec,) = [os.path.join(d, f) for d, _, fs in os.walk(tmp_path) for f in fs if f == "record.json"]
    rec = json.load(open(rec))
    capsys.readouterr()
    assert main(["test", rec["checkpoint"], "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert f"{100 * rec['metrics']['general']['mAP']:.1f}" in out  # same features, same numbers
    # the features exported from the run folder score the same numbers in `benchmark evaluate`
    feats = tmp_path / "feats"
    assert main(["test", os.path.dirname(rec["checkpoint"]), "--save-features", str(feats), "--no-progress"]) == 0
    capsys.readouterr()
    assert main(["evaluate", "--query", str(feats / "query.npz"), "--gallery", str(feats / "gallery.npz"),
                 "--json"]) == 0
    scored = json.loads(capsys.readouterr().out)
    for protocol, scores in rec["metrics"].items():
        assert scored[protocol]["mAP"] == pytest.approx(scores["mAP"], abs=1e-6)
        assert scored[protocol]["top1"] == pytest.approx(scores["top1"], abs=1e-6)
    code, _, err = run_cli(["test", rec["checkpoint"], "--model", "ap3d"], capsys)
    assert code == 2 and "checkpoint is from model 'baseline', not 'ap3d'" in err
    import torch
    bad = tmp_path / "bad.pt"
    ck = torch.load(rec["checkpoint"], weights_only=False)
    ck["config"]["model"] = "i3d"
    ck["model"] = "i3d"
    torch.save(ck, bad)
    code, _, err = run_cli(["test", str(bad)], capsys)
    assert code == 2 and "weights do not fit model 'i3d'" in err and len(err.strip().splitlines()) == 1
    code, _, err = run_cli(["test", str(tmp_path / "none.pt")], capsys)
    assert code == 2 and "checkpoint not found" in err


def test_evaluate_command_scores_npz_files(tmp_path, capsys):
    import numpy as np
    rng = np.random.default_rng(0)
    g = rng.normal(size=(20, 8)).astype(np.float32)
    gp, gc, gcl = np.repeat(np.arange(5), 4), np.tile([0, 1, 0, 1], 5), np.tile([0, 0, 1, 1], 5)
    q = g[::4] + 0.01  # each query is its identity's first gallery item: camera 0, clothes 0
    np.savez(tmp_path / "q.npz", features=q, pids=np.arange(5), camids=np.zeros(5, int), clothes=np.zeros(5, int))
    np.savez(tmp_path / "g.npz", features=g, pids=gp, camids=gc, clothes=gcl)
    code, out, _ = run_cli(["evaluate", "--query", str(tmp_path / "q.npz"), "--gallery", str(tmp_path / "g.npz"),
                            "--json"], capsys)
    res = json.loads(out)
    assert code == 0 and set(res) == {"general", "cc", "sc"}
    assert res["general"]["valid_queries"] == 5 and 0 <= res["general"]["mAP"] <= 1
    # per identity: gallery item 1 (camera 1, clothes 0) is the SC match, item 3 (camera 1, clothes 1) the CC one
    assert res["sc"]["valid_queries"] == 5 and res["cc"]["valid_queries"] == 5
    code, out, _ = run_cli(["evaluate", "--query", str(tmp_path / "q.npz"), "--gallery", str(tmp_path / "g.npz")],
                           capsys)
    assert code == 0 and "general" in out and "undefined" not in out
    np.savez(tmp_path / "bad.npz", features=g, camids=gc)
    code, _, err = run_cli(["evaluate", "--query", str(tmp_path / "bad.npz"), "--gallery", str(tmp_path / "g.npz")],
                           capsys)
    assert code == 2 and "bad.npz: missing array 'pids'" in err


def test_evaluate_rerank_scores_the_reranked_distances(tmp_path, capsys):
    import numpy as np
    import torch

    from tests.benchmark.evaluation.oracles import evaluate_reference
    from benchmark.evaluation.rerank import rerank_matrix
    rng = np.random.default_rng(1)
    g = rng.normal(size=(60, 8)).astype(np.float32)
    gp, gc = np.repeat(np.arange(12), 5), np.tile([0, 1, 1, 1, 1], 12)
    q = g[::5] + 0.3 * rng.normal(size=(12, 8)).astype(np.float32)
    np.savez(tmp_path / "q.npz", features=q, pids=np.arange(12), camids=np.zeros(12, int))
    np.savez(tmp_path / "g.npz", features=g, pids=gp, camids=gc)
    code, out, _ = run_cli(["evaluate", "--query", str(tmp_path / "q.npz"), "--gallery", str(tmp_path / "g.npz"),
                            "--json", "--rerank"], capsys)
    assert code == 0
    got = json.loads(out)["general"]
    # oracle: a per-query loop that ranks by the re-ranked distance matrix directly
    dist = rerank_matrix(torch.from_numpy(q), torch.from_numpy(g)).numpy()
    ap = []
    for i in range(12):
        order = np.argsort(dist[i], kind="stable")
        keep = ~((gp[order] == i) & (gc[order] == 0))
        hits = np.flatnonzero((gp[order] == i)[keep])
        ap.append(np.mean(np.arange(1, len(hits) + 1) / (hits + 1)))
    assert abs(got["mAP"] - float(np.mean(ap))) < 1e-6
    plain = evaluate_reference(q, g, np.arange(12), gp, np.zeros(12, int), gc)["general"]
    assert got["mAP"] != plain["mAP"]  # re-ranking changed the ranking


def test_cal_sweep_forks_one_run_per_epsilon_from_one_id_only_run(tmp_path, cache, capsys):
    runs = tmp_path / "runs"
    args = ["cal-sweep", "--eps", "0.5", "1.0", "--starts", "1", "--runs-dir", str(runs),
            "--set", f"cache_dir={cache}", *TINY]
    code, out, err = run_cli(args, capsys)
    assert code == 0, err
    records = [json.load(open(os.path.join(d, "record.json"))) for d, _, fs in os.walk(runs) if "record.json" in fs]
    cals = sorted((r["config"]["cal"]["epsilon"], r["forked_at_epoch"]) for r in records
                  if r["config"]["cal"]["enabled"])
    assert cals == [(0.5, 1), (1.0, 1)] and len(records) == 3
    plain = next(r for r in records if not r["config"]["cal"]["enabled"])
    assert all(r["history"][0] == plain["history"][0] for r in records)  # the shared ID-only epoch
    fork_dir = next(os.path.dirname(p) for p in [os.path.join(runs, d, "record.json") for d in os.listdir(runs)]
                    if json.load(open(p))["forked_at_epoch"] == 1)
    log = open(os.path.join(fork_dir, "log.txt")).read()
    assert log.index("epoch 1/2") < log.index("forked from") < log.index("epoch 2/2")
    plain_dir = next(os.path.join(runs, d) for d in os.listdir(runs)
                     if not json.load(open(os.path.join(runs, d, "record.json")))["config"]["cal"]["enabled"])
    plain_log = open(os.path.join(plain_dir, "log.txt")).read()
    assert plain_log.count("epoch 2/2") == 1 and "forked from" not in plain_log  # each run logs its own epochs
    assert "ID only: " in out and "CAL eps=0.5 from epoch 1: " in out


def test_config_show_prints_a_recipe_without_a_data_root_but_run_needs_one(capsys):
    assert main(["config", "show", "--config", "configs/ccvid/ap3d.yaml"]) == 0
    out = capsys.readouterr().out
    assert "# warning: data.root: none given; a run of data.dataset ccvid needs --data-root DIR" in out
    assert "  name: ap3d" in out and "  root: null" in out
    assert main(["run", "--config", "configs/ccvid/ap3d.yaml", "--no-progress"]) == 2
    assert "data.dataset ccvid needs --data-root DIR" in capsys.readouterr().err


def test_a_reader_that_goes_away_stops_the_command_quietly():
    import subprocess
    import sys
    p = subprocess.Popen([sys.executable, "-m", "benchmark", "config", "show", "--preset", "paper"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    p.stdout.close()  # as `| head -0` does: every write of the command meets a closed pipe
    err = p.stderr.read().decode()
    assert p.wait(timeout=60) == 141 and "Traceback" not in err and "Broken pipe" not in err, err


def test_the_command_line_parser_imports_no_torch():
    """`benchmark --help` and argument errors stay instant: building the parser imports neither torch nor the models."""
    import subprocess
    import sys
    code = ("import sys, benchmark.cli as c; c.build(); "
            "heavy = sorted(m for m in ('torch', 'temporal_models', 'samplers') if m in sys.modules); print(heavy)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.stdout.strip() == "[]", out.stdout + out.stderr


def test_a_bad_metric_is_one_line(tmp_path, capsys):
    assert main(["evaluate", "--query", "q.npz", "--gallery", "g.npz", "--metric", "manhattan"]) == 2
    assert capsys.readouterr().err.strip() == "benchmark: error: --metric 'manhattan': expected cosine, euclidean"
