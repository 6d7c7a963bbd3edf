"""Shared by the hostile-input corpus: the refusal check, a guard against hangs, tiny trees."""
import json
import os

import numpy as np
from PIL import Image

from conftest import deadline


def refused(code, capsys, *names, status=2, runs=None):
    """The house rule for bad input: exit ``status``, exactly one line on stderr naming each of ``names``,
    no traceback, and (``runs``) no record.json under the runs folder that looks complete."""
    err = capsys.readouterr().err
    assert code == status, err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert "Traceback" not in err
    for name in names:
        assert str(name) in lines[0], (name, lines[0])
    if runs is not None:
        assert not complete_records(runs), complete_records(runs)
    return lines[0]


def complete_records(folder):
    """record.json files under ``folder`` that do not say the run failed."""
    out = []
    for d, _, files in os.walk(str(folder)):
        if "record.json" in files:
            with open(os.path.join(d, "record.json"), encoding="utf-8") as f:
                if json.load(f).get("status") != "failed":
                    out.append(os.path.join(d, "record.json"))
    return out


def no_hang(seconds=20):
    """Fail (instead of hanging the suite) if the block blocks, e.g. on a FIFO read."""
    return deadline(seconds, "a FIFO was opened? the block")


def img(path, value=0, h=4, w=2):
    """A real tiny image."""
    os.makedirs(os.path.dirname(str(path)), exist_ok=True)
    Image.fromarray(np.full((h, w, 3), value, dtype=np.uint8)).save(str(path))


def write(path, text, mode="w"):
    os.makedirs(os.path.dirname(str(path)), exist_ok=True)
    with open(path, mode) as f:
        f.write(text)


def truncate(path, keep=0.5):
    """Cut a file to ``keep`` of its length."""
    data = open(path, "rb").read()
    open(path, "wb").write(data[:int(len(data) * keep)])
