"""Multi-label metrics for the emotion model: macro-F1, tuned thresholds, grouped scores.

A group (Ekman, sentiment) is true when any of its fine labels is true. A model with only
the 28 fine outputs predicts a group when any of its fine labels passes its threshold; a
model with group heads (`HEAD_LABELS`: the 28 labels, then "ekman:<group>" and
"sentiment:<group>" outputs trained on the folded targets) predicts groups with those.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from narrative.emotions import EKMAN_GROUPS, FINE_LABELS, SENTIMENT_GROUPS

THRESHOLD_GRID = np.round(np.arange(0.02, 0.96, 0.01), 2)

EKMAN_HEADS = tuple(f"ekman:{group}" for group in EKMAN_GROUPS)
SENTIMENT_HEADS = tuple(f"sentiment:{group}" for group in SENTIMENT_GROUPS)
HEAD_LABELS = (*FINE_LABELS, *EKMAN_HEADS, *SENTIMENT_HEADS)


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


def head_targets(fine: np.ndarray) -> np.ndarray:
    """Targets for `HEAD_LABELS` from a fine multi-hot matrix (n x 28)."""
    truth = fine.astype(bool)
    return np.concatenate([truth, fold(truth, EKMAN_GROUPS), fold(truth, SENTIMENT_GROUPS)], axis=1).astype(np.float32)


def grouped_report(probabilities: np.ndarray, truth: np.ndarray, thresholds: np.ndarray) -> dict[str, float]:
    """Macro-F1 over the 28 labels, the 7 Ekman groups and the 4 sentiment groups.

    `truth` is the fine multi-hot matrix; `probabilities` has 28 columns, or `HEAD_LABELS`'."""
    predicted = probabilities >= thresholds
    truth = truth[:, : len(FINE_LABELS)].astype(bool)
    fine = predicted[:, : len(FINE_LABELS)]
    if predicted.shape[1] == len(HEAD_LABELS):
        ekman = predicted[:, len(FINE_LABELS) : len(FINE_LABELS) + len(EKMAN_HEADS)]
        sentiment = predicted[:, len(FINE_LABELS) + len(EKMAN_HEADS) :]
    else:
        ekman, sentiment = fold(fine, EKMAN_GROUPS), fold(fine, SENTIMENT_GROUPS)
    return {
        "macro_f1": macro_f1(truth, fine),
        "ekman_macro_f1": macro_f1(fold(truth, EKMAN_GROUPS), ekman),
        "sentiment_macro_f1": macro_f1(fold(truth, SENTIMENT_GROUPS), sentiment),
    }
