"""``leaderboard``: tables from run records (mean ± std over seeds, CAL gains paired by seed).

Every record is checked for what the tables and the chart read before anything is printed; the first bad
one is one line naming its file (exit status 2). A failed run's record (``"status": "failed"``) is never
averaged: each is named on stderr in one line and left out of every table. Every user error (an option,
a record, a published-numbers file, an output that cannot be written) is a :class:`~ccvid.base.UserError`
raised where it is found and reported in one place, :func:`main`.
"""
from __future__ import annotations

import argparse
import math
import os
import shlex
import sys
from contextlib import contextmanager
from typing import Any, Iterator, List, Optional, Tuple

from tabulate import tabulate_formats

from benchmark.records import RecordError, RunRecord, read_record, record_paths
from ccvid.base import UserError
from ccvid.files import write_atomically

from .published import NO_MATCH, comparison_rows, load_published, sources
from .render import FORMATS, known_format, metric_headers, render_table
from .tables import LeaderboardError, cal_gain_rows, leaderboard_rows, parse_columns, shared_settings, sort_rows

EXAMPLES = """examples:
  leaderboard runs/                       # all records under runs/, markdown
  leaderboard runs/ --cal-gain            # plus CAL minus no-CAL, paired by seed
  leaderboard runs/a runs/b --format latex
  leaderboard runs/ --columns general.mAP,cc.top1,cc.mAP,sc.mAP --sort cc.mAP --format html
  leaderboard runs/ --columns cc.mAP,first-frame:cc.mAP,shuffled:cc.mAP   # test variants as columns
  leaderboard results/ --published        # published numbers beside ours, with the gap
  leaderboard results/embedded results/zoo --figures docs/figures   # CMC, training curves, speed, CAL chart
  leaderboard results/embedded results/zoo --cal-gain --html report.html   # one self-contained page
  leaderboard results/embedded results/zoo --plot zoo.svg   # the CAL chart alone (.svg or .png)
  leaderboard runs/ --figures figs --activation-pair runs/<ID only> runs/<CAL>   # their maps side by side
"""


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="leaderboard", description=__doc__, epilog=EXAMPLES,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("paths", nargs="+", help="record.json files or folders searched for them")
    p.add_argument("--format", default="github",
                   help="github (markdown, default), csv, json, latex (escaped), html, or another tabulate format")
    p.add_argument("--columns", default="general.top1,general.mAP,cc.top1,cc.mAP",
                   help="[VARIANT:]PROTOCOL.METRIC,... with PROTOCOL general/cc/sc, METRIC top1/top5/top10/top20/mAP/"
                        "mINP and an optional test variant the records scored (first-frame, shuffled, reversed, "
                        "static) (default: general.top1,general.mAP,cc.top1,cc.mAP)")
    p.add_argument("--sort", metavar="PROTOCOL.METRIC", help="rows by this column, highest first (default: by name)")
    p.add_argument("--cal-gain", action="store_true", help="also print CAL's gain over the same model without CAL")
    p.add_argument("--plot", metavar="FILE",
                   help="also write the CAL chart (general and CC mAP, ID only vs CAL, per experiment; the "
                        "cal-gain.png of --figures) to FILE, an .svg or .png in an existing folder")
    p.add_argument("--figures", metavar="DIR",
                   help="also write the figures: CMC curves, training curves, speed against accuracy, the CAL chart "
                        "(DIR/cmc.png, training-curves.png, speed-accuracy.png, cal-gain.png)")
    p.add_argument("--activation-pair", nargs=2, metavar=("RUN_A", "RUN_B"),
                   help="with --figures: the activation maps of two saved runs (run folders with model.pt, e.g. ID "
                        "only and CAL on the same seed and test set) side by side, run A above run B, for the same "
                        "query tracklets, one PNG per tracklet in DIR/activation-pairs/")
    p.add_argument("--activation-queries", type=int, default=4, metavar="N",
                   help="how many query tracklets --activation-pair draws (default 4)")
    p.add_argument("--html", metavar="FILE.html",
                   help="also write one self-contained HTML page: the tables, the figures and this command")
    p.add_argument("--instrument-page", metavar="FILE.md",
                   help="also write the embedded instrument's page: the runs of today's instrument version, "
                        "temporal models against C2D, CAL, test variants, Table 3 objectives, and each target met "
                        "or missed (leaderboards/embedded.md is one)")
    p.add_argument("--published", action="store_true",
                   help="also print the published numbers (leaderboards/published/) of the same dataset, model "
                        "and objective beside ours, with the gap (ours - published)")
    return p


def main(argv: Optional[List[str]] = None) -> int:
    """The one place a user error is reported: one line on stderr, exit status 2, no traceback."""
    args = build_parser().parse_args(argv)
    command = "leaderboard " + " ".join(shlex.quote(a) for a in (sys.argv[1:] if argv is None else argv))
    try:
        _run(args, command)
    except UserError as e:
        print(f"leaderboard: error: {e}", file=sys.stderr)
        return 2
    return 0


def _run(args: argparse.Namespace, command: str) -> None:
    """Check the options, the records and the published numbers, then print and write what was asked for."""
    columns, sort = _check_options(args)
    records, failed = load_checked(args.paths)
    published = load_published() if args.published else []
    for r in failed:
        why = (str(r.error).strip().splitlines() or ["no reason recorded"])[0] if r.error else "no reason recorded"
        print(f"leaderboard: skipped failed run {r.path} ({why})", file=sys.stderr)
    if not records:
        what = "complete run records" if failed else "run records"
        raise LeaderboardError(f"no {what} (record.json) under {', '.join(args.paths)}")
    _print_tables(records, columns, sort, args.format)
    if args.published:
        _print_published(records, published, args.format)
    if args.cal_gain:
        headers, rows = cal_gain_rows(records, columns)
        print()
        print(render_table(headers, rows, args.format, best=metric_headers(headers)) if rows
              else "no CAL / no-CAL pairs with the same seed")
    if args.plot:
        _write_plot(records, args.plot)
    if args.html:
        with _writing("--html", args.html):
            print(f"\nreport: {_write_report(records, columns, published, command, args.html)}")
    if args.figures:
        _write_figures(records, args.figures)
    if args.activation_pair:
        _write_activation_pair(args.activation_pair, args.activation_queries, args.figures)
    if args.instrument_page:
        _write_instrument_page(records, args.instrument_page, command)


def _write_instrument_page(records: List[RunRecord], path: str, command: str) -> None:
    from ccvid.synth import INSTRUMENT

    from .instrument import page
    text = page(records, INSTRUMENT, command)
    with _writing("--instrument-page", path):
        write_atomically(path, lambda f: f.write(text.encode("utf-8")))
    print(f"\ninstrument page: {path}")


def _check_options(args: argparse.Namespace) -> Tuple[Tuple[Tuple[str, str], ...], Optional[Tuple[str, str]]]:
    """(columns, sort column) of the options; refuses a bad option before any record is read."""
    columns = parse_columns(args.columns)
    sort = parse_columns(args.sort)[0] if args.sort else None
    if not known_format(args.format):
        raise LeaderboardError(f"--format {args.format!r}: unknown table format; choose from {', '.join(FORMATS)} "
                               f"or a tabulate format ({', '.join(sorted(tabulate_formats))})")
    if args.plot:
        _check_plot(args.plot)
    if args.activation_pair and not args.figures:
        raise LeaderboardError("--activation-pair RUN_A RUN_B: give --figures DIR, the folder its pictures go to")
    if args.activation_queries < 1:
        raise LeaderboardError(f"--activation-queries {args.activation_queries}: expected a number of query "
                               "tracklets >= 1")
    return columns, sort


def _check_plot(path: str) -> None:
    """The chart's format follows the suffix; its folder must exist (a mistyped folder is not created)."""
    from .figures import FORMATS as FIGURE_FORMATS
    if os.path.splitext(path)[1].lower().lstrip(".") not in FIGURE_FORMATS:
        raise LeaderboardError(f"--plot {path}: give a .svg or .png file name (the chart's format follows the suffix)")
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise LeaderboardError(f"--plot {path}: no such folder {folder}")


@contextmanager
def _writing(option: str, path: str, failure: str = "cannot write") -> Iterator[None]:
    """A file (or folder) an option names is being written: a failure becomes one line naming both."""
    try:
        yield
    except OSError as e:
        raise LeaderboardError(f"{option} {path}: {failure} ({_why(e, path)})") from None
    except UserError as e:  # nothing to draw, a format that is not a figure's
        raise LeaderboardError(f"{option} {path}: {e}") from None


def _why(e: OSError, path: str) -> str:
    """The system's reason, naming the folder on the way when that is what failed (a file where one should be)."""
    above = e.filename and os.path.abspath(path).startswith(os.path.abspath(os.fsdecode(e.filename)) + os.sep)
    return f"{e.filename}: {e.strerror}" if above else (e.strerror or type(e).__name__)


def _write_plot(records: List[RunRecord], path: str) -> None:
    from .figures import cal_gain_figure
    with _writing("--plot", path):
        cal_gain_figure(records, path)
    print(f"\nchart: {path}")


def _write_report(records: List[RunRecord], columns, published, command: str, path: str) -> str:
    from .report import html_report, write_report
    published_html = None
    if published:
        headers, rows = comparison_rows(records, published)
        published_html = render_table(headers, rows, "html") if rows else f"<p>{NO_MATCH}</p>"
    return write_report(html_report(records, command, columns, published_html=published_html), path)


def _write_figures(records: List[RunRecord], folder: str) -> None:
    """Every figure the records can show; one that has nothing to show is named and skipped."""
    from .figures import NothingToDraw, cal_gain_figure, cmc_figure, speed_accuracy_figure, training_curves_figure
    with _writing("--figures", folder, "cannot create the folder"):
        os.makedirs(folder, exist_ok=True)
    print()
    for name, draw in (("cmc.png", cmc_figure), ("training-curves.png", training_curves_figure),
                       ("speed-accuracy.png", speed_accuracy_figure), ("cal-gain.png", cal_gain_figure)):
        path = os.path.join(folder, name)
        with _writing("--figures", path):
            try:
                print(f"figure: {draw(records, path)}")
            except NothingToDraw as e:
                print(f"figure {name}: skipped ({e})")


def _write_activation_pair(runs: List[str], queries: int, figures: str) -> None:
    """Two saved runs' activation maps of the same query tracklets, side by side (the paper's Figure 5)."""
    from benchmark.tools.activation_maps import activation_pair
    folder = os.path.join(figures, "activation-pairs")
    try:
        written = activation_pair(runs[0], runs[1], queries, folder)
    except UserError as e:  # a model without a spatial map, a missing model.pt, runs of different test sets
        raise LeaderboardError(f"--activation-pair: {e}") from None
    for path in written:
        print(f"figure: {path}")


def _print_tables(records: List[RunRecord], columns, sort, fmt: str) -> None:
    """The last-epoch table (the headline), then the reference rule's epochs where records name a rule."""
    headers, rows = leaderboard_rows(records, columns)
    if sort:
        rows = sort_rows(headers, rows, sort)
    print(render_table(headers, rows, fmt, best=metric_headers(headers), caption=shared_settings(records)))
    headers, rows = leaderboard_rows(records, columns, selection="reference")
    if rows:
        if sort:
            rows = sort_rows(headers, rows, sort)
        print("\nThe epochs the reference's selection rule keeps (best test top-1): CHOSEN ON THE TEST SET, so not "
              "comparable with the last-epoch rows above; shown to compare with published numbers chosen that way.")
        print(render_table(headers, rows, fmt, best=metric_headers(headers)))


def _print_published(records: List[RunRecord], published, fmt: str) -> None:
    """Ours beside the published rows of the same dataset, model and objective, in the tables' format."""
    headers, rows = comparison_rows(records, published)
    print("\nPublished numbers beside ours (same dataset, model and objective; Δ = ours - published, points; "
          "ours: last epoch, mean ± std over seeds; a published number not scored per tracklet carries its kind, "
          "(frame) or (unknown), and Δ n/c: not comparable):")
    if not rows:
        print(NO_MATCH)
        return
    print(render_table(headers, rows, fmt))
    shown = [r for r in published if r.short in {row[headers.index("source")] for row in rows}]
    headers, ref_rows = comparison_rows(records, published, selection="reference")
    if ref_rows:
        print("\nThe same comparison at the epochs the reference's selection rule keeps (CHOSEN ON THE TEST SET, "
              "the rule of the CAL reference code):")
        print(render_table(headers, ref_rows, fmt))
    print("\nsources:\n" + "\n".join(f"  {line}" for line in sources(shown)))


def load_checked(paths: List[str]) -> Tuple[List[RunRecord], List[RunRecord]]:
    """(complete records, failed ones) from files or folders; :class:`RecordError` names the first bad file.

    A path that is not a regular file (a FIFO, a device) is refused before it is opened (:func:`read_record`);
    a complete record must hold what the tables read (:func:`check_record`).
    """
    complete, failed = [], []
    for path in record_paths(paths):
        record = read_record(path)
        status = record.status
        if status == "failed":
            failed.append(record)
            continue
        if status != "complete":
            raise RecordError(f"{path}: status {status!r}: expected 'complete' or 'failed'")
        check_record(record)
        complete.append(record)
    return complete, failed


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _check_metrics(where: str, metrics: Any) -> None:
    """``{protocol: None | {name: number | None | {name: number | None}}}``, every number finite."""
    if not isinstance(metrics, dict):
        raise RecordError(f"{where}: expected an object of protocols, got {type(metrics).__name__}")
    for proto, scores in metrics.items():
        if scores is None:
            continue
        if not isinstance(scores, dict):
            raise RecordError(f"{where}.{proto}: expected an object of scores or null, got "
                              f"{type(scores).__name__} {scores!r:.40}")
        for name, value in scores.items():
            inner = value.items() if isinstance(value, dict) else [("", value)]  # single-shot "std": {...}
            for sub, v in inner:
                key = f"{where}.{proto}.{name}{'.' + sub if sub else ''}"
                if v is not None and not _is_number(v):
                    raise RecordError(f"{key}: expected a number or null, got {type(v).__name__} {v!r:.40}")
                if v is not None and not math.isfinite(v):
                    raise RecordError(f"{key}: {v} is not a finite number")


def check_record(record: RunRecord) -> None:
    """Refuse a record the tables or the chart cannot read, naming its file and the field."""
    where = record.path or "record"
    try:
        _check_metrics("metrics", record.metrics)
        for section in ("system", "cal", "data", "model"):
            value = record.config.get(section)
            if value is not None and not isinstance(value, dict):
                raise RecordError(f"config.{section}: expected an object, got {type(value).__name__}")
        seed = record.config.get("system", {}).get("seed", 0)
        if not (isinstance(seed, int) and not isinstance(seed, bool)) or seed < 0:
            raise RecordError(f"config.system.seed: expected a whole number >= 0, got {seed!r}")
        if not isinstance(record.timings, dict):
            raise RecordError(f"timings: expected an object, got {type(record.timings).__name__}")
        train_s = record.timings.get("train_s")
        if train_s is None:
            raise RecordError("timings.train_s: missing (the tables show training time)")
        if not _is_number(train_s) or not math.isfinite(train_s) or train_s < 0:
            raise RecordError(f"timings.train_s: expected seconds (a number >= 0), got {train_s!r}")
        ref = record.reference_selection
        if ref is not None:
            if not isinstance(ref, dict):
                raise RecordError(f"reference_selection: expected an object or null, got {type(ref).__name__}")
            if ref.get("metrics"):
                _check_metrics("reference_selection.metrics", ref["metrics"])
                if not isinstance(ref.get("rule"), str):
                    raise RecordError(f"reference_selection.rule: expected a rule name, got {ref.get('rule')!r}")
                if not (isinstance(ref.get("epoch"), int) and not isinstance(ref.get("epoch"), bool)):
                    raise RecordError(f"reference_selection.epoch: expected an epoch number, got "
                                      f"{ref.get('epoch')!r}")
    except RecordError as e:
        raise RecordError(f"{where}: {e}") from None


if __name__ == "__main__":
    sys.exit(main())
