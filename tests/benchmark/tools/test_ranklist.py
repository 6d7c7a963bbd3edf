"""Ranked-list pictures: which gallery items a query retrieves, framed green (same identity) or red."""
import os

import numpy as np
import pytest
from PIL import Image

from benchmark.tools.ranklist import (
    BORDER, MATCH, WRONG, RankListError, canvas_size, rank_list_figure, rank_rows, tile_box)
from ccvid import read_ccvid

# conftest's ccvid_tree, tests of query / gallery:
#   query   0: session1/010_01 id 10 cam 1 clothes u0      1: session3/011_02 id 11 cam 14 clothes u2
#   gallery 0: session2/010_01 id 10 cam 1 clothes u0 (the query 0's camera: junk for it)
#           1: session1/010_03 id 10 cam 3 clothes u3 (query 0's true match, in other clothes: CC)
#           2: session1/011_01 id 11 cam 1 clothes u2 (query 1's true match, same clothes: SC)
Q = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
G = np.array([[1.0, 0.0, 0.0],      # nearest to query 0 of all, but junk: never shown
              [0.8, 0.6, 0.0],      # query 0: d 0.2 (green, CC); query 1: d 0.4 (red)
              [0.6, 0.8, 0.0]])     # query 0: d 0.4 (red); query 1: d 0.2 (green, SC)


@pytest.fixture
def data(ccvid_tree):
    return read_ccvid(str(ccvid_tree))


def colour_at(image, row, col, where="left"):
    """The colour of a tile's frame: the middle of its left edge (or of its top edge)."""
    x0, y0, x1, y1 = tile_box(row, col)
    xy = (x0 + BORDER // 2, (y0 + y1) // 2) if where == "left" else ((x0 + x1) // 2, y0 + BORDER // 2)
    return image.getpixel(xy)


def test_rows_skip_the_junk_and_put_the_clothes_changing_query_first(data):
    assert [t.pid for t in data.query] == [10, 11] and [t.camid for t in data.gallery] == [1, 3, 1]
    for seed in range(4):
        rows = rank_rows(data.query, data.gallery, Q, G, queries=2, top_k=10, seed=seed)
        assert [r.query for r in rows] == [0, 1]  # query 0 has a clothes-changing match: first
        first, second = rows
        assert [h.gallery for h in first.hits] == [1, 2]  # gallery 0 (same id, same camera) is removed
        assert first.hits[0].match and not first.hits[0].same_clothes and not first.hits[1].match
        assert first.hits[0].distance == pytest.approx(0.2)
        assert [h.gallery for h in second.hits] == [2, 1, 0]
        assert second.hits[0].match and second.hits[0].same_clothes
        assert not second.hits[1].match and not second.hits[2].match
        (only,) = rank_rows(data.query, data.gallery, Q, G, queries=1, seed=seed)
        assert only.query == 0


def test_the_picture_has_one_row_per_query_and_green_and_red_frames(data, tmp_path):
    path = rank_list_figure(data.query, data.gallery, Q, G, str(tmp_path / "out" / "rank-list.png"), queries=2)
    assert path == str(tmp_path / "out" / "rank-list.png") and os.path.isfile(path)
    assert [f for f in os.listdir(tmp_path / "out")] == ["rank-list.png"]  # no temporary file left
    with Image.open(path) as im:
        im = im.convert("RGB")
        assert im.size == canvas_size(2, 10)
        assert im.size[1] > canvas_size(1, 10)[1] and im.size[1] < canvas_size(3, 10)[1]
        for row, col in ((0, 1), (1, 1)):
            assert colour_at(im, row, col) == MATCH and colour_at(im, row, col, "top") == MATCH
        for row, col in ((0, 2), (1, 2), (1, 3)):
            assert colour_at(im, row, col) == WRONG and colour_at(im, row, col, "top") == WRONG
        r, g, b = colour_at(im, 0, 1)
        assert g > r + 80 and g > b  # green
        r, g, b = colour_at(im, 0, 2)
        assert r > g + 80 and r > b  # red
        assert colour_at(im, 0, 3) == (255, 255, 255)  # query 0 has only two gallery items left
        # the tile shows the tracklet's middle frame (conftest's frames are random noise, not a flat fill)
        x0, y0, x1, y1 = tile_box(0, 1)
        inner = np.asarray(im.crop((x0 + BORDER, y0 + BORDER, x1 - BORDER, y1 - BORDER)))
        assert inner.std() > 10
    with Image.open(rank_list_figure(data.query, data.gallery, Q, G, str(tmp_path / "one.png"), queries=1,
                                     top_k=3)) as im:
        assert im.size == canvas_size(1, 3)


def test_items_without_frames_are_grey_tiles(data, tmp_path):
    class Item:
        def __init__(self, t):
            self.pid, self.camid, self.clothes = t.pid, t.camid, t.clothes

    path = rank_list_figure([Item(t) for t in data.query], [Item(t) for t in data.gallery], Q, G,
                            str(tmp_path / "grey.png"), queries=2)
    with Image.open(path) as im:
        x0, y0, x1, y1 = tile_box(0, 1)
        assert im.convert("RGB").getpixel((x0 + BORDER + 2, y1 - BORDER - 3)) == (170, 170, 170)


def test_nothing_to_rank_is_one_clear_error(data, tmp_path):
    # every gallery item on the query's camera: no true match under the general protocol
    class Item:
        def __init__(self, pid, camid):
            self.pid, self.camid, self.clothes = pid, camid, 0

    with pytest.raises(RankListError, match="no query has a true match"):
        rank_list_figure([Item(1, 1)], [Item(1, 1), Item(2, 2)], Q[:1], G[:2], str(tmp_path / "x.png"))
    with pytest.raises(ValueError, match="features do not match"):
        rank_rows(data.query, data.gallery, Q[:1], G)
    with pytest.raises(RankListError, match=r"\.png or \.jpg"):
        rank_list_figure(data.query, data.gallery, Q, G, str(tmp_path / "x.svg"))
    assert not os.path.exists(tmp_path / "x.png")


def test_benchmark_test_draws_the_rank_list_of_a_saved_model(ccvid_tree, tmp_path, capsys):
    import torch

    from benchmark.cli import main
    from benchmark.config import Config
    from temporal_models import build_model

    cfg = Config().replace(**{"data.dataset": "ccvid", "data.root": str(ccvid_tree), "data.height": 32,
                              "data.width": 16, "data.seq_len": 4, "system.threads": 1})
    model = build_model(cfg.model.name, cfg.model.backbone, None, cfg.model.res4_stride, cfg.data.seq_len)
    run = tmp_path / "runs" / "some-run"
    run.mkdir(parents=True)
    torch.save({"model": cfg.model.name, "backbone": cfg.model.backbone, "config": cfg.to_dict(),
                "state_dict": model.state_dict()}, run / "model.pt")
    assert main(["test", str(run), "--rank-list", "2", "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert f"rank list: {run / 'rank-list.png'}" in out and "general" in out  # the metrics, as without it
    with Image.open(run / "rank-list.png") as im:
        assert im.size[1] == canvas_size(2, 10)[1]  # both queries have a true match
    feats = tmp_path / "feats"
    assert main(["test", str(run / "model.pt"), "--rank-list", "1", "--out", str(tmp_path / "figs"),
                 "--save-features", str(feats), "--no-progress"]) == 0
    assert os.path.isfile(tmp_path / "figs" / "rank-list.png") and os.path.isfile(feats / "query.npz")
    capsys.readouterr()
    assert main(["test", str(run), "--out", str(tmp_path / "figs")]) == 2
    assert "--rank-list" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["test", str(run), "--rank-list", "0"])
