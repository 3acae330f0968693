"""The model bundles this server was configured with, loaded once at start-up.

Loading runs in a worker thread so the server answers health checks (NOT_SERVING for
the services still waiting) while large models load.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from pathlib import Path

from server.config import ModelSettings
from server.models.bundle import BundleError, BundleManifest, read_manifest

log = logging.getLogger("storyteller.models")


@dataclass(frozen=True)
class LoadedBundle:
    role: str  # "emotion" or "story": the configuration key it was loaded for
    path: Path
    manifest: BundleManifest


@dataclass
class ModelRegistry:
    bundles: dict[str, LoadedBundle] = field(default_factory=dict)
    failures: dict[str, str] = field(default_factory=dict)

    @property
    def complete(self) -> bool:
        """Every configured bundle loaded."""
        return not self.failures

    def _load_one(self, role: str, path: Path, expected_task: str) -> None:
        try:
            manifest = read_manifest(path)
            if manifest.task != expected_task:
                raise BundleError(f"{path}: task is {manifest.task!r}, but models.{role} needs {expected_task!r}")
        except BundleError as exc:
            self.failures[role] = str(exc)
            log.error("model bundle not loaded: %s", exc, extra={"role": role})
            return
        self.bundles[role] = LoadedBundle(role, path, manifest)
        log.info("model bundle loaded", extra={"role": role, "bundle": manifest.name, "path": str(path)})

    def load(self, settings: ModelSettings) -> None:
        for role, path, task in (("emotion", settings.emotion, "emotion"), ("story", settings.story, "generation")):
            if path is not None:
                self._load_one(role, path, task)

    async def load_async(self, settings: ModelSettings) -> None:
        await asyncio.to_thread(self.load, settings)
