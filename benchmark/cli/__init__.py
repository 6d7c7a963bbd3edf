"""The ``benchmark`` command line: one module per command, the common flags from parent parsers.

Every command registers its sub-parser in :func:`build`; a user error (bad
option, file, line or value) is one line on stderr and exit status 2.
"""
from __future__ import annotations

import argparse
import logging
import os
import sys
from typing import List, Optional

from ccvid.base import UserError

from . import cal_sweep, config, datasets, evaluate, models, run, sweep, tools
from ..config.compose import OVERRIDE_WORD
from .common import setup_console

COMMANDS = (run, cal_sweep, sweep, config, evaluate, models, datasets, tools)


def build() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="benchmark",
        description="Clothes-changing video person re-id benchmark (CAL, CVPR 2022): train, evaluate, record.",
        epilog="run `benchmark COMMAND --help` for the options and examples of each command")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    for module in COMMANDS:
        module.register(sub)
    return p


def with_set(argv: List[str]) -> List[str]:
    """Bare ``KEY=VALUE`` words become ``--set KEY=VALUE``, so overrides may stand anywhere on the line."""
    out: List[str] = []
    for i, word in enumerate(argv):
        if OVERRIDE_WORD.match(word) and (i == 0 or argv[i - 1] != "--set"):
            out += ["--set", word]
        else:
            out.append(word)
    return out


def main(argv: Optional[List[str]] = None) -> int:
    parser = build()
    args = parser.parse_args(with_set(list(sys.argv[1:] if argv is None else argv)))
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    setup_console(progress=not getattr(args, "no_progress", False))
    try:
        return args.func(args)
    except UserError as e:
        logging.getLogger("benchmark").debug("user error", exc_info=True)
        print(f"benchmark: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("benchmark: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # the reader of stdout went away (`| head`): stop quietly, as a shell tool does
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no second error at exit's flush
        return 141


if __name__ == "__main__":
    sys.exit(main())
