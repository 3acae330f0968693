"""Emotion fine-tuning end to end on a tiny synthetic GoEmotions folder, and its pieces."""

from __future__ import annotations

import json
import random

import numpy as np
import pytest

from export.goemotions import check_vocabulary, read_split, split_in_halves
from export.metrics import HEAD_LABELS, fold, grouped_report, macro_f1, tune_thresholds
from narrative.emotions import EKMAN_GROUPS, FINE_LABELS, SENTIMENT_GROUPS

WORDS = {0: "wonderful admire", 17: "happy joyful", 2: "furious angry", 25: "sad crying", 27: "the a table"}


def write_goemotions(folder, rows: int = 48, seed: int = 0) -> None:
    """A GoEmotions-shaped folder: label files from the shared vocabulary, easy texts."""
    folder.mkdir()
    rng = random.Random(seed)
    (folder / "emotions.txt").write_text("\n".join(FINE_LABELS))
    for name, groups in (("ekman_mapping.json", EKMAN_GROUPS), ("sentiment_mapping.json", SENTIMENT_GROUPS)):
        (folder / name).write_text(json.dumps({g: list(m) for g, m in groups.items() if g != "neutral"}))
    for split in ("train", "dev"):
        lines = []
        for i in range(rows):
            label = rng.choice(sorted(WORDS))
            lines.append(f"this is {WORDS[label]} indeed\t{label}\t{split}{i}")
        (folder / f"{split}.tsv").write_text("\n".join(lines) + "\n")


def test_reader_reports_the_line_of_a_malformed_row(tmp_path):
    path = tmp_path / "train.tsv"
    path.write_text("fine text\t3\tid1\nbroken row without tabs\n")
    with pytest.raises(ValueError, match=r"train.tsv:2: expected 3 tab-separated fields"):
        read_split(path)
    path.write_text("text\t3,99\tid1\n")
    with pytest.raises(ValueError, match=r"train.tsv:1: label ids must be in 0..27"):
        read_split(path)


def test_vocabulary_check_refuses_other_labels(tmp_path):
    write_goemotions(tmp_path / "data")
    check_vocabulary(tmp_path / "data")
    (tmp_path / "data" / "emotions.txt").write_text("\n".join(reversed(FINE_LABELS)))
    with pytest.raises(ValueError, match="labels differ"):
        check_vocabulary(tmp_path / "data")


def test_dev_halves_are_stable_and_disjoint(tmp_path):
    write_goemotions(tmp_path / "data", rows=200)
    examples = read_split(tmp_path / "data" / "dev.tsv")
    tune, report = split_in_halves(examples)
    assert len(tune) + len(report) == 200 and 60 < len(tune) < 140
    assert {e.comment_id for e in tune}.isdisjoint(e.comment_id for e in report)
    assert split_in_halves(examples) == (tune, report)


def test_thresholds_and_grouping_on_hand_made_probabilities():
    joy, anger, annoyance, neutral = (FINE_LABELS.index(x) for x in ("joy", "anger", "annoyance", "neutral"))
    probs = np.zeros((4, 28), dtype=np.float32)
    truth = np.zeros((4, 28), dtype=np.float32)
    probs[0, joy], truth[0, joy] = 0.35, 1  # joy is true at 0.35 ...
    probs[1, joy] = 0.20  # ... and false at 0.20: the best joy threshold lies in (0.20, 0.35]
    probs[2, annoyance], truth[2, anger] = 0.9, 1  # wrong fine label, right Ekman group (anger)
    probs[3, neutral], truth[3, neutral] = 0.6, 1
    thresholds = tune_thresholds(probs, truth)
    assert 0.20 < thresholds[joy] <= 0.35
    predicted = probs >= thresholds
    assert predicted[0, joy] and not predicted[1, joy]
    ekman = fold(predicted, EKMAN_GROUPS)
    assert ekman[2, list(EKMAN_GROUPS).index("anger")]
    report = grouped_report(probs, truth, thresholds)
    # Fine labels: anger missed, annoyance a false positive -> below 1; Ekman groups all right.
    assert report["ekman_macro_f1"] == pytest.approx(macro_f1(fold(truth, EKMAN_GROUPS), ekman))
    assert report["macro_f1"] < report["ekman_macro_f1"]


def test_training_runs_end_to_end_and_resumes(tmp_path):
    from export.train_emotion import EmotionTrainConfig, train_emotion

    write_goemotions(tmp_path / "data")
    config = EmotionTrainConfig(data=tmp_path / "data", out=tmp_path / "run", epochs=1, batch_size=16,
                                learning_rate=3e-4, threads=2, patience=5)
    first = train_emotion(config)
    assert len(first["history"]["epochs"]) == 1
    config.epochs = 2
    second = train_emotion(config, resume=True)
    assert [e["epoch"] for e in second["history"]["epochs"]] == [1, 2]
    thresholds = json.loads((tmp_path / "run" / "best" / "thresholds.json").read_text())
    assert list(thresholds) == list(HEAD_LABELS) and all(0 < t < 1 for t in thresholds.values())
    assert (tmp_path / "run" / "best" / "config.json").exists()
    assert set(second["dev_report_fp32"]) == {"macro_f1", "ekman_macro_f1", "sentiment_macro_f1"}


def test_group_heads_decide_the_grouped_figures():
    joy = FINE_LABELS.index("joy")
    truth = np.zeros((2, 28), dtype=np.float32)
    truth[0, joy] = 1
    truth[1, FINE_LABELS.index("neutral")] = 1
    probs = np.zeros((2, len(HEAD_LABELS)), dtype=np.float32)
    probs[0, HEAD_LABELS.index("ekman:joy")] = 0.9  # the fine joy output misses; the joy head does not
    probs[0, HEAD_LABELS.index("sentiment:positive")] = 0.9
    probs[1, HEAD_LABELS.index("ekman:neutral")] = probs[1, HEAD_LABELS.index("sentiment:neutral")] = 0.9
    report = grouped_report(probs, truth, np.full(len(HEAD_LABELS), 0.5, dtype=np.float32))
    assert report["macro_f1"] < 0.1
    assert report["ekman_macro_f1"] == pytest.approx(2 / 7)  # joy and neutral right, other groups absent
    assert report["sentiment_macro_f1"] == pytest.approx(2 / 4)


def test_labelled_file_scores_group_heads_against_folded_labels(tmp_path):
    from export.labelled import read_labelled

    path = tmp_path / "dev.tsv"
    path.write_text(f"so annoying\t{FINE_LABELS.index('annoyance')}\tc1\nlovely\t{FINE_LABELS.index('joy')}\tc2\n")
    data = read_labelled(path, ["joy", "ekman:anger", "sentiment:positive"], {}, None)
    assert data.targets.tolist() == [[False, True, False], [True, False, True]]
