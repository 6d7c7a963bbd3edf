import contextlib
import os
import signal
import sys

import numpy as np
import pytest
from PIL import Image

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def install_plugin(plugin_dir, tmp_path):
    """pip-install the plugin package at ``plugin_dir`` into ``tmp_path/site`` (built from a copy: setuptools writes
    build/ and egg-info beside the source) and return an environment whose PYTHONPATH sees it and the suite."""
    import shutil
    import subprocess

    src, site = tmp_path / "plugin_src", tmp_path / "site"
    shutil.copytree(plugin_dir, src, ignore=shutil.ignore_patterns("build", "*.egg-info", "__pycache__"))
    subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "--no-build-isolation", "--no-index",
                    "--disable-pip-version-check", "-q", "--target", str(site), str(src)],
                   check=True, capture_output=True, text=True)
    repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env = dict(os.environ, OMP_NUM_THREADS="1")
    env["PYTHONPATH"] = os.pathsep.join([str(site), repo] + ([env["PYTHONPATH"]] if env.get("PYTHONPATH") else []))
    return env


def write_frames(folder, n, h=16, w=8, seed=0):
    os.makedirs(folder, exist_ok=True)
    rng = np.random.default_rng(seed)
    for i in range(n):
        arr = rng.integers(0, 255, size=(h, w, 3), dtype=np.uint8)
        Image.fromarray(arr).save(os.path.join(folder, f"{i + 1:05d}.jpg"), quality=95)


def write_video(path, frames, fps=25, gop=8):
    """Encode uint8 (T, H, W, 3) frames as H.264 with PyAV."""
    import av

    os.makedirs(os.path.dirname(path), exist_ok=True)
    with av.open(path, "w") as c:
        s = c.add_stream("libx264", rate=fps)
        s.width, s.height, s.pix_fmt = frames.shape[2], frames.shape[1], "yuv420p"
        s.options = {"crf": "10", "g": str(gop)}
        for f in frames:
            for p in s.encode(av.VideoFrame.from_ndarray(f, format="rgb24")):
                c.mux(p)
        for p in s.encode():
            c.mux(p)


@pytest.fixture
def ccvid_tree(tmp_path):
    """A tiny tree in the exact CCVID layout (tab-separated lines, session folders, 00001.jpg frames)."""
    root = tmp_path / "CCVID"
    train = [("session1/001_01", "001", "u0_l0_s0_c0_a0", 5), ("session1/001_02", "001", "u1_l0_s0_c0_a0", 4),
             ("session2/003_01", "003", "u0_l0_s0_c0_a0", 6), ("session3/003_04", "003", "u0_l1_s0_c0_a0", 3)]
    query = [("session1/010_01", "010", "u0_l0_s0_c0_a0", 7), ("session3/011_02", "011", "u2_l0_s0_c0_a0", 2)]
    gallery = [("session2/010_01", "010", "u0_l0_s0_c0_a0", 5), ("session1/010_03", "010", "u3_l0_s0_c0_a0", 9),
               ("session1/011_01", "011", "u2_l0_s0_c0_a0", 3)]
    for name, rows in (("train", train), ("query", query), ("gallery", gallery)):
        with open(root.joinpath(f"{name}.txt") if root.exists() else _mk(root, name), "w") as f:
            for path, pid, clothes, n in rows:
                f.write(f"{path}\t{pid}\t{clothes}\n")
                write_frames(str(root / path), n)
    return root


def _mk(root, name):
    root.mkdir(parents=True, exist_ok=True)
    return root / f"{name}.txt"


@contextlib.contextmanager
def deadline(seconds=60, what="the block"):
    """Fail (instead of hanging the suite) if ``what`` takes longer than ``seconds``, e.g. a FIFO read."""
    def expired(*_):
        raise AssertionError(f"{what} blocked for {seconds} s")
    old = signal.signal(signal.SIGALRM, expired)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


@pytest.fixture(scope="module")
def one_thread():
    """Tiny workloads: one thread is as fast and does not thrash when other processes share the cores
    (a module opts in with ``pytestmark = pytest.mark.usefixtures("one_thread")``)."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
