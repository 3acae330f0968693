"""`storyteller batch`: write NPC dialogue for a plot graph or a spreadsheet, resumably.

Runs the story model in-process (default), on running servers (--server, repeatable), or on Ray
(--ray local|ADDRESS). Same inputs + seed give a byte-identical file, whichever ran it.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path
from typing import Any

import grpc

from narrative.chat_format import ChatFormat
from server.config import SAMPLE_MODELS
from server.sampling_flags import add_sampling_flags

PROMPT_CHARS = 400  # scene text before a line, at most

EPILOG = """\
input (one of):
  --graph FILE   a line per (beat, present character, intent, variant); ids are
                 GRAPH.BEAT.CHARACTER.INTENT.VARIANT
  --lines FILE   .csv (header) or .jsonl rows with the fields: key, character (required),
                 listener, situation, intent, emotion, style, variants; ids are KEY.VARIANT
                 (KEY defaults to a hash of the row's fields)

output: --format jsonl (every field) or csv (Key,SourceString,Comment: imports into Unreal
string tables and, through its CSV extension, the Unity Localization package). The file is
written in input order, one whole line at a time; run the same command again after a crash or
Ctrl-C and it continues where it stopped.

exit status: 0 done; 1 a model or server failed (what was written stays, resumable);
2 bad input (nothing written when --bad-rows refuse); 130 interrupted (resumable)."""


def register(commands: Any) -> None:
    parser = commands.add_parser(
        "batch", help="write NPC dialogue for a whole graph or a spreadsheet of lines",
        description=__doc__.split("\n\n")[0], epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter,
    )  # fmt: skip
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--graph", type=Path, help="plot graph (YAML/JSON)")
    source.add_argument("--lines", type=Path, help="lines to write (.csv or .jsonl)")
    parser.add_argument("--out", type=Path, required=True, help="output file (resumed if it exists)")
    parser.add_argument("--format", choices=("jsonl", "csv"), help="default: from --out's suffix (.csv or jsonl)")
    parser.add_argument("--seed", type=int, default=1, help="run seed; each line's seed derives from it and its id")
    parser.add_argument(
        "--workers", type=int, default=1,
        help="lines written at once: model instances in-process or on Ray; streams spread over --server "
        "(byte-identical output through servers needs at most one stream per server)",
    )  # fmt: skip
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--server", action="append", metavar="ADDR", help="a running server (host:port); repeatable")
    where.add_argument("--ray", metavar="ADDRESS", help="run on Ray: 'local' or a cluster address")
    parser.add_argument("--intents", default="greet,inform,farewell", help="--graph: intents per character and beat")
    parser.add_argument("--variants", type=int, default=1, help="--graph: lines per slot")
    parser.add_argument("--bad-rows", choices=("skip", "refuse"), default="skip", help="--lines: what bad rows do")
    parser.add_argument("--bundle", type=Path, default=SAMPLE_MODELS / "story", help="generation bundle (in-process)")
    parser.add_argument(
        "--emotion-model", type=Path, default=SAMPLE_MODELS / "emotion",
        help="emotion bundle for reranking and the detected emotion (in-process)",
    )  # fmt: skip
    add_sampling_flags(parser, "the server's, as a request without sampling settings")
    parser.add_argument("--max-tokens", type=int, default=60)
    parser.add_argument("--candidates", type=int, default=4, help="candidates per line, reranked by emotion")
    parser.add_argument(
        "--prompt-chars", type=int,
        help="scene text before each line, in characters (default: what surely fits the model's context, <= 400)",
    )  # fmt: skip
    parser.add_argument("--no-progress", action="store_true")
    parser.set_defaults(func=run)


def _fail(message: str, code: int) -> int:
    print(f"storyteller batch: {message}", file=sys.stderr)
    return code


def run(args: argparse.Namespace) -> int:
    from server.batch.output import Format, OutputFile
    from server.batch.runner import BatchFailed
    from server.batch.sources import BatchInputError, RowError, file_requests, graph_requests, intents_arg
    from server.batch.writers import BatchSampling
    from server.generation.prompt import char_budget
    from server.generation.sampling import SamplingConfig
    from server.models.bundle import BundleError
    from server.sampling_flags import sampling_from_flags

    if args.workers < 1 or args.variants < 1:
        return _fail("--workers and --variants must be at least 1", 2)
    try:
        sampling = BatchSampling(sampling_from_flags(args, SamplingConfig.defaults()), args.max_tokens, args.candidates)
    except ValueError as exc:
        return _fail(str(exc), 2)
    checker = None
    try:
        max_context, styles, chat = _model_facts(args)
        budget = args.prompt_chars or char_budget(max_context, args.max_tokens, PROMPT_CHARS)
        if args.graph:
            lines = graph_requests(args.graph, intents_arg(args.intents), args.variants, budget, chat)
            requests, checker, bad = lines.requests, lines.check, list[RowError]()
        else:
            requests, bad = file_requests(args.lines, styles, budget, chat)
    except (BatchInputError, BundleError, ValueError) as exc:
        return _fail(str(exc), 2)
    except grpc.RpcError as exc:
        return _fail(f"--server {args.server[0]}: {exc.details()}", 1)
    for error in bad:
        print(f"storyteller batch: {args.lines}: {error}", file=sys.stderr)
    if bad and args.bad_rows == "refuse":
        return _fail(f"{len(bad)} bad row(s); nothing written (--bad-rows skip writes the rest)", 2)
    fmt: Format = args.format or ("csv" if args.out.suffix.lower() == ".csv" else "jsonl")
    output = OutputFile(args.out, fmt)
    try:
        report = _run(args, requests, output, sampling, checker)
    except KeyboardInterrupt:
        return _fail(f"interrupted; {args.out} holds {len(output.done)} whole lines, run again to resume", 130)
    except BatchFailed as exc:
        return _fail(f"{exc}; {args.out} holds {len(output.done)} whole lines, run again to resume", 1)
    finally:
        output.close()
    print(
        f"storyteller batch: {report.written} lines written, {report.skipped} already there"
        f" ({len(bad)} bad rows skipped) in {report.seconds:.1f} s = {report.lines_per_minute:.0f} lines/minute",
        file=sys.stderr,
    )
    return 0


def _model_facts(args: argparse.Namespace) -> tuple[int, frozenset[str], ChatFormat | None]:
    """The story model's context and styles, which prompts must fit and rows may name, and the chat
    layout its NPC-line prompts are written in (None: prose prompts)."""
    if args.server:
        from server.batch.writers import GrpcWriter

        async def ask() -> tuple[int, frozenset[str], ChatFormat | None]:
            writer = GrpcWriter(args.server[0], timeout_s=10)
            try:
                return await writer.max_context(), await writer.styles(), await writer.chat_format()
            finally:
                await writer.close()

        return asyncio.run(ask())
    from server.models.bundle import read_manifest

    manifest = read_manifest(args.bundle)
    return manifest.max_context, frozenset(manifest.control_tokens.styles), manifest.chat()


def _run(args, requests, output, sampling, checker):
    from server.batch.ray_pool import run_on_ray
    from server.batch.runner import run_batch
    from server.batch.writers import GrpcWriter, LocalWriter

    emotion = args.emotion_model if args.emotion_model and args.emotion_model.is_dir() else None
    if args.ray:
        return run_on_ray(
            args.ray, requests, output, args.seed, sampling, args.bundle, emotion, args.workers, checker,
            not args.no_progress,
        )  # fmt: skip

    async def main():
        if args.server:
            writers = [GrpcWriter(args.server[i % len(args.server)]) for i in range(args.workers)]
        else:
            writers = [await LocalWriter.open(args.bundle, emotion) for _ in range(args.workers)]
        try:
            return await run_batch(requests, writers, output, args.seed, sampling, checker, not args.no_progress)
        finally:
            for writer in writers:
                await writer.close()

    return asyncio.run(main())
