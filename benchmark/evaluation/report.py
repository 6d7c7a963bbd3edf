"""Text table of :func:`benchmark.evaluation.metrics.evaluate` results."""
from __future__ import annotations

from typing import Dict, Optional

from .inputs import DEFAULT_RANKS

__all__ = ["format_table", "format_variants"]


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


def format_variants(variants: Dict[str, Dict[str, Optional[dict]]], baseline: str = "whole") -> str:
    """One table of several test variants' results (top-1 and mAP per protocol, percent), with each variant's
    change of CC mAP (general mAP where there is no CC) against ``baseline``: under ``shuffled`` a model's
    *temporal reliance* (none for a model that pools frames)."""
    from tabulate import tabulate

    protocols = [p for p in ("general", "cc", "sc") if any((m or {}).get(p) for m in variants.values())]
    key = "cc" if "cc" in protocols else protocols[0] if protocols else None

    def pct(m, p, metric):
        r = (m or {}).get(p)
        return None if r is None or r.get(metric) is None else 100.0 * r[metric]

    base = pct(variants.get(baseline), key, "mAP") if key else None
    rows = []
    for name, m in variants.items():
        cells = [f"{v:.1f}" if v is not None else "-" for p in protocols for v in (pct(m, p, "top1"), pct(m, p, "mAP"))]
        mine = pct(m, key, "mAP") if key else None
        delta = "-" if base is None or mine is None or name == baseline else f"{mine - base:+.1f}"
        rows.append([name, *cells, delta])
    headers = ["variant", *[f"{p} {metric}" for p in protocols for metric in ("top1", "mAP")],
               f"Δ {key} mAP vs {baseline}" if key else "Δ"]
    return tabulate(rows, headers=headers, tablefmt="simple", disable_numparse=True)
