"""A labelled emotion file for the quality figure (macro-F1) of the parity report.

The file is GoEmotions TSV (read by export.goemotions); its label ids follow the GoEmotions
order and are mapped by name onto the model's own label order, so a head that lists the labels
differently, or only some of them, is still scored on the right columns. Group heads
("ekman:joy", "sentiment:negative") are scored against the folded labels.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from export.errors import ExportError
from export.goemotions import label_matrix, read_split
from export.metrics import HEAD_LABELS, head_targets


@dataclass(frozen=True)
class LabelledTexts:
    """A labelled file, with targets and decision thresholds in the model's label order."""

    path: Path
    texts: list[str]
    targets: np.ndarray  # (n, labels) bool
    thresholds: np.ndarray  # (labels,) probability at or above which a label is predicted


def read_labelled(
    path: Path, model_labels: Sequence[str], thresholds: Mapping[str, float], limit: int | None
) -> LabelledTexts:
    """A GoEmotions TSV, its label ids mapped by name onto the model's labels (any order)."""
    unknown = [label for label in model_labels if label not in HEAD_LABELS]
    if unknown:
        raise ExportError(f"--eval-file {path}: the model's labels {unknown} are not GoEmotions labels or groups")
    try:
        examples = read_split(path, limit)
    except (OSError, ValueError) as exc:
        raise ExportError(f"--eval-file: {exc}") from exc
    columns = [HEAD_LABELS.index(label) for label in model_labels]
    return LabelledTexts(
        path=path,
        texts=[e.text for e in examples],
        targets=head_targets(label_matrix(examples))[:, columns].astype(bool),
        thresholds=np.array([thresholds.get(label, 0.5) for label in model_labels], dtype=np.float32),
    )
