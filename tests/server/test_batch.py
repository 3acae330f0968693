"""`storyteller batch`: stable ids, determinism, resume after a kill, bad rows, and every backend
(in-process, through a server, on a local Ray) writing the same file."""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from server.batch.output import OutputFile
from server.cli import main
from tests.server.conftest import make_settings, wait_serving

LIGHTHOUSE = Path(__file__).resolve().parents[2] / "samples" / "graphs" / "lighthouse_mystery.yaml"
# The tiny test model's toy tokenizer spends a token on every 1-2 characters: short scenes.
FAST = ["--max-tokens", "12", "--candidates", "2", "--prompt-chars", "90", "--no-progress"]


@pytest.fixture
def models(tiny_story_bundle, tiny_emotion_bundle) -> list[str]:
    return ["--bundle", str(tiny_story_bundle), "--emotion-model", str(tiny_emotion_bundle)]


def batch(*args: str) -> int:
    return main(["batch", *args])


def records(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_graph_lines_have_stable_ids_and_runs_are_byte_identical(models, tmp_path):
    first, second = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    assert batch("--graph", str(LIGHTHOUSE), "--intents", "greet,warn", "--out", str(first), *models, *FAST) == 0
    assert batch("--graph", str(LIGHTHOUSE), "--intents", "greet,warn", "--out", str(second), *models, *FAST) == 0
    assert first.read_bytes() == second.read_bytes()
    lines = records(first)
    ids = [r["id"] for r in lines]
    assert ids[:4] == [
        "lighthouse_mystery.arrival.constable.greet.0",
        "lighthouse_mystery.arrival.constable.warn.0",
        "lighthouse_mystery.village_inn.smuggler.greet.0",
        "lighthouse_mystery.village_inn.smuggler.warn.0",
    ]
    assert len(ids) == len(set(ids)) and all(r["speaker"] and r["seed"] for r in lines)
    other = tmp_path / "c.jsonl"
    assert batch("--graph", str(LIGHTHOUSE), "--intents", "greet,warn", "--out", str(other), "--seed", "2", *models, *FAST) == 0
    assert [r["id"] for r in records(other)] == ids and records(other) != lines  # new seed, same ids


def test_resume_after_a_killed_run_gives_the_uninterrupted_file(models, tmp_path):
    whole, killed = tmp_path / "whole.jsonl", tmp_path / "killed.jsonl"
    args = ["--graph", str(LIGHTHOUSE), "--intents", "greet,inform,warn", *models, "--max-tokens", "40", "--prompt-chars", "90", "--no-progress"]
    assert batch(*args, "--out", str(whole)) == 0
    process = subprocess.Popen(
        [sys.executable, "-m", "server", "batch", *args, "--out", str(killed)],
        env={**os.environ, "OMP_NUM_THREADS": "1"}, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and (not killed.exists() or killed.read_text().count("\n") < 3):
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.wait()
    partial = killed.read_bytes()
    assert 3 <= partial.count(b"\n") < whole.read_bytes().count(b"\n")
    assert whole.read_bytes().startswith(partial)  # written in order, whole lines only
    with killed.open("ab") as torn:  # a crash in the middle of a write
        torn.write(b'{"id": "lighthouse_mystery.arr')
    assert batch(*args, "--out", str(killed)) == 0
    assert killed.read_bytes() == whole.read_bytes()


def test_bad_rows_are_reported_by_row_and_skipped_or_refused(models, tmp_path, capsys):
    rows = tmp_path / "lines.csv"
    rows.write_text(
        "key,character,situation,intent,emotion,variants\n"
        "smith_1,Brom,The forge is cold.,refuse,anger,2\n"
        "bad_intent,Brom,Hello.,dance,,1\n"
        ",,No speaker here.,greet,,1\n"
        "ferry,Old Wen,The ferry is late.,warn,fear,1\n"
        "bad_variants,Wen,Hi.,greet,,zero\n"
    )
    out = tmp_path / "out.jsonl"
    assert batch("--lines", str(rows), "--out", str(out), "--bad-rows", "refuse", *models, *FAST) == 2
    assert not out.exists()  # refused: nothing written
    errors = capsys.readouterr().err
    assert "row 3: intent: 'dance'" in errors and "row 4: character: required" in errors and "row 6: variants" in errors
    assert batch("--lines", str(rows), "--out", str(out), *models, *FAST) == 0
    assert [r["id"] for r in records(out)] == ["smith_1.0", "smith_1.1", "ferry.0"]
    assert [r["source_row"] for r in records(out)] == [2, 2, 5]


def test_csv_output_imports_as_key_source_comment(models, tmp_path):
    rows = tmp_path / "lines.jsonl"
    rows.write_text(json.dumps({"key": "inn_hello", "character": "Silas", "situation": "Rain at the inn.", "intent": "greet", "emotion": "joy"}) + "\n")
    out = tmp_path / "table.csv"
    assert batch("--lines", str(rows), "--out", str(out), *models, *FAST) == 0
    [header, row] = list(csv.reader(out.open()))
    assert header == ["Key", "SourceString", "Comment"]
    assert row[0] == "inn_hello.0" and "speaker: Silas" in row[2] and "emotion: joy (reads as" in row[2]
    assert OutputFile(out, "csv").done == {"inn_hello.0"}  # a CSV resumes too


async def in_process_and_through_a_server(start_server, story: Path, emotion: Path, out: Path) -> tuple[bytes, bytes]:
    """The same batch written in-process and through a server on the same bundles."""
    import asyncio

    import grpc

    local, remote = out / "local.jsonl", out / "remote.jsonl"
    args = ["--graph", str(LIGHTHOUSE), "--intents", "greet", *FAST]
    server = await start_server(make_settings(models__story=str(story), models__emotion=str(emotion)))
    async with grpc.aio.insecure_channel(f"127.0.0.1:{server.port}") as channel:
        await wait_serving(channel)
    # The CLI runs its own event loop: call it from a thread, the server keeps this one.
    models = ["--bundle", str(story), "--emotion-model", str(emotion)]
    assert await asyncio.to_thread(batch, *args, *models, "--out", str(local)) == 0
    # One line at a time: the server's emotion batcher would otherwise mix two lines' candidates in one run.
    code = await asyncio.to_thread(batch, *args, "--server", f"127.0.0.1:{server.port}", "--out", str(remote))
    assert code == 0
    return local.read_bytes(), remote.read_bytes()


async def test_through_a_server_the_file_is_the_same(tmp_path, start_server, tiny_story_bundle, tiny_emotion_bundle):
    local, remote = await in_process_and_through_a_server(start_server, tiny_story_bundle, tiny_emotion_bundle, tmp_path)
    assert remote == local


@pytest.mark.timeout(240)
def test_on_a_local_ray_the_file_is_the_same(models, tmp_path):
    pytest.importorskip("ray")
    rows = tmp_path / "lines.csv"
    rows.write_text("key,character,situation,intent\n" + "".join(f"k{i},Brom,Line {i}.,greet\n" for i in range(4)))
    local, on_ray = tmp_path / "local.jsonl", tmp_path / "ray.jsonl"
    assert batch("--lines", str(rows), "--out", str(local), *models, *FAST) == 0
    assert batch("--lines", str(rows), "--out", str(on_ray), "--ray", "local", "--workers", "2", *models, *FAST) == 0
    assert on_ray.read_bytes() == local.read_bytes()


async def test_a_chat_model_gets_briefs_locally_and_through_a_server_alike(
    tmp_path, start_server, tiny_chat_story_bundle, tiny_emotion_bundle
):
    from server.batch.sources import file_requests, graph_requests
    from server.models.bundle import read_manifest

    chat = read_manifest(tiny_chat_story_bundle).chat()
    assert chat is not None
    [first, *_] = graph_requests(LIGHTHOUSE, ("warn",), chat=chat).requests
    assert first.prompt.text.startswith(chat.system_prefix) and "Intent: warn" in first.prompt.text
    rows = tmp_path / "rows.csv"
    rows.write_text("key,character,listener,situation,intent\ninn,Maren,Tobias,The inn is on fire.,warn\n")
    [row], _ = file_requests(rows, chat=chat)
    assert row.prompt.text.endswith(chat.user_to_assistant) and "Scene: The inn is on fire." in row.prompt.text

    local, remote = await in_process_and_through_a_server(
        start_server, tiny_chat_story_bundle, tiny_emotion_bundle, tmp_path
    )
    assert remote == local
