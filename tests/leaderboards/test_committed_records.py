"""Every record committed under results/ still loads; the records of the instruments before v3 give the
leaderboard they gave before records were versioned (golden/results-leaderboard-format1.md: ``leaderboard
results --cal-gain`` at commit 53453c9, when configs were flat; columns are now named by their dotted
field); and the committed instrument page (leaderboards/embedded.md) is what today's records give."""
import os
import re

from benchmark.config import FLAT_ALIASES
from benchmark.records import RECORD_FORMAT, load_records
from ccvid.synth import INSTRUMENT
from leaderboards.instrument import page
from leaderboards.tables import cal_gain_rows, instrument_of, leaderboard_rows, render

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
GOLDEN = os.path.join(os.path.dirname(os.path.abspath(__file__)), "golden", "results-leaderboard-format1.md")
PAGE = os.path.join(REPO, "leaderboards", "embedded.md")


def tables(text):
    """Markdown tables as sets of rows, each a set of (column, cell); old flat column names mapped."""
    out, cur = [], None
    for line in text.splitlines():
        if not line.startswith("|"):
            cur = None
            continue
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if cur is None:
            cur = {"headers": [FLAT_ALIASES.get(h, h) for h in cells], "rows": []}
            out.append(cur)
        elif set(line) <= set("|-: "):
            continue
        else:
            cur["rows"].append(frozenset(zip(cur["headers"], cells)))
    return [(frozenset(t["headers"]), frozenset(t["rows"])) for t in out]


def test_committed_records_load_upgraded():
    records = load_records([os.path.join(REPO, "results")])
    assert len(records) >= 80
    assert all(r.format == RECORD_FORMAT and "optim" in r.config and r.metrics for r in records)


def test_committed_records_give_the_same_leaderboard_numbers():
    records = [r for r in load_records([os.path.join(REPO, "results")]) if instrument_of(r) != "embedded-v3"]
    now = render(*leaderboard_rows(records)) + "\n\n" + render(*cal_gain_rows(records))
    before = tables(open(GOLDEN, encoding="utf-8").read())
    assert [len(rows) for _, rows in before] == [47, 27]
    assert tables(now) == before


def test_committed_instrument_page_is_what_the_committed_records_give():
    records = load_records([os.path.join(REPO, "results")])
    assert sum(instrument_of(r) == INSTRUMENT for r in records) >= 12  # C2D and a temporal model, 3 seeds each
    committed = open(PAGE, encoding="utf-8").read()
    command = re.search(r"Generated from run records only: `([^`]*)`", committed).group(1)
    assert page(records, INSTRUMENT, command) == committed
