"""The server as a process: start-up to SERVING, SIGTERM, and what it imports."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from tests.server.conftest import wait_serving


async def read_port(process: asyncio.subprocess.Process) -> int:
    """The port from the server's JSON "listening" log line (it was asked for port 0)."""
    while line := await asyncio.wait_for(process.stderr.readline(), 30):
        entry = json.loads(line)
        if entry["msg"] == "listening":
            return entry["port"]
    raise AssertionError("server exited before listening")


async def test_sigterm_turns_health_not_serving_then_exits_cleanly():
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "server", "serve", "--address", "127.0.0.1:0",
        "--emotion-model", "", "--story-model", "", "--grace-period", "5",
        "--set", "narrative.database=:memory:", "--set", "narrative.graphs=", "--set", "metrics.address=127.0.0.1:0",
        stderr=subprocess.PIPE,
    )
    try:
        port = await read_port(process)
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            assert await wait_serving(channel) == health_pb2.HealthCheckResponse.SERVING
            watch = health_pb2_grpc.HealthStub(channel).Watch(health_pb2.HealthCheckRequest(service=""))
            assert (await watch.read()).status == health_pb2.HealthCheckResponse.SERVING
            process.send_signal(signal.SIGTERM)
            assert (await asyncio.wait_for(watch.read(), 5)).status == health_pb2.HealthCheckResponse.NOT_SERVING
        # No application call is in flight, so shutdown does not wait out the grace period.
        assert await asyncio.wait_for(process.wait(), 4) == 0
        log = [json.loads(line) for line in (await process.stderr.read()).splitlines()]
        assert [e["msg"] for e in log][-2:] == ["shutting down", "stopped"]
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()


def test_importing_the_serving_path_never_imports_torch():
    code = (
        "import sys, server, server.app, server.cli, server.config, server.services.story\n"
        "from server.cli import build_parser; build_parser()\n"
        "heavy = sorted(m for m in ('torch', 'transformers', 'optimum') if m in sys.modules)\n"
        "assert not heavy, heavy\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "PYTHONSTARTUP"}
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, env=env)
    assert result.returncode == 0, result.stderr
