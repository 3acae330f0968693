"""The LM head and the token embedding, quantized deliberately and, when tied, stored once.

Invariant: after this step the graph holds the vocabulary-sized table in exactly the formats the
preset's TiedWeights names, and `logits` and the embedding output keep their names and shapes.

How exporters write a tied pair: the embedding is Gather(E, input_ids) with E (vocab, hidden),
and the head is MatMul(hidden_states, Transpose(E)). Left so, onnxruntime folds the Transpose
into a second float copy of E when it loads the model. A quantized head stores E^T block-wise
for MatMulNBits, shape (vocab, hidden / block, block * bits / 8): row v holds the blocks of E's
row v. That is also the layout com.microsoft GatherBlockQuantized reads with uint8 data
(MatMulNBits' conventions: no zero points means 2^(bits-1)), quantized along its last axis; so
with `embedding: shared` the Gather reads the head's own initializer, and the table exists once.
Only its scales are stored twice (GatherBlockQuantized wants them with the data's rank; 1/block of
the table in float32).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from export.errors import ExportError
from export.quant_presets import BlockWise, TiedWeights

if TYPE_CHECKING:
    import onnx

MS_DOMAIN = "com.microsoft"


@dataclass(frozen=True)
class TiedReport:
    """What was done to the pair, and what it weighs on disk (bytes of the stored tensors)."""

    tied: bool  # the head read the embedding's table
    head: str  # "fp32", "int8" or "int4", as stored
    embedding: str  # "fp32" or "shared", as applied
    vocab: int
    hidden: int
    head_bytes: int  # quantized data + scales; 0 for a float head that reads a tied table
    embedding_bytes: int  # the float table, or the extra scales of a shared one

    def as_manifest(self) -> dict[str, Any]:
        return asdict(self)


def _producers(graph: onnx.GraphProto) -> dict[str, onnx.NodeProto]:
    return {out: node for node in graph.node for out in node.output}


def _table(graph: onnx.GraphProto, head: onnx.NodeProto) -> tuple[np.ndarray, str | None]:
    """(the head's weight as (hidden, vocab), the name of the tied embedding table or None)."""
    from onnx import helper, numpy_helper

    initializers = {i.name: i for i in graph.initializer}
    weight = head.input[1]
    if weight in initializers:
        return numpy_helper.to_array(initializers[weight]), None
    transpose = _producers(graph).get(weight)
    if transpose is None or transpose.op_type != "Transpose":
        raise ExportError(f"{head.name}: the LM head's weight is neither a constant nor a Transpose of one")
    perm = next((helper.get_attribute_value(a) for a in transpose.attribute if a.name == "perm"), [1, 0])
    if list(perm) != [1, 0]:
        raise ExportError(f"{head.name}: the LM head's weight is neither a constant nor a Transpose of one")
    table = transpose.input[0]
    if table not in initializers:
        raise ExportError(f"{head.name}: the LM head reads Transpose({table}), which is not a constant")
    return numpy_helper.to_array(initializers[table]).T, table


def _embedding_gather(graph: onnx.GraphProto, table: str | None) -> onnx.NodeProto | None:
    """The Gather that looks tokens up in the tied table (any Gather of it over input_ids)."""
    if table is None:
        return None
    return next((n for n in graph.node if n.op_type == "Gather" and n.input[0] == table), None)


def quantize_head(weight: np.ndarray, bits: int, linear: BlockWise) -> tuple[np.ndarray, np.ndarray]:
    """(packed (vocab, blocks, block * bits / 8) uint8, scales (vocab, blocks)) of a (hidden, vocab) weight."""
    from onnxruntime.quantization.matmul_nbits_quantizer import DefaultWeightOnlyQuantConfig, DefaultWeightOnlyQuantizer

    config = DefaultWeightOnlyQuantConfig(
        block_size=linear.block_size, is_symmetric=True, accuracy_level=linear.accuracy_level, bits=bits
    )
    packed, scales, _ = DefaultWeightOnlyQuantizer(config).qbits_block_quant(np.ascontiguousarray(weight, np.float32))
    return packed, scales


def quantize_tied(model: onnx.ModelProto, head_name: str, tied: TiedWeights, linear: BlockWise) -> TiedReport:
    """Rewrites the head (and, for `shared`, the embedding) in place; drops what they no longer read."""
    from onnx import helper, numpy_helper

    from export.decoder_rewrites import prune

    graph = model.graph
    head = next(n for n in graph.node if n.name == head_name)
    weight, table = _table(graph, head)
    hidden, vocab = weight.shape
    gather = _embedding_gather(graph, table)
    if tied.head == "fp32":
        head_bytes = 0 if table else weight.nbytes
        return TiedReport(table is not None, "fp32", "fp32", vocab, hidden, head_bytes, weight.nbytes)
    bits = 8 if tied.head == "int8" else 4
    packed, scales = quantize_head(weight, bits, linear)
    base = table or head.input[1]
    data, head_scales = f"{base}/q{bits}", f"{base}/q{bits}/scales"
    graph.initializer.extend([numpy_helper.from_array(packed, data), numpy_helper.from_array(scales, head_scales)])
    quantized_head = helper.make_node(
        "MatMulNBits", [head.input[0], data, head_scales], list(head.output), name=f"{head.name}/q{bits}",
        domain=MS_DOMAIN, K=hidden, N=vocab, bits=bits, block_size=linear.block_size,
        accuracy_level=linear.accuracy_level,
    )  # fmt: skip
    replacement = {head.name: [quantized_head]}
    shared = tied.embedding == "shared" and gather is not None and hidden % linear.block_size == 0
    embedding_bytes = 0 if gather is None else weight.nbytes
    if shared:
        assert gather is not None
        gather_scales, flat, looked_up = f"{base}/q{bits}/scales3d", f"{base}/q{bits}/flat", f"{gather.output[0]}/blocks"
        scales3d = scales.reshape(vocab, -1, 1)
        graph.initializer.extend(
            [numpy_helper.from_array(scales3d, gather_scales), numpy_helper.from_array(np.array([0, 0, -1], np.int64), flat)]
        )
        replacement[gather.name] = [
            helper.make_node(
                "GatherBlockQuantized", [data, gather.input[1], gather_scales], [looked_up], name=f"{gather.name}/q{bits}",
                domain=MS_DOMAIN, gather_axis=0, quantize_axis=2, block_size=linear.block_size, bits=bits,
            ),
            helper.make_node("Reshape", [looked_up, flat], list(gather.output), name=f"{gather.name}/q{bits}/flat"),
        ]  # fmt: skip
        embedding_bytes = scales3d.nbytes
    nodes = [new for node in graph.node for new in replacement.get(node.name, [node])]
    del graph.node[:]
    graph.node.extend(nodes)
    if not any(o.domain == MS_DOMAIN for o in model.opset_import):
        model.opset_import.append(helper.make_opsetid(MS_DOMAIN, 1))
    prune(model)
    return TiedReport(
        tied=table is not None,
        head=tied.head,
        embedding="shared" if shared else "fp32",
        vocab=vocab,
        hidden=hidden,
        head_bytes=packed.nbytes + scales.nbytes,
        embedding_bytes=embedding_bytes,
    )
