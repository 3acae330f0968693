"""Time from `storyteller serve` to health SERVING, and the server's resident memory.

Spawns the real command on 127.0.0.1 with an ephemeral port, polls grpc.health.v1
Check("") until SERVING, reads the process RSS (psutil), sends SIGTERM, repeats.
Configurations: no models, and the bundled default models when samples/models has them.
"""

from __future__ import annotations

import json
import shutil
import signal
import statistics
import subprocess
import sys
import time

import grpc
import psutil
from grpc_health.v1 import health_pb2, health_pb2_grpc

from server.config import SAMPLE_MODELS

RUNS = 5


def command() -> list[str]:
    exe = shutil.which("storyteller")
    return [exe] if exe else [sys.executable, "-m", "server"]


def one_run(model_args: list[str]) -> tuple[float, float, float]:
    """(seconds to listening, seconds to SERVING, RSS MiB once SERVING)."""
    started = time.perf_counter()
    process = subprocess.Popen(
        [*command(), "serve", "--address", "127.0.0.1:0", *model_args], stderr=subprocess.PIPE, text=True
    )
    try:
        port = None
        for line in process.stderr:
            entry = json.loads(line)
            if entry["msg"] == "listening":
                port, listening = entry["port"], time.perf_counter() - started
                break
        if port is None:
            raise RuntimeError("server exited before listening")
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            health = health_pb2_grpc.HealthStub(channel)
            while health.Check(health_pb2.HealthCheckRequest(service=""), timeout=5).status != 1:
                if time.perf_counter() - started > 120:
                    raise RuntimeError("not SERVING after 120 s")
                time.sleep(0.005)
        serving = time.perf_counter() - started
        rss = psutil.Process(process.pid).memory_info().rss / 2**20
        return listening, serving, rss
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(30)


def main() -> None:
    configs = {"sample graphs, no models": ["--emotion-model", "", "--story-model", ""]}
    present = [m for m in ("emotion", "story") if (SAMPLE_MODELS / m / "manifest.json").exists()]
    if present:
        configs[f"sample graphs + bundles ({', '.join(present)})"] = [
            arg for m in ("emotion", "story") for arg in ((f"--{m}-model", "") if m not in present else ())
        ]
    print(f"{'configuration':<34} {'to listening':>13} {'to SERVING':>11} {'RSS':>9}   ({RUNS} runs, median)")
    for name, args in configs.items():
        runs = [one_run(args) for _ in range(RUNS)]
        listening, serving, rss = (statistics.median(col) for col in zip(*runs))
        print(f"{name:<34} {listening * 1000:>10.0f} ms {serving * 1000:>8.0f} ms {rss:>6.1f} MiB")


if __name__ == "__main__":
    main()
