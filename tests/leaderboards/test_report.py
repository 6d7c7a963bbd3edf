"""The HTML report is one self-contained page that a real browser (headless Chromium) loads with its tables
and decoded images. Without Chromium the browser test is skipped, except where CCREID_REQUIRE_BROWSER=1
(CI installs Chromium and sets it, so there it cannot silently skip)."""
import os
import re
import shutil
import subprocess

import pytest

from benchmark.records import load_records
from leaderboards.cli import main

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BROWSER = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")


def make_report(tmp_path, capsys):
    path = tmp_path / "report.html"
    assert main([os.path.join(REPO, "results", "embedded"), "--cal-gain", "--html", str(path)]) == 0
    capsys.readouterr()
    return path


def test_the_page_is_self_contained_and_says_how_to_regenerate_it(tmp_path, capsys):
    text = make_report(tmp_path, capsys).read_text(encoding="utf-8")
    assert text.count("<table>") >= 2 and text.count('src="data:image/png;base64,') >= 2
    assert "leaderboard " in text and "--html" in text  # the command that regenerates it
    assert not re.search(r'(src|href)="https?://', text)  # nothing is fetched
    assert "mean ± std over seeds" in text and len(load_records([os.path.join(REPO, "results", "embedded")])) == 6


def test_a_bad_report_path_is_one_line(tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    assert main([os.path.join(REPO, "results", "embedded"), "--html", str(blocker / "r.html")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("leaderboard: error: --html ") and len(err.strip().splitlines()) == 1


@pytest.mark.skipif(not BROWSER and os.environ.get("CCREID_REQUIRE_BROWSER") != "1",
                    reason="no headless Chromium here (CI installs it)")
def test_a_headless_browser_loads_the_tables_and_decodes_the_images(tmp_path, capsys):
    assert BROWSER, "CCREID_REQUIRE_BROWSER=1 but no chromium on PATH"
    path = make_report(tmp_path, capsys)
    cmd = [BROWSER, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
           "--disable-background-networking", "--disable-component-update", "--disable-sync",
           f"--user-data-dir={tmp_path / 'profile'}", "--dump-dom", path.as_uri()]
    dom = subprocess.run(cmd, capture_output=True, text=True, timeout=120).stdout
    body = re.search(r"<body([^>]*)>", dom)
    assert body, dom[:500]
    tables = int(re.search(r'data-tables="(\d+)"', body.group(1)).group(1))
    images = int(re.search(r'data-images-decoded="(\d+)"', body.group(1)).group(1))
    assert tables >= 2 and images >= 2  # counted by the page itself after the browser loaded it
