"""The manifest.json that export writes into a bundle.

export may not import server, so this is the writer's side; server/models/bundle.py is the
reader's, and tests/export proves that the server reads what this writes. Labels are listed by
class id (position = id); `files` holds the sha256 of every other file in the bundle.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from export.model_info import ControlTokens
from export.tasks import Task

MANIFEST = "manifest.json"
FORMAT_VERSION = 1


@dataclass(frozen=True)
class Manifest:
    name: str
    task: Task
    model_file: str
    inputs: list[str]
    outputs: list[str]
    opset: int
    quantization: str  # "int8", "fp16" or "none"
    max_context: int
    quantization_settings: dict[str, Any] | None = None
    graph_rewrites: dict[str, Any] | None = None  # export.decoder_rewrites.RewriteReport; None: graph as exported
    labels: list[str] = field(default_factory=list)
    thresholds: dict[str, float] = field(default_factory=dict)  # label -> probability; absent: 0.5
    multi_label: bool = False
    control_tokens: ControlTokens = field(default_factory=ControlTokens)
    chat_format: dict[str, str] | None = None  # narrative.chat_format.ChatFormat; None: no chat template
    special_tokens: dict[str, int] = field(default_factory=dict)
    source: dict[str, str] = field(default_factory=dict)
    parity: dict[str, Any] = field(default_factory=dict)
    tools: dict[str, str] = field(default_factory=dict)
    files: dict[str, str] = field(default_factory=dict)
    format_version: int = FORMAT_VERSION

    def write(self, folder: Path) -> Path:
        path = folder / MANIFEST
        path.write_text(json.dumps(asdict(self), indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        return path
