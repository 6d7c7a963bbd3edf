"""``leaderboard``: tables from run records (mean ± std over seeds, CAL gains paired by seed)."""
from __future__ import annotations

import argparse
import sys
from typing import List, Optional

from benchmark.records import load_records

from .tables import cal_gain_rows, leaderboard_rows, render

EXAMPLES = """examples:
  leaderboard runs/                       # all records under runs/, markdown
  leaderboard runs/ --cal-gain            # plus CAL minus no-CAL, paired by seed
  leaderboard runs/a runs/b --format latex
"""


def main(argv: Optional[List[str]] = None) -> int:
    p = argparse.ArgumentParser(prog="leaderboard", description=__doc__, epilog=EXAMPLES,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("paths", nargs="+", help="record.json files or folders searched for them")
    p.add_argument("--format", default="github", help="any tabulate format: github, latex, html, plain ...")
    p.add_argument("--cal-gain", action="store_true", help="also print CAL's gain over the same model without CAL")
    args = p.parse_args(argv)
    try:
        records = load_records(args.paths)
    except (OSError, ValueError) as e:
        print(f"leaderboard: error: {e}", file=sys.stderr)
        return 2
    if not records:
        print(f"leaderboard: error: no run records (record.json) under {', '.join(args.paths)}", file=sys.stderr)
        return 2
    print(render(*leaderboard_rows(records), args.format))
    if args.cal_gain:
        headers, rows = cal_gain_rows(records)
        print()
        print(render(headers, rows, args.format) if rows else "no CAL / no-CAL pairs with the same seed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
