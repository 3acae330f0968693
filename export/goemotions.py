"""GoEmotions as shipped in the shared data folder: splits, label names, groupings.

The data stay where they are (the caller passes the folder); this module only reads
them and checks that their label list and groupings are the vocabulary the rest of
Storyteller speaks (narrative.emotions), so a model can never be trained on labels the
server would name differently.
"""

from __future__ import annotations

import csv
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from narrative.emotions import EKMAN_GROUPS, FINE_LABELS, SENTIMENT_GROUPS


@dataclass(frozen=True)
class Example:
    text: str
    labels: tuple[int, ...]
    comment_id: str


def check_vocabulary(data_dir: Path) -> None:
    """Raises ValueError when the data's labels or groupings differ from narrative.emotions."""
    names = (data_dir / "emotions.txt").read_text(encoding="utf-8").split()
    if tuple(names) != FINE_LABELS:
        raise ValueError(f"{data_dir / 'emotions.txt'}: labels differ from narrative.emotions.FINE_LABELS")
    for file, groups in (("ekman_mapping.json", EKMAN_GROUPS), ("sentiment_mapping.json", SENTIMENT_GROUPS)):
        mapping = json.loads((data_dir / file).read_text(encoding="utf-8"))
        expected = {g: sorted(members) for g, members in groups.items() if g != "neutral"}
        if {g: sorted(m) for g, m in mapping.items()} != expected:
            raise ValueError(f"{data_dir / file}: groups differ from narrative.emotions")


def read_split(path: Path, limit: int | None = None) -> list[Example]:
    """Rows of `text \\t label ids \\t comment id`; a malformed row is an error with its line."""
    examples = []
    with path.open(encoding="utf-8", newline="") as handle:
        for line_no, row in enumerate(csv.reader(handle, delimiter="\t", quoting=csv.QUOTE_NONE), start=1):
            if len(row) != 3:
                raise ValueError(f"{path}:{line_no}: expected 3 tab-separated fields, got {len(row)}")
            try:
                labels = tuple(int(x) for x in row[1].split(","))
            except ValueError:
                raise ValueError(f"{path}:{line_no}: label ids must be integers, got {row[1]!r}") from None
            if not labels or any(not 0 <= x < len(FINE_LABELS) for x in labels):
                raise ValueError(f"{path}:{line_no}: label ids must be in 0..{len(FINE_LABELS) - 1}")
            examples.append(Example(row[0], labels, row[2]))
            if limit is not None and len(examples) >= limit:
                break
    return examples


def label_matrix(examples: list[Example]) -> np.ndarray:
    """Multi-hot (examples x 28) float32 matrix."""
    matrix = np.zeros((len(examples), len(FINE_LABELS)), dtype=np.float32)
    for row, example in enumerate(examples):
        matrix[row, list(example.labels)] = 1.0
    return matrix


def split_in_halves(examples: list[Example]) -> tuple[list[Example], list[Example]]:
    """Stable split by comment id: one half tunes thresholds and early stopping, the other
    is only ever used for the reported figures, so they are not tuned on themselves."""
    tune, report = [], []
    for example in examples:
        (tune if hashlib.sha1(example.comment_id.encode()).digest()[0] % 2 == 0 else report).append(example)
    return tune, report
