"""A style judge: MiniLM-L6 fine-tuned to tell the corpus's genres apart on text as long as a generation.

Style control is measured by asking a classifier which genre a generated text reads as. A judge
only means something if it recognises real text of that length: TF-IDF with logistic regression
reaches about 0.59 on held-out works' 80-token passages, too close to a coin for six genres to
tell a model that follows its style token from one that does not. So the judge is the pretrained
encoder the emotion model starts from, fine-tuned on passages of the training works cut to the
length generations have, and scored on passages of the held-out dev works (split by work, as
the story model's corpus is: a judge that had seen a dev book would recognise the book, not the
genre). Genres are balanced by sampling the same number of passages from each, spread over its works.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from export.errors import ExportError
from export.story_corpus import Segment, read_jsonl
from export.train_emotion import batches, default_base_model, seed_everything

log = logging.getLogger("storyteller.train.style_judge")


@dataclass
class StyleJudgeConfig:
    corpus: Path  # OUT/corpus of `storyteller train story`: train.jsonl and dev.jsonl, split by work
    out: Path
    base_model: Path | None = None
    passage_words: int = 60  # ~80 tokens of the story model: the length of a benchmark generation
    per_style: int = 1500  # training passages drawn per style
    epochs: int = 2
    batch_size: int = 32
    learning_rate: float = 5e-5
    max_length: int = 128
    seed: int = 5
    bf16: bool = True
    threads: int | None = None


def passages(segments: Sequence[Segment], words: int) -> list[tuple[str, str]]:
    """(style, text) for every whole run of `words` words in the segments."""
    found = []
    for segment in segments:
        tokens = segment.text.split()
        for start in range(0, len(tokens) - words + 1, words):
            found.append((segment.style, " ".join(tokens[start : start + words])))
    return found


def _balanced(segments: Sequence[Segment], words: int, per_style: int, rng: np.random.Generator) -> list[tuple[str, str]]:
    """`per_style` passages of each style, spread evenly over the style's works.

    Drawing by work keeps one long book from defining its genre: the judge is scored on works it
    never saw, so what it learns must be what a genre's works share.
    """
    by_style: dict[str, dict[str, list[Segment]]] = {}
    for segment in segments:
        by_style.setdefault(segment.style, {}).setdefault(segment.work, []).append(segment)
    chosen: list[tuple[str, str]] = []
    for works in by_style.values():
        shares = np.full(len(works), per_style // len(works))
        shares[: per_style % len(works)] += 1
        for share, group in zip(shares.tolist(), works.values(), strict=True):
            found = passages(group, words)
            picks = rng.choice(len(found), size=share, replace=len(found) < share)
            chosen += [found[i] for i in picks]
    order = rng.permutation(len(chosen))
    return [chosen[i] for i in order]


class StyleJudge:
    """The trained judge, for benchmarks: texts -> the style each reads as."""

    def __init__(self, folder: Path, threads: int = 2) -> None:
        from transformers import AutoModelForSequenceClassification, AutoTokenizer

        torch.set_num_threads(threads)
        self.tokenizer = AutoTokenizer.from_pretrained(folder)
        self.model = AutoModelForSequenceClassification.from_pretrained(folder).eval()
        self.styles = [self.model.config.id2label[i] for i in range(self.model.config.num_labels)]
        self.max_length = min(128, self.tokenizer.model_max_length)

    @torch.no_grad()
    def predict(self, texts: Sequence[str], batch_size: int = 64) -> list[str]:
        found: list[str] = []
        for start in range(0, len(texts), batch_size):
            encoded = self.tokenizer(
                list(texts[start : start + batch_size]), padding=True, truncation=True, max_length=self.max_length, return_tensors="pt"
            )
            found += [self.styles[i] for i in self.model(**encoded).logits.argmax(-1).tolist()]
        return found


def train_style_judge(config: StyleJudgeConfig, progress: bool = True) -> dict:
    from transformers import AutoModelForSequenceClassification, AutoTokenizer, get_linear_schedule_with_warmup

    if config.threads:
        torch.set_num_threads(config.threads)
    seed_everything(config.seed)
    try:
        train, dev = read_jsonl(config.corpus / "train.jsonl"), read_jsonl(config.corpus / "dev.jsonl")
    except FileNotFoundError as exc:
        raise ExportError(f"--corpus {config.corpus}: {exc.filename} not found (run `storyteller train story` first)") from None
    rng = np.random.default_rng(config.seed)
    train_items = _balanced(train, config.passage_words, config.per_style, rng)
    dev_items = passages(dev, config.passage_words)
    styles = sorted({style for style, _ in train_items})
    if not dev_items or {style for style, _ in dev_items} - set(styles):
        raise ExportError(f"--corpus {config.corpus}: dev passages must be of the styles training has ({styles})")
    index = {style: i for i, style in enumerate(styles)}
    base = config.base_model or default_base_model()
    tokenizer = AutoTokenizer.from_pretrained(base)
    model = AutoModelForSequenceClassification.from_pretrained(
        base, num_labels=len(styles), id2label=dict(enumerate(styles)), label2id=index, ignore_mismatched_sizes=True
    )

    length = min(config.max_length, tokenizer.model_max_length)

    def encode(items: list[tuple[str, str]]) -> list[list[int]]:
        return tokenizer([text for _, text in items], truncation=True, max_length=length)["input_ids"]

    train_ids, dev_ids = encode(train_items), encode(dev_items)
    targets = torch.tensor([index[style] for style, _ in train_items])
    steps = config.epochs * math.ceil(len(train_ids) / config.batch_size)
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.learning_rate, weight_decay=0.01)
    scheduler = get_linear_schedule_with_warmup(optimizer, int(0.06 * steps), steps)
    bar = tqdm(total=steps, desc="style judge", unit="step", disable=not progress)
    model.train()
    for epoch in range(config.epochs):
        order = np.random.default_rng([config.seed, epoch]).permutation(len(train_ids)).tolist()
        for ids, mask, rows in batches(train_ids, order, config.batch_size, tokenizer.pad_token_id):
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=config.bf16):
                logits = model(input_ids=ids, attention_mask=mask).logits
            loss = torch.nn.functional.cross_entropy(logits.float(), targets[rows])
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad(set_to_none=True)
            bar.update(1)
            bar.set_postfix(loss=f"{loss.item():.3f}")
    bar.close()
    model.eval()
    found = np.zeros(len(dev_ids), np.int64)
    with torch.no_grad():
        order = sorted(range(len(dev_ids)), key=lambda r: len(dev_ids[r]))  # little padding
        for ids, mask, rows in batches(dev_ids, order, 128, tokenizer.pad_token_id):
            found[rows] = model(input_ids=ids, attention_mask=mask).logits.argmax(-1).numpy()
    predictions = found.tolist()
    truth = [index[style] for style, _ in dev_items]
    per_style = {
        style: float(np.mean([p == t for p, t in zip(predictions, truth, strict=True) if t == i]))
        for style, i in index.items()
    }
    report = {
        "config": {k: str(v) if isinstance(v, Path) else v for k, v in asdict(config).items()},
        "styles": styles,
        "train_passages": len(train_ids),
        "dev_passages": len(dev_ids),
        "dev_accuracy": float(np.mean([p == t for p, t in zip(predictions, truth, strict=True)])),
        "dev_accuracy_per_style": per_style,
    }
    config.out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(config.out)
    tokenizer.save_pretrained(config.out)
    (config.out / "judge.json").write_text(json.dumps(report, indent=2) + "\n")
    return report
