"""onnxruntime sessions for the server: device choice, explicit threads, declared I/O.

Threads come from the configuration (models.intra_op_threads / inter_op_threads), never "all
cores": several sessions and the gRPC event loop share the machine. CUDA is used when the
onnxruntime-gpu build and a GPU are both there; onnxruntime-gpu lists CUDA even without a GPU
and silently falls back to CPU, so the session's actual providers are what gets reported.
"""

from __future__ import annotations

import logging
from pathlib import Path

import onnxruntime as ort

from server.config import ModelSettings
from server.models.bundle import MANIFEST, BundleError, BundleManifest

log = logging.getLogger("storyteller.models")

CUDA = "CUDAExecutionProvider"
CPU = "CPUExecutionProvider"


def preferred_providers() -> list[str]:
    """CUDA first when this onnxruntime build has it; CPU always, as the fallback."""
    return [CUDA, CPU] if CUDA in ort.get_available_providers() else [CPU]


def session_options(settings: ModelSettings) -> ort.SessionOptions:
    options = ort.SessionOptions()
    options.intra_op_num_threads = settings.intra_op_threads
    options.inter_op_num_threads = settings.inter_op_threads
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    return options


def create_session(model: Path, settings: ModelSettings) -> ort.InferenceSession:
    wanted = preferred_providers()
    try:
        session = ort.InferenceSession(str(model), session_options(settings), providers=wanted)
    except Exception as exc:  # onnxruntime raises its own Fail/InvalidGraph/... types
        raise BundleError(f"{model}: onnxruntime cannot load it: {exc}") from exc
    actual = session.get_providers()
    if CUDA in wanted and CUDA not in actual:
        log.warning("CUDA provider requested but unavailable; running on CPU", extra={"model": str(model)})
    log.info("onnxruntime session", extra={"model": str(model), "providers": actual})
    return session


def check_io(session: ort.InferenceSession, manifest: BundleManifest, folder: Path) -> None:
    """The graph's input/output names must be exactly those the manifest declares."""
    actual = {
        "inputs": [i.name for i in session.get_inputs()],
        "outputs": [o.name for o in session.get_outputs()],
    }
    for field, names in actual.items():
        declared = getattr(manifest, field)
        if sorted(declared) != sorted(names):
            missing = sorted(set(declared) - set(names))
            extra = sorted(set(names) - set(declared))
            raise BundleError(
                f"{folder / MANIFEST}: {field}: declared {declared}, but {manifest.model_file} has {names}"
                f" (not in the model: {missing}; not declared: {extra})"
            )
