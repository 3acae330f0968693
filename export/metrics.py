"""Multi-label metrics for the emotion model: macro-F1, tuned thresholds, grouped scores.

Grouped figures fold predictions the way the server does: a group (Ekman, sentiment)
is predicted when any of its fine labels passes its threshold, and is true when any of
its fine labels is true.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from narrative.emotions import EKMAN_GROUPS, FINE_LABELS, SENTIMENT_GROUPS

THRESHOLD_GRID = np.round(np.arange(0.02, 0.96, 0.01), 2)


def f1_per_column(truth: np.ndarray, predicted: np.ndarray) -> np.ndarray:
    """F1 of each column of two boolean matrices; 0 where a label is never true nor predicted."""
    tp = np.logical_and(truth, predicted).sum(axis=0)
    fp = np.logical_and(~truth, predicted).sum(axis=0)
    fn = np.logical_and(truth, ~predicted).sum(axis=0)
    denominator = 2 * tp + fp + fn
    return np.where(denominator > 0, 2 * tp / np.maximum(denominator, 1), 0.0)


def macro_f1(truth: np.ndarray, predicted: np.ndarray) -> float:
    return float(f1_per_column(truth.astype(bool), predicted.astype(bool)).mean())


def tune_thresholds(probabilities: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """Per label, the grid threshold with the best F1 on this data (ties: the lower one)."""
    truth = truth.astype(bool)
    scores = np.stack([f1_per_column(truth, probabilities >= t) for t in THRESHOLD_GRID])  # grid x labels
    return THRESHOLD_GRID[scores.argmax(axis=0)].astype(np.float32)


def fold(matrix: np.ndarray, groups: Mapping[str, Sequence[str]]) -> np.ndarray:
    """Boolean (n x groups): any member label set."""
    index = {label: i for i, label in enumerate(FINE_LABELS)}
    return np.stack([matrix[:, [index[m] for m in members]].any(axis=1) for members in groups.values()], axis=1)


def grouped_report(probabilities: np.ndarray, truth: np.ndarray, thresholds: np.ndarray) -> dict[str, float]:
    """Macro-F1 over the 28 labels, the 7 Ekman groups and the 4 sentiment groups."""
    predicted = probabilities >= thresholds
    truth = truth.astype(bool)
    return {
        "macro_f1": macro_f1(truth, predicted),
        "ekman_macro_f1": macro_f1(fold(truth, EKMAN_GROUPS), fold(predicted, EKMAN_GROUPS)),
        "sentiment_macro_f1": macro_f1(fold(truth, SENTIMENT_GROUPS), fold(predicted, SENTIMENT_GROUPS)),
    }
