"""The export command's steps in order: load -> export -> rewrite (decoders) -> quantize -> stage -> parity -> bundle.

Each step is its own module; this one only sequences them, shows progress, and makes sure a
failure anywhere leaves no bundle behind.
"""

from __future__ import annotations

import shutil
import tempfile
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tqdm import tqdm

from export import bundle, model_info
from export.bits_per_byte import DEFAULT_EVAL_TOKENS, WINDOW, EvalTokens, default_eval_text, read_eval_texts, tokenize
from export.decoder_rewrites import RewriteReport, rewrite_decoder
from export.errors import ExportError, ParityError
from export.labelled import LabelledTexts, read_labelled
from export.manifest import Manifest
from export.onnx_export import Device, OnnxModel, export_onnx
from export.parity import (
    DEFAULT_TEXTS,
    MAX_BPB_INCREASE,
    ParityReport,
    Tolerance,
    check_quantized,
    check_reference,
    default_tolerance,
    emotion_parity,
    generation_parity,
)
from export.quant_presets import EmbeddingFormat, HeadFormat, QuantPreset, Scheme, preset_for
from export.quantize import CpuPreset, QuantizationSettings, quantize
from export.tasks import Task, load_tokenizer, load_torch_model

if TYPE_CHECKING:
    from transformers import PreTrainedModel, PreTrainedTokenizerFast

# int4 for decoders: within 3% bits per byte of fp32 on SmolLM2-135M with an int8 LM head, at a
# third of int8's size (docs/decisions.md); int8 for the emotion encoder (dynamic, per channel).
DEFAULT_SCHEME: dict[str, Scheme] = {"generation": "int4", "emotion": "int8"}


@dataclass(frozen=True)
class ExportRequest:
    model_dir: Path
    task: Task
    out: Path
    quantize: Scheme | None = None  # default: DEFAULT_SCHEME of the task on cpu, none (fp16) on cuda
    lm_head: HeadFormat | None = None  # default: the family preset's (export.quant_presets)
    embedding: EmbeddingFormat | None = None
    opset: int | None = None
    device: Device = "cpu"
    name: str | None = None  # default: the model folder's name
    texts: tuple[str, ...] = DEFAULT_TEXTS
    eval_file: Path | None = None
    eval_limit: int | None = None
    eval_texts: tuple[Path, ...] = ()  # generation: held-out text for bits per byte; () = the built-in one
    eval_tokens: int = DEFAULT_EVAL_TOKENS  # per eval text
    allow_degraded: bool = False  # keep a quantized decoder that fails the bits-per-byte gate
    tolerance: Tolerance | None = None  # default: parity.default_tolerance(device)
    threads: int = 2
    cpu_preset: CpuPreset | None = None  # dynamic int8: default detected from this CPU
    rewrite: bool = True  # decoders on CPU: export.decoder_rewrites before quantizing
    progress: bool = True

    @property
    def scheme(self) -> Scheme:
        if self.quantize is not None:
            return self.quantize
        return "none" if self.device == "cuda" else DEFAULT_SCHEME[self.task]

    def check(self) -> None:
        if self.device == "cuda" and self.scheme != "none":
            raise ExportError(f"--device cuda exports fp16; {self.scheme} is a CPU format: pass --quantize none")
        if self.eval_file is not None and self.task != "emotion":
            raise ExportError("--eval-file is a labelled emotion file; it does not apply to --task generation")
        if self.eval_texts and self.task != "generation":
            raise ExportError("--eval-text measures a decoder's bits per byte; it does not apply to --task emotion")
        if self.eval_tokens < 2:
            raise ExportError(f"--eval-tokens {self.eval_tokens}: bits per byte needs at least 2 tokens")
        if (self.lm_head or self.embedding) and self.scheme == "none":
            raise ExportError(
                "--lm-head/--embedding choose how a quantized model stores them: add --quantize int4|int8"
            )
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
    texts = read_eval_texts(request.eval_texts) if request.eval_texts else [default_eval_text()]
    reference = "ort-fp16" if request.device == "cuda" else "ort-fp32"
    rewrite = request.rewrite and request.task == "generation" and request.device == "cpu"
    quantized = request.scheme != "none"
    steps = _Steps(total=5 + quantized + rewrite, enabled=request.progress)
    try:
        with tempfile.TemporaryDirectory(prefix="storyteller-export-") as work:
            with steps.step("load torch model"):
                model = load_torch_model(request.model_dir, request.task)
                tokenizer = load_tokenizer(request.model_dir)
                labelled = _labelled(request, model)
                preset = _preset(request, model.config.model_type)
                eval_tokens = None
                if request.task == "generation":
                    window = min(WINDOW, model_info.max_context(model.config, tokenizer))
                    eval_tokens = tokenize(tokenizer, texts, request.eval_tokens, window)
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
            served = exported
            if preset is not None:
                with steps.step(f"quantize {preset.scheme}"):
                    served, settings = quantize(exported, Path(work) / preset.scheme, preset, request.cpu_preset)
                    candidates[f"ort-{preset.scheme}"] = served
            staging = bundle.new_staging(request.out)
            try:
                with steps.step("stage bundle files"):
                    bundle.stage_files(staging, served, tokenizer, model.config, request.model_dir)
                with steps.step("check parity"):
                    report = _parity(
                        request, model, tokenizer, candidates, staging / bundle.TOKENIZER, labelled, eval_tokens
                    )
                    check_reference(report, request.tolerance or default_tolerance(request.device))
                    gate = _gate(request, report)
                with steps.step("write manifest"):
                    draft = _manifest(request, model, tokenizer, served, settings, report, gate, rewrites)
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
    eval_tokens: EvalTokens | None,
) -> ParityReport:
    paths = {variant: candidate.path for variant, candidate in candidates.items()}
    common = dict(tokenizer_file=tokenizer_file, device=request.device, threads=request.threads)
    if request.task == "generation":
        return generation_parity(model, tokenizer, paths, request.texts, eval_tokens=eval_tokens, **common)
    return emotion_parity(model, tokenizer, paths, request.texts, labelled=labelled, **common)


def _preset(request: ExportRequest, model_type: str) -> QuantPreset | None:
    preset = preset_for(model_type, request.task, request.scheme)
    if preset is None:
        return None
    return preset.with_tied(request.lm_head, request.embedding)


def _gate(request: ExportRequest, report: ParityReport) -> dict[str, Any]:
    """The bits-per-byte gate: raises ParityError unless it passes or --allow-degraded keeps the bundle."""
    failures = check_quantized(report, MAX_BPB_INCREASE)
    if failures and not request.allow_degraded:
        raise ParityError(
            "quantization lost too much: " + "; ".join(failures) + ". Try --quantize int8 or --lm-head int8, "
            "or pass --allow-degraded to keep this bundle anyway (its manifest will say so)"
        )
    return {"max_bits_per_byte_increase": MAX_BPB_INCREASE, "allow_degraded": request.allow_degraded,
            "failures": failures}  # fmt: skip


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
    gate: dict[str, Any],
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
        quantization=request.scheme if request.device == "cpu" else "fp16",
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
        parity={**report.as_manifest(), "gate": gate},
    )


def _chat_format(tokenizer: PreTrainedTokenizerFast) -> dict[str, str] | None:
    """The chat layout NPC lines are written in; a template that cannot hold a system and a user
    message leaves the model on prose prompts, which every causal LM can serve."""
    from export.story_base import chat_format_of

    try:
        chat = chat_format_of(tokenizer)
    except ExportError as exc:
        warnings.warn(f"{exc}; the bundle will be served with prose prompts", stacklevel=2)
        return None
    return chat.as_manifest() if chat is not None else None
