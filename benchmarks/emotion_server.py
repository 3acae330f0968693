"""ClassifyEmotion through the server: texts/s and latency with 1, 8 and 32 concurrent
clients, dynamic batching on and off, side by side.

Starts `storyteller serve` on 127.0.0.1 (ephemeral port) with the bundled emotion model,
each client sends one-text requests back to back for a fixed time (loopback only,
bounded in time), then the server is stopped. Run: python -m benchmarks emotion_server
"""

from __future__ import annotations

import asyncio
import json
import random
import shutil
import signal
import statistics
import subprocess
import sys
import threading
import time

import grpc

from server.config import SAMPLE_MODELS
from storyteller.v1 import story_pb2, story_pb2_grpc

CLIENTS = (1, 8, 32)
SECONDS = 8.0
TEXTS = [
    "Thank you so much, you saved my village!",
    "I can't believe you would betray us like that.",
    "What is that noise coming from the cellar?",
    "I miss her every single day.",
    "Ugh, the soup is cold again and it smells awful.",
    "Wait, the keeper was the one who cut the wick?",
    "Fine. Let's get on with it.",
    "I'm scared of what we will find in the dark.",
]


async def client(stub, until: float, latencies: list[float], rng: random.Random) -> None:
    while time.perf_counter() < until:
        started = time.perf_counter()
        await stub.ClassifyEmotion(story_pb2.ClassifyEmotionRequest(texts=[rng.choice(TEXTS)]))
        latencies.append(time.perf_counter() - started)


async def measure(port: int, clients: int) -> tuple[float, float, float]:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        stub = story_pb2_grpc.StoryServiceStub(channel)
        await stub.ClassifyEmotion(story_pb2.ClassifyEmotionRequest(texts=TEXTS))  # warm-up
        latencies: list[float] = []
        until = time.perf_counter() + SECONDS
        await asyncio.gather(*(client(stub, until, latencies, random.Random(i)) for i in range(clients)))
    ordered = sorted(latencies)
    p99 = ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))]
    return len(latencies) / SECONDS, statistics.median(ordered) * 1000, p99 * 1000


def serve(batching: bool) -> tuple[subprocess.Popen, int]:
    exe = shutil.which("storyteller")
    command = [exe] if exe else [sys.executable, "-m", "server"]
    process = subprocess.Popen(
        [*command, "serve", "--address", "127.0.0.1:0", "--story-model", "",
         "--set", f"batching.enabled={str(batching).lower()}", "--set", "narrative.database=:memory:",
         "--set", "narrative.graphs="],
        stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    port = 0
    for line in process.stderr:
        entry = json.loads(line)
        if entry["msg"] == "models loaded":
            # Keep reading the log (one line per call) so the server never blocks on a full pipe.
            threading.Thread(target=process.stderr.read, daemon=True).start()
            return process, port
        if entry["msg"] == "listening":
            port = entry["port"]
        if entry["msg"].startswith("models missing"):
            process.kill()
            raise SystemExit(f"the emotion bundle did not load: {entry}")
    raise SystemExit("server exited before loading its models")


def main() -> None:
    if not (SAMPLE_MODELS / "emotion" / "manifest.json").exists():
        print("no bundled emotion model in samples/models/emotion; nothing to measure")
        return
    rows = {}
    for batching in (False, True):
        process, port = serve(batching)
        try:
            for clients in CLIENTS:
                rows[(clients, batching)] = asyncio.run(measure(port, clients))
        finally:
            process.send_signal(signal.SIGTERM)
            process.wait(30)
    print(f"ClassifyEmotion, one text per request, {SECONDS:.0f} s per cell, loopback")
    print(f"{'clients':>8} | {'batching off: texts/s  p50 ms  p99 ms':>38} | {'batching on: texts/s  p50 ms  p99 ms':>37}")
    for clients in CLIENTS:
        off, on = rows[(clients, False)], rows[(clients, True)]
        print(f"{clients:>8} | {off[0]:>20.0f} {off[1]:>7.1f} {off[2]:>7.1f} | {on[0]:>19.0f} {on[1]:>7.1f} {on[2]:>7.1f}")


if __name__ == "__main__":
    main()
