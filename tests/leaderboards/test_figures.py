"""The matplotlib figures made from run records: PNG and SVG, labels, and one clear error when empty."""
import os

import pytest
from PIL import Image

from benchmark.config import Config
from benchmark.records import RunRecord, load_records, write_record
from leaderboards import figures
from leaderboards.cli import main
from leaderboards.figures import (
    cal_gain_figure, clips_per_second, cmc_figure, speed_accuracy_figure, training_curves_figure)

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
FIGURES = (cmc_figure, training_curves_figure, speed_accuracy_figure, cal_gain_figure)


def scores(base, seed):
    top1 = base + 0.01 * seed
    return {"top1": top1, "top5": min(1.0, top1 + 0.2), "top10": min(1.0, top1 + 0.3),
            "top20": min(1.0, top1 + 0.35), "mAP": base - 0.1 + 0.01 * seed, "mINP": 0.1,
            "valid_queries": 10, "skipped_queries": 0}


def record(model="baseline", cal=False, seed=0, epochs=6, history=True, status="complete", train_s=60.0):
    cfg = Config().replace(**{"model.name": model, "cal.enabled": cal, "system.seed": seed, "optim.epochs": epochs,
                              "cal.start_epoch": 2, "data.num_ids": 4, "data.clips_per_id": 2}).to_dict()
    gain = 0.05 if cal else 0.0
    metrics = {"general": scores(0.8 + gain / 2, seed), "cc": scores(0.3 + gain, seed), "sc": scores(0.7, seed)}
    hist = []
    for e in range(1, epochs + 1):
        h = {"epoch": e, "lr": 0.001, "iterations": 10, "id_loss": 4.0 / e + 0.01 * seed, "clothes_loss": 2.0 / e,
             "clothes_acc_within_id": min(0.95, 0.3 + 0.1 * e) - (0.1 if cal and e > 2 else 0.0)}
        if cal and e > 2:
            h["cal"] = 1.5 / e
        h["loss"] = h["id_loss"] + h.get("cal", 0.0)
        if e % 3 == 0:
            h["metrics"] = {"general": scores(0.5 + 0.05 * e, seed), "cc": scores(0.1 + 0.03 * e + gain, seed),
                            "sc": None}
        hist.append(h)
    return RunRecord(config=cfg, metrics=metrics if status == "complete" else {},
                     run_id=f"{model}{'-cal' if cal else ''}-s{seed}", history=hist if history else [],
                     timings={"data_s": 1.0, "train_s": train_s + seed, "test_s": 5.0, "total_s": train_s + 10},
                     model={"name": model, "backbone": "resnet_tiny", "parameters": 1000}, status=status)


@pytest.fixture
def records():
    return [record(m, c, s) for m in ("baseline", "ap3d") for c in (False, True) for s in (0, 1)]


def svg_text(path):
    with open(path, encoding="utf-8") as f:
        return f.read()


@pytest.mark.parametrize("figure", FIGURES, ids=lambda f: f.__name__)
def test_each_figure_writes_a_png_and_an_svg_with_the_labels(figure, records, tmp_path):
    png = figure(records, str(tmp_path / "out" / "figure.png"))
    assert png == str(tmp_path / "out" / "figure.png")
    with Image.open(png) as im:
        assert im.format == "PNG"
        w, h = im.size
        assert 500 <= w <= 2500 and 150 <= h <= 1800, im.size  # fit for a README page
    svg = figure(records, str(tmp_path / "out" / "figure.svg"))
    text = svg_text(svg)
    assert text.lstrip().startswith("<?xml") and "<svg" in text
    if figure is cal_gain_figure:  # one row per model, CAL and ID only side by side
        labels = ["baseline · 2 seeds", "ap3d · 2 seeds", "+2.5", "+5.0"]  # mean paired changes
    else:
        labels = ["baseline (ID only)", "baseline + CAL", "ap3d (ID only)", "ap3d + CAL"]
    for label in labels:
        assert label in text, label
    assert sorted(os.listdir(tmp_path / "out")) == ["figure.png", "figure.svg"]  # no temporary file left


def test_failed_runs_are_never_drawn(records, tmp_path):
    failed = record("i3d", True, 0, status="failed")
    for figure in FIGURES:
        text = svg_text(figure(records + [failed], str(tmp_path / f"{figure.__name__}.svg")))
        assert "i3d" not in text


def test_a_varying_field_is_named_in_the_labels(tmp_path):
    recs = [record("baseline", True, s) for s in (0, 1)]
    other = [record("baseline", True, s) for s in (0, 1)]
    for r in other:
        r.config["optim"]["lr"] = 0.01
    text = svg_text(cmc_figure(recs + other, str(tmp_path / "cmc.svg")))
    assert "baseline optim.lr=0.01 + CAL" in text and "baseline + CAL" in text


def test_clips_per_second_is_iterations_times_batch_over_training_time():
    r = record(epochs=6, train_s=60.0)
    assert clips_per_second(r) == pytest.approx(6 * 10 * 4 * 2 / 60.0)
    r.timings = {}
    assert clips_per_second(r) is None


def one_line_error(call, match):
    with pytest.raises(ValueError, match=match) as e:
        call()
    assert "\n" not in str(e.value)


def test_a_figure_with_nothing_to_show_is_one_clear_error(tmp_path):
    out = str(tmp_path / "f.png")
    id_only = [record("baseline", False, s) for s in (0, 1)]
    one_line_error(lambda: cal_gain_figure(id_only, out), "no CAL / ID-only pairs")
    one_line_error(lambda: cal_gain_figure([record("baseline", True, 0), record("baseline", False, 1)], out),
                   "no CAL / ID-only pairs")
    no_history = [record("baseline", c, 0, history=False) for c in (False, True)]
    one_line_error(lambda: training_curves_figure(no_history, out), "no .*per-epoch history")
    one_line_error(lambda: speed_accuracy_figure(no_history, out), "training speed")
    no_metrics = [record("baseline", False, 0)]
    no_metrics[0].metrics = {"general": None, "cc": None, "sc": None}
    one_line_error(lambda: cmc_figure(no_metrics, out), "CMC")
    one_line_error(lambda: cmc_figure([], out), "CMC")
    one_line_error(lambda: cmc_figure([record(status="failed")], out), "CMC")
    one_line_error(lambda: cmc_figure(id_only, str(tmp_path / "f.pdf")), r"\.png or \.svg")
    assert os.listdir(tmp_path) == []


@pytest.mark.skipif(not os.path.isdir(os.path.join(REPO, "results", "embedded")), reason="no committed records")
@pytest.mark.parametrize("figure", FIGURES, ids=lambda f: f.__name__)
def test_the_committed_records_draw(figure, tmp_path):
    recs = load_records([os.path.join(REPO, "results", "embedded")])
    with Image.open(figure(recs, str(tmp_path / "f.png"))) as im:
        assert im.size[0] >= 500


def test_the_palette_is_distinct_per_model_and_shared_by_cal_and_id_only(records):
    exps = figures.experiments(records)
    assert [e.label for e in exps] == ["ap3d (ID only)", "ap3d + CAL", "baseline (ID only)", "baseline + CAL"]
    assert exps[0].colour == exps[1].colour != exps[2].colour == exps[3].colour
    assert [e.linestyle for e in exps] == ["--", "-", "--", "-"] and all(e.seeds == 2 for e in exps)


def test_cli_skips_a_figure_with_nothing_to_show_and_refuses_a_blocked_folder(tmp_path, capsys):
    for i, r in enumerate(record("baseline", False, s, history=False) for s in (0, 1)):  # no CAL, no history
        write_record(r, str(tmp_path / "runs" / f"r{i}"))
    assert main([str(tmp_path / "runs"), "--figures", str(tmp_path / "figs")]) == 0
    out = capsys.readouterr().out
    assert f"figure: {tmp_path / 'figs' / 'cmc.png'}" in out
    assert "figure cal-gain.png: skipped (no CAL / ID-only pairs" in out
    assert sorted(os.listdir(tmp_path / "figs")) == ["cmc.png"]
    (tmp_path / "file").write_text("x")
    assert main([str(tmp_path / "runs"), "--figures", str(tmp_path / "file")]) == 2
    err = capsys.readouterr().err
    assert err == f"leaderboard: error: --figures {tmp_path / 'file'}: cannot create the folder (File exists)\n"
