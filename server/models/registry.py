"""The model bundles this server was configured with, loaded once at start-up.

Loading runs in a worker thread so the server answers health checks (NOT_SERVING for
the services still waiting) while large models load. A bundle is loaded only when it is
whole: manifest valid, every file's sha256 right, the ONNX graph's inputs and outputs as
declared; otherwise its role records why and the service that needs it stays NOT_SERVING.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from pathlib import Path

import onnxruntime as ort
from tokenizers import Tokenizer

from server.config import ModelSettings
from server.models.bundle import TOKENIZER, BundleError, BundleManifest, read_manifest, verify_files
from server.models.runtime import check_io, create_session

log = logging.getLogger("storyteller.models")


@dataclass(frozen=True)
class LoadedBundle:
    role: str  # "emotion" or "story": the configuration key it was loaded for
    path: Path
    manifest: BundleManifest
    session: ort.InferenceSession
    tokenizer: Tokenizer


def load_bundle(role: str, path: Path, expected_task: str, settings: ModelSettings) -> LoadedBundle:
    """Checks the bundle from the cheapest test to the most expensive; raises BundleError."""
    manifest = read_manifest(path)
    if manifest.task != expected_task:
        raise BundleError(f"{path}: task is {manifest.task!r}, but models.{role} needs {expected_task!r}")
    verify_files(path, manifest)
    try:
        tokenizer = Tokenizer.from_file(str(path / TOKENIZER))
    except Exception as exc:  # tokenizers raises a bare Exception for a malformed file
        raise BundleError(f"{path / TOKENIZER}: not a tokenizers file: {exc}") from exc
    session = create_session(path / manifest.model_file, settings)
    check_io(session, manifest, path)
    return LoadedBundle(role, path, manifest, session, tokenizer)


@dataclass
class ModelRegistry:
    bundles: dict[str, LoadedBundle] = field(default_factory=dict)
    failures: dict[str, str] = field(default_factory=dict)

    @property
    def complete(self) -> bool:
        """Every configured bundle loaded."""
        return not self.failures

    def _load_one(self, role: str, path: Path, expected_task: str, settings: ModelSettings) -> None:
        try:
            bundle = load_bundle(role, path, expected_task, settings)
        except BundleError as exc:
            self.failures[role] = str(exc)
            log.error("model bundle not loaded: %s", exc, extra={"role": role})
            return
        self.bundles[role] = bundle
        log.info("model bundle loaded", extra={"role": role, "bundle": bundle.manifest.name, "path": str(path)})

    def load(self, settings: ModelSettings) -> None:
        for role, path, task in (("emotion", settings.emotion, "emotion"), ("story", settings.story, "generation")):
            if path is not None:
                self._load_one(role, path, task, settings)

    async def load_async(self, settings: ModelSettings) -> None:
        await asyncio.to_thread(self.load, settings)
