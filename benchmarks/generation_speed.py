"""Story generation speed, side by side: the server's own loop against torch and optimum.

Batch 1, one prompt, 128 new tokens, greedy, medians of RUNS runs after a warm-up:

- the server loop in-process (server.generation.StoryGenerator.stream) on the int8 bundle, and on
  an fp32 bundle when --fp32-bundle is given;
- transformers `generate` in torch, fp32, on the Hugging Face folder the bundle was exported from;
- optimum `ORTModelForCausalLM.generate` on the same ONNX files (the bundle folders load as they
  are: they hold config.json and the tokenizer beside the model), and with --plain-bundle on the
  graph exactly as optimum exports it (`storyteller export --no-rewrite`): what optimum alone serves.

Every engine decodes exactly 128 tokens: transformers and optimum with min_new_tokens, the server
loop on the bundle with its EOS left out of the manifest (a stop condition, nothing else). Tokens/s
is new tokens over the whole call (prefill included); time to first token is when the first new
token was sampled (a streamer's first new token for transformers and optimum).

Then a real server (server.app.StorytellerServer on 127.0.0.1, port 0, started and stopped here)
with 1, 4 and 16 concurrent GenerateStream clients, each sending requests back to back for SECONDS:
aggregate tokens/s (completion tokens of finished calls over the wall time) and the p50 time from
sending a call to its first chunk, greedy and sampled. generation.max_batch_size is set to the
largest stream count so every stream shares the decode step.

Torch and onnxruntime get THREADS threads. Printed side by side with the goals, never pass/fail.

    python -m benchmarks.generation_speed --bundle samples/models/story --hf runs/story/best \
        [--fp32-bundle DIR] [--plain-bundle DIR] [--threads 2] [--json OUT]
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import os
import statistics
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from server.config import SAMPLE_MODELS

NEW_TOKENS = 128
PROMPT = "The old lighthouse keeper climbed the stairs"
# Prompts of the concurrent streams, rotated, so sampled rows differ from the first token on.
STREAM_PROMPTS = (
    "The old lighthouse keeper climbed the stairs", "It was a cold night in the village", "She opened the door",
    "When the ship came in", "There was a knock at the gate", "They rode north for three days",
)  # fmt: skip
HF_CANDIDATES = (Path("runs/story/best"),)  # where `storyteller train story --out runs/story` puts it
GOALS = {"torch": 3.0, "optimum": 1.5, "streams": 4.0}


@dataclasses.dataclass
class Row:
    engine: str
    tokens_per_s: float
    ttft_ms: float
    tokens: int
    note: str = ""


def _median_run(run, runs: int) -> tuple[float, float, int]:
    """(median seconds, median time to first token in seconds, tokens of the last run) after a warm-up."""
    run()
    times, firsts, tokens = [], [], 0
    for _ in range(runs):
        seconds, first, tokens = run()
        times.append(seconds)
        firsts.append(first)
    return statistics.median(times), statistics.median(firsts), tokens


def _row(engine: str, figures: tuple[float, float, int], note: str = "") -> Row:
    seconds, first, tokens = figures
    return Row(engine, tokens / seconds, first * 1000, tokens, note)


# --- the server loop, in-process ------------------------------------------------------------------


def _precision(manifest: dict[str, Any]) -> str:
    """"int8", "fp32 as exported": the precision and whether export.decoder_rewrites rewrote the graph."""
    quantization = manifest.get("quantization", "?")
    graph = "" if manifest.get("graph_rewrites") else " as exported"
    return ("fp32" if quantization == "none" else quantization) + graph


def _without_eos(bundle: Any) -> Any:
    """The same loaded bundle with no EOS in its manifest, so the loop always decodes NEW_TOKENS."""
    special = {k: v for k, v in bundle.manifest.special_tokens.items() if k != "eos_token_id"}
    return dataclasses.replace(bundle, manifest=bundle.manifest.model_copy(update={"special_tokens": special}))


def server_loop(bundle_dir: Path, threads: int, runs: int) -> tuple[Row, list[int]]:
    """The loop's figures and the prompt ids it encoded (the other engines get the same ids)."""
    from server.config import GenerationSettings, LimitSettings, ModelSettings
    from server.generation.generator import GenerationResult, StoryGenerator
    from server.generation.sampling import SamplingConfig
    from server.generation.types import GenerationParams
    from server.models.registry import load_bundle

    loaded = load_bundle("story", bundle_dir, "generation", ModelSettings(story=bundle_dir, intra_op_threads=threads))
    generator = StoryGenerator(_without_eos(loaded), GenerationSettings(), LimitSettings())
    params = GenerationParams(prompt=PROMPT, sampling=SamplingConfig(), max_new_tokens=NEW_TOKENS, seed=1)
    prompt_ids = generator.prompt.encode(PROMPT)

    async def measure() -> tuple[float, float, int]:
        async def once() -> tuple[float, float, int]:
            started = time.perf_counter()
            result = None
            async for item in generator.stream(params, started=started):
                if isinstance(item, GenerationResult):
                    result = item
            assert result is not None
            return time.perf_counter() - started, result.time_to_first_token_ms / 1000, result.completion_tokens

        await once()
        figures = [await once() for _ in range(runs)]
        await generator.close()
        return (
            statistics.median(f[0] for f in figures),
            statistics.median(f[1] for f in figures),
            figures[-1][2],
        )

    figures = asyncio.run(measure())
    name = f"server loop, ORT {_precision(loaded.manifest.model_dump())}"
    return _row(name, figures), prompt_ids


# --- transformers and optimum ---------------------------------------------------------------------


class _FirstToken:
    """A transformers streamer that notes when the first new token arrives (put #1 is the prompt)."""

    def __init__(self) -> None:
        self.calls = 0
        self.first: float | None = None

    def put(self, value: Any) -> None:
        self.calls += 1
        if self.calls == 2:
            self.first = time.perf_counter()

    def end(self) -> None:
        pass


def hf_generate(model: Any, prompt_ids: list[int], runs: int) -> tuple[float, float, int]:
    import torch
    from transformers.generation.streamers import BaseStreamer

    streamer_type = type("FirstToken", (_FirstToken, BaseStreamer), {})
    ids = torch.tensor([prompt_ids])
    eos = model.generation_config.eos_token_id or 0

    def once() -> tuple[float, float, int]:
        streamer = streamer_type()
        started = time.perf_counter()
        with torch.inference_mode():
            out = model.generate(
                input_ids=ids, attention_mask=torch.ones_like(ids), max_new_tokens=NEW_TOKENS,
                min_new_tokens=NEW_TOKENS, do_sample=False, use_cache=True, pad_token_id=eos, streamer=streamer,
            )  # fmt: skip
        seconds = time.perf_counter() - started
        return seconds, (streamer.first or started) - started, out.shape[1] - ids.shape[1]

    return _median_run(once, runs)


def torch_row(hf: Path, prompt_ids: list[int], threads: int, runs: int) -> Row:
    import torch
    from transformers import AutoModelForCausalLM

    torch.set_num_threads(threads)
    model = AutoModelForCausalLM.from_pretrained(hf, dtype=torch.float32).eval()
    return _row("transformers generate, torch fp32", hf_generate(model, prompt_ids, runs))


def optimum_row(bundle_dir: Path, prompt_ids: list[int], threads: int, runs: int) -> Row:
    import onnxruntime as ort
    from optimum.onnxruntime import ORTModelForCausalLM

    manifest = json.loads((bundle_dir / "manifest.json").read_text())
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.log_severity_level = 3
    model = ORTModelForCausalLM.from_pretrained(
        bundle_dir, file_name=manifest["model_file"], use_cache=True, use_io_binding=False,
        session_options=options, provider="CPUExecutionProvider", local_files_only=True,
    )  # fmt: skip
    name = f"optimum ORTModelForCausalLM, {_precision(manifest)}"
    return _row(name, hf_generate(model, prompt_ids, runs))


# --- a real server, concurrent streams ------------------------------------------------------------


# How the streams decode: SamplingParams fields beside max_tokens and seed.
STREAM_MODES: dict[str, dict[str, float]] = {
    "greedy": {},
    "sampled": {"temperature": 0.9, "top_k": 50, "top_p": 0.95},  # top-k and top-p as the server's defaults
    "nucleus": {"temperature": 0.9, "top_p": 0.95},  # top-k off: top-p over the whole vocabulary
}


async def _stream_client(
    stub: Any, until: float, index: int, mode: str, records: list[tuple[float, int, int]]
) -> None:
    """Calls back to back until `until`; records (time to first chunk, completion tokens, chunks) per call."""
    from storyteller.v1 import common_pb2, story_pb2

    count = 0
    while time.perf_counter() < until:
        sampling = common_pb2.SamplingParams(max_tokens=NEW_TOKENS, seed=index * 10_000 + count + 1, **STREAM_MODES[mode])
        prompt = STREAM_PROMPTS[(index + count) % len(STREAM_PROMPTS)]
        started = time.perf_counter()
        first, tokens, chunks = None, 0, 0
        async for chunk in stub.GenerateStream(story_pb2.GenerateRequest(prompt=prompt, sampling=sampling)):
            if first is None:
                first = time.perf_counter() - started
            if chunk.done:
                tokens = chunk.summary.completion_tokens
            else:
                chunks += 1
        records.append((first or 0.0, tokens, chunks))
        count += 1


async def _streams(
    bundle_dir: Path, threads: int, levels: Sequence[int], modes: Sequence[str], seconds: float
) -> dict[str, Any]:
    import grpc

    from server.app import StorytellerServer
    from server.config import load_settings
    from storyteller.v1 import story_pb2_grpc

    settings = load_settings(
        environ={},
        overrides={
            "server.address": "127.0.0.1:0", "models.emotion": "", "models.story": str(bundle_dir),
            "models.intra_op_threads": threads, "generation.max_batch_size": max(levels),
            "narrative.database": ":memory:", "narrative.graphs": "", "metrics.enabled": False,
        },
    )  # fmt: skip
    server = StorytellerServer.create(settings)
    await server.start()
    results: dict[str, Any] = {"max_batch_size": max(levels), "seconds_per_cell": seconds, "cells": []}
    try:
        await server.wait_models_loaded()
        if not server.registry.complete:
            raise SystemExit(f"the server did not load the bundle: {server.registry.failures}")
        async with grpc.aio.insecure_channel(f"127.0.0.1:{server.port}") as channel:
            stub = story_pb2_grpc.StoryServiceStub(channel)
            await _stream_client(stub, time.perf_counter() + 0.5, 0, "greedy", [])  # warm-up
            for mode in modes:
                for streams in levels:
                    records: list[tuple[float, int, int]] = []
                    started = time.perf_counter()
                    until = started + seconds
                    await asyncio.gather(*(_stream_client(stub, until, i, mode, records) for i in range(streams)))
                    wall = time.perf_counter() - started
                    tokens = sum(r[1] for r in records)
                    results["cells"].append({
                        "streams": streams, "mode": mode, "calls": len(records), "tokens": tokens,
                        "tokens_per_s": tokens / wall, "ttft_p50_ms": statistics.median(r[0] for r in records) * 1000,
                        "mean_tokens_per_call": tokens / len(records),
                        "tokens_per_chunk": tokens / max(sum(r[2] for r in records), 1),
                    })  # fmt: skip
                    print(f"  {streams:>2} streams, {mode}: {len(records)} calls", flush=True)
    finally:
        await server.shutdown()
    return results


# --- the run ------------------------------------------------------------------------------------


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.generation_speed",
        description="Generation speed: server loop vs torch vs optimum at batch 1, and concurrent streams.",
    )
    parser.add_argument("--bundle", type=Path, default=SAMPLE_MODELS / "story", help="int8 generation bundle")
    parser.add_argument(
        "--hf", type=Path, help="the Hugging Face folder the bundle was exported from "
        f"(default: the first of {', '.join(map(str, HF_CANDIDATES))} that exists)",
    )  # fmt: skip
    parser.add_argument("--fp32-bundle", type=Path, help="the same model exported with --quantize none (optional)")
    parser.add_argument(
        "--plain-bundle", type=Path, help="the same model exported with --no-rewrite: optimum's own graph (optional)"
    )
    parser.add_argument("--threads", type=int, default=int(os.environ.get("EXPORT_BENCH_THREADS", "2")))
    parser.add_argument("--runs", type=int, default=5, help="timed runs per engine at batch 1 (median)")
    parser.add_argument("--streams", default="1,4,16", help="concurrent stream counts, comma-separated")
    parser.add_argument(
        "--modes", default=",".join(STREAM_MODES), help=f"how the streams decode, comma-separated: {', '.join(STREAM_MODES)}"
    )
    parser.add_argument("--seconds", type=float, default=6.0, help="seconds per stream count and mode")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    return parser.parse_args(list(argv))


def _ratio(a: float | None, b: float | None) -> str:
    return f"{a / b:.2f}x" if a and b else "n/a"


def print_report(report: dict[str, Any]) -> None:
    rows = report["batch1"]
    print(f"\ngeneration speed: {report['model']}, batch 1, {NEW_TOKENS} new tokens greedy, "
          f"{report['threads']} threads, medians of {report['runs']} runs")  # fmt: skip
    print(f"{'engine':<44}{'tokens/s':>10}{'first token ms':>16}{'tokens':>8}")
    for row in rows:
        print(f"{row['engine']:<44}{row['tokens_per_s']:>10.0f}{row['ttft_ms']:>16.1f}{row['tokens']:>8}"
              + (f"  {row['note']}" if row["note"] else ""))  # fmt: skip
    by = {row["engine"]: row["tokens_per_s"] for row in rows}
    served = _precision(report["manifest"])
    loop = by.get(f"server loop, ORT {served}")
    torch_speed = next((v for k, v in by.items() if k.startswith("transformers")), None)
    print(f"server loop {served} vs torch fp32: {_ratio(loop, torch_speed):>7}  (goal >= {GOALS['torch']:.1f}x)")
    for name, speed in by.items():
        if name.startswith("optimum") and "int8" in name:
            label = f"server loop {served} vs {name.removeprefix('optimum ORTModelForCausalLM, ')} optimum:"
            print(f"{label:<46}{_ratio(loop, speed):>7}  (goal >= {GOALS['optimum']:.1f}x)")

    streams = report.get("streams")
    if streams:
        print(f"\nGenerateStream through a real server (loopback, max_batch_size {streams['max_batch_size']}, "
              f"{streams['seconds_per_cell']:.0f} s per cell, {NEW_TOKENS} max tokens)")  # fmt: skip
        print(f"{'mode':<9}{'streams':>8}{'tokens/s':>10}{'vs 1':>7}{'TTFT p50 ms':>13}{'tok/call':>10}{'tok/chunk':>11}")
        cells = {(c["mode"], c["streams"]): c for c in streams["cells"]}
        levels = sorted({c["streams"] for c in streams["cells"]})
        for mode in dict.fromkeys(c["mode"] for c in streams["cells"]):
            one = cells[(mode, levels[0])]["tokens_per_s"]
            for n in levels:
                cell = cells[(mode, n)]
                print(f"{mode:<9}{n:>8}{cell['tokens_per_s']:>10.0f}{_ratio(cell['tokens_per_s'], one):>7}"
                      f"{cell['ttft_p50_ms']:>13.1f}{cell['mean_tokens_per_call']:>10.0f}{cell['tokens_per_chunk']:>11.1f}")  # fmt: skip
        print(f"goal: aggregate tokens/s at {levels[-1]} streams >= {GOALS['streams']:.0f}x one stream. "
              + "; ".join(f"{mode}: {', '.join(f'{k} {v:g}' for k, v in STREAM_MODES[mode].items()) or 'temperature 0'}"
                          for mode in dict.fromkeys(c["mode"] for c in streams["cells"]))
              + " (sampled calls may end early at EOS)")  # fmt: skip


def main(argv: Sequence[str] | None = None) -> None:
    """`python -m benchmarks` calls main() with no arguments: the defaults, or a skip message."""
    args = parse_args(argv or [])
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    if not (args.bundle / "manifest.json").is_file():
        print(f"no generation bundle at {args.bundle}; nothing to measure (pass --bundle DIR)")
        return
    hf = args.hf or next((c for c in HF_CANDIDATES if (c / "config.json").is_file()), None)
    levels = [int(n) for n in args.streams.split(",") if n.strip()]
    modes = [mode.strip() for mode in args.modes.split(",") if mode.strip()]
    if unknown := set(modes) - set(STREAM_MODES):
        raise SystemExit(f"--modes: unknown {', '.join(sorted(unknown))}; choose from {', '.join(STREAM_MODES)}")
    try:
        from transformers.utils import logging as hf_logging

        hf_logging.set_verbosity_error()
    except ImportError:
        pass

    print("batch 1 ...", flush=True)
    loop_row, prompt_ids = server_loop(args.bundle, args.threads, args.runs)
    rows = [loop_row]
    for extra in (args.fp32_bundle, args.plain_bundle):
        if extra is not None:
            rows.append(server_loop(extra, args.threads, args.runs)[0])
    if hf is not None and (hf / "config.json").is_file():
        rows.append(torch_row(hf, prompt_ids, args.threads, args.runs))
    else:
        print("no Hugging Face folder (--hf): the torch row is left out")
    for bundle in (args.bundle, args.fp32_bundle, args.plain_bundle):
        if bundle is None:
            continue
        try:
            rows.append(optimum_row(bundle, prompt_ids, args.threads, args.runs))
        except Exception as exc:  # optimum raises many types; report and go on
            print(f"optimum could not run {bundle}: {type(exc).__name__}: {exc}")
    print("concurrent streams ...", flush=True)
    streams = asyncio.run(_streams(args.bundle, args.threads, levels, modes, args.seconds)) if levels else None
    manifest = json.loads((args.bundle / "manifest.json").read_text())
    report = {
        "model": manifest.get("name"), "bundle": str(args.bundle), "hf": str(hf) if hf else None,
        "fp32_bundle": str(args.fp32_bundle) if args.fp32_bundle else None,
        "plain_bundle": str(args.plain_bundle) if args.plain_bundle else None, "threads": args.threads,
        "manifest": {key: manifest.get(key) for key in ("quantization", "graph_rewrites")},
        "runs": args.runs, "new_tokens": NEW_TOKENS, "prompt": PROMPT, "prompt_tokens": len(prompt_ids),
        "batch1": [dataclasses.asdict(r) for r in rows], "streams": streams, "goals": GOALS,
    }  # fmt: skip
    print_report(report)
    if args.json:
        args.json.write_text(json.dumps(report, indent=2))
        print(f"figures written to {args.json}")


if __name__ == "__main__":
    import sys

    main(sys.argv[1:])
