"""Ranking evaluation for re-identification: a library that needs nothing else of the suite.

``benchmark evaluate`` scores features written by other codebases with it, so it
imports only numpy, torch, scipy, tabulate and the standard library.

Modules, each importing only those to its left: :mod:`.inputs` (metric names,
array/tensor conversion, feature and label checks, the float32 rule),
:mod:`.features_io` (``.npz`` features files), :mod:`.report` (text table),
:mod:`.rerank` (k-reciprocal re-ranking), :mod:`.metrics` (CMC / mAP / mINP),
:mod:`.single_shot` (one gallery item per identity, averaged over seeded draws), :mod:`.shots` (the
test variants by name), :mod:`.selection` (the reference's epoch selection rules).
"""
from .features_io import load_features_npz, save_features_npz
from .inputs import METRICS, check_feature_pair
from .metrics import CLOTHES_PROTOCOLS, PROTOCOLS, evaluate
from .report import format_table, format_variants
from .rerank import k_reciprocal_distances, rerank_matrix
from .selection import SELECTION_RULES, reference_selection
from .shots import SHOTS
from .single_shot import evaluate_single_shot

__all__ = [
    "CLOTHES_PROTOCOLS",
    "PROTOCOLS",
    "SELECTION_RULES",
    "SHOTS",
    "reference_selection",
    "METRICS",
    "evaluate",
    "evaluate_single_shot",
    "format_table",
    "format_variants",
    "load_features_npz",
    "save_features_npz",
    "k_reciprocal_distances",
    "rerank_matrix",
    "check_feature_pair",
]
