"""Text table of :func:`benchmark.evaluation.metrics.evaluate` results."""
from __future__ import annotations

from typing import Dict, Optional

from .inputs import DEFAULT_RANKS

__all__ = ["format_table"]


def format_table(results: Dict[str, Optional[dict]]) -> str:
    """Table of ``evaluate`` results in percent (1 decimal), one row per protocol; single-shot results
    (:func:`evaluate_single_shot`) show their spread over the draws as ``mean ± std``."""
    from tabulate import tabulate

    rank_keys = None
    for r in results.values():
        if r is not None:
            rank_keys = [k for k in r if k.startswith("top")]
            break
    if rank_keys is None:
        rank_keys = [f"top{k}" for k in DEFAULT_RANKS]
    cols = rank_keys + ["mAP", "mINP"]
    rows = []
    for proto, r in results.items():
        if r is None:
            rows.append([proto] + ["undefined"] * len(cols) + [0])
        else:
            spread = r.get("std") or {}  # single-shot results: mean ± spread over the draws
            rows.append([proto] + [(f"{100.0 * r[c]:.1f}" + (f" ± {100.0 * spread[c]:.1f}" if spread.get(c) is not None
                                                              else "")) if c in r else "-" for c in cols]
                        + [f"{r['valid_queries']:g}"])
    return tabulate(rows, headers=["protocol"] + cols + ["valid"], tablefmt="simple",
                    disable_numparse=True, colalign=("left",) + ("right",) * (len(cols) + 1))
