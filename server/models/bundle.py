"""Reading a model bundle: a folder with ONNX file(s), a tokenizer and manifest.json.

The server refuses a bundle it cannot trust with a message that says which file and
which field, before any client call depends on it. The writer is export/manifest.py (export
may not import server); tests/export proves this reader accepts what that writer writes.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from narrative.chat_format import ChatFormat

MANIFEST = "manifest.json"
TOKENIZER = "tokenizer.json"


class BundleError(ValueError):
    """A bundle folder is missing, incomplete or inconsistent."""


class ControlTokens(BaseModel):
    model_config = ConfigDict(extra="forbid")
    styles: dict[str, str] = Field(default_factory=dict, description="style value -> special token")
    emotions: dict[str, str] = Field(default_factory=dict, description="emotion value -> special token")


class BundleManifest(BaseModel):
    # Later pipeline versions may add fields; an older server still reads what it knows.
    model_config = ConfigDict(extra="allow")
    name: str
    task: Literal["emotion", "generation"]
    quantization: str = "none"
    labels: list[str] = Field(default_factory=list, description="label names by class id (position = id)")
    thresholds: dict[str, float] = Field(default_factory=dict, description="label -> probability; absent: 0.5")
    multi_label: bool = False
    control_tokens: ControlTokens = ControlTokens()
    chat_format: dict[str, str] | None = Field(
        None, description="narrative.chat_format.ChatFormat of a chat model (NPC lines are written as a chat); None: prose prompts"
    )
    special_tokens: dict[str, int] = Field(default_factory=dict, description="pad/bos/eos_token_id")
    max_context: int = 0
    model_file: str = Field(description="the ONNX graph, relative to the bundle folder")
    inputs: list[str] = Field(description="the ONNX graph's input names, as the session must report them")
    outputs: list[str] = Field(description="the ONNX graph's output names")
    opset: int | None = None
    quantization_settings: dict[str, Any] | None = None
    graph_rewrites: dict[str, Any] | None = Field(
        None, description="what export rewrote in a decoder graph (fused attention, flattened linears); None: as exported"
    )
    files: dict[str, str] = Field(description="path relative to the bundle -> sha256 of every file but the manifest")
    tools: dict[str, str] = Field(default_factory=dict, description="package -> version that built the bundle")
    parity: dict[str, Any] = Field(default_factory=dict, description="ONNX vs torch figures measured at export")

    def chat(self) -> ChatFormat | None:
        """The chat layout NPC-line prompts are written in; None for a prose-only model."""
        if self.chat_format is None:
            return None
        try:
            return ChatFormat(**self.chat_format)
        except TypeError as exc:
            raise BundleError(f"manifest chat_format: {exc}") from None


def read_manifest(folder: Path) -> BundleManifest:
    if not folder.is_dir():
        raise BundleError(f"{folder}: model bundle folder not found")
    path = folder / MANIFEST
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise BundleError(f"{path}: missing; a bundle needs a manifest.json") from None
    except json.JSONDecodeError as exc:
        raise BundleError(f"{path}:{exc.lineno}:{exc.colno}: not valid JSON: {exc.msg}") from None
    try:
        return BundleManifest.model_validate(data)
    except ValidationError as exc:
        fields = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        raise BundleError(f"{path}: {fields}") from None


def _sha256(path: Path) -> str:
    with path.open("rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def verify_files(folder: Path, manifest: BundleManifest) -> None:
    """Every declared file present with its sha256; the model and tokenizer.json among them.

    Checked before onnxruntime opens anything, so a truncated copy or a swapped model file is
    reported as such rather than as an obscure graph error or, worse, served.
    """
    path = folder / MANIFEST
    for required, field in ((manifest.model_file, "model_file"), (TOKENIZER, "tokenizer")):
        if required not in manifest.files:
            raise BundleError(f"{path}: files: no entry for {required} ({field}); the bundle must declare it")
    for name, expected in manifest.files.items():
        file = folder / name
        if folder.resolve() not in file.resolve().parents:
            raise BundleError(f"{path}: files: {name!r} points outside the bundle folder")
        if not file.is_file():
            raise BundleError(f"{file}: missing (listed in {MANIFEST} files)")
        actual = _sha256(file)
        if actual != expected.lower():
            raise BundleError(f"{file}: sha256 mismatch: {MANIFEST} files says {expected}, the file has {actual}")
