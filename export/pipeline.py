"""The export command's steps in order: load -> export -> rewrite (decoders) -> quantize -> stage -> parity -> bundle.

Each step is its own module; this one only sequences them, shows progress, and makes sure a
failure anywhere leaves no bundle behind.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from tqdm import tqdm

from export import bundle, model_info
from export.decoder_rewrites import RewriteReport, rewrite_decoder
from export.errors import ExportError
from export.labelled import LabelledTexts, read_labelled
from export.manifest import Manifest
from export.onnx_export import Device, OnnxModel, export_onnx
from export.parity import (
    DEFAULT_TEXTS,
    ParityReport,
    Tolerance,
    check_reference,
    default_tolerance,
    emotion_parity,
    generation_parity,
)
from export.quantize import Preset, QuantizationSettings, detect_preset, quantize_int8
from export.tasks import Task, load_tokenizer, load_torch_model

if TYPE_CHECKING:
    from transformers import PreTrainedModel, PreTrainedTokenizerFast

@dataclass(frozen=True)
class ExportRequest:
    model_dir: Path
    task: Task
    out: Path
    quantize: Literal["int8", "none"] = "int8"
    opset: int | None = None
    device: Device = "cpu"
    name: str | None = None  # default: the model folder's name
    texts: tuple[str, ...] = DEFAULT_TEXTS
    eval_file: Path | None = None
    eval_limit: int | None = None
    tolerance: Tolerance | None = None  # default: parity.default_tolerance(device)
    threads: int = 2
    preset: Preset | None = None  # default: detected from this CPU
    rewrite: bool = True  # decoders on CPU: export.decoder_rewrites before quantizing
    progress: bool = True

    def check(self) -> None:
        if self.device == "cuda" and self.quantize == "int8":
            raise ExportError("--device cuda exports fp16; dynamic int8 is a CPU format: pass --quantize none")
        if self.eval_file is not None and self.task != "emotion":
            raise ExportError("--eval-file is a labelled emotion file; it does not apply to --task generation")
        if not self.texts:
            raise ExportError("no sample texts to check parity on")


@dataclass(frozen=True)
class ExportResult:
    bundle: Path
    manifest: Manifest
    report: ParityReport
    sizes: dict[str, int] = field(default_factory=dict)  # variant -> bytes of its ONNX file(s)


class _Steps:
    """One progress bar over the pipeline; each step names itself while it runs."""

    def __init__(self, total: int, enabled: bool) -> None:
        self._bar = tqdm(total=total, unit="step", disable=not enabled, bar_format="{desc} {n}/{total} [{elapsed}]")

    @contextmanager
    def step(self, label: str) -> Iterator[None]:
        self._bar.set_description(f"export: {label}")
        yield
        self._bar.update()

    def close(self) -> None:
        self._bar.close()


def run_export(request: ExportRequest) -> ExportResult:
    """Runs every step; raises ExportError (ParityError for parity) with what went wrong."""
    request.check()
    bundle.check_out_dir(request.out)
    int8 = request.quantize == "int8"
    reference = "ort-fp16" if request.device == "cuda" else "ort-fp32"
    rewrite = request.rewrite and request.task == "generation" and request.device == "cpu"
    steps = _Steps(total=5 + int8 + rewrite, enabled=request.progress)
    try:
        with tempfile.TemporaryDirectory(prefix="storyteller-export-") as work:
            with steps.step("load torch model"):
                model = load_torch_model(request.model_dir, request.task)
                tokenizer = load_tokenizer(request.model_dir)
                labelled = _labelled(request, model)
            with steps.step("export ONNX"):
                exported = export_onnx(
                    request.model_dir, request.task, Path(work) / "full", request.opset, request.device
                )
            rewrites: RewriteReport | None = None
            if rewrite:
                with steps.step("rewrite decoder graph"):
                    config = model.config
                    exported, rewrites = rewrite_decoder(
                        exported, Path(work) / "rewritten", config.num_attention_heads, config.hidden_size
                    )
            candidates: dict[str, OnnxModel] = {reference: exported}
            settings: QuantizationSettings | None = None
            if int8:
                with steps.step("quantize int8"):
                    preset = request.preset or detect_preset()
                    candidates["ort-int8"], settings = quantize_int8(exported, Path(work) / "int8", preset)
            served = candidates["ort-int8" if int8 else reference]
            staging = bundle.new_staging(request.out)
            try:
                with steps.step("stage bundle files"):
                    bundle.stage_files(staging, served, tokenizer, model.config, request.model_dir)
                with steps.step("check parity"):
                    report = _parity(request, model, tokenizer, candidates, staging / bundle.TOKENIZER, labelled)
                    check_reference(report, request.tolerance or default_tolerance(request.device))
                with steps.step("write manifest"):
                    draft = _manifest(request, model, tokenizer, served, settings, report, rewrites)
                    manifest = bundle.finish(staging, draft, request.out)
            except BaseException:
                shutil.rmtree(staging, ignore_errors=True)
                raise
            sizes = {variant: candidate.size_bytes for variant, candidate in candidates.items()}
    finally:
        steps.close()
    return ExportResult(request.out, manifest, report, sizes)


def _parity(
    request: ExportRequest,
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerFast,
    candidates: dict[str, OnnxModel],
    tokenizer_file: Path,
    labelled: LabelledTexts | None,
) -> ParityReport:
    paths = {variant: candidate.path for variant, candidate in candidates.items()}
    common = dict(tokenizer_file=tokenizer_file, device=request.device, threads=request.threads)
    if request.task == "generation":
        return generation_parity(model, tokenizer, paths, request.texts, **common)
    return emotion_parity(model, tokenizer, paths, request.texts, labelled=labelled, **common)


def _labelled(request: ExportRequest, model: PreTrainedModel) -> LabelledTexts | None:
    """Read before the slow steps, so that a bad --eval-file fails at once."""
    if request.eval_file is None:
        return None
    labels = model_info.emotion_labels(model.config)
    thresholds = model_info.thresholds(request.model_dir, labels)
    return read_labelled(request.eval_file, labels, thresholds, request.eval_limit)


def _manifest(
    request: ExportRequest,
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerFast,
    served: OnnxModel,
    settings: QuantizationSettings | None,
    report: ParityReport,
    rewrites: RewriteReport | None,
) -> Manifest:
    config = model.config
    emotion = request.task == "emotion"
    labels = model_info.emotion_labels(config) if emotion else []
    return Manifest(
        name=request.name or request.model_dir.resolve().name,
        task=request.task,
        model_file=served.path.name,
        inputs=served.inputs,
        outputs=served.outputs,
        opset=served.opset,
        quantization=request.quantize if request.device == "cpu" else "fp16",
        quantization_settings=settings.as_manifest() if settings else None,
        graph_rewrites=rewrites.as_manifest() if rewrites else None,
        max_context=model_info.max_context(config, tokenizer),
        labels=labels,
        thresholds=model_info.thresholds(request.model_dir, labels) if emotion else {},
        multi_label=emotion,
        control_tokens=model_info.ControlTokens() if emotion else model_info.control_tokens(tokenizer),
        chat_format=None if emotion else _chat_format(tokenizer),
        special_tokens=model_info.special_token_ids(config, tokenizer),
        source={
            "model": request.model_dir.resolve().name,
            "architecture": (config.architectures or [type(model).__name__])[0],
            "model_type": config.model_type,
            **model_info.base_model_source(request.model_dir),
        },
        parity=report.as_manifest(),
    )


def _chat_format(tokenizer: PreTrainedTokenizerFast) -> dict[str, str] | None:
    from export.story_base import chat_format_of

    chat = chat_format_of(tokenizer)
    return chat.as_manifest() if chat is not None else None
