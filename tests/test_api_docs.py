"""docs/api.md is generated from the .proto comments: it must be current and complete."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from docs.generate_api import generate
from storyteller.v1 import common_pb2, narrative_pb2, story_pb2

ROOT = Path(__file__).resolve().parent.parent
FILES = (common_pb2, narrative_pb2, story_pb2)


def test_api_reference_is_up_to_date():
    result = subprocess.run(
        [sys.executable, "docs/generate_api.py", "--check"], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, (
        "docs/api.md does not match the .proto comments; regenerate it with "
        f"`python docs/generate_api.py` (or `make docs`) and commit it.\n{result.stderr}"
    )


def sections(text: str) -> dict[str, str]:
    """Each "### Name" heading's text, up to the next heading."""
    parts = text.split("\n### ")[1:]
    return {part.split("\n", 1)[0]: part.split("\n## ", 1)[0] for part in parts}


def test_every_rpc_message_and_enum_is_documented():
    documented = sections(generate())
    for file in FILES:
        for service in file.DESCRIPTOR.services_by_name.values():
            assert {f"| `{m.name}` |" for m in service.methods} <= set(_rows(documented[service.name])), service.name
        for message in file.DESCRIPTOR.message_types_by_name.values():
            assert {f"| `{f.name}` |" for f in message.fields} <= set(_rows(documented[message.name])), message.name
        for enum in file.DESCRIPTOR.enum_types_by_name.values():
            assert {f"| `{v.name}` |" for v in enum.values} <= set(_rows(documented[enum.name])), enum.name


def _rows(section: str) -> list[str]:
    """The first cell of each table row, as "| `name` |"."""
    return [line[: line.index("|", 1) + 1] for line in section.splitlines() if line.startswith("| `")]


def test_comments_reach_the_page_with_streaming_marked():
    text = generate()
    # A service comment, an RPC comment, a field comment and an enum value comment, as protoc reads them.
    assert "Plot graphs and playthrough sessions; see the file comment for status codes." in text
    stream = "| `GenerateStream` | [GenerateRequest](#generaterequest) → stream [GenerationChunk](#generationchunk) |"
    assert stream in text
    assert "| `top_k` | int32 | Keep only the k most likely tokens. 0 = off. |" in text
    assert "| `FINISH_REASON_LENGTH` | 1 | max_tokens reached. |" in text
