"""Evaluation speed and memory: ``benchmark.evaluation.metrics.evaluate`` against the classic per-query loop.

The yardstick re-implements the algorithm of torchreid's python ``eval_market1501``
(full distance matrix, full argsort, then per query: drop same-pid same-camera
items, CMC from the cumulative sum, AP from a python list over the whole ranked
gallery). It is written here from that description, not copied. Both are run on
the same random problem; the script checks they agree and prints the timings.

    python tests/benchmark/evaluation/eval_speed.py     # 2,000 x 20,000, 2048-d
    python tests/benchmark/evaluation/eval_speed.py --queries 10000 --gallery 120000 --no-yardstick  # LaST scale,
                                                                                                     # peak RSS
"""
from __future__ import annotations

import argparse
import resource
import time

import numpy as np
import torch

from benchmark.evaluation.metrics import evaluate


def yardstick_market1501(distmat, q_pids, g_pids, q_camids, g_camids, max_rank=50):
    num_q, num_g = distmat.shape
    indices = np.argsort(distmat, axis=1)
    matches = (g_pids[indices] == q_pids[:, np.newaxis]).astype(np.int32)
    all_cmc, all_ap = [], []
    for i in range(num_q):
        order = indices[i]
        remove = (g_pids[order] == q_pids[i]) & (g_camids[order] == q_camids[i])
        raw_cmc = matches[i][~remove]
        if not np.any(raw_cmc):
            continue
        cmc = raw_cmc.cumsum()
        cmc[cmc > 1] = 1
        all_cmc.append(cmc[:max_rank])
        num_rel = raw_cmc.sum()
        precision = [x / (k + 1.0) for k, x in enumerate(raw_cmc.cumsum())]
        all_ap.append((np.asarray(precision) * raw_cmc).sum() / num_rel)
    return np.asarray(all_cmc).astype(np.float32).mean(0), float(np.mean(all_ap))


def problem(nq, ng, dim, seed=0):
    rng = np.random.default_rng(seed)
    ids = max(2, ng // 20)
    g_pids = rng.integers(0, ids, ng)
    q_pids = rng.integers(0, ids, nq)
    centres = (0.5 * rng.normal(size=(ids, dim))).astype(np.float32)  # hard enough that mAP is not 1
    # float32 noise drawn directly (no float64 temporaries), so peak RSS after this is the inputs themselves
    g = centres[g_pids] + 2.0 * rng.standard_normal(size=(ng, dim), dtype=np.float32)
    q = centres[q_pids] + 2.0 * rng.standard_normal(size=(nq, dim), dtype=np.float32)
    return q, g, q_pids, g_pids, rng.integers(0, 6, nq), rng.integers(0, 6, ng)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--queries", type=int, default=2000)
    ap.add_argument("--gallery", type=int, default=20000)
    ap.add_argument("--dim", type=int, default=2048)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--no-yardstick", action="store_true")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    q, g, qp, gp, qc, gc = problem(args.queries, args.gallery, args.dim)
    rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    t = time.perf_counter()
    ours = evaluate(q, g, qp, gp, qc, gc, metric="euclidean")["general"]
    t_ours = time.perf_counter() - t
    rss1 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    print(f"problem {args.queries} x {args.gallery}, {args.dim}-d, {args.threads} threads")
    print(f"benchmark.evaluation.metrics.evaluate: {t_ours:.2f} s (peak RSS {rss1:.2f} GB; {rss0:.2f} GB after "
          f"building the inputs)  top1 {ours['top1']:.4f} mAP {ours['mAP']:.4f}")
    if args.no_yardstick:
        return
    t = time.perf_counter()
    qt, gt = torch.from_numpy(q), torch.from_numpy(g)
    distmat = torch.cdist(qt, gt).pow_(2).numpy()  # squared euclidean, as torchreid computes it
    cmc, mean_ap = yardstick_market1501(distmat, qp, gp, qc, gc)
    t_ref = time.perf_counter() - t
    print(f"per-query yardstick (torchreid eval_market1501 algorithm): {t_ref:.2f} s  top1 {cmc[0]:.4f} "
          f"mAP {mean_ap:.4f}")
    print(f"speed-up: {t_ref / t_ours:.1f}x; |delta mAP| = {abs(mean_ap - ours['mAP']):.2e}, "
          f"|delta top1| = {abs(cmc[0] - ours['top1']):.2e}")


if __name__ == "__main__":
    main()
