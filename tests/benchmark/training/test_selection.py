"""The last epoch is the headline; the reference's rule (best test top-1) is reported apart, named."""
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
