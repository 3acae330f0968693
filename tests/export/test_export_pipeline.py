"""HF -> ONNX -> quantized bundle on tiny random models: export, quantization, parity, and the
server reading (or refusing) what export writes. No network; the models are built here.
The quantization presets and the bits-per-byte gate have their own tests (test_quantization)."""

from __future__ import annotations

import contextlib
import io
import json
import re
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

import numpy as np
import onnx
import pytest

from export.errors import ExportError, ParityError
from export.labelled import read_labelled
from export.onnx_export import export_onnx
from export.parity import Comparison, ParityReport, Tolerance, check_reference
from export.pipeline import ExportRequest, ExportResult, run_export
from export.quant_presets import preset_for
from export.quantize import activation_matmuls, detect_preset, quantize
from server.cli import main as storyteller
from server.config import ModelSettings
from server.models.registry import ModelRegistry, load_bundle
from tests.export.tiny_models import CONTROL_TOKENS, EMOTION_LABELS, build_tiny_bert, build_tiny_gpt2

SETTINGS = ModelSettings(emotion=None, story=None, intra_op_threads=1, inter_op_threads=1)
# GoEmotions ids: joy 17, anger 2, sadness 25, neutral 27.
EVAL_ROWS = ["what a happy day\t17\ta1", "you liar\t2,25\ta2", "the table is brown\t27\ta3", "so sad\t25\ta4"]


@pytest.fixture(scope="module")
def models(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("models")
    return {"emotion": build_tiny_bert(root / "bert"), "generation": build_tiny_gpt2(root / "gpt2")}


@pytest.fixture(scope="module")
def eval_file(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("data") / "dev.tsv"
    path.write_text("\n".join(EVAL_ROWS) + "\n", encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def emotion_cli(models, eval_file, tmp_path_factory) -> tuple[Path, str]:
    """The emotion bundle, made through `storyteller export` as a user would; (bundle, stdout)."""
    out = tmp_path_factory.mktemp("bundles") / "emotion"
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        code = storyteller(
            ["export", "--model", str(models["emotion"]), "--task", "emotion", "--out", str(out),
             "--eval-file", str(eval_file), "--threads", "1"]
        )  # fmt: skip
    assert code == 0
    return out, printed.getvalue()


@pytest.fixture(scope="module")
def generation(models, tmp_path_factory) -> ExportResult:
    out = tmp_path_factory.mktemp("bundles") / "story"
    return run_export(ExportRequest(models["generation"], "generation", out, threads=1, progress=False))


def op_counts(path: Path) -> Counter:
    return Counter(node.op_type for node in onnx.load(str(path)).graph.node)


def test_dynamic_int8_quantizes_every_weight_matmul_and_no_activation_matmul(models, tmp_path):
    full = export_onnx(models["emotion"], "emotion", tmp_path / "full")
    preset = preset_for("bert", "emotion", "int8")
    int8, settings = quantize(full, tmp_path / "int8", preset, "avx512_vnni")
    before, after = op_counts(full.path), op_counts(int8.path)
    attention = activation_matmuls(onnx.load(str(full.path)).graph)
    assert len(attention) == 4  # Q x K^T and scores x V in each of 2 layers
    assert after["MatMulInteger"] == before["MatMul"] + before["Gemm"] - len(attention) > 0
    assert after["MatMul"] + after["Gemm"] == len(attention)
    assert sorted(activation_matmuls(onnx.load(str(int8.path)).graph)) == sorted(attention)  # left as they were
    assert after["DynamicQuantizeLinear"] > 0
    assert int8.size_bytes < full.size_bytes
    assert (int8.inputs, int8.outputs) == (full.inputs, full.outputs)
    assert settings.preset["linear"]["per_channel"] and settings.preset["method"] == "dynamic"
    assert settings.preset["weights"] == "QInt8" and settings.activation_matmuls == len(attention)


def test_generation_exports_a_kv_cache(generation):
    manifest = generation.manifest
    assert "past_key_values.0.key" in manifest.inputs and "present.1.value" in manifest.outputs
    assert manifest.opset >= 14


def test_emotion_parity_is_within_tolerance_and_reports_f1(emotion_cli):
    out, printed = emotion_cli
    parity = json.loads((out / "manifest.json").read_text())["parity"]
    fp32, int8 = parity["comparisons"]
    assert fp32["variant"] == "ort-fp32" and int8["variant"] == "ort-int8"
    assert fp32["relative_logit_diff"] <= Tolerance().rtol and fp32["top1_agreement"] == 1.0
    assert 0 < int8["max_abs_logit_diff"] < 0.1  # int8 is lossy, but not broken
    assert parity["eval_samples"] == len(EVAL_ROWS)
    assert parity["macro_f1_delta"] == pytest.approx(int8["macro_f1"] - fp32["macro_f1"])
    assert parity["tokenizer_agreement"] == 1.0
    assert "ort-int8" in printed and "macro-F1" in printed and f"bundle: {out}" in printed


def test_generation_greedy_continuations_agree(generation):
    fp32, int4 = generation.report.comparisons
    assert generation.manifest.quantization == "int4"  # the default for decoders
    assert generation.report.greedy_tokens == 32
    assert fp32.greedy_agreement == 1.0 and fp32.relative_logit_diff <= Tolerance().rtol
    assert int4.greedy_agreement is not None and int4.max_abs_logit_diff > 0
    assert generation.sizes["ort-int4"] < generation.sizes["ort-fp32"]


def test_server_reads_what_export_writes(emotion_cli, generation):
    emotion_dir, _ = emotion_cli
    emotion = load_bundle("emotion", emotion_dir, "emotion", SETTINGS)
    assert emotion.manifest.labels == EMOTION_LABELS
    assert emotion.manifest.multi_label and emotion.manifest.quantization == "int8"
    assert emotion.manifest.quantization_settings["preset"]["linear"]["per_channel"] is True
    assert set(emotion.manifest.files) >= {"model.onnx", "tokenizer.json", "config.json"}
    assert emotion.tokenizer.padding is None  # the source pads to 64; the server pads per batch
    encoding = emotion.tokenizer.encode("what a lovely morning")
    feeds = {"input_ids": encoding.ids, "attention_mask": encoding.attention_mask, "token_type_ids": encoding.type_ids}
    (logits,) = emotion.session.run(["logits"], {k: np.array([v], np.int64) for k, v in feeds.items()})
    assert logits.shape == (1, len(EMOTION_LABELS))

    story = load_bundle("story", generation.bundle, "generation", SETTINGS)
    written = generation.manifest
    assert story.manifest.model_dump(include={"name", "task", "inputs", "outputs", "max_context", "files"}) == {
        "name": written.name, "task": "generation", "inputs": written.inputs, "outputs": written.outputs,
        "max_context": 128, "files": written.files,
    }  # fmt: skip
    tokens = story.manifest.control_tokens
    assert set(tokens.styles.values()) | set(tokens.emotions.values()) == set(CONTROL_TOKENS)
    assert tokens.styles["horror"] == "<|style:horror|>"
    assert story.manifest.special_tokens["eos_token_id"] == 0


def test_registry_serves_both_exported_bundles(emotion_cli, generation):
    registry = ModelRegistry()
    registry.load(SETTINGS.model_copy(update={"emotion": emotion_cli[0], "story": generation.bundle}))
    assert registry.complete and sorted(registry.bundles) == ["emotion", "story"]
    assert registry.bundles["story"].session.get_providers()[0] in ("CPUExecutionProvider", "CUDAExecutionProvider")


def _tamper_model(folder: Path) -> None:
    with (folder / "model.onnx").open("ab") as f:
        f.write(b"\0")


def _delete_tokenizer(folder: Path) -> None:
    (folder / "tokenizer.json").unlink()


def _edit_manifest(**changes):
    def edit(folder: Path) -> None:
        path = folder / "manifest.json"
        path.write_text(json.dumps({**json.loads(path.read_text()), **changes}))

    return edit


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (_tamper_model, r"model\.onnx: sha256 mismatch: manifest\.json files says [0-9a-f]{64}"),
        (_delete_tokenizer, r"tokenizer\.json: missing \(listed in manifest\.json files\)"),
        (_edit_manifest(task="translation"), r"manifest\.json: task: Input should be 'emotion' or 'generation'"),
        (_edit_manifest(outputs=["scores"]), r"outputs: declared \['scores'\], but model\.onnx has \['logits'\]"),
        (_edit_manifest(files={}), r"manifest\.json: files: no entry for model\.onnx"),
    ],
    ids=["hash-mismatch", "missing-file", "unknown-task", "io-mismatch", "undeclared-model"],
)
def test_damaged_bundle_is_refused_with_the_file_and_field(emotion_cli, tmp_path, damage, message):
    folder = tmp_path / "emotion"
    shutil.copytree(emotion_cli[0], folder)
    damage(folder)
    registry = ModelRegistry()
    registry.load(SETTINGS.model_copy(update={"emotion": folder}))
    assert not registry.complete and "emotion" not in registry.bundles
    assert str(folder) in registry.failures["emotion"]
    assert re.search(message, registry.failures["emotion"]), registry.failures["emotion"]


def test_export_fails_and_writes_nothing_when_fp32_is_off(models, emotion_cli, tmp_path, capsys):
    measured = json.loads((emotion_cli[0] / "manifest.json").read_text())["parity"]["comparisons"][0]
    assert measured["relative_logit_diff"] > 0  # a tolerance below it must then fail
    out = tmp_path / "bundle"
    code = storyteller(
        ["export", "--model", str(models["emotion"]), "--task", "emotion", "--out", str(out),
         "--rtol", str(measured["relative_logit_diff"] / 2)]
    )  # fmt: skip
    assert code == 1
    assert "parity check failed: ort-fp32: max |logit diff| vs torch" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []  # neither the bundle nor its staging folder


def test_check_reference_names_each_problem():
    report = ParityReport(
        task="emotion", samples=4, tokenizer_agreement=0.5,
        comparisons=[Comparison("ort-fp32", float("nan"), 0.5), Comparison("ort-int8", 0.01, 1.0)],
    )  # fmt: skip
    with pytest.raises(ParityError) as caught:
        check_reference(report, Tolerance(rtol=1e-4, min_top1=0.99))
    for problem in ("ort-fp32: max |logit diff| vs torch nan", "top-1 agreement with torch 50.0%", "encodes 50%"):
        assert problem in str(caught.value)


def test_labelled_rows_map_onto_the_models_label_order(eval_file):
    data = read_labelled(eval_file, EMOTION_LABELS, {"joy": 0.3}, limit=2)
    assert data.texts == ["what a happy day", "you liar"]
    assert data.targets.tolist() == [[True, False, False, False], [False, True, True, False]]
    assert data.thresholds.tolist() == pytest.approx([0.3, 0.5, 0.5, 0.5])


def test_labelled_file_with_labels_the_model_lacks_is_refused(eval_file):
    with pytest.raises(ExportError, match=r"not GoEmotions labels"):
        read_labelled(eval_file, ["joy", "wrath"], {}, limit=None)


def test_requests_that_cannot_work_are_refused_before_any_work(models, tmp_path):
    (tmp_path / "taken").mkdir()
    (tmp_path / "taken" / "file").write_text("x")
    with pytest.raises(ExportError, match="exists and is not an empty folder"):
        run_export(ExportRequest(models["emotion"], "emotion", tmp_path / "taken", progress=False))
    with pytest.raises(ExportError, match="--quantize none"):
        run_export(ExportRequest(models["emotion"], "emotion", tmp_path / "gpu", quantize="int8", device="cuda", progress=False))
    with pytest.raises(ExportError, match=r"not a folder with a config\.json"):
        run_export(ExportRequest(tmp_path / "nowhere", "emotion", tmp_path / "new", progress=False))


@pytest.mark.parametrize(
    ("flags", "machine", "preset"),
    [
        ({"avx2", "avx512f", "avx512_vnni"}, "x86_64", "avx512_vnni"),
        ({"avx2", "avx512f"}, "x86_64", "avx512"),
        ({"avx2"}, "x86_64", "avx2"),
        (set(), "aarch64", "arm64"),
    ],
)
def test_quantization_preset_follows_the_cpu(flags, machine, preset):
    assert detect_preset(flags, machine) == preset


def test_registering_the_command_does_not_import_torch():
    code = "import sys, export.export_cli; print([m for m in ('torch', 'transformers', 'optimum') if m in sys.modules])"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"
