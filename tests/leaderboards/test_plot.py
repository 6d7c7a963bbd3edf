"""The CAL chart of ``leaderboard --plot FILE``: the one drawing (figures.cal_gain_figure) that --figures and
the HTML report show too, written as SVG or PNG by the file's suffix, with one-line errors."""
import json

import pytest
from PIL import Image

from leaderboards import figures
from leaderboards.cli import main
from leaderboards.figures import GAIN, LOSS, NothingToDraw, cal_gain_figure

from test_tables import record, typed


def drawn(recs, tmp_path, monkeypatch):
    """(the figure, the SVG text) of the chart of ``recs``; the figure is caught on its way to the file."""
    figs = []
    save = figures._save
    monkeypatch.setattr(figures, "_save", lambda fig, path: figs.append(fig) or save(fig, path))
    with open(cal_gain_figure(typed(recs), str(tmp_path / "chart.svg")), encoding="utf-8") as f:
        return figs[0], f.read()


def dumbbells(ax):
    """[(ID-only mean, CAL mean, colour)] of a panel: its thick lines, one per experiment."""
    return [(*line.get_xdata(), line.get_color()) for line in ax.lines if line.get_linewidth() == 3]


def write_records(folder, recs):
    for i, rec in enumerate(recs):
        (folder / f"r{i}").mkdir(parents=True)
        (folder / f"r{i}" / "record.json").write_text(json.dumps(rec))
    return folder


def one_error_line(capsys, start):
    out, err = capsys.readouterr()
    assert err.startswith(f"leaderboard: error: {start}") and len(err.strip().splitlines()) == 1, err
    return out, err


def test_dumbbells_place_id_only_and_cal_means_per_panel(tmp_path, monkeypatch):
    recs = [record(0, False, 0.20, gen_map=0.50), record(1, False, 0.30, gen_map=0.50),
            record(0, True, 0.30, gen_map=0.45), record(1, True, 0.34, gen_map=0.45)]
    fig, svg = drawn(recs, tmp_path, monkeypatch)
    general, cc = fig.axes[:2]
    assert dumbbells(general) == [(pytest.approx(50.0), pytest.approx(45.0), LOSS)]  # one experiment per panel
    assert dumbbells(cc) == [(pytest.approx(25.0), pytest.approx(32.0), GAIN)]  # CC mAP: 25.0 -> 32.0
    changes = {t.get_text() for ax in (general, cc) for t in ax.texts}
    assert {"-5.0 ±0.0", "+7.0 ±4.2"} <= changes  # the mean paired change ± its std over the 2 seeds
    for text in ("baseline · 2 seeds", "-5.0 ±0.0", "+7.0 ±4.2", "+ CAL, gain (mean)", "+ CAL, loss (mean)"):
        assert text in svg, text


def test_the_legend_names_only_what_is_drawn(tmp_path, monkeypatch):
    _, svg = drawn([record(0, False, 0.2), record(0, True, 0.3, gen_map=0.6)], tmp_path, monkeypatch)
    assert "+ CAL, gain (mean)" in svg and "loss" not in svg


def test_labels_name_only_the_fields_off_the_default(tmp_path, monkeypatch):
    recs = [record(0, False, 0.2), record(0, True, 0.3)]
    for cal in (False, True):
        r = record(0, cal, 0.25)
        r["config"]["lr"] = 3e-4
        recs.append(r)
    fig, _ = drawn(recs, tmp_path, monkeypatch)
    labels = {t.get_text() for t in fig.axes[0].get_yticklabels()}
    assert labels == {"baseline · 1 seed", "baseline optim.lr=0.0003 · 1 seed"}


def test_nothing_to_pair_is_one_line(tmp_path, capsys):
    unpaired = [record(0, False, 0.2), record(1, True, 0.3)]  # CAL and ID only, but not of the same seed
    with pytest.raises(NothingToDraw, match="no CAL / ID-only pairs"):
        cal_gain_figure(typed(unpaired), str(tmp_path / "chart.svg"))
    runs = write_records(tmp_path / "runs", unpaired)
    chart = tmp_path / "chart.svg"
    assert main([str(runs), "--plot", str(chart)]) == 2
    _, err = one_error_line(capsys, f"--plot {chart}: no CAL / ID-only pairs")
    assert not chart.exists()


def test_cli_writes_the_figures_chart_as_svg_or_png(tmp_path, capsys):
    runs = write_records(tmp_path / "runs", [record(0, False, 0.2), record(0, True, 0.3)])
    assert main([str(runs), "--plot", str(tmp_path / "chart.svg")]) == 0
    assert f"chart: {tmp_path / 'chart.svg'}" in capsys.readouterr().out
    svg = (tmp_path / "chart.svg").read_text(encoding="utf-8")
    assert svg.lstrip().startswith("<?xml") and "baseline · 1 seed" in svg and "+10.0" in svg
    assert main([str(runs), "--plot", str(tmp_path / "chart.PNG"), "--figures", str(tmp_path / "figs")]) == 0
    with Image.open(tmp_path / "chart.PNG") as im:
        assert im.format == "PNG"
    # one drawing: --plot's chart is --figures' cal-gain.png, byte for byte
    assert (tmp_path / "chart.PNG").read_bytes() == (tmp_path / "figs" / "cal-gain.png").read_bytes()


@pytest.mark.parametrize("name", ["chart.pdf", "chart", "no/chart.svg"])
def test_a_bad_plot_path_is_refused_before_anything_is_printed(tmp_path, capsys, name):
    runs = write_records(tmp_path / "runs", [record(0, False, 0.2), record(0, True, 0.3)])
    assert main([str(runs), "--plot", str(tmp_path / name)]) == 2
    out, err = one_error_line(capsys, f"--plot {tmp_path / name}: ")
    assert out == "" and ("no such folder" in err if "/" in name else ".svg or .png" in err)
    assert not (tmp_path / "no").exists()  # a mistyped folder is not created


def test_a_chart_that_cannot_be_written_is_one_line_naming_it(tmp_path, capsys):
    runs = write_records(tmp_path / "runs", [record(0, False, 0.2), record(0, True, 0.3)])
    (tmp_path / "chart.svg").mkdir()  # a folder where the file should go
    assert main([str(runs), "--plot", str(tmp_path / "chart.svg")]) == 2
    one_error_line(capsys, f"--plot {tmp_path / 'chart.svg'}: cannot write (")
