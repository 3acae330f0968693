"""Load test of StoryService.GenerateStream on loopback: latency, throughput, errors, and overload.

Steady load: N concurrent clients, each looping GenerateStream calls (a fixed set of prompts,
max_tokens ~64, seeds varied) for T seconds (and at most --max-calls calls in all). Reported:
time to first token p50/p99 (call sent -> first chunk), inter-token latency p50/p99 (gaps between
successive text chunks of a call; a chunk is one token except where UTF-8 joins a few), aggregate
tokens/s (completion tokens of finished calls over the wall time), calls completed, and errors by
status code.

Overload (--overload, after the steady load; --overload-only for just this): waves of more
concurrent streams than generation.max_batch_size + max_waiting, fired at once. Reported: the
RESOURCE_EXHAUSTED rate, how fast a refusal comes back (p50/p99), whether accepted calls completed,
health while full, and the server's RSS before and after the waves (psutil on this process when
the server runs in it; skipped with --address).

The server: with --address HOST:PORT an already running one (loopback only; its limits are its
own), otherwise one started in this process on 127.0.0.1 (port 0) with --bundle (default
samples/models/story) and --emotion (default samples/models/emotion; '' for none).

    python -m benchmarks.load_test --streams 16 --seconds 60 [--overload]
    python -m benchmarks.load_test --address 127.0.0.1:50051 --streams 16 --seconds 60
    python -m benchmarks load_test          # the defaults (--streams 16 --seconds 60 --overload)

Figures only, never pass/fail.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import gc
import json
import math
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from server.config import SAMPLE_MODELS

PROMPTS = (
    "The old lighthouse keeper climbed the stairs", "It was a cold night in the village", "She opened the door",
    "When the ship came in", "There was a knock at the gate", "They rode north for three days",
    "The knight", "Once upon a time",
)  # fmt: skip
MIB = 1024 * 1024
LOOPBACK = ("127.0.0.1:", "localhost:", "[::1]:")


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile; nan for no values."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q / 100 * len(ordered)) - 1))]


@dataclass
class Steady:
    streams: int
    seconds: float
    max_tokens: int
    calls: int = 0
    tokens: int = 0
    wall_s: float = 0.0
    ttft_s: list[float] = field(default_factory=list)
    itl_s: list[float] = field(default_factory=list)
    errors: collections.Counter[str] = field(default_factory=collections.Counter)


@dataclass
class Overload:
    streams_per_wave: int
    waves: int
    accepted: int = 0
    completed: int = 0
    refused: int = 0
    refusal_s: list[float] = field(default_factory=list)
    other: collections.Counter[str] = field(default_factory=collections.Counter)
    health: collections.Counter[str] = field(default_factory=collections.Counter)
    rss_before_mib: float | None = None
    rss_after_mib: float | None = None


def as_dict(figures: Steady | Overload) -> dict[str, Any]:
    """The dataclass as plain data (dataclasses.asdict would rebuild a Counter from its items)."""
    return {f.name: dict(v) if isinstance(v := getattr(figures, f.name), dict) else v for f in fields(figures)}


def request(index: int, count: int, max_tokens: int, temperature: float) -> Any:
    from storyteller.v1 import common_pb2, story_pb2

    sampling = common_pb2.SamplingParams(max_tokens=max_tokens, temperature=temperature, top_p=0.95,
                                         seed=index * 100_003 + count + 1)  # fmt: skip
    return story_pb2.GenerateRequest(prompt=PROMPTS[(index + count) % len(PROMPTS)], sampling=sampling)


async def stream_once(stub: Any, message: Any, timeout: float) -> tuple[str, float | None, list[float], int, float]:
    """One GenerateStream call: (status, time to first chunk, inter-chunk gaps, completion tokens, duration)."""
    import grpc

    started = time.perf_counter()
    first: float | None = None
    last: float | None = None
    gaps: list[float] = []
    tokens = 0
    try:
        async for chunk in stub.GenerateStream(message, timeout=timeout):
            now = time.perf_counter()
            if first is None:
                first = now - started
            if chunk.text_delta:
                if last is not None:
                    gaps.append(now - last)
                last = now
            if chunk.done:
                tokens = chunk.summary.completion_tokens
    except grpc.aio.AioRpcError as error:
        return error.code().name, first, gaps, 0, time.perf_counter() - started
    return "OK", first, gaps, tokens, time.perf_counter() - started


async def steady_load(stub: Any, args: argparse.Namespace) -> Steady:
    result = Steady(args.streams, args.seconds, args.max_tokens)
    until = time.perf_counter() + args.seconds
    budget = [args.max_calls]

    async def client(index: int) -> None:
        count = 0
        while time.perf_counter() < until and budget[0] > 0:
            budget[0] -= 1
            message = request(index, count, args.max_tokens, args.temperature)
            code, first, gaps, tokens, _ = await stream_once(stub, message, args.call_timeout)
            count += 1
            if code != "OK":
                result.errors[code] += 1
                continue
            result.calls += 1
            result.tokens += tokens
            if first is not None:
                result.ttft_s.append(first)
            result.itl_s.extend(gaps)

    started = time.perf_counter()
    await asyncio.gather(*(client(i) for i in range(args.streams)))
    result.wall_s = time.perf_counter() - started
    return result


def process_rss_mib() -> float:
    import psutil

    gc.collect()
    return psutil.Process().memory_info().rss / MIB


async def overload(
    stub: Any, health: Any, args: argparse.Namespace, in_process: bool, capacity: int | None
) -> Overload:
    from grpc_health.v1 import health_pb2

    streams = args.overload_streams or 2 * (capacity or 72)
    result = Overload(streams, args.waves)

    async def wave(number: int) -> None:
        calls = [asyncio.ensure_future(stream_once(stub, request(number * 10_000 + i, 0, args.max_tokens,
                                                                 args.temperature), args.call_timeout))
                 for i in range(streams)]  # fmt: skip
        while not all(c.done() for c in calls):
            check = await health.Check(health_pb2.HealthCheckRequest(service=""), timeout=5)
            result.health[health_pb2.HealthCheckResponse.ServingStatus.Name(check.status)] += 1
            await asyncio.sleep(0.05)
        for call in calls:
            code, _, _, tokens, seconds = call.result()
            if code == "RESOURCE_EXHAUSTED":
                result.refused += 1
                result.refusal_s.append(seconds)
            elif code == "OK":
                result.accepted += 1
                result.completed += tokens > 0
            else:
                result.other[code] += 1

    await wave(0)  # warm-up wave, not counted
    result.refused, result.accepted, result.completed = 0, 0, 0
    result.refusal_s.clear()
    result.other.clear()
    result.health.clear()
    if in_process:
        result.rss_before_mib = process_rss_mib()
    for number in range(1, args.waves + 1):
        await wave(number)
        await asyncio.sleep(0.2)  # let the batch drain between waves
    if in_process:
        result.rss_after_mib = process_rss_mib()
    return result


async def run(args: argparse.Namespace) -> dict[str, Any]:
    import grpc
    from grpc_health.v1 import health_pb2_grpc

    from storyteller.v1 import story_pb2_grpc

    server = None
    capacity: int | None = None
    if args.address:
        if not args.address.startswith(LOOPBACK):
            raise SystemExit(f"--address must be a loopback address (127.0.0.1:PORT), got {args.address}")
        address = args.address
    else:
        server = await start_server(args)
        address = f"127.0.0.1:{server.port}"
        generation = server.settings.generation
        capacity = generation.max_batch_size + generation.max_waiting
    report: dict[str, Any] = {"address": address, "in_process": server is not None, "max_tokens": args.max_tokens,
                              "temperature": args.temperature}  # fmt: skip
    if server is not None:
        report.update(bundle=str(args.bundle), max_batch_size=server.settings.generation.max_batch_size,
                      max_waiting=server.settings.generation.max_waiting)  # fmt: skip
    try:
        async with grpc.aio.insecure_channel(address) as channel:
            stub, health = story_pb2_grpc.StoryServiceStub(channel), health_pb2_grpc.HealthStub(channel)
            warm = await stream_once(stub, request(0, 0, 8, args.temperature), args.call_timeout)
            if warm[0] != "OK":
                raise SystemExit(f"the warm-up call failed: {warm[0]}")
            if not args.overload_only:
                print(f"steady load: {args.streams} streams for {args.seconds:g} s ...", flush=True)
                report["steady"] = as_dict(await steady_load(stub, args))
            if args.overload or args.overload_only:
                print(f"overload: {args.waves} waves ...", flush=True)
                report["overload"] = as_dict(await overload(stub, health, args, server is not None, capacity))
    finally:
        if server is not None:
            await server.shutdown()
    return report


async def start_server(args: argparse.Namespace) -> Any:
    from server.app import StorytellerServer
    from server.config import load_settings

    overrides: dict[str, Any] = {
        "server.address": "127.0.0.1:0", "models.story": str(args.bundle), "models.emotion": args.emotion,
        "models.intra_op_threads": args.threads, "narrative.database": ":memory:", "narrative.graphs": "",
        "metrics.enabled": False,
    }  # fmt: skip
    if args.max_batch_size:
        overrides["generation.max_batch_size"] = args.max_batch_size
    if args.max_waiting is not None:
        overrides["generation.max_waiting"] = args.max_waiting
    settings = load_settings(environ={}, overrides=overrides)
    server = StorytellerServer.create(settings)
    await server.start()
    await server.wait_models_loaded()
    if "story" not in server.registry.bundles:
        await server.shutdown()
        raise SystemExit(f"the server did not load the story bundle: {server.registry.failures}")
    return server


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f}"


def print_report(report: dict[str, Any]) -> None:
    where = "in-process server" if report["in_process"] else f"server at {report['address']}"
    limits = (f", max_batch_size {report['max_batch_size']}, max_waiting {report['max_waiting']}"
              if report["in_process"] else "")  # fmt: skip
    print(f"\nGenerateStream load test: {where}{limits}, max_tokens {report['max_tokens']}, "
          f"temperature {report['temperature']:g}")  # fmt: skip
    steady = report.get("steady")
    if steady:
        print(f"steady: {steady['streams']} streams for {steady['wall_s']:.1f} s")
        print(f"  calls completed        {steady['calls']}")
        print(f"  tokens/s (aggregate)   {steady['tokens'] / steady['wall_s']:.1f}  ({steady['tokens']} tokens)")
        print(f"  time to first token    p50 {_ms(percentile(steady['ttft_s'], 50))} ms"
              f"   p99 {_ms(percentile(steady['ttft_s'], 99))} ms")  # fmt: skip
        print(f"  inter-token latency    p50 {_ms(percentile(steady['itl_s'], 50))} ms"
              f"   p99 {_ms(percentile(steady['itl_s'], 99))} ms")  # fmt: skip
        errors = ", ".join(f"{code} {n}" for code, n in sorted(steady["errors"].items())) or "none"
        print(f"  errors                 {errors}")
    load = report.get("overload")
    if load:
        total = load["accepted"] + load["refused"] + sum(load["other"].values())
        rate = load["refused"] / total if total else float("nan")
        print(f"overload: {load['waves']} waves of {load['streams_per_wave']} streams at once")
        print(f"  RESOURCE_EXHAUSTED     {load['refused']}/{total} ({rate:.1%}); refused in "
              f"p50 {_ms(percentile(load['refusal_s'], 50))} ms, p99 {_ms(percentile(load['refusal_s'], 99))} ms")
        print(f"  accepted               {load['accepted']} ({load['completed']} streamed tokens to the end)")
        other = ", ".join(f"{code} {n}" for code, n in sorted(load["other"].items())) or "none"
        print(f"  other errors           {other}")
        print(f"  health while full      {dict(load['health'])}")
        if load["rss_before_mib"] is not None:
            print(f"  server RSS             {load['rss_before_mib']:.1f} -> {load['rss_after_mib']:.1f} MiB "
                  f"({load['rss_after_mib'] - load['rss_before_mib']:+.1f} MiB over {load['waves']} waves)")
        else:
            print("  server RSS             not measured (--address: the server is another process)")


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.load_test", description=__doc__.split("\n\n")[0])
    parser.add_argument("--streams", type=int, default=16, help="concurrent clients in the steady load")
    parser.add_argument("--seconds", type=float, default=60.0, help="length of the steady load")
    parser.add_argument("--max-calls", type=int, default=100_000, help="most calls of the steady load in all")
    parser.add_argument("--max-tokens", type=int, default=64, help="sampling.max_tokens of every call")
    parser.add_argument("--temperature", type=float, default=0.8, help="sampling temperature (0 = greedy)")
    parser.add_argument("--call-timeout", type=float, default=120.0, help="deadline of each call, seconds")
    parser.add_argument("--address", help="a running server on loopback (HOST:PORT) instead of one in-process")
    parser.add_argument("--bundle", type=Path, default=SAMPLE_MODELS / "story", help="generation bundle (in-process)")
    parser.add_argument("--emotion", default=str(SAMPLE_MODELS / "emotion"),
                        help="emotion bundle (in-process); '' for none")  # fmt: skip
    parser.add_argument("--threads", type=int, default=2, help="onnxruntime intra-op threads (in-process)")
    parser.add_argument("--max-batch-size", type=int, help="generation.max_batch_size (in-process)")
    parser.add_argument("--max-waiting", type=int, help="generation.max_waiting (in-process)")
    parser.add_argument("--overload", action="store_true", help="also fire overload waves after the steady load")
    parser.add_argument("--overload-only", action="store_true", help="only the overload waves")
    parser.add_argument("--overload-streams", type=int,
                        help="streams per overload wave (default: twice max_batch_size + max_waiting)")  # fmt: skip
    parser.add_argument("--waves", type=int, default=5, help="overload waves after a warm-up wave")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    return parser.parse_args(list(argv))


def main(argv: Sequence[str] | None = None) -> None:
    """`python -m benchmarks` calls main() with no arguments: the defaults with the overload section,
    or a skip message without a story bundle."""
    args = parse_args(argv if argv is not None else ["--overload"])
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    if not args.address and not (args.bundle / "manifest.json").is_file():
        print(f"no generation bundle at {args.bundle}; nothing to measure (pass --bundle DIR or --address)")
        return
    report = asyncio.run(run(args))
    print_report(report)
    if args.json:
        args.json.write_text(json.dumps(report, indent=2, default=str))


if __name__ == "__main__":
    import sys

    main(sys.argv[1:])
