"""Reading a model bundle: a folder with ONNX file(s), a tokenizer and manifest.json.

The server refuses a bundle it cannot trust with a message that says which file and
which field, before any client call depends on it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

MANIFEST = "manifest.json"


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
    labels: list[str] = Field(default_factory=list)
    control_tokens: ControlTokens = ControlTokens()
    max_context: int = 0


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
