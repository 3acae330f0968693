"""Step 2: dynamic int8 quantization of the fp32 ONNX model, for CPUs.

Weights are int8 per output channel (per-tensor costs MiniLM 0.993 -> 0.967 cosine to fp32 at
the same speed); activations are quantized at run time, so no calibration data is needed. The
optimum preset matches the instructions of the CPU that exports, which is meant to be the kind
that serves: VNNI has int8 dot products, plain AVX2/AVX-512 need reduce_range-safe defaults.
"""

from __future__ import annotations

import platform
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

from export.errors import ExportError
from export.onnx_export import MODEL_FILE, OnnxModel, describe

Preset = Literal["avx2", "avx512", "avx512_vnni", "arm64"]


@dataclass(frozen=True)
class QuantizationSettings:
    """What the manifest records about how the int8 model was made."""

    preset: Preset
    method: str = "dynamic"
    per_channel: bool = True
    weights: str = "QInt8"
    activations: str = "QUInt8"
    reduce_range: bool = False
    operators: list[str] = field(default_factory=list)

    def as_manifest(self) -> dict[str, Any]:
        return asdict(self)


def cpu_flags() -> set[str]:
    """Instruction-set flags of this CPU (Linux /proc/cpuinfo); empty where that file does not exist."""
    try:
        text = Path("/proc/cpuinfo").read_text(encoding="utf-8")
    except OSError:
        return set()
    for line in text.splitlines():
        if line.startswith(("flags", "Features")):
            return set(line.partition(":")[2].split())
    return set()


def detect_preset(flags: set[str] | None = None, machine: str | None = None) -> Preset:
    """The optimum preset for this CPU; AVX2 when nothing better is known (every x86-64 server has it)."""
    machine = (machine or platform.machine()).lower()
    if machine in ("arm64", "aarch64"):
        return "arm64"
    flags = cpu_flags() if flags is None else flags
    if "avx512_vnni" in flags or "avx512vnni" in flags:
        return "avx512_vnni"
    if "avx512f" in flags:
        return "avx512"
    return "avx2"


def quantize_int8(model: OnnxModel, out_dir: Path, preset: Preset) -> tuple[OnnxModel, QuantizationSettings]:
    """Writes out_dir/model.onnx, the int8 twin of `model`."""
    from optimum.onnxruntime import ORTQuantizer
    from optimum.onnxruntime.configuration import AutoQuantizationConfig

    config = getattr(AutoQuantizationConfig, preset)(is_static=False, per_channel=True)
    try:
        quantizer = ORTQuantizer.from_pretrained(model.path.parent, file_name=model.path.name)
        quantizer.quantize(
            config, save_dir=out_dir, file_suffix=None, use_external_data_format=model.size_bytes >= 2**31
        )
    except Exception as exc:  # onnxruntime.quantization raises bare Exceptions for unsupported graphs
        raise ExportError(f"{model.path}: int8 quantization ({preset}) failed: {exc}") from exc
    settings = QuantizationSettings(
        preset=preset,
        per_channel=config.per_channel,
        weights=config.weights_dtype.name,
        activations=config.activations_dtype.name,
        reduce_range=config.reduce_range,
        operators=list(config.operators_to_quantize),
    )
    return describe(out_dir / MODEL_FILE), settings
