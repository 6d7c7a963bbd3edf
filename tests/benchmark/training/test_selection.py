"""The last epoch is the headline; the reference's rule (best test top-1) is reported apart, named."""
import os

from benchmark.records import RunRecord
from benchmark.evaluation import reference_selection
from leaderboards.tables import leaderboard_rows


def scores(top1):
    return {"top1": top1, "mAP": top1 / 2}


HISTORY = [{"epoch": 1, "loss": 3.0},
           {"epoch": 2, "metrics": {"general": scores(0.5), "cc": scores(0.3)}},
           {"epoch": 3},
           {"epoch": 4, "metrics": {"general": scores(0.7), "cc": scores(0.3)}},
           {"epoch": 5, "metrics": {"general": scores(0.6), "cc": scores(0.2)}}]


def test_the_rule_keeps_the_first_epoch_with_the_best_top1_of_its_protocol():
    cc = reference_selection(HISTORY, "cc-top1")
    assert (cc["rule"], cc["chosen_on"], cc["epoch"]) == ("cc-top1", "test set", 2)  # ties keep the first
    general = reference_selection(HISTORY, "general-top1")
    assert general["epoch"] == 4 and general["metrics"]["general"]["top1"] == 0.7
    assert reference_selection(HISTORY, None) is None
    assert reference_selection([{"epoch": 1, "metrics": {"general": scores(0.5), "cc": None}}],
                               "cc-top1")["epoch"] is None  # undefined protocol: nothing to keep


def test_the_leaderboard_shows_the_rules_epochs_apart_from_the_headline():
    recs = []
    for seed in (0, 1):
        rec = RunRecord(config={"model": {"name": "ap3d"}, "system": {"seed": seed}},
                        metrics=HISTORY[-1]["metrics"], history=HISTORY, timings={"train_s": 60.0},
                        reference_selection=reference_selection(HISTORY, "general-top1"))
        recs.append(rec)
    headers, rows = leaderboard_rows(recs)
    assert rows[0][headers.index("gen top1")] == "60.0 ± 0.0"  # the last epoch
    headers, rows = leaderboard_rows(recs, selection="reference")
    assert rows[0][headers.index("gen top1")] == "70.0 ± 0.0" and rows[0][headers.index("epochs kept")] == "4,4"
    assert rows[0][headers.index("rule")] == "general-top1"
    assert leaderboard_rows([RunRecord(config={}, metrics={})], selection="reference")[1] == []


# TCLNet's code picks its epoch on each video's first clip and reports that epoch on its chunks
PICKED = [{"epoch": 1, "metrics": {"general": scores(0.9)}, "selection_metrics": {"general": scores(0.2)}},
          {"epoch": 2, "metrics": {"general": scores(0.4)}, "selection_metrics": {"general": scores(0.6)}},
          {"epoch": 3, "metrics": {"general": scores(0.8)}, "selection_metrics": {"general": scores(0.5)}}]


def test_the_rule_picks_by_the_selection_scores_and_reports_the_epochs_metrics():
    ref = reference_selection(PICKED, "general-top1")
    assert ref["epoch"] == 2 and ref["metrics"] == PICKED[1]["metrics"]
    assert ref["selection_metrics"] == PICKED[1]["selection_metrics"]
    plain = reference_selection([{k: v for k, v in e.items() if k != "selection_metrics"} for e in PICKED],
                                "general-top1")
    assert plain["epoch"] == 1 and "selection_metrics" not in plain


def test_a_run_scores_its_selection_on_the_selection_clips(tmp_path):
    from benchmark.config import make_config
    from benchmark.training.session import run
    from benchmark.training.testing import evaluate_model

    tiny = ["synth.num_train_ids=4", "synth.num_test_ids=3", "synth.num_frames=12", "synth.max_suits=2",
            "synth.write_videos=false", "synth.workers=1", "num_ids=2", "clips_per_id=2", "lr_steps=1",
            f"cache_dir={tmp_path / 'cache'}", f"runs_dir={tmp_path / 'runs'}", "eval.every=1",
            "eval.selection_rule=general-top1", "eval.selection_clips=begin"]
    rec = run(make_config("cpu", tiny, epochs=2))
    assert all("selection_metrics" in h and "metrics" in h for h in rec.history)
    ref = rec.reference_selection
    best = max(rec.history, key=lambda h: h["selection_metrics"]["general"]["top1"])
    assert ref["epoch"] == best["epoch"] and ref["metrics"] == best["metrics"]
    assert rec.metrics == rec.history[-1]["metrics"]  # the headline stays the last epoch on data.test_clips
    # the last epoch's selection scores are its model on the first clip of each video
    from benchmark.training.checkpoint import saved_run
    saved = saved_run(rec.checkpoint)
    begin = evaluate_model(saved.model, saved.data, saved.cfg.replace(**{"data.test_clips": "begin"}), saved.device)
    assert begin["general"]["mAP"] == rec.history[-1]["selection_metrics"]["general"]["mAP"]
    assert begin["general"]["mAP"] != rec.metrics["general"]["mAP"]  # one clip a video is not every frame
    log_text = open(os.path.join(os.path.dirname(rec.path), "log.txt")).read()
    assert "(general-top1 on begin clips, chosen on the TEST set)" in log_text
