"""Files are written whole or not at all: pictures, pages, run records, checkpoints."""
from __future__ import annotations

import os
import tempfile
from typing import Callable, IO


def write_atomically(path: str, write: Callable[[IO[bytes]], None]) -> str:
    """Call ``write(file)`` on a temporary file beside ``path``, flush and fsync it, then rename it over ``path``.

    A reader never sees a half-written file, a crash never leaves a renamed but unwritten one, and a
    failure leaves the old file in place and no temporary. The file gets the ordinary mode of a new
    file (mkstemp's are private). OSError propagates.
    """
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{os.path.basename(path)}.", suffix=".tmp", dir=folder)
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise
    return path
