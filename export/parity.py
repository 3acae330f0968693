"""Step 3: does the ONNX model still compute what the torch model computes, and still answer as well?

Every candidate (ORT fp32, then a quantized one) is compared with torch eager on the same token
ids: max |logit difference|, also relative to the logits' scale (the largest |logit| torch gave),
and top-1 agreement; for generation also greedy continuations (torch with its KV cache vs ORT with
the exported one) and bits per byte on held-out text (export.bits_per_byte); for emotion,
macro-F1 on a labelled file.

Two gates, both before any bundle is written:
- the full-precision candidate must be within Tolerance: an export bug shows there. The tolerance
  is relative because float noise grows with the logits' scale, the depth and the vocabulary: a
  30-layer model with a 49k vocabulary differs from torch by up to 2e-4 (6e-6 of its logits' scale).
- a quantized decoder may lose at most MAX_BPB_INCREASE bits per byte against ORT fp32 on the
  same windows. Top-1 and greedy agreement are reported beside it but do not gate: a near tie
  flips under any rounding, so they vary with the text more than with the damage.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from tqdm import tqdm

from export.bits_per_byte import EvalTokens, bits_per_byte
from export.errors import ExportError, ParityError
from export.labelled import LabelledTexts
from export.metrics import macro_f1
from export.onnx_export import Device
from export.ort_decoder import OrtDecoder
from export.ort_session import open_session

if TYPE_CHECKING:
    import onnxruntime as ort
    from transformers import PreTrainedModel, PreTrainedTokenizerFast

DEFAULT_TEXTS: tuple[str, ...] = (
    "The old lighthouse keeper had not seen a ship in forty years.",
    "I can't believe you lied to me again!",
    "Thank you so much, this means the world to me.",
    "The dragon slept beneath the mountain, dreaming of gold.",
    "Why would anyone leave the gate open at night?",
    "She laughed until tears ran down her face.",
    "I'm scared. Something is moving in the dark.",
    "Fine. Whatever. Do what you want.",
)
GREEDY_TOKENS = 32
EVAL_BATCH = 32


MAX_BPB_INCREASE = 0.03  # a quantized decoder may lose 3% bits per byte against fp32


@dataclass(frozen=True)
class Tolerance:
    # max |logit difference| over the largest |logit| of torch, for the full-precision model: about
    # 800 float32 roundings of the largest logit. SmolLM2-135M (30 layers, logits up to ~37) is off
    # by 8e-5 to 2e-4, 2e-6 to 6e-6 of its scale: float noise, 20x inside.
    rtol: float = 1e-4
    min_top1: float = 0.99  # leaves room for exact ties, which rounding may break either way


# fp16 rounds logits at about 1e-3 relative: the GPU export gets a looser default.
FP16_TOLERANCE = Tolerance(rtol=5e-3, min_top1=0.95)


def default_tolerance(device: Device) -> Tolerance:
    return FP16_TOLERANCE if device == "cuda" else Tolerance()


@dataclass(frozen=True)
class Comparison:
    """One ORT candidate against torch eager."""

    variant: str  # "ort-fp32", "ort-fp16", "ort-int8" or "ort-int4"
    max_abs_logit_diff: float
    top1_agreement: float
    logit_scale: float = 1.0  # the largest |logit| torch gave on the same samples
    greedy_agreement: float | None = None  # share of the greedy tokens before the first divergence
    macro_f1: float | None = None
    bits_per_byte: float | None = None  # on the eval text (generation)

    @property
    def relative_logit_diff(self) -> float:
        return self.max_abs_logit_diff / self.logit_scale if self.logit_scale > 0 else self.max_abs_logit_diff


@dataclass(frozen=True)
class ParityReport:
    task: str
    samples: int
    comparisons: list[Comparison]
    tokenizer_agreement: float  # share of sample texts that tokenizer.json encodes like transformers
    greedy_tokens: int | None = None
    eval_file: str | None = None
    eval_samples: int | None = None
    eval_texts: list[str] | None = None  # what bits per byte was measured on (generation)
    eval_tokens: int | None = None  # predicted tokens, over all eval texts
    eval_bytes: int | None = None

    def bpb_increase(self, comparison: Comparison) -> float | None:
        """Relative change of bits per byte against the full-precision candidate (0.05: 5% worse)."""
        reference = self.comparisons[0].bits_per_byte
        if comparison.bits_per_byte is None or not reference:
            return None
        return comparison.bits_per_byte / reference - 1

    @property
    def macro_f1_delta(self) -> float | None:
        """int8 minus full precision, on the labelled file."""
        scores = [c.macro_f1 for c in self.comparisons]
        if len(scores) < 2 or None in scores:
            return None
        return scores[-1] - scores[0]

    def as_manifest(self) -> dict[str, Any]:
        comparisons = [
            {**asdict(c), "relative_logit_diff": c.relative_logit_diff, "bits_per_byte_increase": self.bpb_increase(c)}
            for c in self.comparisons
        ]
        return {**asdict(self), "comparisons": comparisons, "macro_f1_delta": self.macro_f1_delta}

    def table(self) -> str:
        columns = [
            ("max|Δlogit|", lambda c: f"{c.max_abs_logit_diff:.2e}"),
            ("/scale", lambda c: f"{c.relative_logit_diff:.1e}"),
            ("top-1", lambda c: f"{c.top1_agreement:.1%}"),
        ]
        if self.greedy_tokens:
            columns.append((f"greedy@{self.greedy_tokens}", lambda c: f"{c.greedy_agreement:.1%}"))
        if self.eval_texts:
            columns.append(("bits/byte", lambda c: f"{c.bits_per_byte:.4f}"))
            columns.append(("vs fp32", lambda c: f"{self.bpb_increase(c):+.2%}"))
        if self.eval_file:
            columns.append(("macro-F1", lambda c: f"{c.macro_f1:.4f}"))
        header = f"{'vs torch, ' + str(self.samples) + ' samples':<24}" + "".join(f"{c[0]:>13}" for c in columns)
        rows = [header]
        rows += [f"{c.variant:<24}" + "".join(f"{cell(c):>13}" for _, cell in columns) for c in self.comparisons]
        rows.append(f"tokenizer.json agrees with transformers on {self.tokenizer_agreement:.0%} of samples")
        if self.eval_texts:
            rows.append(
                f"bits per byte: {self.eval_tokens} tokens ({self.eval_bytes} bytes) of {', '.join(self.eval_texts)}"
            )
        if self.macro_f1_delta is not None:
            rows.append(
                f"macro-F1 int8 - fp32: {self.macro_f1_delta:+.4f} on {self.eval_file} ({self.eval_samples} texts)"
            )
        return "\n".join(rows)


def check_reference(report: ParityReport, tolerance: Tolerance) -> None:
    """Raises ParityError when the full-precision model or the tokenizer is off."""
    ref = report.comparisons[0]
    problems = []
    if not ref.relative_logit_diff <= tolerance.rtol:  # `not <=` also catches NaN
        problems.append(
            f"{ref.variant}: max |logit diff| vs torch {ref.max_abs_logit_diff:.3e} is {ref.relative_logit_diff:.2e} "
            f"of the logits' scale {ref.logit_scale:.3g}, over rtol {tolerance.rtol:.1e}"
        )
    if ref.top1_agreement < tolerance.min_top1:
        top1 = ref.top1_agreement
        problems.append(f"{ref.variant}: top-1 agreement with torch {top1:.1%} < {tolerance.min_top1:.1%}")
    if report.tokenizer_agreement < 1.0:
        problems.append(
            f"tokenizer.json encodes {1 - report.tokenizer_agreement:.0%} of the samples differently from transformers"
        )
    if problems:
        raise ParityError("parity check failed: " + "; ".join(problems))


def check_quantized(report: ParityReport, max_increase: float = MAX_BPB_INCREASE) -> list[str]:
    """What disqualifies each quantized candidate, with its figures; empty when all pass.

    A candidate without a bits-per-byte figure (emotion classifiers) is not gated here.
    """
    problems = []
    reference = report.comparisons[0]
    for candidate in report.comparisons[1:]:
        increase = report.bpb_increase(candidate)
        if increase is None:
            continue
        if not increase <= max_increase:  # `not <=` also catches NaN
            greedy = candidate.greedy_agreement
            greedy_text = f", greedy agreement {greedy:.1%}" if greedy is not None else ""
            problems.append(
                f"{candidate.variant}: {candidate.bits_per_byte:.4f} bits per byte against "
                f"{reference.bits_per_byte:.4f} for {reference.variant} ({increase:+.2%}, limit +{max_increase:.0%}); "
                "top-1 agreement with torch "
                f"{candidate.top1_agreement:.1%}{greedy_text}"
            )
    return problems


def tokenizer_agreement(tokenizer: PreTrainedTokenizerFast, tokenizer_file: Path, texts: Sequence[str]) -> float:
    """What the server will run (tokenizer.json through `tokenizers`) against transformers' tokenizer."""
    from tokenizers import Tokenizer

    served = Tokenizer.from_file(str(tokenizer_file))
    same = sum(served.encode(text).ids == tokenizer(text)["input_ids"] for text in texts)
    return same / len(texts)


def _logit_figures(reference: np.ndarray, candidate: np.ndarray) -> tuple[float, float]:
    diff = float(np.abs(reference - candidate).max())
    top1 = float((reference.argmax(-1) == candidate.argmax(-1)).mean())
    return diff, top1


def _scale(logits: np.ndarray) -> float:
    return float(np.abs(logits).max())


def classify_logits(session: ort.InferenceSession, encoded: Mapping[str, np.ndarray]) -> np.ndarray:
    names = [i.name for i in session.get_inputs()]
    missing = [name for name in names if name not in encoded]
    if missing:
        raise ExportError(f"the emotion model needs inputs {missing} that the tokenizer does not produce")
    (logits,) = session.run(["logits"], {name: encoded[name] for name in names})
    return logits.astype(np.float32)


def _eval_f1(
    session: ort.InferenceSession, tokenizer: PreTrainedTokenizerFast, data: LabelledTexts, label: str
) -> float:
    predictions = []
    for start in tqdm(range(0, len(data.texts), EVAL_BATCH), desc=f"macro-F1 {label}", unit="batch", leave=False):
        batch = tokenizer(data.texts[start : start + EVAL_BATCH], padding=True, truncation=True, return_tensors="np")
        probabilities = 1 / (1 + np.exp(-classify_logits(session, batch)))
        predictions.append(probabilities >= data.thresholds)
    return macro_f1(data.targets, np.concatenate(predictions))


def emotion_parity(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerFast,
    candidates: Mapping[str, Path],
    texts: Sequence[str],
    tokenizer_file: Path,
    labelled: LabelledTexts | None = None,
    device: Device = "cpu",
    threads: int = 2,
) -> ParityReport:
    """`candidates`: variant -> ONNX file, full precision first."""
    import torch

    encoded = tokenizer(list(texts), padding=True, truncation=True, return_tensors="np")
    with torch.inference_mode():
        reference = model(**{k: torch.from_numpy(v) for k, v in encoded.items()}).logits.float().numpy()
    comparisons = []
    for variant, path in candidates.items():
        session = open_session(path, device, threads)
        diff, top1 = _logit_figures(reference, classify_logits(session, encoded))
        f1 = _eval_f1(session, tokenizer, labelled, variant) if labelled else None
        comparisons.append(Comparison(variant, diff, top1, logit_scale=_scale(reference), macro_f1=f1))
    return ParityReport(
        task="emotion",
        samples=len(texts),
        comparisons=comparisons,
        tokenizer_agreement=tokenizer_agreement(tokenizer, tokenizer_file, texts),
        eval_file=str(labelled.path) if labelled else None,
        eval_samples=len(labelled.texts) if labelled else None,
    )


def torch_greedy(model: PreTrainedModel, input_ids: np.ndarray, new_tokens: int) -> list[int]:
    """Argmax decoding with the model's own KV cache; like OrtDecoder.greedy, EOS does not stop it."""
    import torch

    with torch.inference_mode():
        output = model(input_ids=torch.from_numpy(input_ids), use_cache=True)
        tokens = [int(output.logits[0, -1].argmax())]
        while len(tokens) < new_tokens:
            step = torch.tensor([[tokens[-1]]])
            output = model(input_ids=step, past_key_values=output.past_key_values, use_cache=True)
            tokens.append(int(output.logits[0, -1].argmax()))
    return tokens


def _prefix_agreement(reference: list[int], candidate: list[int]) -> float:
    same = next((i for i, (a, b) in enumerate(zip(reference, candidate, strict=True)) if a != b), len(reference))
    return same / len(reference)


def generation_parity(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerFast,
    candidates: Mapping[str, Path],
    prompts: Sequence[str],
    tokenizer_file: Path,
    device: Device = "cpu",
    threads: int = 2,
    new_tokens: int = GREEDY_TOKENS,
    eval_tokens: EvalTokens | None = None,
) -> ParityReport:
    """Prompt logits (one forward pass, empty cache) and greedy continuations, prompt by prompt;
    with `eval_tokens`, bits per byte of every candidate on them.

    A model with a short context gets fewer greedy tokens and its prompts' last tokens only, so
    prompt + continuation always fit its position table.
    """
    import torch

    from export.model_info import max_context

    context = max_context(model.config, tokenizer)
    new_tokens = min(new_tokens, context // 2)
    ids = [tokenizer(prompt, return_tensors="np")["input_ids"][:, -(context - new_tokens) :] for prompt in prompts]
    references = []
    with torch.inference_mode():
        for prompt_ids in tqdm(ids, desc="torch reference", unit="prompt", leave=False):
            logits = model(input_ids=torch.from_numpy(prompt_ids)).logits[0].float().numpy()
            references.append((logits, torch_greedy(model, prompt_ids, new_tokens)))
    comparisons = []
    for variant, path in candidates.items():
        decoder = OrtDecoder(open_session(path, device, threads))
        diffs, top1s, agreements = [], [], []
        for prompt_ids, (ref_logits, ref_tokens) in tqdm(
            list(zip(ids, references, strict=True)), desc=variant, unit="prompt", leave=False
        ):
            logits, _ = decoder.step(prompt_ids, decoder.empty_past(1))
            diff, top1 = _logit_figures(ref_logits, logits[0])
            diffs.append(diff)
            top1s.append(top1)
            agreements.append(_prefix_agreement(ref_tokens, decoder.greedy(prompt_ids, new_tokens)))
        comparisons.append(
            Comparison(
                variant,
                max(diffs),
                float(np.mean(top1s)),
                logit_scale=max(_scale(logits) for logits, _ in references),
                greedy_agreement=float(np.mean(agreements)),
                bits_per_byte=bits_per_byte(decoder, eval_tokens) if eval_tokens else None,
            )
        )
    return ParityReport(
        task="generation",
        samples=len(prompts),
        comparisons=comparisons,
        tokenizer_agreement=tokenizer_agreement(tokenizer, tokenizer_file, prompts),
        greedy_tokens=new_tokens,
        eval_texts=list(eval_tokens.names) if eval_tokens else None,
        eval_tokens=eval_tokens.tokens if eval_tokens else None,
        eval_bytes=eval_tokens.bytes if eval_tokens else None,
    )
