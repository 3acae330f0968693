"""Decoder graph rewrites: the rewritten graph computes what optimum's export computes (prefill,
left-padded batches, steps with a cache), fewer nodes do it, and a layer that does not match the
pattern is left as it was."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest

from export.decoder_rewrites import rewrite_decoder
from export.onnx_export import export_onnx
from export.pipeline import ExportRequest, run_export
from tests.export.tiny_models import build_tiny_gpt2

LAYERS, HEADS, HIDDEN, HEAD_DIM = 2, 2, 32, 16  # build_tiny_gpt2


@pytest.fixture(scope="module")
def gpt2(tmp_path_factory) -> Path:
    return build_tiny_gpt2(tmp_path_factory.mktemp("models") / "gpt2")


@pytest.fixture(scope="module")
def exported(gpt2, tmp_path_factory):
    return export_onnx(gpt2, "generation", tmp_path_factory.mktemp("onnx") / "full")


def session(path: Path) -> ort.InferenceSession:
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def run(model: ort.InferenceSession, ids, past, mask, positions):
    names = [o.name for o in model.get_outputs()]
    values = dict(zip(names, model.run(names, dict(input_ids=ids, attention_mask=mask, position_ids=positions, **past))))
    present = {name.replace("present.", "past_key_values."): v for name, v in values.items() if name != "logits"}
    return values["logits"], present


def max_differences(a_path: Path, b_path: Path, steps: int = 6) -> tuple[float, float]:
    """Largest |logit| difference over a left-padded prefill of 3 rows (real positions only), then
    over `steps` decode steps that feed each graph its own cache back."""
    rng = np.random.default_rng(0)
    a, b = session(a_path), session(b_path)
    lengths, width = [3, 6, 9], 9
    ids = rng.integers(1, 250, (3, width))
    mask = np.zeros((3, width), np.int64)
    positions = np.zeros((3, width), np.int64)
    for row, length in enumerate(lengths):
        mask[row, width - length :] = 1
        positions[row, width - length :] = np.arange(length)
    empty = {
        f"past_key_values.{layer}.{kv}": np.zeros((3, HEADS, 0, HEAD_DIM), np.float32)
        for layer in range(LAYERS)
        for kv in ("key", "value")
    }
    logits_a, past_a = run(a, ids, empty, mask, positions)
    logits_b, past_b = run(b, ids, empty, mask, positions)
    prefill = float(np.abs(logits_a - logits_b)[mask.astype(bool)].max())
    decode = 0.0
    for _ in range(steps):
        token = rng.integers(1, 250, (3, 1))
        mask = np.concatenate([mask, np.ones((3, 1), np.int64)], axis=1)
        positions = positions[:, -1:] + 1
        logits_a, past_a = run(a, token, past_a, mask, positions)
        logits_b, past_b = run(b, token, past_b, mask, positions)
        decode = max(decode, float(np.abs(logits_a - logits_b).max()))
    return prefill, decode


def test_rewritten_decoder_computes_what_the_export_computes(exported, tmp_path):
    rewritten, report = rewrite_decoder(exported, tmp_path / "rw", HEADS, HIDDEN)
    assert (report.layers, report.attention_fused, report.linear_flattened) == (LAYERS, LAYERS, 4 * LAYERS)
    ops = Counter(node.op_type for node in onnx.load(str(rewritten.path)).graph.node)
    assert ops["MultiHeadAttention"] == LAYERS and ops["Softmax"] == ops["Gemm"] == 0
    assert report.nodes_after == sum(ops.values()) < report.nodes_before / 3
    assert (rewritten.inputs, rewritten.outputs) == (exported.inputs, exported.outputs)
    assert (tmp_path / "rw" / "config.json").is_file()  # the exporter's other files travel with it
    prefill, decode = max_differences(exported.path, rewritten.path)
    assert prefill < 1e-4 and decode < 1e-4


def test_a_layer_that_does_not_match_is_left_as_exported(exported, tmp_path):
    model = onnx.load(str(exported.path))
    # Layer 1's key cache is concatenated through an extra Identity: no longer the SDPA pattern.
    position, concat = next((i, n) for i, n in enumerate(model.graph.node) if "present.1.key" in n.output)
    concat.output[0] = "present.1.key/raw"
    model.graph.node.insert(position + 1, onnx.helper.make_node("Identity", ["present.1.key/raw"], ["present.1.key"]))
    odd = tmp_path / "odd" / "model.onnx"
    odd.parent.mkdir()
    onnx.save(model, str(odd))
    rewritten, report = rewrite_decoder(type(exported)(odd, exported.opset, exported.inputs, exported.outputs),
                                        tmp_path / "rw", HEADS, HIDDEN)  # fmt: skip
    assert (report.layers, report.attention_fused) == (LAYERS, 1)
    ops = Counter(node.op_type for node in onnx.load(str(rewritten.path)).graph.node)
    assert ops["MultiHeadAttention"] == 1 and ops["Softmax"] == 1
    prefill, decode = max_differences(exported.path, rewritten.path)
    assert prefill < 1e-4 and decode < 1e-4


def test_export_records_the_rewrites_and_no_rewrite_keeps_the_graph(gpt2, tmp_path):
    rewritten = run_export(ExportRequest(gpt2, "generation", tmp_path / "rw", threads=1, progress=False))
    kept = run_export(ExportRequest(gpt2, "generation", tmp_path / "kept", threads=1, progress=False, rewrite=False))
    assert rewritten.manifest.graph_rewrites["attention_fused"] == LAYERS
    assert kept.manifest.graph_rewrites is None
    served = Counter(n.op_type for n in onnx.load(str(rewritten.bundle / "model.onnx")).graph.node)
    plain = Counter(n.op_type for n in onnx.load(str(kept.bundle / "model.onnx")).graph.node)
    assert served["MultiHeadAttention"] == LAYERS and plain["MultiHeadAttention"] == 0
    assert served["MatMulNBits"] == plain["MatMulNBits"] > 0  # the flattened linears are still quantized
    # and the tied embedding / LM head weight is stored once, quantized, in both graphs
    assert served["GatherBlockQuantized"] == plain["GatherBlockQuantized"] == 1
    assert rewritten.sizes["ort-int4"] <= kept.sizes["ort-int4"] * 1.05
    fp32, _int4 = rewritten.report.comparisons
    assert fp32.greedy_agreement == 1.0 and fp32.top1_agreement == 1.0
