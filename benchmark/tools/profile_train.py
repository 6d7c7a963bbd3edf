"""``benchmark profile train``: end-to-end training throughput of any run config, without a run folder.

The parts are built by the run's own builder (:func:`benchmark.training.build.build_training`) and
the steps are the trainer's own loop (:meth:`~benchmark.training.trainer.Trainer.train_epoch`, whose
per-step callback stops it): ``iterations`` training steps are timed after ``warmup`` untimed ones,
split into the wait for the next batch (``next`` on the loader's iterator), the preparation of the
batch (to the device, normalisation, the image recipe's augmentation, decoding with
``data.decode=device``), the model's forward pass (timed by hooks on the model), and the rest of the
step (heads, losses, both backward passes and optimiser steps); plus clips/s and the peak memory of the
process (``ru_maxrss``; on CUDA also ``torch.cuda.max_memory_allocated``). The steps run with the last
epoch's settings, so every term of the recipe (CAL, the clothes classifier) is on; batches run on past
the end of an epoch into the next one (a new iterator, as training does).
"""
from __future__ import annotations

import resource
import sys
import time
from typing import Callable, Dict, List, Tuple

import numpy as np
import torch


def _forward_timer(model: torch.nn.Module, clock: Callable[[], float]) -> Tuple[List[float], Callable[[], None]]:
    """Hooks that add the duration of each call of ``model`` to a list; returns (list, remove hooks)."""
    spent: List[float] = []
    start: List[float] = []

    def pre(_module, _inputs):
        start.append(clock())

    def post(_module, _inputs, _output):
        spent.append(clock() - start.pop())

    handles = [model.register_forward_pre_hook(pre), model.register_forward_hook(post)]
    return spent, lambda: [h.remove() for h in handles]


def _peak_rss_bytes() -> int:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak if sys.platform == "darwin" else peak * 1024  # bytes on macOS, KiB elsewhere


def _timed_steps(trainer, loader, epoch: int, iterations: int, warmup: int, forward: List[float]) -> np.ndarray:
    """(data, prep, step, total) seconds of each timed iteration, through the trainer's own epoch loop."""
    rows: List[Tuple[float, float, float, float]] = []
    seen = [0]

    def on_step(t) -> bool:
        seen[0] += 1
        if seen[0] > warmup:
            rows.append((t.fetched - t.start, t.prepared - t.fetched, t.done - t.prepared, t.done - t.start))
        else:
            forward.clear()
        return seen[0] >= warmup + iterations

    while seen[0] < warmup + iterations:
        trainer.train_epoch(loader, epoch, on_step=on_step)
    return np.asarray(rows)


def profile_train(cfg, iterations: int = 20, warmup: int = 2) -> Dict[str, object]:
    """Time ``iterations`` training steps of ``cfg`` after ``warmup`` untimed ones; see the module docstring.

    Returns per-iteration means in seconds (``data_s``: in ``next(iterator)``; ``prep_s``;
    ``forward_s``; ``backward_s``: the rest of the step; ``iteration_s``: all of it),
    ``data_share`` (data wait over the iteration), ``clips_per_s`` and the peak memory.
    """
    from ..training.build import build_training, pick_device
    from ..training.trainer import device_clock

    if iterations < 1 or warmup < 0:
        raise ValueError("iterations must be at least 1 and warmup at least 0")
    old_threads = torch.get_num_threads()
    if cfg.system.threads > 0:
        torch.set_num_threads(cfg.system.threads)
    device = pick_device(cfg.system.device)
    try:
        t0 = time.perf_counter()
        parts = build_training(cfg, device)
        build_s = time.perf_counter() - t0
        if device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(device)
        forward, remove_hooks = _forward_timer(parts.model, device_clock(device))
        try:
            timed = _timed_steps(parts.trainer, parts.loader, cfg.optim.epochs - 1, iterations, warmup, forward)
        finally:
            remove_hooks()
        return _result(cfg, parts, device, timed, forward, build_s, iterations, warmup)
    finally:
        torch.set_num_threads(old_threads)


def _result(cfg, parts, device: torch.device, timed: np.ndarray, forward: List[float], build_s: float,
            iterations: int, warmup: int) -> Dict[str, object]:
    data_s, prep_s, step_s, total_s = timed.mean(axis=0)
    forward_s = float(np.sum(forward)) / len(timed)  # per iteration, however often a step calls the model
    batch = cfg.data.num_ids * cfg.data.clips_per_id
    memory = getattr(parts.loader.dataset, "memory", None)
    return {
        "model": cfg.model.name, "backbone": cfg.model.backbone, "cal": cfg.cal.enabled, "device": str(device),
        "decode": cfg.data.decode,
        "dataset": parts.data.name, "train_tracklets": len(parts.data.train), "size": (cfg.data.height, cfg.data.width),
        "seq_len": cfg.data.seq_len, "batch": batch, "iterations_per_epoch": len(parts.loader),
        "iterations": iterations, "warmup": warmup, "epoch": cfg.optim.epochs, "workers": cfg.system.workers,
        "threads": torch.get_num_threads(), "build_s": build_s,
        "frames_in_memory_bytes": memory.nbytes if memory is not None else None,
        "clips_per_s": batch * len(timed) / float(timed[:, 3].sum()),
        "data_share": float(timed[:, 0].sum() / timed[:, 3].sum()),
        "data_s": float(data_s), "prep_s": float(prep_s), "forward_s": forward_s,
        "backward_s": float(step_s) - forward_s, "iteration_s": float(total_s),
        "peak_rss_bytes": _peak_rss_bytes(),
        "peak_cuda_bytes": torch.cuda.max_memory_allocated(device) if device.type == "cuda" else None,
    }


def format_train_profile(r: Dict[str, object]) -> str:
    """The result of :func:`profile_train` as lines of ``name  value``."""
    h, w = r["size"]
    mem = r["frames_in_memory_bytes"]
    lines = [
        f"{r['model']}{' + CAL' if r['cal'] else ''} ({r['backbone']}) on {r['dataset']} "
        f"({r['train_tracklets']} training tracklets), {r['device']}, {r['threads']} torch thread(s), "
        f"{r['workers']} loader worker(s); training frames "
        + ("read as JPEG bytes, decoded on the device in batches (data.decode=device)" if r["decode"] == "device"
           else f"in memory ({mem / 2 ** 20:.0f} MiB)" if mem is not None else "read from disk"),
        f"batches of {r['batch']} clips of {r['seq_len']} frames at {h}x{w}, {r['iterations_per_epoch']} "
        f"iterations/epoch; {r['iterations']} iterations timed after {r['warmup']} warm-up, with epoch "
        f"{r['epoch']}'s settings; built in {r['build_s']:.1f}s",
    ]
    ms = lambda s: f"{1000 * s:.1f} ms/iteration"  # noqa: E731
    rows = [("clips/s", f"{r['clips_per_s']:.1f}"),
            ("data wait", f"{100 * r['data_share']:.1f}% of each iteration ({ms(r['data_s'])} in next(iterator))"),
            ("prep", f"{ms(r['prep_s'])} (" + ("decode on the device, " if r["decode"] == "device" else "")
             + "to device, normalize, augment)"),
            ("forward", ms(r["forward_s"])),
            ("backward+optimizer", f"{ms(r['backward_s'])} (heads, losses, backward passes, optimizer steps)"),
            ("iteration", ms(r["iteration_s"])),
            ("peak memory", f"{r['peak_rss_bytes'] / 2 ** 20:.0f} MiB resident (ru_maxrss)"
             + (f", {r['peak_cuda_bytes'] / 2 ** 20:.0f} MiB CUDA (max_memory_allocated)"
                if r["peak_cuda_bytes"] is not None else ""))]
    width = max(len(k) for k, _ in rows)
    return "\n".join(lines + [f"{k:<{width}}  {v}" for k, v in rows])


def format_decode_comparison(cpu: Dict[str, object], device: Dict[str, object]) -> str:
    """One line comparing two :func:`profile_train` results, decoding in the loader and on the device."""
    return (f"data.decode=device ({device['device']}): {device['clips_per_s']:.1f} clips/s, data wait + prep "
            f"{1000 * (device['data_s'] + device['prep_s']):.1f} ms/iteration; data.decode=cpu: "
            f"{cpu['clips_per_s']:.1f} clips/s, {1000 * (cpu['data_s'] + cpu['prep_s']):.1f} ms/iteration "
            f"(x{device['clips_per_s'] / cpu['clips_per_s']:.2f} clips/s on the device). Peak resident memory is "
            f"the process's: the second block's includes the first's")
