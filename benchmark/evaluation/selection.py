"""The reference's epoch selection rules: the first evaluated epoch with the best test top-1 of a protocol.

Chosen on the test set, as the reference code does; the suite reports it apart from its last-epoch headline.
"""
from __future__ import annotations

from typing import Dict, Optional, Sequence, Tuple

SELECTION_RULES: Dict[str, Tuple[str, str]] = {"cc-top1": ("cc", "top1"), "general-top1": ("general", "top1")}


def reference_selection(history: Sequence[dict], rule: Optional[str]) -> Optional[dict]:
    """The evaluated epoch of ``history`` that ``rule`` keeps, with its metrics (None without a rule)."""
    if rule is None:
        return None
    protocol, metric = SELECTION_RULES[rule]
    best = None
    for entry in history:
        scores = (entry.get("metrics") or {}).get(protocol)
        if scores and scores.get(metric) is not None and (best is None or scores[metric] > best[1]):
            best = (entry, scores[metric])
    if best is None:
        return {"rule": rule, "chosen_on": "test set", "epoch": None, "metrics": None}
    return {"rule": rule, "chosen_on": "test set", "epoch": best[0]["epoch"], "metrics": best[0]["metrics"]}
