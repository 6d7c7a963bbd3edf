import xml.etree.ElementTree as ET

import pytest

from leaderboards.cli import main
from leaderboards.plot import GAIN, LOSS, cal_gain_svg

from test_tables import record, typed

NS = "{http://www.w3.org/2000/svg}"


def circles(svg, cls):
    return [c for c in ET.fromstring(svg).iter(f"{NS}circle") if c.get("class") == cls]


def test_dumbbells_place_id_only_and_cal_means_per_panel():
    recs = [record(0, False, 0.20, gen_map=0.50), record(1, False, 0.30, gen_map=0.50),
            record(0, True, 0.30, gen_map=0.45), record(1, True, 0.34, gen_map=0.45)]
    svg = cal_gain_svg(typed(recs))
    plain, cal = circles(svg, "id-only"), circles(svg, "cal")
    assert len(plain) == len(cal) == 2  # one experiment, two panels (general mAP, CC mAP)
    general, cc = zip(plain, cal)
    assert float(cc[1].get("cx")) > float(cc[0].get("cx"))  # CC mAP: 25.0 -> 32.0, CAL to the right
    assert cc[1].get("fill") == GAIN
    assert float(general[1].get("cx")) < float(general[0].get("cx")) and general[1].get("fill") == LOSS
    texts = [t.text for t in ET.fromstring(svg).iter(f"{NS}text")]
    assert "+7.0" in texts and "-5.0" in texts and "baseline · 2 seeds" in texts
    # equal values sit at equal x on both panels' shared axis: general ID-only 50.0 vs CC CAL 32.0 differ
    assert float(general[0].get("cx")) - float(cc[0].get("cx")) != 0


def test_nothing_to_pair_is_an_error():
    with pytest.raises(ValueError, match="no CAL / no-CAL pairs"):
        cal_gain_svg(typed([record(0, False, 0.2), record(1, True, 0.3)]))


def test_cli_writes_the_chart_and_names_a_bad_path(tmp_path, capsys):
    import json
    for i, rec in enumerate([record(0, False, 0.2), record(0, True, 0.3)]):
        (tmp_path / f"r{i}").mkdir()
        (tmp_path / f"r{i}" / "record.json").write_text(json.dumps(rec))
    out = tmp_path / "chart.svg"
    assert main([str(tmp_path), "--plot", str(out)]) == 0
    assert circles(out.read_text(), "cal")
    capsys.readouterr()
    assert main([str(tmp_path), "--plot", str(tmp_path / "no" / "chart.svg")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("leaderboard: error: --plot ") and len(err.strip().splitlines()) == 1


def test_labels_name_only_the_fields_off_the_default():
    recs = [record(0, False, 0.2), record(0, True, 0.3)]
    for cal in (False, True):
        r = record(0, cal, 0.25)
        r["config"]["lr"] = 3e-4
        recs.append(r)
    texts = [t.text for t in ET.fromstring(cal_gain_svg(typed(recs))).iter(f"{NS}text")]
    assert "baseline · 1 seed" in texts and "baseline optim.lr=0.0003 · 1 seed" in texts
