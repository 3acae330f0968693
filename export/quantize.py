"""Step 2: quantize the fp32 ONNX model by its family's preset (export.quant_presets).

Invariant: only MatMuls whose weight is a constant are quantized. A MatMul of two run-time
tensors (attention scores, attention x V) stays float in every scheme: `activation_matmuls`
names them and the dynamic quantizer is told to leave them alone, and MatMulNBits only takes
constant weights.

Two methods:
- weight-only (decoders): every constant-weight MatMul but the LM head becomes a block-wise
  MatMulNBits; the LM head and the token embedding then get the preset's own treatment
  (export.tied_weights), because the vocabulary-sized pair is both the largest tensor and the
  most sensitive one.
- dynamic int8 (encoders): optimum's ORTQuantizer, per channel, with the optimum CPU preset
  that matches the exporting CPU (VNNI has int8 dot products; plain AVX2/AVX-512 need
  reduce_range-safe defaults). Activations are quantized at run time: no calibration data.
"""

from __future__ import annotations

import logging
import platform
import re
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from export.errors import ExportError
from export.onnx_export import MODEL_FILE, OnnxModel, describe
from export.quant_presets import BlockWise, DynamicInt8, QuantPreset
from export.tied_weights import TiedReport, quantize_tied

if TYPE_CHECKING:
    import onnx

CpuPreset = Literal["avx2", "avx512", "avx512_vnni", "arm64"]
# Node types that carry quantized weights, counted into the manifest.
# onnxruntime's integer-ops registry: what dynamic int8 can quantize.
DYNAMIC_OPS = ("Conv", "MatMul", "Attention", "LSTM", "Gather", "Transpose", "EmbedLayerNormalization")
LAYER_INDEX = re.compile(r"/(?:layers|h)\.(\d+)/")
QUANTIZED_OPS = ("MatMulNBits", "GatherBlockQuantized", "MatMulInteger", "DynamicQuantizeLinear", "DequantizeLinear")


@dataclass(frozen=True)
class QuantizationSettings:
    """What the manifest records about how the quantized model was made."""

    preset: dict[str, Any]  # QuantPreset.as_manifest()
    cpu: CpuPreset | None = None  # the optimum preset of the dynamic int8 path
    nodes: dict[str, int] = field(default_factory=dict)  # quantized op type -> count, and "float_matmuls"
    activation_matmuls: int = 0  # MatMuls of two run-time tensors, left float on purpose
    tied: dict[str, Any] | None = None  # export.tied_weights.TiedReport

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


def detect_preset(flags: set[str] | None = None, machine: str | None = None) -> CpuPreset:
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


def constant_names(graph: onnx.GraphProto) -> set[str]:
    """Initializers and Constant outputs: the tensors that are weights, not activations."""
    return {i.name for i in graph.initializer} | {
        out for node in graph.node if node.op_type == "Constant" for out in node.output
    }


def activation_matmuls(graph: onnx.GraphProto) -> list[str]:
    """MatMul/Gemm nodes whose operands are both computed at run time (nor a Transpose of a weight)."""
    constants = constant_names(graph)
    transposed = {n.output[0] for n in graph.node if n.op_type == "Transpose" and n.input[0] in constants}
    return [
        n.name
        for n in graph.node
        if n.op_type in ("MatMul", "Gemm") and not any(i in constants or i in transposed for i in n.input[:2])
    ]


def node_counts(graph: onnx.GraphProto) -> dict[str, int]:
    """Quantized nodes by type (MatMulNBits also by bits: "MatMulNBits/4"), and the float MatMuls left."""
    from onnx import helper

    counts = Counter(n.op_type for n in graph.node)
    counts.update(
        f"{n.op_type}/{helper.get_attribute_value(a)}"
        for n in graph.node
        if n.op_type in ("MatMulNBits", "GatherBlockQuantized")
        for a in n.attribute
        if a.name == "bits"
    )
    found = {op: count for op, count in sorted(counts.items()) if op.split("/")[0] in QUANTIZED_OPS}
    found["float_matmuls"] = counts["MatMul"] + counts["Gemm"]
    return found


def quantize(
    model: OnnxModel, out_dir: Path, preset: QuantPreset, cpu: CpuPreset | None = None
) -> tuple[OnnxModel, QuantizationSettings]:
    """Writes out_dir/model.onnx, the quantized twin of `model`, and says what was done."""
    if isinstance(preset.linear, DynamicInt8):
        return _dynamic_int8(model, out_dir, preset, preset.linear, cpu or detect_preset())
    return _weight_only(model, out_dir, preset, preset.linear)


def _weight_only(
    model: OnnxModel, out_dir: Path, preset: QuantPreset, linear: BlockWise
) -> tuple[OnnxModel, QuantizationSettings]:
    import onnx
    from onnxruntime.quantization.matmul_nbits_quantizer import KQuantWeightOnlyQuantConfig, MatMulNBitsQuantizer

    if len(model.files) > 1:
        raise ExportError(f"{model.path}: weight-only quantization does not handle external-data models (over 2 GB)")
    # The quantizer logs every node it visits at INFO through its own handler.
    logging.getLogger("onnxruntime.quantization.matmul_nbits_quantizer").setLevel(logging.WARNING)
    proto = onnx.load(str(model.path))
    skipped = activation_matmuls(proto.graph)
    gemm_as_matmul(proto.graph)
    head = _head_node(proto.graph)
    matmuls = [n.name for n in proto.graph.node if n.op_type == "MatMul" and n.name != head]
    wider = int8_matmuls(matmuls, linear) if linear.bits < 8 else []
    passes = [(8, set(matmuls) - set(wider)), (linear.bits, set(wider))] if wider else [(linear.bits, set())]
    try:
        for bits, excluded in passes:
            quantizer = MatMulNBitsQuantizer(
                proto,
                bits=bits,
                block_size=linear.block_size,
                is_symmetric=linear.symmetric,
                accuracy_level=linear.accuracy_level,
                nodes_to_exclude=[*excluded, *([head] if head else [])],
                op_types_to_quantize=("MatMul",),
                # k_quant writes 4 bits whatever `bits` says: the 8-bit pass is always round to nearest.
                algo_config=KQuantWeightOnlyQuantConfig() if linear.algorithm == "k_quant" and bits == 4 else None,
            )
            quantizer.process()
            proto = getattr(quantizer.model, "model", quantizer.model)
    except Exception as exc:  # onnxruntime.quantization raises bare Exceptions and asserts
        raise ExportError(
            f"{model.path}: {preset.scheme} weight-only quantization ({preset.family} preset) failed: {exc}"
        ) from exc
    quantized: onnx.ModelProto = proto
    tied: TiedReport | None = None
    if preset.tied is not None and head:
        tied = quantize_tied(quantized, head, preset.tied, linear)
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / MODEL_FILE
    onnx.save(quantized, str(path))
    settings = QuantizationSettings(
        preset=preset.as_manifest(),
        nodes=node_counts(quantized.graph),
        activation_matmuls=len(skipped),
        tied=tied.as_manifest() if tied else None,
    )
    return describe(path), settings


def int8_matmuls(names: list[str], linear: BlockWise) -> list[str]:
    """The MatMuls that BlockWise.int8_layers and int8_edge_layers keep at 8 bits, by node name.

    Decoder layers are found by the index exporters put in node names: /layers.N/ (Llama) or /h.N/ (GPT-2).
    """
    index = {name: int(m.group(1)) for name in names if (m := LAYER_INDEX.search(name))}
    layers = max(index.values(), default=-1) + 1
    edge = linear.int8_edge_layers if layers > 4 * linear.int8_edge_layers else 0
    edges = set(range(edge)) | set(range(layers - edge, layers))
    return [
        name
        for name in names
        if any(re.search(pattern, name) for pattern in linear.int8_layers) or index.get(name, -1) in edges
    ]


def gemm_as_matmul(graph: onnx.GraphProto) -> int:
    """Gemm(A, W[, C]) with a constant W becomes MatMul(A, W) (+ C), in place; returns how many.

    MatMulNBits replaces MatMuls only; a graph exported without export.decoder_rewrites keeps
    GPT-2's linear layers as Gemm, and they would stay float. Same numbers: Gemm's A is 2-D.
    """
    from onnx import helper, numpy_helper

    initializers = {i.name: i for i in graph.initializer}
    attr = {"transA": 0, "transB": 0, "alpha": 1.0, "beta": 1.0}
    replaced: dict[str, list[onnx.NodeProto]] = {}
    for node in graph.node:
        if node.op_type != "Gemm" or node.input[1] not in initializers:
            continue
        values = {**attr, **{a.name: helper.get_attribute_value(a) for a in node.attribute}}
        if values["transA"] or values["alpha"] != 1.0 or values["beta"] != 1.0:
            continue
        weight = node.input[1]
        if values["transB"]:
            weight = f"{weight}/transposed"
            graph.initializer.append(
                numpy_helper.from_array(numpy_helper.to_array(initializers[node.input[1]]).T.copy(), weight)
            )
        has_bias = len(node.input) > 2 and node.input[2]
        product = f"{node.output[0]}/matmul" if has_bias else node.output[0]
        nodes = [helper.make_node("MatMul", [node.input[0], weight], [product], name=f"{node.name}/matmul")]
        if has_bias:
            nodes.append(helper.make_node("Add", [product, node.input[2]], list(node.output), name=f"{node.name}/bias"))
        replaced[node.name] = nodes
    kept = [new for node in graph.node for new in replaced.get(node.name, [node])]
    del graph.node[:]
    graph.node.extend(kept)
    return len(replaced)


def _head_node(graph: onnx.GraphProto) -> str | None:
    """The MatMul that makes `logits` (the LM head); None for graphs without one."""
    producer = {out: node for node in graph.node for out in node.output}
    node = producer.get("logits")
    return node.name if node is not None and node.op_type == "MatMul" else None


def _dynamic_int8(
    model: OnnxModel, out_dir: Path, preset: QuantPreset, linear: DynamicInt8, cpu: CpuPreset
) -> tuple[OnnxModel, QuantizationSettings]:
    import onnx
    from optimum.onnxruntime import ORTQuantizer
    from optimum.onnxruntime.configuration import AutoQuantizationConfig

    graph = onnx.load(str(model.path), load_external_data=False).graph
    skipped = activation_matmuls(graph)
    operators = [op for op in DYNAMIC_OPS if linear.embeddings or op != "Gather"]
    config = getattr(AutoQuantizationConfig, cpu)(
        is_static=False, per_channel=linear.per_channel, nodes_to_exclude=skipped, operators_to_quantize=operators
    )
    try:
        quantizer = ORTQuantizer.from_pretrained(model.path.parent, file_name=model.path.name)
        quantizer.quantize(
            config, save_dir=out_dir, file_suffix=None, use_external_data_format=model.size_bytes >= 2**31
        )
    except Exception as exc:  # onnxruntime.quantization raises bare Exceptions for unsupported graphs
        raise ExportError(f"{model.path}: dynamic int8 quantization ({cpu}) failed: {exc}") from exc
    path = out_dir / MODEL_FILE
    settings = QuantizationSettings(
        preset={**preset.as_manifest(), "weights": config.weights_dtype.name,
                "activations": config.activations_dtype.name, "reduce_range": config.reduce_range},
        cpu=cpu,
        nodes=node_counts(onnx.load(str(path), load_external_data=False).graph),
        activation_matmuls=len(skipped),
    )  # fmt: skip
    return describe(path), settings
