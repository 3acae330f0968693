"""The playthrough samples play a sample quest to an ending against a real server.

samples/clients/python/playthrough.py and samples/clients/node/playthrough.js run as separate
processes (the in-process server keeps serving while the test awaits them) and print a JSON summary
as their last line. The Node client is installed once per test session with `npm ci` from its
package.json and package-lock.json into a temporary folder, and finds it there through NODE_PATH, so
the working tree gets no node_modules. Only a machine without node or npm skips the Node tests.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from narrative.loader import load_graph
from server.app import StorytellerServer
from tests.server.conftest import make_settings, wait_serving

ROOT = Path(__file__).resolve().parents[2]
GRAPHS = ROOT / "samples" / "graphs"
PYTHON_CLIENT = ROOT / "samples" / "clients" / "python" / "playthrough.py"
NODE_CLIENT = ROOT / "samples" / "clients" / "node"
TOKEN = "play-t0ken"


@pytest.fixture(scope="session")
def node_modules(tmp_path_factory) -> Path:
    missing = [tool for tool in ("node", "npm") if shutil.which(tool) is None]
    if missing:
        pytest.skip(f"the Node client needs Node.js: {' and '.join(missing)} not on PATH")
    folder = tmp_path_factory.mktemp("node-client")
    for name in ("package.json", "package-lock.json"):
        shutil.copy(NODE_CLIENT / name, folder / name)
    result = subprocess.run(
        ["npm", "ci", "--no-audit", "--no-fund", "--loglevel=error"],
        cwd=folder, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, f"npm ci failed: {result.stderr[-2000:]}"
    return folder / "node_modules"


async def play(command: list[str], env: dict[str, str] | None = None) -> dict:
    """Runs a playthrough client to its end; returns its JSON summary (last line of its output)."""
    process = await asyncio.create_subprocess_exec(
        *command, cwd=ROOT, env={**os.environ, "PYTHONIOENCODING": "utf-8", **(env or {})},
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    try:
        stdout, stderr = await asyncio.wait_for(process.communicate(), 60)
    except TimeoutError:
        process.kill()
        await process.wait()
        raise
    out, err = stdout.decode(errors="replace"), stderr.decode(errors="replace")
    assert process.returncode == 0, f"exit code {process.returncode}\n{out[-3000:]}\n{err[-3000:]}"
    return json.loads(out.strip().splitlines()[-1])


def python_client(server: StorytellerServer, graph: str, seed: int, *extra: str) -> list[str]:
    address = f"127.0.0.1:{server.port}"
    return [sys.executable, str(PYTHON_CLIENT), "--address", address, "--graph", graph, "--seed", str(seed), *extra]


def node_client(server: StorytellerServer, graph: str, seed: int, *extra: str) -> list[str]:
    address = f"127.0.0.1:{server.port}"
    return ["node", str(NODE_CLIENT / "playthrough.js"), "--address", address, "--graph", graph, "--seed", str(seed),
            *extra]  # fmt: skip


def assert_ended(graph: str, summary: dict) -> None:
    endings = {beat.id for beat in load_graph(GRAPHS / f"{graph}.yaml").beats if beat.ending}
    assert summary["ending"] in endings, summary


@pytest.fixture
async def storyteller(start_server, channel_to, tiny_story_bundle, tiny_emotion_bundle) -> StorytellerServer:
    settings = make_settings(
        models__story=str(tiny_story_bundle), models__emotion=str(tiny_emotion_bundle), models__intra_op_threads=1,
        narrative__graphs=str(GRAPHS),
    )  # fmt: skip
    server = await start_server(settings)
    await wait_serving(channel_to(server))
    return server


@pytest.fixture
async def no_story_model(start_server, channel_to) -> StorytellerServer:
    """No models at all, and bearer tokens required."""
    server = await start_server(make_settings(narrative__graphs=str(GRAPHS), auth__tokens=TOKEN))
    await wait_serving(channel_to(server), "storyteller.v1.NarrativeService")
    return server


async def test_python_client_plays_to_an_ending_with_prose_and_npc_lines(storyteller):
    summary = await play(python_client(storyteller, "lighthouse_mystery", 7))
    assert_ended("lighthouse_mystery", summary)
    assert summary["prose"] is True and summary["lines"] >= 1 and summary["steps"] >= 1


async def test_node_client_plays_to_an_ending_and_cancels_a_stream(storyteller, node_modules):
    summary = await play(node_client(storyteller, "lighthouse_mystery", 7), env={"NODE_PATH": str(node_modules)})
    assert_ended("lighthouse_mystery", summary)
    assert summary["prose"] is True and summary["narrations"] >= 1 and summary["lines"] >= 1
    assert summary["cancelled"] is True  # the long narration came back CANCELLED after its first chunk


@pytest.mark.parametrize("graph", ["brambleford_fairy_tale", "orbital_station_scifi"])
async def test_both_clients_play_on_without_a_story_model(no_story_model, node_modules, graph):
    summary = await play(python_client(no_story_model, graph, 3, "--token", TOKEN))
    assert_ended(graph, summary)
    assert summary["prose"] is False and summary["lines"] == 0

    summary = await play(node_client(no_story_model, graph, 3, "--token", TOKEN), env={"NODE_PATH": str(node_modules)})
    assert_ended(graph, summary)
    assert summary["prose"] is False and summary["cancelled"] is False
