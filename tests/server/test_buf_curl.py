"""The README's `buf curl` calls work: a client with no stubs, through server reflection.

buf comes from npm (as in the README's `npx --yes @bufbuild/buf curl ...`), pinned and
installed once per test session into a temporary folder. It is a separate process, so
the in-process server keeps serving while the test awaits it without blocking the loop.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
from pathlib import Path

import pytest

from server.app import StorytellerServer
from tests.server.conftest import wait_serving

BUF_VERSION = "1.75.0"
TWO_DOORS = (Path(__file__).parent / "data" / "two_doors.yaml").read_text()


@pytest.fixture(scope="session")
def buf(tmp_path_factory) -> Path:
    missing = [tool for tool in ("node", "npm") if shutil.which(tool) is None]
    if missing:
        pytest.skip(f"buf curl needs Node.js: {' and '.join(missing)} not on PATH")
    prefix = tmp_path_factory.mktemp("buf")
    result = subprocess.run(
        ["npm", "install", "--prefix", str(prefix), "--no-audit", "--no-fund", "--loglevel=error",
         f"@bufbuild/buf@{BUF_VERSION}"],
        capture_output=True, text=True, timeout=300,
    )
    if result.returncode != 0:
        pytest.skip(f"npm could not install @bufbuild/buf@{BUF_VERSION} (no registry access?): {result.stderr[-500:]}")
    return prefix / "node_modules" / ".bin" / "buf"


async def buf_curl(
    buf: Path, server: StorytellerServer, *flags: str, method: str = "", body: str | None = None
) -> tuple[int, str, str]:
    """Runs `buf curl` as the README does, on `method` ("package.Service/Method") or on the
    server itself; returns its exit code, stdout and stderr."""
    url = f"http://127.0.0.1:{server.port}" + (f"/{method}" if method else "")
    process = await asyncio.create_subprocess_exec(
        str(buf), "curl", "--protocol", "grpc", "--http2-prior-knowledge", "--connect-timeout", "10",
        *flags, url, *(["-d", body] if body is not None else []),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    try:
        stdout, stderr = await asyncio.wait_for(process.communicate(), 60)
    except TimeoutError:
        process.kill()
        await process.wait()
        raise
    return process.returncode, stdout.decode(), stderr.decode()


@pytest.fixture
async def server(start_server, channel_to) -> StorytellerServer:
    server = await start_server()
    await wait_serving(channel_to(server), "storyteller.v1.NarrativeService")
    return server


async def test_list_methods_through_reflection(buf, server):
    code, out, err = await buf_curl(buf, server, "--list-methods")
    assert code == 0, err
    methods = set(out.split())
    assert {
        "storyteller.v1.NarrativeService/ValidateGraph",
        "storyteller.v1.NarrativeService/NpcLine",
        "storyteller.v1.StoryService/ClassifyEmotion",
        "grpc.health.v1.Health/Check",
    } <= methods


async def test_validate_graph_with_a_json_body(buf, server):
    validate = "storyteller.v1.NarrativeService/ValidateGraph"
    body = json.dumps({"source": TWO_DOORS, "filename": "two_doors.yaml"})
    code, out, err = await buf_curl(buf, server, method=validate, body=body)
    assert code == 0, err
    assert json.loads(out)["ok"] is True

    body = json.dumps({"source": "story: {id: x}\n", "filename": "x.yaml"})
    code, out, err = await buf_curl(buf, server, method=validate, body=body)
    assert code == 0, err
    reply = json.loads(out)
    assert "ok" not in reply  # proto3 JSON leaves out false
    first = reply["diagnostics"][0]
    assert (first["code"], first["severity"], first["file"], first["line"]) == ("E003", "SEVERITY_ERROR", "x.yaml", 1)


async def test_an_error_status_reaches_buf_as_json(buf, server):
    code, out, err = await buf_curl(
        buf, server, method="storyteller.v1.NarrativeService/GetSession", body='{"session_id": "no-such-session"}'
    )
    assert code != 0, out
    # buf writes the status to stderr, in the Connect protocol's JSON error shape.
    assert json.loads(err) == {"code": "not_found", "message": "session 'no-such-session' not found"}
