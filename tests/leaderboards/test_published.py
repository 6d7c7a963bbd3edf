"""Published numbers as data: the shipped files, their validation, the comparison with our records, the CLI."""
import csv
import json
import os
import re

import pytest
import yaml

from benchmark.records import RunRecord, write_record
from leaderboards import published as pub
from leaderboards.cli import main
from leaderboards.published import NO_MATCH, PublishedError, comparison_rows, load_published

# ../shared beside the checkout (as on the developers' machines and in CI); the variables override it
SHARED = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), "..", "shared")
PAPER = os.environ.get("CCREID_PAPER_TEXT", os.path.join(SHARED, "seed", "000_e639df4de1abb369.txt"))
REFERENCE = os.environ.get("CCREID_REFERENCE", os.path.join(SHARED, "REFERENCE.md"))
CAL_FILE = os.path.join(pub.FOLDER, "cal_cvpr2022.yaml")


def fake(dataset="ccvid", model="ap3d", cal=True, seed=0, metrics=None, **sections):
    config = {"data": {"dataset": dataset}, "model": {"name": model}, "cal": {"enabled": cal},
              "system": {"seed": seed}, **sections}
    return RunRecord(config=config,
                     metrics=metrics or {"general": {"top1": 0.8, "mAP": 0.7}, "cc": {"top1": 0.75, "mAP": 0.68}},
                     timings={"train_s": 1.0})


def cell(headers, row, name):
    return row[headers.index(name)]


# ----------------------------------------------------------------------------- the shipped files
def test_shipped_files_load_with_source_selection_and_evaluation():
    rows = load_published()
    per_file = {}
    for r in rows:
        per_file.setdefault(os.path.basename(r.file), []).append(r)
        assert r.source and r.selection and r.evaluation and r.label
        assert r.metrics, r.label
    assert sorted(per_file) == ["cal_cvpr2022.yaml", "eva02l_iccv2025.yaml", "mevid_wacv2023.yaml",
                                "vccr_baselines.yaml"]
    assert len(per_file["cal_cvpr2022.yaml"]) == 41
    assert {(r.label, r.metrics["general"]["top1"]) for r in per_file["mevid_wacv2023.yaml"]} == {
        ("CAL", 52.5), ("TCLNet", 48.1), ("AP3D", 39.6)}
    eva = per_file["eva02l_iccv2025.yaml"]
    assert [r.label for r in eva] == ["EVA02-L (paper)", "EVA02-L (paper)"]  # no checkpoint row without a number
    assert all(r.todo and "checkpoint" in r.todo for r in eva)
    cal = {(r.dataset, r.model, r.objective): r for r in per_file["cal_cvpr2022.yaml"]}
    assert cal["ccvid", "baseline", "cal"].metrics["cc"] == {"top1": 81.7, "mAP": 79.6}
    assert cal["prcc", "image", "cal"].metrics == {"sc": {"top1": 100.0, "mAP": 99.8},
                                                   "cc": {"top1": 55.2, "mAP": 55.8}}
    assert cal["prcc", "image", "cal"].requires == {"eval.shot": "multi"}
    assert cal["ccvid", "baseline", "cal"].selection == "best test rank-1 (reference code)"


def test_gain_rows_add_the_printed_gain_to_the_row_above():
    rows = {(r.dataset, r.model, r.objective): r for r in load_published() if r.short == "CAL (CVPR 2022)"}
    ap3d = rows["ccvid", "ap3d", "cal"]
    assert ap3d.derived and ap3d.gain_over == "AP3D [11]"
    assert ap3d.metrics == {"general": {"top1": 84.1, "mAP": 81.2}, "cc": {"top1": 83.6, "mAP": 80.0}}
    assert rows["ccvid", "i3d", "cal"].metrics["general"] == {"top1": 81.2, "mAP": 79.9}


def _norm(text):
    text = re.sub(r"<[^>]+>", "", text).replace("$", "").replace(r"\mathcal{L}_C", "L_C")
    return text


def _printed(v):
    return str(v) if isinstance(v, int) else repr(float(v))


def _sequence(metrics, dataset, sign=""):
    order = [("sc", "top1"), ("sc", "mAP")] if dataset == "prcc" else [("general", "top1"), ("general", "mAP")]
    order += [("cc", "top1"), ("cc", "mAP")]
    return [sign + _printed(metrics[p][m]) if m in metrics.get(p, {}) else "-" for p, m in order]


def _contains(tokens, seq):
    return any(tokens[i:i + len(seq)] == seq for i in range(len(tokens) - len(seq) + 1))


@pytest.mark.skipif(not os.path.isfile(PAPER), reason=f"the paper's text is not at {PAPER} (CCREID_PAPER_TEXT)")
def test_every_cal_paper_number_is_printed_in_the_paper_on_its_row():
    """Each row's numbers, in the paper's column order ("-" where left out), on a line that starts with its label,
    in as many tables as the row says; a gain row's printed gains on the "+CAL" line under its base row."""
    lines = [_norm(line).strip() for line in open(PAPER, encoding="utf-8").read().splitlines()]
    raw = yaml.safe_load(open(CAL_FILE, encoding="utf-8"))
    checked = 0
    for row in raw["rows"]:
        if "gain" in row:
            base = next(r for r in raw["rows"] if r["label"] == row["gain_over"] and r["dataset"] == row["dataset"])
            seq = _sequence(row["gain"], row["dataset"], sign="+")
            base_seq = _sequence(base["metrics"], base["dataset"])
            hits = [i for i, line in enumerate(lines[:-1]) if line.split("\t")[0].strip() == base["label"]
                    and _contains(line.split(), base_seq) and lines[i + 1].split("\t")[0] == "+CAL"
                    and _contains(lines[i + 1].split(), seq)]
            assert len(hits) == 1, row["label"]
        else:
            seq = _sequence(row["metrics"], row["dataset"])
            hits = [line for line in lines if line.split("\t")[0].strip() == row["label"]
                    and _contains(line.split(), seq)]
            assert len(hits) == len(row["table"].split(",")), (row["label"], row["dataset"], seq)
        checked += sum(len(v) for v in (row.get("metrics") or row["gain"]).values())
    assert checked == 151  # every number of the file


@pytest.mark.skipif(not os.path.isfile(REFERENCE), reason=f"REFERENCE.md is not at {REFERENCE} (CCREID_REFERENCE)")
def test_every_later_number_is_in_the_reference_notes():
    text = open(REFERENCE, encoding="utf-8").read()
    for r in load_published():
        if r.short == "CAL (CVPR 2022)":
            continue
        for proto, scores in r.metrics.items():
            assert f"{scores['top1']:.1f}/{scores['mAP']:.1f}" in text, (r.short, r.label, proto)


# ----------------------------------------------------------------------------- validation
GOOD = {"short": "X", "source": "A paper.", "selection": "unknown", "evaluation": "general",
        "rows": [{"dataset": "ccvid", "model": "ap3d", "objective": "id", "label": "AP3D",
                  "metrics": {"general": {"top1": 50.0, "mAP": 40.0}}}]}


def _with(**changes):
    d = yaml.safe_load(yaml.safe_dump(GOOD))
    row = d["rows"][0]
    for k, v in changes.items():
        target = row if k.startswith("row_") else d
        key = k[4:] if k.startswith("row_") else k
        if v is None:
            target.pop(key)
        else:
            target[key] = v
    return yaml.safe_dump(d)


@pytest.mark.parametrize("text, why", [
    ("rows: [oops", "not valid YAML"),
    ("- just a list", "expected a mapping"),
    (_with(source=None), "source: missing"),
    (_with(rows=[]), "rows: expected a non-empty list"),
    (_with(colour="red"), "unknown field(s) colour"),
    (_with(row_dataset="ccvid2"), "rows[0].dataset: 'ccvid2' is not a catalog name"),
    (_with(row_objective="triplet"), "rows[0].objective"),
    (_with(row_metrics={"general": {"top1": "80"}}), "rows[0].metrics.general.top1: expected a number"),
    (_with(row_metrics={"general": {"top1": 0.8e3}}), "outside [0, 100]"),
    (_with(row_metrics={"general": {"rank5": 80.0}}), "unknown metric"),
    (_with(row_dataset="prcc"), "rows[0].metrics.general: the dataset has no general protocol"),
    (_with(row_metrics=None), "give either metrics"),
    (_with(row_metrics=None, row_gain_over="nope", row_gain={"general": {"top1": 1.0}}), "rows[0].gain_over"),
    (_with(row_requires={"eval.shots": "multi"}), "rows[0].requires.eval.shots: not a config field"),
    (_with(row_label=None), "rows[0].label: missing"),
])
def test_a_bad_file_is_one_line_naming_it(tmp_path, text, why):
    (tmp_path / "good.yaml").write_text(_with())
    bad = tmp_path / "bad.yaml"
    bad.write_text(text)
    with pytest.raises(PublishedError) as e:
        load_published(str(tmp_path))
    message = str(e.value)
    assert "\n" not in message and message.startswith(f"{bad}: ") and why in message, message


def test_a_second_row_of_the_same_label_is_refused(tmp_path):
    d = yaml.safe_load(_with())
    d["rows"].append(dict(d["rows"][0]))
    (tmp_path / "dup.yaml").write_text(yaml.safe_dump(d))
    with pytest.raises(PublishedError, match=r"dup\.yaml: rows\[1\]: a second row"):
        load_published(str(tmp_path))


def test_the_cli_refuses_a_bad_published_file_in_one_line(tmp_path, monkeypatch, capsys):
    folder = tmp_path / "published"
    folder.mkdir()
    (folder / "broken.yaml").write_text(_with(row_objective="bogus"))
    monkeypatch.setattr(pub, "FOLDER", str(folder))
    write_record(fake(), str(tmp_path / "runs" / "a"))
    assert main([str(tmp_path / "runs"), "--published"]) == 2
    out, err = capsys.readouterr()
    assert out == "" and err.count("\n") == 1 and "broken.yaml: rows[0].objective" in err


# ----------------------------------------------------------------------------- comparison
def test_a_fake_ap3d_cal_record_meets_the_papers_ap3d_cal_row_with_the_gap():
    headers, rows = comparison_rows([fake()], load_published())
    assert len(rows) == 1
    row = rows[0]
    assert cell(headers, row, "published").startswith("AP3D [11] +CAL")
    assert cell(headers, row, "source") == "CAL (CVPR 2022)"
    assert cell(headers, row, "selection") == "best test rank-1 (reference code)"
    assert cell(headers, row, "objective") == "cal" and cell(headers, row, "seeds") == 1
    expected = {"gen top1": ("80.0", "84.1", "-4.1"), "gen mAP": ("70.0", "81.2", "-11.2"),
                "cc top1": ("75.0", "83.6", "-8.6"), "cc mAP": ("68.0", "80.0", "-12.0")}
    for col, (ours, published, gap) in expected.items():
        assert (cell(headers, row, f"ours {col}"), cell(headers, row, f"pub {col}"),
                cell(headers, row, f"Δ {col}")) == (ours, published, gap)
    assert "ours sc top1" not in headers  # no SC published for this row


def test_seeds_are_averaged_and_id_only_meets_the_id_row():
    recs = [fake(cal=False, seed=s, metrics={"general": {"top1": t, "mAP": 0.8}, "cc": {"top1": 0.8, "mAP": 0.8}})
            for s, t in ((0, 0.80), (1, 0.82))]
    headers, rows = comparison_rows(recs, load_published())
    assert [cell(headers, r, "published") for r in rows] == ["AP3D [11]"]
    assert cell(headers, rows[0], "ours gen top1") == "81.0 ± 1.4"
    assert cell(headers, rows[0], "Δ gen top1") == "+0.1"  # 81.0 - 80.9


def test_mevid_rows_come_from_their_source():
    headers, rows = comparison_rows([fake(dataset="mevid", model="tclnet", cal=False)], load_published())
    assert [(cell(headers, r, "source"), cell(headers, r, "pub gen top1"), cell(headers, r, "pub cc top1"))
            for r in rows] == [("MEVID (WACV 2023)", "48.1", "-")]
    assert cell(headers, rows[0], "Δ cc top1") == "-"


def test_prcc_compares_sc_and_cc_and_needs_the_multi_shot_protocol():
    metrics = {"sc": {"top1": 0.99, "mAP": 0.95}, "cc": {"top1": 0.5, "mAP": 0.5}}
    headers, rows = comparison_rows([fake(dataset="prcc", model="image", metrics=metrics)], load_published())
    assert len(rows) == 1 and cell(headers, rows[0], "pub sc top1") == "100.0"
    assert cell(headers, rows[0], "Δ sc top1") == "-1.0" and cell(headers, rows[0], "ours gen top1") == "undefined"
    single = fake(dataset="prcc", model="image", metrics=metrics, eval={"shot": "single"})
    assert comparison_rows([single], load_published())[1] == []


def test_the_embedded_dataset_matches_nothing():
    headers, rows = comparison_rows([fake(dataset="embedded", model="baseline")], load_published())
    assert rows == [] and "published" in headers


# ----------------------------------------------------------------------------- CLI
def test_cli_prints_the_comparison_after_the_main_table(tmp_path, capsys):
    for seed in (0, 1):
        write_record(fake(seed=seed), str(tmp_path / f"s{seed}"))
    assert main([str(tmp_path), "--published"]) == 0
    out = capsys.readouterr().out
    main_at, pub_at = out.index("| dataset"), out.index("Published numbers beside ours")
    assert main_at < pub_at
    comparison = out[pub_at:]
    assert "AP3D [11] +CAL" in comparison and "84.1" in comparison and "-4.1" in comparison
    assert "CAL (CVPR 2022)" in comparison and "sources:" in comparison and "Simple-CCReID" in comparison
    assert main([str(tmp_path)]) == 0 and "Published numbers" not in capsys.readouterr().out


def test_cli_respects_the_format(tmp_path, capsys):
    write_record(fake(), str(tmp_path / "a"))
    assert main([str(tmp_path), "--published", "--format", "latex"]) == 0
    out = capsys.readouterr().out
    assert out.count(r"\begin{tabular}") == 2 and "84.1" in out.split("Published numbers")[1]


def test_csv_and_json_give_a_real_csv_and_json_comparison(tmp_path, capsys):
    write_record(fake(), str(tmp_path / "a"))
    assert main([str(tmp_path), "--published", "--format", "json"]) == 0
    comparison = capsys.readouterr().out.split("Published numbers beside ours")[1]
    table, _ = json.JSONDecoder().raw_decode(comparison[comparison.index("{"):])
    assert [(r["published"], r["pub gen top1"], r["Δ gen top1"]) for r in table["rows"]] == [
        ("AP3D [11] +CAL (= AP3D [11] + printed gain)", "84.1", "-4.1")]
    assert main([str(tmp_path), "--published", "--format", "csv"]) == 0
    block = capsys.readouterr().out.split("Published numbers beside ours")[1].split("\n\n")[0]
    header, *rows = list(csv.reader(block.splitlines()[1:]))
    assert len(rows) == 1 and dict(zip(header, rows[0]))["pub gen top1"] == "84.1"
    assert dict(zip(header, rows[0]))["source"] == "CAL (CVPR 2022)"


def test_cli_says_when_nothing_matches(tmp_path, capsys):
    write_record(fake(dataset="embedded", model="baseline"), str(tmp_path / "a"))
    assert main([str(tmp_path), "--published"]) == 0
    out = capsys.readouterr().out
    assert out.rstrip().endswith(NO_MATCH)


# ----------------------------------------------------------------------------- how a published number was scored
def test_every_row_says_how_it_was_scored():
    rows = load_published()
    assert all(r.scored in pub.SCORED for r in rows)
    eva = {r.dataset: r.scored for r in rows if r.short == "EVA02-L (ICCV 2025)"}
    assert eva == {"ccvid": "tracklet", "mevid": "unknown"}
    assert {r.scored for r in rows if r.short == "CAL (CVPR 2022)"} == {"tracklet"}  # the default


def test_a_per_frame_number_is_never_shown_as_a_tracklet_level_one(tmp_path):
    folder = tmp_path / "published"
    folder.mkdir()
    rows = [{"dataset": "ccvid", "model": "ap3d", "objective": "cal", "label": "per frame", "scored": "frame",
             "metrics": {"general": {"top1": 90.0, "mAP": 80.0}}},
            {"dataset": "ccvid", "model": "ap3d", "objective": "cal", "label": "per tracklet",
             "metrics": {"general": {"top1": 70.0, "mAP": 60.0}}}]
    (folder / "x.yaml").write_text(yaml.safe_dump({**GOOD, "rows": rows}))
    headers, table = comparison_rows([fake()], load_published(str(folder)))
    by_label = {cell(headers, r, "published"): r for r in table}
    frame, tracklet = by_label["per frame"], by_label["per tracklet"]
    assert cell(headers, frame, "scored") == "frame" and cell(headers, tracklet, "scored") == "tracklet"
    assert (cell(headers, frame, "pub gen top1"), cell(headers, frame, "Δ gen top1")) == ("90.0 (frame)", "n/c")
    assert (cell(headers, tracklet, "pub gen top1"), cell(headers, tracklet, "Δ gen top1")) == ("70.0", "+10.0")


def test_a_file_can_say_it_once_and_a_bad_value_is_one_line(tmp_path):
    path = tmp_path / "x.yaml"
    path.write_text(yaml.safe_dump({**GOOD, "scored": "frame"}))
    assert [r.scored for r in pub.load_file(str(path))] == ["frame"]
    path.write_text(_with(row_scored="clip"))
    with pytest.raises(PublishedError) as e:
        pub.load_file(str(path))
    assert str(e.value) == f"{path}: rows[0].scored: 'clip': expected one of tracklet, frame, unknown"
