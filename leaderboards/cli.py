"""``leaderboard``: tables from run records (mean ± std over seeds, CAL gains paired by seed)."""
from __future__ import annotations

import argparse
import os
import sys
from typing import List, Optional

from benchmark.records import RecordError, load_records

from .plot import cal_gain_svg
from .tables import cal_gain_rows, leaderboard_rows, render

EXAMPLES = """examples:
  leaderboard runs/                       # all records under runs/, markdown
  leaderboard runs/ --cal-gain            # plus CAL minus no-CAL, paired by seed
  leaderboard runs/a runs/b --format latex
  leaderboard results/embedded results/zoo --plot zoo.svg   # CAL vs ID-only dumbbell chart
"""


def main(argv: Optional[List[str]] = None) -> int:
    p = argparse.ArgumentParser(prog="leaderboard", description=__doc__, epilog=EXAMPLES,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("paths", nargs="+", help="record.json files or folders searched for them")
    p.add_argument("--format", default="github", help="any tabulate format: github, latex, html, plain ...")
    p.add_argument("--cal-gain", action="store_true", help="also print CAL's gain over the same model without CAL")
    p.add_argument("--plot", metavar="FILE.svg",
                   help="also write an SVG chart of general and CC mAP, ID only vs CAL, per experiment")
    args = p.parse_args(argv)
    try:
        records = load_records(args.paths)
    except (OSError, RecordError) as e:
        print(f"leaderboard: error: {e}", file=sys.stderr)
        return 2
    if not records:
        print(f"leaderboard: error: no run records (record.json) under {', '.join(args.paths)}", file=sys.stderr)
        return 2
    print(render(*leaderboard_rows(records), args.format))
    headers, rows = leaderboard_rows(records, selection="reference")
    if rows:
        print("\nThe epochs the reference's selection rule keeps (best test top-1): CHOSEN ON THE TEST SET, so not "
              "comparable with the last-epoch rows above; shown to compare with published numbers chosen that way.")
        print(render(headers, rows, args.format))
    if args.cal_gain:
        headers, rows = cal_gain_rows(records)
        print()
        print(render(headers, rows, args.format) if rows else "no CAL / no-CAL pairs with the same seed")
    if args.plot:
        try:
            _write(args.plot, cal_gain_svg(records))
        except (OSError, ValueError) as e:
            print(f"leaderboard: error: --plot {args.plot}: {e}", file=sys.stderr)
            return 2
        print(f"\nchart: {args.plot}")
    return 0


def _write(path: str, text: str) -> None:
    """Write through a temporary file so that an existing chart is never left half-written."""
    tmp = f"{path}.tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
    os.replace(tmp, path)


if __name__ == "__main__":
    sys.exit(main())
