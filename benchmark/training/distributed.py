"""Several processes, one run: ``torchrun --nproc_per_node=N -m benchmark run ...``.

One process without a launcher stays the default and never touches ``torch.distributed``.
Under torchrun (``WORLD_SIZE`` > 1) each rank joins the process group (NCCL on GPUs, gloo
on CPUs), trains a DistributedDataParallel model on its share of every global P x K batch
(:class:`RankSlice`: the same global batches and iterations per epoch as one process, per-rank
batch = global / N), extracts test features for a contiguous shard of the query and gallery
items, and rank 0 gathers them into exactly one feature per item, in order, scores them, and
alone writes logs, checkpoints and the record.
"""
from __future__ import annotations

import os
from typing import Iterator, List, Optional

import torch
import torch.distributed as dist
from torch.utils.data import Sampler


def world_size() -> int:
    return dist.get_world_size() if dist.is_available() and dist.is_initialized() else 1


def rank() -> int:
    return dist.get_rank() if dist.is_available() and dist.is_initialized() else 0


def is_main() -> bool:
    return rank() == 0


def launched() -> bool:
    """Whether torchrun (or another launcher) asked for several processes."""
    return int(os.environ.get("WORLD_SIZE", "1")) > 1


def init(device_name: str) -> torch.device:
    """Join the process group when launched with several processes; return this rank's device."""
    cuda = torch.cuda.is_available() and device_name in ("auto", "cuda") or device_name.startswith("cuda")
    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if cuda else "gloo")
    if cuda:
        local = int(os.environ.get("LOCAL_RANK", "0"))
        torch.cuda.set_device(local)
        return torch.device("cuda", local)
    return torch.device("cpu")


class RankSlice(Sampler[int]):
    """This rank's part of every global batch of ``base`` (a sampler yielding global batches in order).

    The global sequence is cut into batches of ``global_batch`` (a short tail dropped, as the single
    process's ``drop_last`` does); rank r takes items [r * b, (r + 1) * b) of each, b = global / N.
    """

    def __init__(self, base: Sampler[int], global_batch: int, rank_: int, world: int):
        if global_batch % world:
            raise ValueError(f"the batch of {global_batch} does not split over {world} processes")
        self.base, self.global_batch, self.rank, self.world = base, global_batch, rank_, world
        self.per_rank = global_batch // world

    def set_epoch(self, epoch: int) -> None:
        if hasattr(self.base, "set_epoch"):
            self.base.set_epoch(epoch)

    def __len__(self) -> int:
        return len(self.base) // self.global_batch * self.per_rank

    def __iter__(self) -> Iterator[int]:
        batch: List[int] = []
        lo, hi = self.rank * self.per_rank, (self.rank + 1) * self.per_rank
        for i in self.base:
            batch.append(i)
            if len(batch) == self.global_batch:
                yield from batch[lo:hi]
                batch = []


def shard(n: int) -> range:
    """This rank's contiguous share of ``n`` items (the first ranks take one more when n does not split)."""
    world, r = world_size(), rank()
    per, extra = divmod(n, world)
    start = r * per + min(r, extra)
    return range(start, start + per + (1 if r < extra else 0))


def gather_rows(local: torch.Tensor, n: int) -> Optional[torch.Tensor]:
    """Rank 0: every rank's rows (of :func:`shard`), in order, exactly ``n``; other ranks: None."""
    parts: List[Optional[torch.Tensor]] = [None] * world_size()
    dist.all_gather_object(parts, local.cpu())
    if not is_main():
        return None
    rows = torch.cat([p for p in parts if p is not None and len(p)])
    assert len(rows) == n, (len(rows), n)
    return rows


def broadcast(obj):
    """Rank 0's ``obj`` on every rank."""
    box = [obj if is_main() else None]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def sync_buffers(module: torch.nn.Module) -> None:
    """Every rank takes rank 0's buffers (BatchNorm statistics), so that every shard sees one model."""
    for b in module.buffers():
        dist.broadcast(b, src=0)


def average_gradients(params) -> None:
    """All-reduce (mean) the gradients of parameters that DistributedDataParallel does not own (the heads)."""
    world = world_size()
    for p in params:
        if p.grad is not None:
            dist.all_reduce(p.grad)
            p.grad /= world


def rank_loader(loader):
    """The same loader for this rank: its slice of every global batch (per-rank batch = global / N)."""
    from torch.utils.data import DataLoader
    world = world_size()
    return DataLoader(loader.dataset, batch_size=loader.batch_size // world, drop_last=True,
                      sampler=RankSlice(loader.sampler, loader.batch_size, rank(), world),
                      num_workers=loader.num_workers, persistent_workers=loader.num_workers > 0,
                      pin_memory=loader.pin_memory, collate_fn=loader.collate_fn)


class NullFolder:
    """The run folder as seen by ranks other than 0: they write nothing."""

    def __init__(self, run_id: str = ""):
        self.path, self.run_id, self._handler = "", run_id, None

    def __getattr__(self, name):
        if name == "file":
            return lambda kind: os.devnull
        return lambda *a, **k: None
