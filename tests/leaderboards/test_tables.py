import json

import pytest

from benchmark.records import RunRecord
from leaderboards.cli import main
from leaderboards.tables import cal_gain_rows, leaderboard_rows


def record(seed, cal, cc_map, gen_map=0.5, eps=0.5):
    """A record as the suite wrote it before config sections existed (format 1), read through the upgrade."""
    return {"format": "ccreid-bench/run-record/1",
            "config": {"dataset": "embedded", "model": "baseline", "backbone": "resnet_tiny", "cal": cal,
                       "cal_epsilon": eps, "cal_start_epoch": 10, "seed": seed, "lr": 1e-3},
            "metrics": {"general": {"top1": 0.9, "mAP": gen_map}, "cc": {"top1": 0.3, "mAP": cc_map}},
            "timings": {"train_s": 60.0}}


def typed(records):
    return [RunRecord.from_dict(r) for r in records]


def test_leaderboard_means_over_seeds():
    recs = [record(0, False, 0.20), record(1, False, 0.30), record(0, True, 0.30), record(1, True, 0.34)]
    headers, rows = leaderboard_rows(typed(recs))
    assert headers[:4] == ["dataset", "model", "backbone", "CAL"]
    by_cal = {r[3]: r for r in rows}
    assert by_cal["no"][headers.index("cc mAP")] == "25.0 ± 7.1"
    assert by_cal["yes"][headers.index("cc mAP")] == "32.0 ± 2.8"
    assert by_cal["no"][headers.index("seeds")] == 2


def test_cal_gain_pairs_by_seed_and_ignores_cal_settings_of_id_only_runs():
    recs = [record(0, False, 0.20, eps=0.5), record(1, False, 0.30, eps=0.5),
            record(0, True, 0.30, eps=0.1), record(1, True, 0.34, eps=0.1), record(2, True, 0.9, eps=0.1)]
    headers, rows = cal_gain_rows(typed(recs))
    assert len(rows) == 1
    row = rows[0]
    assert row[headers.index("paired seeds")] == 2  # seed 2 has no ID-only partner
    assert row[headers.index("Δ cc mAP")] == "+7.0 ± 4.2"
    assert row[-1] == "s0: +10.0, s1: +4.0"


def test_records_from_before_a_config_field_existed_join_their_experiment():
    old = [record(0, False, 0.20), record(0, True, 0.30)]
    new = [record(1, False, 0.30), record(1, True, 0.34)]
    for r in new:
        r["config"]["triplet_mining"] = "hard"  # written after the field was added, at its default
    headers, rows = cal_gain_rows(typed(old + new))
    assert "loss.triplet_mining" not in headers and len(rows) == 1 and rows[0][headers.index("paired seeds")] == 2
    other = record(2, False, 0.3)
    other["config"]["triplet_mining"] = "all"  # a real difference still makes its own row
    headers, rows = leaderboard_rows(typed(old + new + [other]))
    assert "loss.triplet_mining" in headers and len(rows) == 3


def test_undefined_metrics_stay_undefined(tmp_path, capsys):
    rec = record(0, False, 0.2)
    rec["metrics"]["cc"] = None
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "record.json").write_text(json.dumps(rec))
    assert main([str(tmp_path)]) == 0
    assert "undefined" in capsys.readouterr().out


def test_bad_record_is_a_one_line_error(tmp_path, capsys):
    (tmp_path / "record.json").write_text("{not json")
    assert main([str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "record.json: not a JSON run record" in err and len(err.strip().splitlines()) == 1
    assert main([str(tmp_path / "empty")]) == 2


@pytest.mark.parametrize("content", ['[1, 2]', '{"format": "ccreid-bench/run-record/1", "metrics": {}}',
                                     '{"format": "ccreid-bench/run-record/1", "config": {}, "metrics": "high"}',
                                     '{"format": "ccreid-bench/run-record/9", "config": {}, "metrics": {}}',
                                     '{"format": "something else"}'])
def test_a_record_of_the_wrong_shape_is_a_one_line_error(tmp_path, capsys, content):
    (tmp_path / "record.json").write_text(content)
    assert main([str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"leaderboard: error: {tmp_path / 'record.json'}: ") and len(err.strip().splitlines()) == 1


def test_runs_of_two_instrument_versions_are_never_averaged_together():
    from leaderboards.tables import shared_settings
    old = [record(0, False, 0.20), record(1, False, 0.30)]  # written before records named the instrument
    new = [dict(record(s, False, v), dataset={"name": "embedded", "instrument": "embedded-v3"})
           for s, v in ((0, 0.60), (1, 0.64))]
    headers, rows = leaderboard_rows(typed(old + new))
    by_version = {r[headers.index("data.instrument")]: r for r in rows}
    assert by_version["embedded-v1/v2"][headers.index("cc mAP")] == "25.0 ± 7.1"
    assert by_version["embedded-v3"][headers.index("cc mAP")] == "62.0 ± 2.8"
    assert "data.instrument=embedded-v1/v2" in shared_settings(typed(old))  # an old table says it is one
    assert "instrument" not in shared_settings(typed(new))  # today's is the default


def test_test_variants_are_columns():
    from leaderboards.tables import parse_columns
    recs = [dict(record(s, False, v), variants={"shuffled": {"cc": {"top1": 0.2, "mAP": v - 0.1}}})
            for s, v in ((0, 0.5), (1, 0.7))]
    columns = parse_columns("cc.mAP,shuffled:cc.mAP,first-frame:cc.mAP")
    assert columns == (("cc", "mAP"), ("shuffled:cc", "mAP"), ("first-frame:cc", "mAP"))
    headers, rows = leaderboard_rows(typed(recs), columns)
    assert headers[-4:-1] == ["cc mAP", "shuffled cc mAP", "first-frame cc mAP"]
    assert rows[0][-4:-1] == ["60.0 ± 14.1", "50.0 ± 14.1", "undefined"]  # never scored: undefined, not 0
    with pytest.raises(ValueError, match=r"expected \[VARIANT:\]PROTOCOL.METRIC"):
        parse_columns(":cc.mAP")
