"""`storyteller generate "Once upon a time"`: the story model in-process, streamed to stdout.

The same generation loop and the same request checks as the Generate RPC (the flags are
turned into a GenerateRequest), with no server to start: a quick way to hear what a bundle
writes. Sampling flags left out take the [generation] defaults of the configuration; the
summary (why it ended, tokens, seed to replay, speed) goes to stderr.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import sys
import time
from pathlib import Path
from typing import Any

from server.config import SAMPLE_MODELS, Settings
from server.generation.sampling import SamplingConfig
from server.sampling_flags import add_sampling_flags, given_sampling


def register(commands: Any) -> None:
    parser = commands.add_parser(
        "generate",
        help="generate a story continuation with a generation bundle",
        description="Generate text with a generation bundle in-process and stream it to stdout.",
    )
    parser.add_argument("prompt", help="text to continue")
    parser.add_argument("--style", default="", help="style control value, e.g. fairy_tale (see DescribeModels)")
    parser.add_argument("--emotion", default="", help="target emotion, e.g. joy: control token + candidate reranking")
    parser.add_argument("--bundle", type=Path, help="generation bundle folder (default: samples/models/story)")
    parser.add_argument(
        "--emotion-model", type=str, help="emotion bundle for reranking and the detected emotion"
        " (default with --emotion: samples/models/emotion; '' for none)",
    )  # fmt: skip
    add_sampling_flags(parser, "the [sampling] configuration")
    parser.add_argument("--max-tokens", type=int, default=0, help="new tokens (0: the configured default)")
    parser.add_argument("--stop", action="append", default=[], help="stop string; repeatable")
    parser.add_argument("--seed", type=int, default=0, help="0: pick one (printed, to replay)")
    parser.add_argument("--candidates", type=int, default=0, help="with --emotion: candidates to rerank")
    parser.add_argument("--threads", type=int, default=2, help="onnxruntime intra-op threads")
    parser.set_defaults(func=run)


def _request(args: argparse.Namespace, defaults: SamplingConfig) -> Any:
    """The flags as a GenerateRequest; a flag left out takes the configured default, not "off"."""
    from storyteller.v1 import common_pb2, story_pb2

    values = dataclasses.asdict(defaults) | given_sampling(args)
    sampling = common_pb2.SamplingParams(max_tokens=args.max_tokens, stop=args.stop, seed=args.seed, **values)
    return story_pb2.GenerateRequest(
        prompt=args.prompt, style=args.style, target_emotion=args.emotion, sampling=sampling,
        num_candidates=args.candidates,
    )  # fmt: skip


def _emotion_bundle(args: argparse.Namespace) -> Path | None:
    if args.emotion_model is not None:
        return Path(args.emotion_model) if args.emotion_model else None
    default = SAMPLE_MODELS / "emotion"
    return default if args.emotion and default.is_dir() else None


def run(args: argparse.Namespace) -> int:
    from server.errors import ServiceError
    from server.models.bundle import BundleError

    bundle = args.bundle or SAMPLE_MODELS / "story"
    if not bundle.is_dir():
        print(
            f"storyteller generate: no generation bundle at {bundle}"
            + ("" if args.bundle else " (none ships yet)")
            + "; pass --bundle DIR, e.g. one made by `storyteller export --task generation`",
            file=sys.stderr,
        )
        return 1
    try:
        return asyncio.run(_generate(args, bundle))
    except BundleError as exc:
        print(f"storyteller generate: {exc}", file=sys.stderr)
        return 1
    except ServiceError as exc:
        print(f"storyteller generate: {exc.message}", file=sys.stderr)
        return 2


async def _generate(args: argparse.Namespace, bundle: Path) -> int:
    from server.generation.generator import GenerationResult
    from server.generation.local import open_local
    from server.services.validation import generation_params

    settings = Settings()
    params = generation_params(_request(args, settings.sampling), settings)
    models = await open_local(bundle, _emotion_bundle(args), args.threads, settings.generation, settings.limits)
    started = time.perf_counter()
    try:
        async for item in models.story.stream(params, started=started):
            if isinstance(item, GenerationResult):
                _summary(item, time.perf_counter() - started)
            else:
                sys.stdout.write(item)
                sys.stdout.flush()
    finally:
        await models.close()
    return 0


def _summary(result: Any, seconds: float) -> None:
    print(file=sys.stdout)
    parts = [
        f"finish: {result.finish_reason.value}",
        f"{result.prompt_tokens} prompt + {result.completion_tokens} new tokens",
        f"seed {result.seed}",
        f"first token {result.time_to_first_token_ms:.0f} ms",
        f"{result.completion_tokens * result.candidates / max(seconds, 1e-9):.0f} tokens/s",
    ]
    if result.candidates > 1:
        parts.append(f"best of {result.candidates} candidates")
    if result.detected_emotion is not None:
        top = result.detected_emotion.top_ekman
        parts.append(f"reads as {top} {result.detected_emotion.ekman[top]:.2f}")
    print("[" + "; ".join(parts) + "]", file=sys.stderr)
