"""The embedded instrument's page: targets checked on records, paired by seed, misses shown as misses."""
from benchmark.records import RunRecord
from leaderboards.cli import main
from leaderboards.instrument import Runs, page, targets


def rec(model, objective, seed, cc, gen_top1=0.8, variants=None, instrument="embedded-v3"):
    cal = objective == "cal"
    return RunRecord.from_dict({
        "format": "ccreid-bench/run-record/3", "objective": objective,
        "config": {"data": {"dataset": "embedded"}, "model": {"name": model}, "cal": {"enabled": cal},
                   "system": {"seed": seed}},
        "dataset": {"name": "embedded", "instrument": instrument},
        "metrics": {"general": {"top1": gen_top1, "mAP": 0.5}, "cc": {"top1": cc, "mAP": cc}},
        "variants": variants or {}, "timings": {"train_s": 60.0}})


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
