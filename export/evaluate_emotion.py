"""Dev-set quality of an emotion model in each form it exists: torch fp32, ORT fp32, ORT int8.

Scores the half of GoEmotions dev that training never tuned on (`split_in_halves`), with the
thresholds training stored, as macro-F1 over the 28 labels, the Ekman groups and the sentiment
groups, so the int8 bundle the server ships is judged on the same footing as its source.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from tqdm import tqdm

from export.goemotions import label_matrix, read_split, split_in_halves
from export.metrics import grouped_report
from export.ort_session import open_session
from export.parity import classify_logits
from export.train_emotion import THRESHOLDS_FILE, predict

BATCH = 64


def _ort_probabilities(model_file: Path, tokenizer, texts: list[str], threads: int) -> np.ndarray:
    session = open_session(model_file, threads=threads)
    rows = []
    for start in tqdm(range(0, len(texts), BATCH), desc=model_file.parent.name, unit="batch", leave=False):
        encoded = tokenizer(texts[start : start + BATCH], padding=True, truncation=True, max_length=128, return_tensors="np")
        rows.append(1 / (1 + np.exp(-classify_logits(session, encoded))))
    return np.concatenate(rows)


def evaluate_emotion(model_dir: Path, bundles: dict[str, Path], data: Path, threads: int = 2) -> dict[str, dict]:
    """variant -> {"dev_report": figures, "dev_all": figures}; variants: torch-fp32 + `bundles`."""
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    torch.set_num_threads(threads)
    dev = read_split(data / "dev.tsv")
    _, report = split_in_halves(dev)
    report_ids = {e.comment_id for e in report}
    in_report = np.array([e.comment_id in report_ids for e in dev])
    truth = label_matrix(dev)
    texts = [e.text for e in dev]

    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForSequenceClassification.from_pretrained(model_dir)
    thresholds_by_label = json.loads((model_dir / THRESHOLDS_FILE).read_text())
    labels = [model.config.id2label[i] for i in range(model.config.num_labels)]
    thresholds = np.array([thresholds_by_label[label] for label in labels], dtype=np.float32)
    encodings = tokenizer(texts, truncation=True, max_length=128)["input_ids"]
    probabilities = {"torch-fp32": predict(model, encodings, tokenizer.pad_token_id, bf16=False)}
    for variant, folder in bundles.items():
        manifest = json.loads((folder / "manifest.json").read_text())
        probabilities[variant] = _ort_probabilities(folder / manifest["model_file"], tokenizer, texts, threads)
    return {
        variant: {
            "dev_report": grouped_report(p[in_report], truth[in_report], thresholds),
            "dev_all": grouped_report(p, truth, thresholds),
        }
        for variant, p in probabilities.items()
    }


def format_table(results: dict[str, dict]) -> str:
    lines = [f"{'variant':<12} {'split':<11} {'macro-F1 28':>12} {'Ekman':>8} {'sentiment':>10}"]
    for variant, splits in results.items():
        for split, figures in splits.items():
            lines.append(
                f"{variant:<12} {split:<11} {figures['macro_f1']:>12.4f} {figures['ekman_macro_f1']:>8.4f}"
                f" {figures['sentiment_macro_f1']:>10.4f}"
            )
    return "\n".join(lines)
