"""Native video decoding (decord, FFmpeg): what it prints, why it failed, what it cannot do.

FFmpeg and decord write to the process's fd 2 directly, past Python. :func:`captured_stderr`
routes fd 2 to a scratch file for a block and yields a function returning what was written
there, and :func:`decoder_reason` turns that and decord's exception into one short reason, so
that a bad video becomes one line of ours instead of FFmpeg's noise. :func:`quiet_decord`
imports decord with FFmpeg's logging off; :func:`decodable_width` works around a decord bug.
They live in the leftmost package so that the dataset checks, the sample sheet and the frame
readers share them.
"""
from __future__ import annotations

import contextlib
import os
import re
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


def quiet_decord():
    """Import decord lazily (a process pays only when it reads videos) with FFmpeg's own logging off,
    so that a corrupt file gives our one-line error and not FFmpeg's lines; ImportError without it."""
    import decord

    decord.logging.set_level(decord.logging.QUIET)
    return decord


def decoder_reason(e: BaseException, logged: str = "") -> str:
    """A short reason from decord's exception or log: FFmpeg's own (``ERROR opening: PATH, REASON``) when it
    logged one, else the last line without decord's "[time] /src/file.cc:123: " prefix."""
    lines = [ln for ln in (logged + "\n" + str(e)).splitlines() if ln.strip()]
    for ln in lines:  # FFmpeg's own explanation is the most useful one, e.g. "Invalid data found ..."
        if ", " in ln and "ERROR opening" in ln:
            return ln.rsplit(", ", 1)[1].strip()[:200]
    text = lines[-1] if lines else type(e).__name__
    return re.sub(r"^\[[0-9:]+\] \S+:\d+: ", "", text).strip()[:200]


def decodable_width(width: int) -> int:
    """decord 0.6 fails to copy frames whose RGB row is not a multiple of 32 bytes
    ("Check failed: from_size == to_size"): decode such widths at the next multiple of 32."""
    return -(-width // 32) * 32
