"""What native libraries print: FFmpeg and decord write to the process's fd 2 directly, past Python.

:func:`captured_stderr` routes fd 2 to a scratch file for a block and yields a function returning
what was written there, so that a bad video becomes one line of ours instead of FFmpeg's noise.
It lives in the leftmost package so that the dataset checks and the frame readers share it.
"""
from __future__ import annotations

import contextlib
import os
import sys
import tempfile
import threading
from typing import Callable, Dict, Iterator, List

_STDERR_LOCK = threading.Lock()  # fd 2 is process-wide: one capture at a time, or threads would swap it for good
_STDERR_FILE: Dict[int, object] = {}  # one reusable capture file per process (a new one costs ~0.3 ms per open)


def _after_fork_in_child() -> None:
    """A lock held by another thread at fork time would stay held in the child forever."""
    global _STDERR_LOCK
    _STDERR_LOCK = threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


@contextlib.contextmanager
def captured_stderr() -> Iterator[Callable[[], str]]:
    """Route the process's fd 2 to a temporary file for the block; yield a function returning what was
    written, once the block is left."""
    text: List[str] = []
    with _STDERR_LOCK:
        try:
            sys.stderr.flush()
            saved = os.dup(2)
        except (OSError, ValueError):  # no usable fd 2 (rare embedded setups): capture nothing
            yield lambda: ""
            return
        tmp = _STDERR_FILE.get(os.getpid())
        if tmp is None:  # first capture in this process (a forked worker gets its own file)
            _STDERR_FILE.clear()
            tmp = _STDERR_FILE[os.getpid()] = tempfile.TemporaryFile(mode="w+b")
        tmp.seek(0)
        tmp.truncate()
        os.dup2(tmp.fileno(), 2)
        try:
            yield lambda: "".join(text)
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            tmp.seek(0)
            text.append(tmp.read().decode("utf-8", "replace"))
