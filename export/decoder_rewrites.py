"""Step 1b: rewrites of an exported decoder graph that onnxruntime's own optimizer does not make.

optimum exports transformers' SDPA attention as its decomposition. Every decode step, each layer
then concatenates the cache, transposes the whole key cache, scales query and key over the full
cache length and rebuilds a causal mask from shapes; and each Conv1D/Linear flattens its input to
2-D around a Gemm with about ten shape nodes. The shipped story model ran 456 nodes a step, two
thirds of them shape plumbing, and at batch 1 those nodes, not the arithmetic, were the step's
cost. onnxruntime's transformer optimizer does not recognise this attention pattern (it fuses no
Attention for GPT-2 exported by transformers 4.57), so the pipeline rewrites it:

- `fuse_attention`: each layer's decomposed attention becomes one com.microsoft
  MultiHeadAttention with past_key/past_value and present outputs in the same (batch, heads,
  length, head_dim) layout, the 2-D attention_mask as key padding mask, causal. The graph's
  inputs and outputs keep their names and shapes, so the serving loop does not change.
- `flatten_linear`: Reshape(x, [-1, d]) -> Gemm -> Reshape back to x's leading dims becomes
  MatMul + Add on x itself (MatMul broadcasts over leading dims).
- then every node no output depends on is dropped.

A layer that does not match is left as exported; the parity step afterwards compares the
rewritten fp32 graph with torch, so a rewrite that changed the maths fails the export. Measured on
the shipped story model (int8, 2 threads, 100 cached positions): 962 -> 142 graph nodes, 456 -> 61
nodes run per step after onnxruntime's own fusions; a decode step 1.0 -> 0.6 ms at batch 1 and
4.8 -> 2.1 ms at batch 16 (`python -m benchmarks.generation_speed --plain-bundle` compares whole runs).
"""

from __future__ import annotations

import shutil
from collections import defaultdict
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from export.errors import ExportError
from export.onnx_export import MODEL_FILE, OnnxModel, describe

if TYPE_CHECKING:
    import onnx

MS_DOMAIN = "com.microsoft"
MASK_INT32 = "attention_mask_int32"
BNSH = [0, 2, 1, 3]  # (batch, seq, heads, dim) <-> (batch, heads, seq, dim)


@dataclass(frozen=True)
class RewriteReport:
    """What the manifest records: how many of each rewrite applied, and the node counts."""

    layers: int
    attention_fused: int
    linear_flattened: int
    nodes_before: int
    nodes_after: int

    def as_manifest(self) -> dict[str, Any]:
        return asdict(self)


class _Index:
    """Producers, consumers and constant values of one graph, for pattern matching."""

    def __init__(self, graph: onnx.GraphProto) -> None:
        from onnx import numpy_helper

        self.producer = {out: node for node in graph.node for out in node.output}
        self.consumers: dict[str, list[onnx.NodeProto]] = defaultdict(list)
        for node in graph.node:
            for name in node.input:
                self.consumers[name].append(node)
        self.initializers = {init.name: init for init in graph.initializer}
        self._array = numpy_helper.to_array

    def op(self, name: str, op_type: str) -> onnx.NodeProto | None:
        node = self.producer.get(name)
        return node if node is not None and node.op_type == op_type else None

    def constant(self, name: str) -> Any:
        """The numpy value of an initializer or Constant node's output; None when computed."""
        if name in self.initializers:
            return self._array(self.initializers[name])
        node = self.op(name, "Constant")
        value = _attr(node, "value") if node is not None else None
        return self._array(value) if value is not None else None


def _attr(node: onnx.NodeProto, name: str, default: Any = None) -> Any:
    from onnx import helper

    return next((helper.get_attribute_value(a) for a in node.attribute if a.name == name), default)


def _unsplit_heads(index: _Index, name: str) -> str | None:
    """Transpose(perm 0,2,1,3) of Reshape(x, [batch, seq, heads, dim]) -> x, the (batch, seq, hidden) tensor."""
    transpose = index.op(name, "Transpose")
    if transpose is None or list(_attr(transpose, "perm", [])) != BNSH:
        return None
    reshape = index.op(transpose.input[0], "Reshape")
    return reshape.input[0] if reshape is not None else None


def _scale(index: _Index, mul: onnx.NodeProto, scaled: str) -> tuple[bool, float | None]:
    """SDPA scales query and key by sqrt(scale) each: (matched, scale or None for 1/sqrt(head_dim))."""
    if mul.op_type != "Mul" or scaled not in mul.input:
        return False, None
    factor = next(i for i in mul.input if i != scaled)
    value = index.constant(factor)
    if value is None:  # computed from the head size at run time: the default scale
        return True, None
    if value.size != 1:
        return False, None
    return True, float(value.reshape(()) ** 2)


@dataclass(frozen=True)
class _Attention:
    layer: str
    query: str
    key: str
    value: str
    past_key: str
    past_value: str
    output: str  # the (batch, seq, hidden) tensor the output projection reads
    scale: float | None


def _match_attention(index: _Index, present_key: str, present_value: str) -> _Attention | None:
    """One layer's decomposed SDPA, found from its present.N.key/value outputs; None if it differs."""
    concat_k, concat_v = index.op(present_key, "Concat"), index.op(present_value, "Concat")
    if concat_k is None or concat_v is None or len(concat_k.input) != 2 or len(concat_v.input) != 2:
        return None
    key, value = _unsplit_heads(index, concat_k.input[1]), _unsplit_heads(index, concat_v.input[1])
    weighted = [n for n in index.consumers[present_value] if n.op_type == "MatMul" and n.input[1] == present_value]
    if key is None or value is None or len(weighted) != 1:
        return None
    after = index.consumers[weighted[0].output[0]]
    if len(after) != 1 or after[0].op_type != "Transpose" or list(_attr(after[0], "perm", [])) != BNSH:
        return None
    merge = [n for n in index.consumers[after[0].output[0]] if n.op_type == "Reshape"]
    if len(merge) != 1:
        return None
    # probabilities <- (Where(IsNaN) <-) Softmax <- (Add mask <-) scores MatMul
    node = index.producer.get(weighted[0].input[0])
    while node is not None and node.op_type in ("Where", "Softmax", "Add"):
        node = index.producer.get(node.input[2] if node.op_type == "Where" else node.input[0])
    if node is None or node.op_type != "MatMul":
        return None
    scaled_q, scaled_k = index.producer.get(node.input[0]), index.producer.get(node.input[1])
    if scaled_q is None or scaled_k is None:
        return None
    transposed_k = index.op(scaled_k.input[0], "Transpose")
    if transposed_k is None or transposed_k.input[0] != present_key:
        return None
    ok_q, scale_q = _scale(index, scaled_q, scaled_q.input[0])
    ok_k, scale_k = _scale(index, scaled_k, transposed_k.output[0])
    query = _unsplit_heads(index, scaled_q.input[0])
    if not (ok_q and ok_k) or scale_q != scale_k or query is None:
        return None
    return _Attention(
        layer=present_key.split(".")[1],
        query=query,
        key=key,
        value=value,
        past_key=concat_k.input[0],
        past_value=concat_v.input[0],
        output=merge[0].output[0],
        scale=scale_q,
    )


def fuse_attention(model: onnx.ModelProto, heads: int, hidden: int) -> tuple[int, int]:
    """Rewrites in place; returns (layers fused, layers in the graph)."""
    from onnx import TensorProto, helper

    graph = model.graph
    inputs = {i.name for i in graph.input}
    outputs = [o.name for o in graph.output]
    keys = [name for name in outputs if name.startswith("present.") and name.endswith(".key")]
    if "attention_mask" not in inputs:
        return 0, len(keys)
    index = _Index(graph)
    matches = [
        m for k in keys if (m := _match_attention(index, k, k.removesuffix(".key") + ".value")) is not None
    ]
    if not matches:
        return 0, len(keys)
    cast = helper.make_node("Cast", ["attention_mask"], [MASK_INT32], name=MASK_INT32, to=TensorProto.INT32)
    fused: dict[str, onnx.NodeProto] = {}  # the old attention output -> the node that now makes it
    for m in matches:
        options: dict[str, Any] = {"num_heads": heads, "unidirectional": 1}
        if m.scale is not None:
            options["scale"] = m.scale
        fused[m.output] = helper.make_node(
            "MultiHeadAttention",
            [m.query, m.key, m.value, "", MASK_INT32, "", m.past_key, m.past_value],
            [m.output, f"present.{m.layer}.key", f"present.{m.layer}.value"],
            name=f"/rewrites/attention.{m.layer}",
            domain=MS_DOMAIN,
            **options,
        )
        # onnx shape inference does not know contrib ops; the quantizer needs this output's type.
        graph.value_info.append(
            helper.make_tensor_value_info(m.output, TensorProto.FLOAT, ["batch_size", "sequence_length", hidden])
        )
    presents = {f"present.{m.layer}.{kv}" for m in matches for kv in ("key", "value")}
    # Each fused node takes the place of the node that made the attention output, so the list stays
    # in the exporter's order (the quantizer visits nodes in list order: a tied embedding must be
    # quantized by its Gather before the LM head's Transpose reads it).
    nodes = [cast]
    for node in graph.node:
        if node.output and node.output[0] in fused:
            nodes.append(fused[node.output[0]])
        elif not presents.intersection(node.output):
            nodes.append(node)
    del graph.node[:]
    graph.node.extend(nodes)
    if not any(o.domain == MS_DOMAIN for o in model.opset_import):
        model.opset_import.append(helper.make_opsetid(MS_DOMAIN, 1))
    return len(matches), len(keys)


def _leading_dim(index: _Index, name: str) -> tuple[str, int] | None:
    """Unsqueeze(Gather(Shape(x), k)) -> (x, k): one dimension of x, read at run time."""
    unsqueeze = index.op(name, "Unsqueeze")
    gather = index.op(unsqueeze.input[0], "Gather") if unsqueeze is not None else None
    shape = index.op(gather.input[0], "Shape") if gather is not None else None
    k = index.constant(gather.input[1]) if gather is not None else None
    if shape is None or k is None or k.ndim != 0:
        return None
    return shape.input[0], int(k)


def flatten_linear(model: onnx.ModelProto) -> int:
    """Rewrites in place; returns how many Reshape-Gemm-Reshape chains became MatMul + Add."""
    from onnx import helper, numpy_helper, shape_inference

    graph = model.graph
    inferred = shape_inference.infer_shapes(model).graph
    rank = {
        v.name: len(v.type.tensor_type.shape.dim)
        for v in [*inferred.value_info, *graph.input]
        if v.type.tensor_type.HasField("shape")
    }
    index = _Index(graph)
    replacement: dict[str, list[onnx.NodeProto]] = {}  # name of the Reshape that goes -> what replaces it
    for gemm in [n for n in graph.node if n.op_type == "Gemm"]:
        if _attr(gemm, "transA", 0) or _attr(gemm, "alpha", 1.0) != 1.0 or _attr(gemm, "beta", 1.0) != 1.0:
            continue
        weight = index.initializers.get(gemm.input[1])
        flatten = index.op(gemm.input[0], "Reshape")
        after = index.consumers[gemm.output[0]]
        if weight is None or len(gemm.input) < 3 or flatten is None or len(after) != 1 or after[0].op_type != "Reshape":
            continue
        restore, x = after[0], flatten.input[0]
        target = index.op(restore.input[1], "Concat")
        if target is None or rank.get(x) != len(target.input):
            continue
        width = weight.dims[0] if _attr(gemm, "transB", 0) else weight.dims[1]
        last = index.constant(target.input[-1])
        # restore's shape must be x's own leading dimensions, then the layer's width: then the Gemm
        # saw x's rows in order, and MatMul on x gives the same numbers in the same shape.
        leading = [_leading_dim(index, name) for name in target.input[:-1]]
        if last is None or last.tolist() != [width] or leading != [(x, k) for k in range(len(leading))]:
            continue
        weight_name = gemm.input[1]
        if _attr(gemm, "transB", 0):
            weight_name += "/transposed"
            graph.initializer.append(numpy_helper.from_array(numpy_helper.to_array(weight).T.copy(), weight_name))
        product = f"{gemm.output[0]}/3d"
        replacement[restore.name] = [
            helper.make_node("MatMul", [x, weight_name], [product], name=f"{gemm.name}/3d"),
            helper.make_node("Add", [product, gemm.input[2]], [restore.output[0]], name=f"{gemm.name}/3d/bias"),
        ]
    nodes = [new for node in graph.node for new in replacement.get(node.name, [node])]
    del graph.node[:]
    graph.node.extend(nodes)
    return len(replacement)


def prune(model: onnx.ModelProto) -> None:
    """Drops nodes and initializers no graph output depends on; the rest keep their order."""
    graph = model.graph
    producer = {out: node for node in graph.node for out in node.output}
    live: set[int] = set()
    pending = [o.name for o in graph.output]
    while pending:
        node = producer.get(pending.pop())
        if node is not None and id(node) not in live:
            live.add(id(node))
            pending.extend(name for name in node.input if name)
    kept = [n for n in graph.node if id(n) in live]
    available = {i.name for i in graph.input} | {i.name for i in graph.initializer} | {""}
    for node in kept:
        missing = [name for name in node.input if name not in available]
        if missing:
            raise ExportError(f"graph rewrite left {node.name} reading {missing[0]} before it is made")
        available.update(node.output)
    used = {name for node in kept for name in node.input}
    initializers = [i for i in graph.initializer if i.name in used]
    del graph.node[:]
    graph.node.extend(kept)
    del graph.initializer[:]
    graph.initializer.extend(initializers)


def rewrite_decoder(exported: OnnxModel, out_dir: Path, heads: int, hidden: int) -> tuple[OnnxModel, RewriteReport]:
    """Writes out_dir/model.onnx (beside copies of the exporter's other files) and says what changed."""
    import onnx

    if len(exported.files) > 1:
        raise ExportError(f"{exported.path}: graph rewrites do not handle external-data models (over 2 GB)")
    model = onnx.load(str(exported.path))
    before = len(model.graph.node)
    fused, layers = fuse_attention(model, heads, hidden)
    flattened = flatten_linear(model)
    prune(model)
    out_dir.mkdir(parents=True, exist_ok=True)
    for extra in exported.path.parent.iterdir():
        if extra.is_file() and extra.suffix != ".onnx" and not extra.name.endswith("_data"):
            shutil.copy2(extra, out_dir / extra.name)
    path = out_dir / MODEL_FILE
    onnx.save(model, str(path))
    report = RewriteReport(layers, fused, flattened, before, len(model.graph.node))
    return describe(path), report
