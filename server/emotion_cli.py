"""`storyteller emotion "some text"`: a quick look at what the emotion model reads.

Runs the bundle in-process (onnxruntime, no server needed), with the same readout the
ClassifyEmotion RPC returns: tuned thresholds, Ekman and sentiment groups.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from server.config import ModelSettings


def register(commands: Any) -> None:
    parser = commands.add_parser(
        "emotion",
        help="classify the emotion of texts with the emotion bundle",
        description="Classify texts with an emotion bundle in-process and print what the model reads.",
    )
    parser.add_argument("texts", nargs="+", metavar="TEXT", help="texts to classify ('-' reads lines from stdin)")
    parser.add_argument("--model", type=Path, help="emotion bundle folder (default: the bundled samples/models/emotion)")
    parser.add_argument("--top", type=int, default=3, help="fine labels to show per text")
    parser.add_argument("--format", choices=("text", "json"), default="text")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from server.models.bundle import BundleError
    from server.models.emotion import EmotionClassifier
    from server.models.registry import load_bundle

    settings = ModelSettings() if args.model is None else ModelSettings(emotion=args.model)
    texts = [line.rstrip("\n") for line in sys.stdin if line.strip()] if args.texts == ["-"] else args.texts
    if not texts or any(not t.strip() for t in texts):
        print("storyteller emotion: every text must be non-empty", file=sys.stderr)
        return 2
    if settings.emotion is None:
        print("storyteller emotion: --model is empty; name an emotion bundle folder", file=sys.stderr)
        return 2
    try:
        classifier = EmotionClassifier(load_bundle("emotion", settings.emotion, "emotion", settings))
    except BundleError as exc:
        print(f"storyteller emotion: {exc}", file=sys.stderr)
        return 1
    readings = classifier.classify(texts)
    if args.format == "json":
        print(json.dumps([{"text": t, **vars(r)} for t, r in zip(texts, readings)], indent=2))
        return 0
    for text, reading in zip(texts, readings):
        top = sorted(reading.labels.items(), key=lambda kv: -kv[1])[: args.top]
        print(text)
        print(f"  labels:    {', '.join(f'{l} {p:.2f}' for l, p in top)}")
        print(f"  predicted: {', '.join(reading.predicted) or '(none above threshold)'}")
        print(f"  ekman:     {reading.top_ekman} {reading.ekman[reading.top_ekman]:.2f}")
        sentiment = max(reading.sentiment, key=reading.sentiment.__getitem__)
        print(f"  sentiment: {sentiment} {reading.sentiment[sentiment]:.2f}")
    return 0
