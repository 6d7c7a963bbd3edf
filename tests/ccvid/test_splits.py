"""The validation split of training identities: held-out ids, groups held out together."""
import numpy as np

from ccvid.records import ReIDDataset, Tracklet
from ccvid.splits import validation_split


def dataset(num_ids=10, groups=()):
    train = [Tracklet(f"/x/{p}_{c}_{k}", p, c, p * 2 + (k % 2), ("1.jpg",), 1)
             for p in range(num_ids) for c in (0, 1) for k in range(2)]
    return ReIDDataset("toy", train, [], [], num_ids, 2 * num_ids, np.zeros((num_ids, 2 * num_ids)),
                       meta={"id_groups": [list(g) for g in groups]})


def test_grouped_ids_are_held_out_together_and_the_rest_trains():
    groups = [(0, 1), (2, 3), (6, 7)]
    for seed in range(20):
        val = validation_split(dataset(groups=groups), 4, seed)
        held = {t.pid for t in val.query}
        for a, b in groups:
            assert (a in held) == (b in held), (seed, held)  # a twin pair is never split
        assert 4 <= len(held) <= 5 and val.num_train_pids == 10 - len(held)


def test_without_groups_the_draw_is_the_one_every_split_made_before():
    val = validation_split(dataset(), 3, seed=0)
    import random
    assert {t.pid for t in val.query} == set(random.Random(0).sample(list(range(10)), 3))
