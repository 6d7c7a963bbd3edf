"""Ranking evaluation for re-identification: a library that needs nothing else of the suite.

``benchmark evaluate`` scores features written by other codebases with it, so it
imports only numpy, torch, scipy and tabulate.
"""
from .metrics import PROTOCOLS, evaluate, format_table, load_features_npz
from .rerank import k_reciprocal_distances

__all__ = ["PROTOCOLS", "evaluate", "format_table", "load_features_npz", "k_reciprocal_distances"]
