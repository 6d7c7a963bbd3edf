"""Test variants of the gallery by name (``eval.shot``): one function each, the same arguments for all.

``multi``: the whole gallery (:func:`~.metrics.evaluate`); ``single``: one random gallery item per
identity, mean and spread over ``draws`` seeded draws (:func:`~.single_shot.evaluate_single_shot`,
seeded by draw number only, so every run of a comparison sees the same galleries). A new variant is
one function here and its name in :data:`SHOTS`; ``eval.shot`` then accepts it.
"""
from __future__ import annotations

from typing import Callable, Dict, Optional

from .metrics import evaluate
from .single_shot import evaluate_single_shot

Scores = Dict[str, Optional[dict]]


def multi_shot(q, g, q_pids, g_pids, q_camids, g_camids, q_clothes=None, g_clothes=None, *, draws: int = 1,
               **options) -> Scores:
    """Every gallery item (``draws`` is unused)."""
    return evaluate(q, g, q_pids, g_pids, q_camids, g_camids, q_clothes, g_clothes, **options)


def single_shot(q, g, q_pids, g_pids, q_camids, g_camids, q_clothes=None, g_clothes=None, *, draws: int = 10,
                **options) -> Scores:
    """One gallery item per identity, ``draws`` seeded draws (seeds 0, 1, ...)."""
    return evaluate_single_shot(q, g, q_pids, g_pids, q_camids, g_camids, q_clothes, g_clothes, draws=draws, seed=0,
                                **options)


SHOTS: Dict[str, Callable[..., Scores]] = {"multi": multi_shot, "single": single_shot}
