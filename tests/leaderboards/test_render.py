"""Tables like a paper's: chosen columns, sorted, the best marked, a caption of shared settings, five formats."""
import csv
import io
import json
import re

import pytest

from benchmark.records import RunRecord
from leaderboards.render import best_cells, known_format, latex_escape, metric_headers, render_table
from leaderboards.tables import leaderboard_rows, parse_columns, shared_settings, sort_rows


def rec(model, seed, cc_map, val_ids=20):
    return RunRecord(config={"model": {"name": model}, "system": {"seed": seed}, "data": {"val_ids": val_ids}},
                     metrics={"general": {"top1": 0.9, "mAP": 0.5}, "cc": {"top1": 0.3, "mAP": cc_map},
                              "sc": {"top1": 0.8, "mAP": 0.7}}, timings={"train_s": 60.0})


RECORDS = [rec("ap3d", 0, 0.30), rec("ap3d", 1, 0.32), rec("i3d", 0, 0.40), rec("tclnet", 0, 0.20)]


def table(columns="general.top1,cc.mAP,sc.mAP", sort="cc.mAP"):
    headers, rows = leaderboard_rows(RECORDS, columns=parse_columns(columns))
    return headers, sort_rows(headers, rows, parse_columns(sort)[0])


def test_columns_are_chosen_and_rows_sorted_by_one():
    headers, rows = table()
    assert [h for h in headers if h.startswith(("gen", "cc", "sc"))] == ["gen top1", "cc mAP", "sc mAP"]
    assert [r[1] for r in rows] == ["i3d", "ap3d", "tclnet"]  # by CC mAP, highest first
    with pytest.raises(ValueError, match="--columns 'cc.rank1'"):
        parse_columns("cc.rank1")
    with pytest.raises(ValueError, match="not a column of this table"):
        sort_rows(*table(columns="general.top1"), ("cc", "mAP"))


def test_the_best_value_of_each_column_is_marked():
    headers, rows = table()
    marks = best_cells(headers, rows, metric_headers(headers))
    assert marks[headers.index("cc mAP")] == {0}  # i3d's 40.0
    assert marks[headers.index("gen top1")] == {0, 1, 2}  # ties are all marked
    md = render_table(headers, rows, "github", best=metric_headers(headers))
    assert "**40.0**" in md and "**31.0 ± 1.4**" not in md


def test_the_caption_names_shared_settings_off_the_default():
    caption = shared_settings(RECORDS)
    assert "data.val_ids=20" in caption and "mean ± std over seeds" in caption
    assert "data.val_ids" not in shared_settings([rec("ap3d", 0, 0.3, val_ids=0)])  # the default is not named


@pytest.mark.parametrize("fmt", ["github", "csv", "json", "latex", "html"])
def test_every_format_holds_the_numbers(fmt):
    headers, rows = table()
    text = render_table(headers, rows, fmt, best=metric_headers(headers), caption=shared_settings(RECORDS))
    if fmt == "csv":
        parsed = list(csv.reader(io.StringIO(text)))
        assert parsed[0] == headers and parsed[1][headers.index("cc mAP")] == "40.0"
    elif fmt == "json":
        data = json.loads(text)
        assert data["rows"][0]["cc mAP"] == "40.0" and "val_ids" in data["caption"]
    elif fmt == "latex":
        assert "±" not in text and "$\\pm$" in text and "\\textbf{40.0}" in text and "val\\_ids" in text
    elif fmt == "html":
        assert "<b>40.0</b>" in text and "<caption>" in text and "suite&#x27;s" in text  # escaped
    else:
        assert "| i3d" in text.replace("  ", " ")


def test_latex_escapes_what_latex_would_read_as_commands():
    assert latex_escape("Δ cc_mAP 5% ± 1") == "$\\Delta$ cc\\_mAP 5\\% $\\pm$ 1"
    assert known_format("csv") and known_format("plain") and not known_format("docx")


def test_html_and_latex_group_the_metric_columns_under_their_protocol():
    headers, rows = table(columns="general.top1,general.mAP,cc.mAP")
    page = render_table(headers, rows, "html")
    assert '<th colspan="2">general</th><th colspan="1">clothes-changing (CC)</th>' in page
    tex = render_table(headers, rows, "latex")
    assert "\\multicolumn{2}{c}{general}" in tex and "\\multicolumn{1}{c}{clothes-changing (CC)}" in tex
    title_row, header_row = tex.splitlines()[2], tex.splitlines()[3]
    spans = sum(int(n) - 1 for n in re.findall(r"multicolumn\{(\d+)\}", title_row))
    assert title_row.count("&") + spans == header_row.count("&")  # the title row spans every column


def test_columns_of_a_protocol_that_do_not_sit_together_keep_flat_headers():
    # the published comparison interleaves ours, published and the gap per metric
    headers = ["model", "ours gen top1", "pub gen top1", "Δ gen top1", "ours cc mAP", "pub cc mAP", "Δ cc mAP"]
    rows = [["ap3d", "80.0 ± 0.0", "84.1", "-4.1", "68.0", "80.0", "-12.0"]]
    assert render_table(headers, rows, "html").count("<tr>") == 2  # the headers and the row, no title row
    tex = render_table(headers, rows, "latex")
    assert "multicolumn" not in tex and "$\\Delta$ gen top1" in tex and "80.0 $\\pm$ 0.0" in tex
