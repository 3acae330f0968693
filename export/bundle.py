"""Step 4: assemble a bundle folder - model, tokenizer, configs, manifest with sha256s.

The bundle is built in a hidden sibling folder and renamed into place at the end, so a failed
or interrupted export never leaves a half-written bundle where the server would look for one.
"""

from __future__ import annotations

import dataclasses
import hashlib
import secrets
import shutil
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import TYPE_CHECKING

from export.errors import ExportError
from export.manifest import MANIFEST, Manifest
from export.onnx_export import OnnxModel

if TYPE_CHECKING:
    from transformers import PretrainedConfig, PreTrainedTokenizerFast

TOOLS = ("storyteller", "torch", "transformers", "optimum", "optimum-onnx", "onnx", "onnxruntime", "tokenizers")
TOKENIZER = "tokenizer.json"


def check_out_dir(out: Path) -> None:
    """Refuses to mix a new bundle into an existing folder's files."""
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise ExportError(f"--out {out}: exists and is not an empty folder; choose a new folder")


def new_staging(out: Path) -> Path:
    """A hidden sibling of `out` (same file system, so the final rename is atomic)."""
    staging = out.parent / f".{out.name}.{secrets.token_hex(4)}.partial"
    staging.mkdir(parents=True)
    return staging


def stage_files(
    staging: Path, model: OnnxModel, tokenizer: PreTrainedTokenizerFast, config: PretrainedConfig, model_dir: Path
) -> None:
    """Copies the served ONNX file(s) and writes what running them needs: tokenizer and configs."""
    for file in model.files:
        shutil.copy2(file, staging / file.name)
    tokenizer.save_pretrained(staging)
    config.save_pretrained(staging)
    generation_config = model_dir / "generation_config.json"
    if generation_config.is_file():
        shutil.copy2(generation_config, staging / generation_config.name)
    if not (staging / TOKENIZER).is_file():
        raise ExportError(f"--model {model_dir}: saving the tokenizer wrote no {TOKENIZER}")
    _without_fixed_shapes(staging / TOKENIZER)


def _without_fixed_shapes(path: Path) -> None:
    """Drops padding and truncation saved in tokenizer.json (sentence-transformers saves pad-to-128).

    The server pads each batch to its longest text and truncates to the manifest's max_context;
    a tokenizer that pads every text to a fixed length would waste most of each run.
    """
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(path))
    if tokenizer.padding is not None or tokenizer.truncation is not None:
        tokenizer.no_padding()
        tokenizer.no_truncation()
        tokenizer.save(str(path))


def sha256(path: Path) -> str:
    with path.open("rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def file_hashes(folder: Path) -> dict[str, str]:
    """sha256 of every file in the bundle but the manifest, by path relative to the folder."""
    return {
        p.relative_to(folder).as_posix(): sha256(p)
        for p in sorted(folder.rglob("*"))
        if p.is_file() and p.name != MANIFEST
    }


def tool_versions() -> dict[str, str]:
    found = {}
    for name in TOOLS:
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            continue
    return found


def finish(staging: Path, manifest: Manifest, out: Path) -> Manifest:
    """Hashes the staged files, writes manifest.json, moves the bundle to `out`; returns what it wrote."""
    manifest = dataclasses.replace(manifest, files=file_hashes(staging), tools=tool_versions())
    manifest.write(staging)
    if out.exists():
        out.rmdir()  # check_out_dir made sure it is empty
    staging.rename(out)
    return manifest
