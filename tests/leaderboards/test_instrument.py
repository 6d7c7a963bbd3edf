"""The embedded instrument's page: targets checked on records, paired by seed, misses shown as misses."""
from benchmark.records import RunRecord
from leaderboards.cli import main
from leaderboards.instrument import Runs, page, targets


def rec(model, objective, seed, cc, gen_top1=0.8, variants=None, instrument="embedded-v3", labels="annotated",
        val_ids=0, pseudo=None):
    cal = objective == "cal"
    return RunRecord.from_dict({
        "format": "ccreid-bench/run-record/3", "objective": objective,
        "config": {"data": {"dataset": "embedded", "val_ids": val_ids}, "model": {"name": model},
                   "cal": {"enabled": cal, "clothes_labels": labels}, "system": {"seed": seed}},
        "dataset": {"name": "embedded", "instrument": instrument, **({"pseudo_clothes": pseudo} if pseudo else {})},
        "metrics": {"general": {"top1": gen_top1, "mAP": 0.5}, "cc": {"top1": cc, "mAP": cc}},
        "variants": variants or {}, "timings": {"train_s": 60.0, "total_s": 100.0}})


def zoo():
    out = []
    for seed in (0, 1, 2):
        whole = 0.30 + 0.01 * seed
        out.append(rec("baseline", "id", seed, whole, variants={
            "shuffled": {"cc": {"mAP": whole}}, "first-frame": {"cc": {"mAP": whole - 0.08}}}))
        out.append(rec("baseline", "cal", seed, whole + 0.05, gen_top1=0.79))
        out.append(rec("i3d", "id", seed, whole + 0.02, variants={"shuffled": {"cc": {"mAP": whole - 0.01}}}))
        out.append(rec("ap3d", "id", seed, whole - 0.01))  # below C2D: a miss
        out.append(rec("baseline", "id", seed, 0.9, instrument="embedded-v1/v2"))  # another version: left out
    return out


def test_targets_are_checked_on_paired_seeds_and_misses_are_shown():
    found = {t.what: t for t in targets(Runs(zoo(), "embedded-v3"))}
    i3d = found["i3d above C2D, ID only, CC mAP (>= +1.0)"]
    assert i3d.met is True and i3d.measured == "+2.0 (s0: +2.0, s1: +2.0, s2: +2.0)"
    assert found["ap3d above C2D, ID only, CC mAP (>= +1.0)"].met is False
    assert found["nonlocal above C2D, ID only, CC mAP (>= +1.0)"].met is None  # no runs: not claimed
    assert found["C2D: whole video above the first frame alone, CC mAP (>= +5.0)"].met is True
    assert found["C2D: frames shuffled change nothing, CC mAP (within ±0.05)"].met is True
    assert found["i3d: unshuffled above shuffled, CC mAP (>= +2.0)"].met is True
    assert found["baseline: CAL above ID only, CC mAP (> +4.0)"].met is True
    assert found["C2D: CAL's cost in general top-1 (>= -2.0)"].met is True
    spread = found["the main job (C2D + CAL): CC mAP spread over seeds (std <= 1.5)"]
    assert spread.met is True and spread.measured == "36.0 ± 1.0"


def test_the_page_counts_its_targets_and_leaves_other_versions_out(tmp_path, capsys):
    text = page(zoo(), "embedded-v3", "leaderboard results --instrument-page x.md")
    assert "## Targets: 7 of 16 met" in text and "**missed**" in text and "| no runs" in text
    assert "90.0" not in text  # the v1/v2 run's CC mAP never enters a v3 mean
    folder = tmp_path / "runs"
    for i, r in enumerate(zoo()):
        (folder / str(i)).mkdir(parents=True)
        (folder / str(i) / "record.json").write_text(__import__("json").dumps(r.to_dict()))
    assert main([str(folder), "--instrument-page", str(tmp_path / "page.md")]) == 0
    assert (tmp_path / "page.md").read_text().startswith("# The embedded instrument (embedded-v3)")


def test_pseudo_labels_are_their_own_rows_and_their_share_of_cal_gain_is_a_target():
    share_target = "C2D: CAL on cluster pseudo labels keeps >= 70% of CAL's CC-mAP gain with the true labels"
    records = zoo()
    for seed, gain in zip((0, 1, 2), (0.03, 0.04, 0.05)):  # true-label CAL gains +5.0 on every seed
        whole = 0.30 + 0.01 * seed
        info = {"source": "cluster", "classes": 300, "ari": 0.6, "purity": 0.9, "seconds": 4.0}
        records.append(rec("baseline", "cal", seed, whole + gain, labels="cluster", pseudo=info))
        records.append(rec("baseline", "cal", seed, 0.99, val_ids=40))  # a validation run: never a test result
    runs = Runs(records, "embedded-v3")
    rounded = {k: {s: round(v, 6) for s, v in runs.values(("baseline", k)).items()} for k in ("cal", "cal:cluster")}
    assert rounded == {"cal": {0: 35.0, 1: 36.0, 2: 37.0}, "cal:cluster": {0: 33.0, 1: 35.0, 2: 37.0}}
    found = {t.what: t for t in targets(runs)}
    assert found[share_target].met is True and found[share_target].measured == "80% (+4.0 of +5.0; seeds 0, 1, 2)"
    text = page(records, "embedded-v3", "leaderboard x --instrument-page y.md")
    assert "## CAL without clothes labels: pseudo outfits (C2D)" in text and "99.0" not in text
    row = next(line for line in text.splitlines() if line.startswith("| cluster"))
    assert "+4.0 (s0: +3.0, s1: +4.0, s2: +5.0)" in row and "60.0 ± 0.0" in row and "4.0 ± 0.0 %" in row
    low = [rec("baseline", "cal", s, 0.30 + 0.01 * s + 0.01, labels="cluster") for s in (0, 1, 2)]
    assert {t.what: t for t in targets(Runs(zoo() + low, "embedded-v3"))}[share_target].met is False  # 20%
