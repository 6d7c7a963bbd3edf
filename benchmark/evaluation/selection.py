"""The reference's epoch selection rules: the first evaluated epoch with the best test top-1 of a protocol.

Chosen on the test set, as the reference code does; the suite reports it apart from its last-epoch headline.
"""
from __future__ import annotations

from typing import Dict, Optional, Sequence, Tuple

SELECTION_RULES: Dict[str, Tuple[str, str]] = {"cc-top1": ("cc", "top1"), "general-top1": ("general", "top1")}
# the scores an epoch of the history is picked by when the run scored its selection on other test clips
# (eval.selection_clips: TCLNet's code picks its epoch on each video's first clip)
SELECTION_SCORES = "selection_metrics"


def reference_selection(history: Sequence[dict], rule: Optional[str]) -> Optional[dict]:
    """The evaluated epoch of ``history`` that ``rule`` keeps, with its metrics (None without a rule).

    An epoch is judged by its ``selection_metrics`` when it has them (scores on the clips the reference picks
    by), otherwise by its ``metrics``; the metrics returned are the epoch's ``metrics`` either way (what the
    reference reports for the epoch it kept), and ``selection_metrics`` come along when they exist.
    """
    if rule is None:
        return None
    protocol, metric = SELECTION_RULES[rule]
    best = None
    for entry in history:
        scores = (entry.get(SELECTION_SCORES) or entry.get("metrics") or {}).get(protocol)
        if scores and scores.get(metric) is not None and (best is None or scores[metric] > best[1]):
            best = (entry, scores[metric])
    if best is None:
        return {"rule": rule, "chosen_on": "test set", "epoch": None, "metrics": None}
    out = {"rule": rule, "chosen_on": "test set", "epoch": best[0]["epoch"], "metrics": best[0]["metrics"]}
    if SELECTION_SCORES in best[0]:
        out[SELECTION_SCORES] = best[0][SELECTION_SCORES]
    return out
