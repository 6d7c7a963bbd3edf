"""``benchmark pack --out`` at a place no folder can be made: one line on stderr, exit 2, nothing encoded."""
import os

import pytest

from benchmark.cli import main
from benchmark.tools import pack as packmod
from benchmark.tools.pack import PackError, pack
from ccvid.base import UserError


@pytest.fixture
def no_encoding(monkeypatch):
    """Fail loudly if a frame is decoded or a video encoded: the --out check must come first."""
    def started(*_):
        raise AssertionError("encoding started before --out was checked")
    monkeypatch.setattr(packmod, "load_frames", started)
    monkeypatch.setattr(packmod, "encode_video", started)


def _pack_cli(src, out, capsys):
    code = main(["pack", "--data-root", str(src), "--out", str(out), "--no-progress"])
    captured = capsys.readouterr()
    return code, captured.err


@pytest.mark.parametrize("below", ["sub", "sub/deeper"])
def test_out_below_a_regular_file_is_one_line(ccvid_tree, tmp_path, capsys, no_encoding, below):
    blocker = tmp_path / "some_file.txt"
    blocker.write_text("a file, not a folder")
    out = blocker / below
    code, err = _pack_cli(ccvid_tree, out, capsys)
    assert code == 2
    assert err == (f"benchmark: error: {out}: cannot create the --out folder or write in it "
                   f"({blocker} is a file, not a folder)\n")
    assert blocker.read_text() == "a file, not a folder"  # untouched


def test_out_below_a_file_given_as_a_relative_path(ccvid_tree, tmp_path, capsys, no_encoding, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "notes.txt").write_text("x")
    code, err = _pack_cli(ccvid_tree, os.path.join("notes.txt", "sub"), capsys)
    assert code == 2 and err.count("\n") == 1
    assert err.startswith("benchmark: error: notes.txt/sub: cannot create the --out folder")
    assert err.endswith("(notes.txt is a file, not a folder)\n")


@pytest.mark.skipif(not os.path.isdir("/proc/self"), reason="needs the Linux /proc filesystem")
def test_out_where_no_folder_can_be_created_is_one_line(ccvid_tree, capsys, no_encoding):
    code, err = _pack_cli(ccvid_tree, "/proc/ccreid-test", capsys)
    assert code == 2 and err.count("\n") == 1 and "Traceback" not in err
    assert err.startswith("benchmark: error: /proc/ccreid-test: cannot create the --out folder or write in it (")
    assert not os.path.exists("/proc/ccreid-test")


def test_out_folder_that_takes_no_file_is_one_line(ccvid_tree, tmp_path, capsys, no_encoding, monkeypatch):
    # a read-only folder (root ignores the mode bits, so the refusal is simulated at the first write)
    def refuse(path, write):
        raise PermissionError(13, "Permission denied", path)
    monkeypatch.setattr(packmod, "write_atomically", refuse)
    out = tmp_path / "readonly"
    code, err = _pack_cli(ccvid_tree, out, capsys)
    assert code == 2
    assert err == f"benchmark: error: {out}: cannot create the --out folder or write in it (Permission denied)\n"


def test_the_library_raises_a_user_error(ccvid_tree, tmp_path, no_encoding):
    (tmp_path / "f.txt").write_text("")
    with pytest.raises(PackError, match=r"f\.txt is a file, not a folder") as e:
        pack(str(ccvid_tree), str(tmp_path / "f.txt" / "sub"))
    assert isinstance(e.value, UserError)
