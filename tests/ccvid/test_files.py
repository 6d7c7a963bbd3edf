"""Pictures and pages are written whole or not at all, with an ordinary file mode."""
import os
import stat

import pytest

from ccvid.files import write_atomically


def test_a_failed_write_keeps_the_old_file_and_leaves_no_temporary(tmp_path):
    path = tmp_path / "sub" / "a.png"
    write_atomically(path, lambda f: f.write(b"old"))
    assert path.read_bytes() == b"old"
    assert stat.S_IMODE(os.stat(path).st_mode) & 0o044  # readable by others, unlike mkstemp's files

    def broken(f):
        f.write(b"half")
        raise RuntimeError("disk full")
    with pytest.raises(RuntimeError):
        write_atomically(path, broken)
    assert path.read_bytes() == b"old" and os.listdir(path.parent) == ["a.png"]
