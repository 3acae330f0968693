"""onnxruntime sessions for offline checks, with explicit thread counts.

The server has its own (server/models/runtime.py): export may not import server. This one only
needs to be reproducible, so threads are explicit and the device is checked, not assumed.
"""

from __future__ import annotations

from pathlib import Path

import onnxruntime as ort

from export.errors import ExportError
from export.onnx_export import Device

CUDA = "CUDAExecutionProvider"
CPU = "CPUExecutionProvider"


def open_session(path: Path, device: Device = "cpu", threads: int = 2) -> ort.InferenceSession:
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.log_severity_level = 3  # the int8 graphs log harmless shape-inference warnings
    providers = [CUDA, CPU] if device == "cuda" else [CPU]
    try:
        session = ort.InferenceSession(str(path), options, providers=providers)
    except Exception as exc:  # onnxruntime raises its own Fail/InvalidGraph types
        raise ExportError(f"{path}: onnxruntime cannot load it: {exc}") from exc
    # onnxruntime-gpu lists CUDA even without a GPU and silently falls back to CPU.
    if device == "cuda" and CUDA not in session.get_providers():
        raise ExportError(f"{path}: --device cuda, but onnxruntime runs it on {session.get_providers()} (no GPU?)")
    return session
