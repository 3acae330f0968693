"""Quantization presets and the bits-per-byte gate, on tiny models trained for a moment.

The decoders are fitted to the tiny corpus (tiny_models.fit) and scored on it, so a damaged
quantization has something to lose: with random weights, zeroed logits would score no worse.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path

import numpy as np
import onnx
import pytest

from export import tied_weights
from export.decoder_rewrites import rewrite_decoder
from export.errors import ExportError
from export.onnx_export import export_onnx
from export.parity import MAX_BPB_INCREASE, Comparison, ParityReport, check_quantized
from export.pipeline import ExportRequest, run_export
from export.quant_presets import preset_for
from export.quantize import activation_matmuls, int8_matmuls, quantize
from server.cli import main as storyteller
from server.config import ModelSettings
from server.generation.decoder import KVDecoder
from server.models.registry import load_bundle
from tests.export.tiny_models import SENTENCES, build_tiny_gpt2, build_tiny_llama

SETTINGS = ModelSettings(emotion=None, story=None, intra_op_threads=1, inter_op_threads=1)
FIT_STEPS = 30
LAYERS = 2
# Per layer: Llama q, k, v, o, gate, up, down; GPT-2 (after the rewrites) c_attn, c_proj, c_fc, mlp c_proj.
LINEAR_PER_LAYER = {"llama": 7, "gpt2": 4}
SHAPES = {"llama": (4, 64), "gpt2": (2, 32)}  # (attention heads, hidden size) of the tiny models


@pytest.fixture(scope="module")
def decoders(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("decoders")
    return {
        "llama": build_tiny_llama(root / "llama", fit_steps=FIT_STEPS),
        "gpt2": build_tiny_gpt2(root / "gpt2", fit_steps=FIT_STEPS),
    }


@pytest.fixture(scope="module")
def eval_text(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("text") / "sentences.txt"
    path.write_text("\n".join(SENTENCES) + "\n", encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def exported(decoders, tmp_path_factory) -> dict[str, object]:
    """fp32 ONNX of each decoder, rewritten as the pipeline does before quantizing."""
    root = tmp_path_factory.mktemp("onnx")
    models = {}
    for name, folder in decoders.items():
        full = export_onnx(folder, "generation", root / name / "full")
        models[name], _ = rewrite_decoder(full, root / name / "rewritten", *SHAPES[name])
    return models


def _export(decoders, eval_text, name, out, **options):
    return run_export(
        ExportRequest(decoders[name], "generation", out, threads=1, progress=False, eval_texts=(eval_text,), **options)
    )


def _ops(path: Path) -> Counter:
    graph = onnx.load(str(path)).graph
    counts = Counter(n.op_type for n in graph.node)
    for node in graph.node:
        if node.op_type in ("MatMulNBits", "GatherBlockQuantized"):
            bits = next(a.i for a in node.attribute if a.name == "bits")
            counts[f"{node.op_type}/{bits}"] += 1
    return counts


@pytest.mark.parametrize("family", ["llama", "gpt2"])
@pytest.mark.parametrize("scheme", ["int4", "int8"])
def test_presets_quantize_every_weight_matmul_and_leave_attention_float(exported, family, scheme, tmp_path):
    fp32 = exported[family]
    preset = preset_for(family, "generation", scheme)
    assert preset is not None and preset.family == family and preset.method == "weight-only"
    model, settings = quantize(fp32, tmp_path / scheme, preset)
    before, after = onnx.load(str(fp32.path)).graph, onnx.load(str(model.path)).graph
    ops = _ops(model.path)
    linear = LINEAR_PER_LAYER[family] * LAYERS
    wider = 0 if scheme == "int8" else sum(
        any(re.search(p, n.name) for p in preset.linear.int8_layers) for n in before.node if n.op_type == "MatMul"
    )
    bits = 8 if scheme == "int8" else 4
    if bits == 4:
        assert wider == 2 * LAYERS  # each layer's value projection and MLP output stay int8
        assert ops["MatMulNBits/4"] == linear - wider
    assert ops["MatMulNBits/8"] == (linear if bits == 8 else wider) + 1  # + the LM head, int8 by default
    assert ops["GatherBlockQuantized"] == 1 and ops["Gather"] <= Counter(n.op_type for n in before.node)["Gather"]
    # what stays float is exactly the activation x activation products (none left in GPT-2's fused attention)
    attention = activation_matmuls(before)
    assert sorted(n.name for n in after.node if n.op_type in ("MatMul", "Gemm")) == sorted(attention)
    assert len(attention) == (2 * LAYERS + 1 if family == "llama" else 0)  # Q x K^T, scores x V; rotary freqs
    assert settings.nodes["float_matmuls"] == len(attention) and settings.activation_matmuls == len(attention)
    assert settings.tied == {
        **settings.tied, "tied": True, "head": "int8", "embedding": "shared", "vocab": 300,
    }  # fmt: skip
    # the tied table is stored once: no float copy of it is left
    vocab, hidden = settings.tied["vocab"], settings.tied["hidden"]
    assert not [i.name for i in after.initializer if list(i.dims) == [vocab, hidden]]
    assert model.size_bytes < fp32.size_bytes / 2


def test_int4_keeps_value_and_mlp_output_and_the_edge_layers_at_int8():
    projections = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")
    names = [f"/model/layers.{i}/{'mlp' if p.endswith(('gate_proj', 'up_proj', 'down_proj')) else 'self_attn'}/{p}/MatMul"
             for i in range(30) for p in projections]  # fmt: skip
    wider = int8_matmuls(names, preset_for("llama", "generation", "int4").linear)
    whole = {name for name in names if re.search(r"/layers\.(0|1|28|29)/", name)}
    assert whole < set(wider) and len(wider) == 4 * 7 + 26 * 2
    assert all(("v_proj" in name or "down_proj" in name) for name in set(wider) - whole)
    # a model of 8 layers or fewer keeps no whole layer wide
    assert len(int8_matmuls(names[: 8 * 7], preset_for("llama", "generation", "int4").linear)) == 8 * 2


def test_a_float_head_keeps_the_embedding_float(exported, tmp_path):
    preset = preset_for("llama", "generation", "int4").with_tied(head="fp32", embedding="fp32")
    model, settings = quantize(exported["llama"], tmp_path / "q", preset)
    ops = _ops(model.path)
    assert ops["GatherBlockQuantized"] == 0 and ops["MatMulNBits"] == LINEAR_PER_LAYER["llama"] * LAYERS
    assert settings.tied["head"] == "fp32" and settings.tied["embedding_bytes"] == 300 * SHAPES["llama"][1] * 4


def test_shared_embedding_needs_a_quantized_head():
    with pytest.raises(ExportError, match="--embedding shared reads the LM head's quantized weight"):
        preset_for("llama", "generation", "int4").with_tied(head="fp32", embedding="shared")


def test_encoders_have_no_int4_preset():
    with pytest.raises(ExportError, match="int4: weight-only int4 is for decoders"):
        preset_for("bert", "emotion", "int4")
    assert preset_for("bert", "emotion", "int8").method == "dynamic"
    assert preset_for("mistral", "generation", "int4").family == "llama"
    assert preset_for("opt", "generation", "int4").family == "generic"


@pytest.mark.parametrize("family", ["llama", "gpt2"])
@pytest.mark.parametrize("scheme", ["int4", "int8"])
def test_each_preset_passes_parity_and_the_server_decodes_it(decoders, eval_text, family, scheme, tmp_path):
    result = _export(decoders, eval_text, family, tmp_path / "bundle", quantize=scheme)
    fp32, quantized = result.report.comparisons
    assert quantized.variant == f"ort-{scheme}"
    assert fp32.relative_logit_diff < 1e-5 and fp32.top1_agreement == 1.0
    increase = result.report.bpb_increase(quantized)
    assert increase is not None and abs(increase) <= MAX_BPB_INCREASE
    assert fp32.bits_per_byte < 4  # it learnt the sentences: there is something to lose
    manifest = json.loads((result.bundle / "manifest.json").read_text())
    assert manifest["quantization"] == scheme
    assert manifest["quantization_settings"]["preset"]["family"] == family
    assert manifest["parity"]["gate"] == {
        "max_bits_per_byte_increase": MAX_BPB_INCREASE, "allow_degraded": False, "failures": [],
    }  # fmt: skip
    assert manifest["parity"]["eval_texts"] == [str(eval_text)]
    bundle = load_bundle("story", result.bundle, "generation", SETTINGS)
    decoder = KVDecoder(bundle.session)
    logits, _ = decoder.prefill(bundle.tokenizer.encode(SENTENCES[0][:20]).ids)
    assert logits.shape == (300,) and np.isfinite(logits).all()


@pytest.fixture
def broken_head(monkeypatch):
    """A quantizer bug: the LM head's scales come out negated, so the most likely token becomes the least."""
    quantize_head = tied_weights.quantize_head

    def negated(weight, bits, linear):
        packed, scales = quantize_head(weight, bits, linear)
        return packed, -scales

    monkeypatch.setattr(tied_weights, "quantize_head", negated)


@pytest.mark.usefixtures("broken_head")
def test_a_broken_quantization_fails_the_gate_and_writes_nothing(decoders, eval_text, tmp_path, capsys):
    out = tmp_path / "bundle"
    code = storyteller(
        ["export", "--model", str(decoders["llama"]), "--task", "generation", "--out", str(out), "--quantize", "int4",
         "--eval-text", str(eval_text), "--threads", "1"]
    )  # fmt: skip
    assert code == 1
    error = capsys.readouterr().err
    assert "quantization lost too much: ort-int4:" in error and "bits per byte against" in error
    assert "limit +3%" in error and "--allow-degraded" in error
    assert list(tmp_path.iterdir()) == []


@pytest.mark.usefixtures("broken_head")
def test_allow_degraded_keeps_the_bundle_and_the_manifest_says_so(decoders, eval_text, tmp_path, capsys):
    out = tmp_path / "bundle"
    code = storyteller(
        ["export", "--model", str(decoders["llama"]), "--task", "generation", "--out", str(out), "--quantize", "int4",
         "--eval-text", str(eval_text), "--threads", "1", "--allow-degraded"]
    )  # fmt: skip
    assert code == 0
    assert "degraded, kept by --allow-degraded: ort-int4:" in capsys.readouterr().out
    gate = json.loads((out / "manifest.json").read_text())["parity"]["gate"]
    assert gate["allow_degraded"] is True and len(gate["failures"]) == 1
    assert "ort-int4" in gate["failures"][0]


def test_check_quantized_names_the_variant_the_figures_and_the_limit():
    report = ParityReport(
        task="generation", samples=8, tokenizer_agreement=1.0, greedy_tokens=32, eval_texts=["dev.txt"],
        comparisons=[
            Comparison("ort-fp32", 1e-5, 1.0, logit_scale=20.0, greedy_agreement=1.0, bits_per_byte=1.20),
            Comparison("ort-int4", 0.9, 0.7, logit_scale=20.0, greedy_agreement=0.25, bits_per_byte=1.26),
        ],
    )  # fmt: skip
    (problem,) = check_quantized(report, 0.03)
    for figure in ("ort-int4: 1.2600 bits per byte against 1.2000 for ort-fp32", "+5.00%", "limit +3%",
                   "top-1 agreement with torch 70.0%", "greedy agreement 25.0%"):  # fmt: skip
        assert figure in problem
    assert check_quantized(report, 0.06) == []
    nan = ParityReport(**{**report.__dict__, "comparisons": [report.comparisons[0],
                          Comparison("ort-int4", 0.9, 0.7, bits_per_byte=float("nan"))]})  # fmt: skip
    assert len(check_quantized(nan, 0.03)) == 1


def test_relative_tolerance_scales_with_the_logits():
    small = Comparison("ort-fp32", 2e-4, 1.0, logit_scale=30.0)
    assert small.relative_logit_diff == pytest.approx(6.7e-6, rel=1e-2)


def test_help_explains_quantization_and_the_gate(capsys):
    with pytest.raises(SystemExit):
        storyteller(["export", "--help"])
    text = capsys.readouterr().out
    for needle in ("--quantize {int4,int8,none}", "MatMulNBits", "accuracy level 4", "attention", "--lm-head",
                   "GatherBlockQuantized", "3% more bits per byte", "--allow-degraded", "--eval-text", "built-in",
                   "--rtol"):  # fmt: skip
        assert needle in text, needle


def test_eval_text_is_refused_for_emotion_and_unreadable_files(decoders, tmp_path):
    with pytest.raises(ExportError, match="--eval-text measures a decoder"):
        run_export(ExportRequest(decoders["llama"], "emotion", tmp_path / "a", eval_texts=(tmp_path,), progress=False))
    with pytest.raises(ExportError, match=r"--eval-text .*missing\.txt: cannot read it"):
        run_export(ExportRequest(decoders["llama"], "generation", tmp_path / "b",
                                 eval_texts=(tmp_path / "missing.txt",), progress=False))  # fmt: skip
    with pytest.raises(ExportError, match="add --quantize"):
        run_export(ExportRequest(decoders["llama"], "generation", tmp_path / "c", quantize="none", lm_head="int8",
                                 progress=False))  # fmt: skip
