"""P identities x K clips per batch (identity sampler of docs/reference-facts.md, C)."""
from __future__ import annotations

from collections import defaultdict
from typing import Dict, Iterator, List, Sequence

import numpy as np
from torch.utils.data import Sampler


class IdentitySampler(Sampler[int]):
    """Yields dataset indices so that consecutive groups of ``num_instances`` share an identity.

    Per identity: shuffle its indices (resampled with replacement up to K when it
    has fewer), cut into chunks of K, drop the short tail; all chunks are shuffled
    and concatenated. With batch size P*K every batch holds P groups of K. Each
    epoch is deterministic from ``seed + epoch``; call :meth:`set_epoch`.
    """

    def __init__(self, pids: Sequence[int], num_instances: int = 4, seed: int = 0):
        self.num_instances = num_instances
        self.seed = seed
        self.epoch = 0
        index: Dict[int, List[int]] = defaultdict(list)
        for i, p in enumerate(pids):
            index[int(p)].append(i)
        self.index = dict(sorted(index.items()))
        k = num_instances
        self._length = sum(max(len(v), k) // k * k for v in self.index.values())

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return self._length

    def __iter__(self) -> Iterator[int]:
        rng = np.random.default_rng(self.seed + self.epoch)
        k = self.num_instances
        chunks: List[List[int]] = []
        for idxs in self.index.values():
            if len(idxs) < k:
                order = list(rng.choice(idxs, size=k, replace=True))
            else:
                order = list(rng.permutation(idxs))
            chunks.extend(order[i:i + k] for i in range(0, len(order) - k + 1, k))
        for c in rng.permutation(len(chunks)):
            yield from (int(i) for i in chunks[c])
