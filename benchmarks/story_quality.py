"""Story model quality, as served: the int8 bundle driven through the server's own generation loop.

Figures printed side by side (never pass/fail), and all of them written as JSON with --json:

- dev perplexity: onnxruntime on the int8 bundle, teacher-forced over dev blocks laid out as
  training lays them out (`<|endoftext|><|style:S|><|emotion:E|>text`, packed into blocks of the
  model's context, an evenly spread fixed subset: export/train_story.py's dev_blocks). Beside it,
  torch fp32 on the same blocks when the Hugging Face folder is there, and the training run's own
  figure from training.json (torch, bf16 autocast when the run trained with it).
- diversity of generations: distinct-1 and distinct-2 (unique / all word n-grams over all texts of
  a condition) and the repeated-trigram rate (share of a text's trigrams already seen earlier in
  the same text, averaged over texts); the dev corpus cut to the same number of texts and words is
  the human reference.
- style control: a TF-IDF + logistic regression style classifier trained on the corpus's train
  split (its dev accuracy is the ceiling), applied to N generations per style with the style
  control token, and to the same requests without any control token (the baseline: chance).
- emotion control: N generations per Ekman target, read by the emotion bundle (top Ekman group);
  hit = that group is the target. Control token only (1 candidate), control token + reranking
  (4 candidates, the generator keeps the one that reads most like the target), and no control at all.

Requests go through server.generation.StoryGenerator in-process, many at once, so the scheduler
batches them as it does for concurrent calls. Seeds are fixed: a run replays exactly on fp32,
and almost exactly on int8 (activations are quantized over the whole batch).

    python -m benchmarks.story_quality --bundle samples/models/story --corpus runs/story/corpus \
        [--per-style 100] [--max-tokens 80] [--seed 1] [--json story_quality.json]
    python -m benchmarks.story_quality --bundle v1=samples/models/story --bundle base=bundles/smollm2 \
        --bundle v2=bundles/story-v2 --judge runs/style-judge --corpus runs/story-v2/corpus   # side by side

Models side by side: bits per byte on the dev works (tokenizer-independent, no controls; the only
cross-model language-model figure, as perplexity depends on the vocabulary), then the same requests for
each. A bundle without control tokens (a base model) is asked for style and emotion in words, a line
before the opening; the judges read the opening and continuation only, never that line.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import re
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from export.story_corpus import Segment, read_jsonl
from export.train_story import StoryTrainConfig, dev_blocks, encode
from narrative.emotions import EKMAN_AXES
from narrative.prompting import MOOD
from server.config import SAMPLE_MODELS

# Where `storyteller train story --out OUT` leaves its corpus, in the order they are looked for.
CORPUS_CANDIDATES = (Path("runs/story/corpus"),)  # where `storyteller train story --out runs/story` puts it
# Short neutral openings, rotated over the samples of every condition.
OPENINGS = (
    "The", "It was", "She", "He", "When the", "There was", "They", "In the", "After a while", "At last the",
)  # fmt: skip
WORD = re.compile(r"\w+(?:'\w+)?|[^\w\s]")


# --- corpus and perplexity ------------------------------------------------------------------


def _mean_nll(logits: np.ndarray, ids: np.ndarray) -> tuple[float, int]:
    """Summed next-token negative log-likelihood (nats) of ids[:, 1:] and how many tokens."""
    logits = logits[:, :-1].astype(np.float64)
    targets = ids[:, 1:]
    top = logits.max(axis=-1, keepdims=True)
    log_norm = np.log(np.exp(logits - top).sum(axis=-1)) + top[..., 0]
    picked = np.take_along_axis(logits, targets[..., None], axis=-1)[..., 0]
    return float((log_norm - picked).sum()), targets.size


def ort_perplexity(session: Any, blocks: np.ndarray) -> float:
    """Teacher-forced, one block per run (a prefill, as served), empty KV cache."""
    inputs = {i.name: i for i in session.get_inputs()}
    past = [i for i in inputs.values() if i.name.startswith("past_key_values.")]
    dtype = np.float16 if past and past[0].type == "tensor(float16)" else np.float32
    total, count = 0.0, 0
    for block in blocks:
        ids = block[None, :]
        feeds: dict[str, np.ndarray] = {"input_ids": ids}
        feeds |= {p.name: np.zeros((1, p.shape[1], 0, p.shape[3]), dtype) for p in past}
        if "attention_mask" in inputs:
            feeds["attention_mask"] = np.ones_like(ids)
        if "position_ids" in inputs:
            feeds["position_ids"] = np.arange(ids.shape[1], dtype=np.int64)[None, :]
        logits = session.run(["logits"], feeds)[0]
        nll, n = _mean_nll(logits, ids)
        total, count = total + nll, count + n
    return math.exp(total / count)


def torch_perplexity(model_dir: Path, blocks: np.ndarray, threads: int) -> float:
    import torch
    from transformers import AutoModelForCausalLM

    torch.set_num_threads(threads)
    model = AutoModelForCausalLM.from_pretrained(model_dir).eval()
    total, count = 0.0, 0
    with torch.inference_mode():
        for start in range(0, len(blocks), 8):
            ids = blocks[start : start + 8]
            tensor = torch.from_numpy(ids)
            logits = model(input_ids=tensor, attention_mask=torch.ones_like(tensor)).logits.float().numpy()
            nll, n = _mean_nll(logits, ids)
            total, count = total + nll, count + n
    return math.exp(total / count)


# --- text figures -----------------------------------------------------------------------------


def words(text: str) -> list[str]:
    return WORD.findall(text.lower())


def ngrams(tokens: Sequence[str], n: int) -> list[tuple[str, ...]]:
    return [tuple(tokens[i : i + n]) for i in range(len(tokens) - n + 1)]


def distinct(texts: Sequence[str], n: int) -> float:
    """Unique n-grams / all n-grams, over all texts together (Li et al., 2016)."""
    grams = [g for text in texts for g in ngrams(words(text), n)]
    return len(set(grams)) / len(grams) if grams else 0.0


def repeated_trigram_rate(text: str) -> float:
    """Share of the text's trigrams that already occurred earlier in the same text."""
    seen: set[tuple[str, ...]] = set()
    repeats = 0
    grams = ngrams(words(text), 3)
    for gram in grams:
        repeats += gram in seen
        seen.add(gram)
    return repeats / len(grams) if grams else 0.0


def text_figures(texts: Sequence[str]) -> dict[str, float]:
    return {
        "texts": len(texts),
        "mean_words": float(np.mean([len(t.split()) for t in texts])) if texts else 0.0,
        "distinct_1": distinct(texts, 1),
        "distinct_2": distinct(texts, 2),
        "repeated_trigram_rate": float(np.mean([repeated_trigram_rate(t) for t in texts])) if texts else 0.0,
    }


def cut_words(text: str, count: int) -> str:
    return " ".join(text.split()[:count])


# --- style classifier -------------------------------------------------------------------------


class StyleClassifier:
    """TF-IDF (words and word pairs) + logistic regression with balanced class weights, so chance
    is 1/styles however unbalanced the genres are."""

    def __init__(self, train: Sequence[Segment]) -> None:
        from sklearn.feature_extraction.text import TfidfVectorizer
        from sklearn.linear_model import LogisticRegression
        from sklearn.pipeline import make_pipeline

        self.pipeline = make_pipeline(
            TfidfVectorizer(ngram_range=(1, 2), min_df=2, max_features=200_000, sublinear_tf=True),
            LogisticRegression(max_iter=2000, C=4.0, class_weight="balanced"),
        )
        self.pipeline.fit([s.text for s in train], [s.style for s in train])
        self.styles = [str(c) for c in self.pipeline.classes_]

    def predict(self, texts: Sequence[str]) -> list[str]:
        return [str(p) for p in self.pipeline.predict(list(texts))]

    def accuracy(self, texts: Sequence[str], truth: Sequence[str]) -> float:
        predicted = self.predict(texts)
        return float(np.mean([p == t for p, t in zip(predicted, truth, strict=True)])) if texts else 0.0


# --- generation -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Request:
    prompt: str  # the opening the text continues
    style: str
    emotion: str
    candidates: int
    seed: int
    in_words: bool = False  # the model has no control tokens: style and emotion are asked for in words

    def text(self) -> str:
        """What the model is given: the opening, after a request in words when the model has no tokens."""
        return words_lead(self.style, self.emotion) + self.prompt if self.in_words else self.prompt


STYLE_WORDS = {
    "adventure": "an adventure story", "fairy_tale": "a fairy tale", "horror": "a horror story",
    "humour": "a humorous story", "mystery": "a mystery story", "science_fiction": "a science fiction story",
}  # fmt: skip


def words_lead(style: str, emotion: str) -> str:
    """A base model's request for style and emotion, as a line before the opening."""
    if not style and not emotion:
        return ""
    what = STYLE_WORDS.get(style, f"a {style.replace('_', ' ')} story") if style else "a story"
    mood = f", written to make the reader feel {MOOD[emotion]}" if emotion else ""
    return f"Here is a passage from {what}{mood}:\n\n"


@dataclass(frozen=True)
class Generated:
    request: Request
    text: str  # the continuation only
    tokens: int
    top_ekman: str | None


class Runner:
    """The bundle behind the server's StoryGenerator (and its emotion classifier), in-process."""

    def __init__(self, generator: Any, sampling: Any, max_tokens: int, concurrency: int) -> None:
        self.generator = generator
        self.sampling = sampling
        self.max_tokens = max_tokens
        self.concurrency = concurrency
        self.tokens = 0

    async def run(self, requests: Sequence[Request], label: str) -> list[Generated]:
        """All requests, at most `concurrency` in flight, so the scheduler batches them."""
        from server.generation.types import GenerationParams

        gate = asyncio.Semaphore(self.concurrency)
        done = 0
        started = time.perf_counter()

        async def one(request: Request) -> Generated:
            nonlocal done
            params = GenerationParams(
                prompt=request.text(), style="" if request.in_words else request.style,
                target_emotion="" if request.in_words else request.emotion,
                sampling=self.sampling, max_new_tokens=self.max_tokens, seed=request.seed,
                num_candidates=request.candidates,
            )  # fmt: skip
            async with gate:
                result = await self.generator.generate(params)
            done += 1
            self.tokens += result.completion_tokens * result.candidates
            reading = result.detected_emotion
            return Generated(request, result.text, result.completion_tokens, reading.top_ekman if reading else None)

        results = list(await asyncio.gather(*(one(r) for r in requests)))
        seconds = time.perf_counter() - started
        print(f"  {label}: {len(requests)} requests in {seconds:.1f} s", flush=True)
        return results


def opening(index: int) -> str:
    return OPENINGS[index % len(OPENINGS)]


def style_requests(
    styles: Sequence[str], per_style: int, seed: int, controlled: bool, in_words: bool = False
) -> list[Request]:
    """Sample i of style s has the same prompt and seed with and without the control token."""
    return [
        Request(opening(i), style if controlled else "", "", 1, seed * 1_000_000 + s * per_style + i + 1, in_words)
        for s, style in enumerate(styles)
        for i in range(per_style)
    ]


def emotion_requests(
    targets: Sequence[str], per_target: int, seed: int, mode: str, in_words: bool = False
) -> list[Request]:
    """mode: "control" (token, 1 candidate), "rerank" (token, 4 candidates), "baseline" (neither)."""
    offset = 500_000  # apart from the style requests' seeds
    return [
        Request(
            opening(i), "", "" if mode == "baseline" else target, 4 if mode == "rerank" else 1,
            seed * 1_000_000 + offset + t * per_target + i + 1, in_words,
        )
        for t, target in enumerate(targets)
        for i in range(per_target)
    ]


def style_figures(classifier: Any, generated: Sequence[Generated], asked: Sequence[str]) -> dict[str, Any]:
    """The classifier (TF-IDF or the MiniLM judge) reads the opening + continuation, never a request in
    words (it names the genre); `asked` is the style each request stood for."""
    predicted = classifier.predict([g.request.prompt + g.text for g in generated])
    return _hit_figures(asked, predicted, classifier.styles)


def _hit_figures(asked: Sequence[str], predicted: Sequence[str | None], classes: Sequence[str]) -> dict[str, Any]:
    per: dict[str, float] = {}
    for value in dict.fromkeys(asked):
        rows = [p == a for a, p in zip(asked, predicted, strict=True) if a == value]
        per[value] = float(np.mean(rows))
    counts = Counter(p for p in predicted if p is not None)
    return {
        "overall": float(np.mean([p == a for a, p in zip(asked, predicted, strict=True)])),
        "per_target": per,
        "predicted_share": {c: counts.get(c, 0) / len(predicted) for c in classes},
    }


def samples(generated: Sequence[Generated]) -> list[dict[str, str]]:
    return [
        {"prompt": g.request.text(), "style": g.request.style, "emotion": g.request.emotion, "text": g.text}
        for g in generated
    ]


# --- the run ------------------------------------------------------------------------------------


def _default_corpus() -> Path | None:
    return next((c for c in CORPUS_CANDIDATES if (c / "dev.jsonl").is_file()), None)


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.story_quality",
        description="Story model quality through the server's generation loop (figures, not pass/fail).",
    )
    parser.add_argument(
        "--bundle", action="append", metavar="[NAME=]DIR",
        help="a generation bundle; repeatable, for models side by side (default: the shipped one). A bundle "
        "without control tokens is asked for style and emotion in words",
    )  # fmt: skip
    parser.add_argument("--judge", type=Path, help="a style judge from `storyteller train style-judge`, beside TF-IDF")
    parser.add_argument("--bpb-chars", type=int, default=16_000, help="characters of each dev work for bits per byte")
    parser.add_argument(
        "--corpus", type=Path, help="OUT/corpus of `storyteller train story` (train.jsonl, dev.jsonl); "
        f"default: the first of {', '.join(map(str, CORPUS_CANDIDATES))} that exists",
    )  # fmt: skip
    parser.add_argument("--emotion-bundle", type=Path, default=SAMPLE_MODELS / "emotion")
    parser.add_argument(
        "--hf", type=Path, help="the Hugging Face folder the bundle came from, for torch fp32 perplexity "
        "(default: CORPUS/../best when it exists; '' for none)",
    )  # fmt: skip
    parser.add_argument("--training-json", type=Path, help="default: CORPUS/../training.json")
    parser.add_argument("--per-style", type=int, default=100, help="generations per style and per condition")
    parser.add_argument("--per-emotion", type=int, help="per Ekman target and condition (default: --per-style)")
    parser.add_argument("--max-tokens", type=int, default=80, help="new tokens per generation")
    parser.add_argument("--ppl-blocks", type=int, help="dev blocks (default: training's eval_blocks, else 192)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--temperature", type=float, default=0.9)
    parser.add_argument("--top-k", type=int, default=50)
    parser.add_argument("--top-p", type=float, default=0.95)
    parser.add_argument("--repetition-penalty", type=float, default=1.1)
    parser.add_argument("--batch-size", type=int, default=16, help="generation.max_batch_size of the loop")
    parser.add_argument("--threads", type=int, default=2, help="onnxruntime (and torch) threads")
    parser.add_argument("--json", type=Path, help="write every figure (and a few sample texts) here")
    return parser.parse_args(list(argv))


@dataclass
class Judges:
    """The style judges, trained or loaded once for every bundle measured."""

    tfidf: StyleClassifier
    minilm: Any | None  # export.style_judge.StyleJudge


def dev_bits_per_byte(generator: Any, session: Any, dev: Sequence[Segment], chars_per_work: int) -> dict[str, Any]:
    """Bits per byte of the bundle on the dev works' text (the first characters of each work, no
    controls): the same bytes for every model, whatever its tokenizer (export.bits_per_byte)."""
    from transformers import PreTrainedTokenizerFast

    from export.bits_per_byte import EvalText, bits_per_byte, tokenize
    from export.ort_decoder import OrtDecoder

    works: dict[str, list[str]] = {}
    for segment in dev:
        works.setdefault(segment.work, []).append(segment.text)
    texts = [EvalText(work, "\n\n".join(parts)[:chars_per_work]) for work, parts in sorted(works.items())]
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=generator.tokenizer)
    data = tokenize(tokenizer, texts, chars_per_work, min(1024, generator.max_context))  # every token of the cut
    value = bits_per_byte(OrtDecoder(session), data)
    return {"bits_per_byte": value, "works": list(data.names), "tokens": data.tokens, "bytes": data.bytes}


async def _measure(args: argparse.Namespace, corpus: Path, bundle: Path, judges: Judges) -> dict[str, Any]:
    from server.config import GenerationSettings
    from server.generation.local import open_local
    from server.generation.sampling import SamplingConfig

    training_json = args.training_json or corpus.parent / "training.json"
    training = json.loads(training_json.read_text()) if training_json.is_file() else None
    train, dev = read_jsonl(corpus / "train.jsonl"), read_jsonl(corpus / "dev.jsonl")
    settings = GenerationSettings(max_batch_size=args.batch_size, max_waiting=1024)
    models = await open_local(bundle, args.emotion_bundle, args.threads, settings)
    generator, story = models.story, models.story.bundle
    controls = story.manifest.control_tokens
    in_words = not controls.styles and not controls.emotions
    report: dict[str, Any] = {
        "bundle": {"path": str(bundle), "name": story.manifest.name, "quantization": story.manifest.quantization},
        "controls": "asked in words" if in_words else "control tokens",
        "emotion_bundle": models.emotion.classifier.name,
        "corpus": str(corpus),
    }
    print(f"bits per byte on the dev works ({bundle}) ...", flush=True)
    report["bits_per_byte"] = await asyncio.to_thread(
        dev_bits_per_byte, generator, story.session, dev, args.bpb_chars
    )

    # Perplexity: the same blocks training evaluated on, when its settings are known (models with controls).
    train_config = (training or {}).get("config", {})
    context = int(train_config.get("context") or min(256, story.manifest.max_context or 256))
    count = args.ppl_blocks or int(train_config.get("eval_blocks") or 192)
    config = StoryTrainConfig(data=corpus, out=corpus.parent, emotion_bundle=args.emotion_bundle, context=context,
                              eval_blocks=count)  # fmt: skip
    ppl: dict[str, Any] = {}
    if not in_words:
        blocks = dev_blocks(encode(generator.tokenizer, dev), config).ids  # prose only: every position is learned
        print(f"perplexity: {len(blocks)} dev blocks of {context} tokens ...", flush=True)
        ppl = {"blocks": len(blocks), "context": context}
        ppl["ort_bundle"] = await asyncio.to_thread(ort_perplexity, story.session, blocks)
        hf = args.hf if args.hf is not None else corpus.parent / "best"
        if str(hf) and (hf / "config.json").is_file():
            try:
                ppl["torch_fp32"] = await asyncio.to_thread(torch_perplexity, hf, blocks, args.threads)
                ppl["torch_fp32_model"] = str(hf)
            except ImportError as exc:
                print(f"  torch fp32 perplexity skipped: {exc} (needs the export extra)")
        if training is not None:
            ppl["training_json"] = {
                "best_dev_perplexity": training.get("best_dev_perplexity"),
                "eval_blocks": train_config.get("eval_blocks"),
                "bf16_autocast": train_config.get("bf16"),
                "steps": training.get("steps"),
            }
    report["perplexity"] = ppl

    # Style classifier: the ceiling, on whole dev segments and on segments cut to a generation's length.
    classifier = judges.tfidf
    styles = sorted(controls.styles) if not in_words else list(classifier.styles)
    report["style_classifier"] = {
        "model": "tf-idf 1-2 grams + logistic regression (balanced)",
        "train_segments": len(train),
        "dev_segments": len(dev),
        "dev_accuracy": classifier.accuracy([s.text for s in dev], [s.style for s in dev]),
        "chance": 1 / len(classifier.styles),
    }
    if set(styles) != set(classifier.styles):
        print(f"  note: bundle styles {styles} differ from the corpus's {classifier.styles}")

    sampling = SamplingConfig(
        temperature=args.temperature, top_k=args.top_k, top_p=args.top_p, repetition_penalty=args.repetition_penalty
    )
    runner = Runner(generator, sampling, args.max_tokens, concurrency=args.batch_size * 2)
    per_emotion = args.per_emotion or args.per_style
    targets = list(EKMAN_AXES) if in_words else [e for e in EKMAN_AXES if e in controls.emotions]
    # Reranking needs a target the generator knows: a model without emotion tokens has none.
    modes = ("control", "baseline") if in_words else ("control", "rerank", "baseline")
    started = time.perf_counter()
    try:
        print("generating ...", flush=True)
        styled = await runner.run(style_requests(styles, args.per_style, args.seed, True, in_words), "style control")
        unstyled = await runner.run(style_requests(styles, args.per_style, args.seed, False), "no control")
        by_mode = {}
        for mode in modes:
            requests = emotion_requests(targets, per_emotion, args.seed, mode, in_words)
            by_mode[mode] = await runner.run(requests, f"emotion {mode}")
    finally:
        await models.close()
    seconds = time.perf_counter() - started
    report["generation"] = {
        "sampling": {"temperature": args.temperature, "top_k": args.top_k, "top_p": args.top_p,
                     "repetition_penalty": args.repetition_penalty},
        "max_tokens": args.max_tokens, "seed": args.seed, "per_style": args.per_style, "per_emotion": per_emotion,
        "openings": list(OPENINGS), "seconds": seconds, "tokens": runner.tokens,
        "tokens_per_s": runner.tokens / seconds,
    }  # fmt: skip

    generated_words = round(text_figures([g.text for g in styled])["mean_words"]) or 1
    reference = [cut_words(s.text, generated_words) for s in dev[:: max(1, len(dev) // len(styled))][: len(styled)]]
    report["diversity"] = {
        "style control": text_figures([g.text for g in styled]),
        "no control": text_figures([g.text for g in unstyled]),
        **{f"emotion {mode}": text_figures([g.text for g in by_mode[mode]]) for mode in modes if mode != "baseline"},
        f"dev corpus (first {generated_words} words)": text_figures(reference),
    }
    report["style_classifier"]["dev_accuracy_cut"] = classifier.accuracy(
        [cut_words(s.text, generated_words) for s in dev], [s.style for s in dev]
    )
    report["style_classifier"]["cut_words"] = generated_words
    asked = [styles[i // args.per_style] for i in range(len(styled))]
    report["style_control"] = {
        "with_token": style_figures(classifier, styled, asked),
        "baseline_no_token": style_figures(classifier, unstyled, asked),  # same prompts and seeds, no token
    }
    if judges.minilm is not None:
        report["style_control_minilm"] = {
            "with_token": style_figures(judges.minilm, styled, asked),
            "baseline_no_token": style_figures(judges.minilm, unstyled, asked),
        }
    report["emotion_control"] = {}
    for mode, generated in by_mode.items():
        asked = [targets[i // per_emotion] for i in range(len(generated))]
        report["emotion_control"][mode] = _hit_figures(asked, [g.top_ekman for g in generated], list(EKMAN_AXES))
    report["emotion_control"]["chance"] = 1 / len(targets)
    report["samples"] = {
        "style control": samples(styled[:: args.per_style]),
        "no control": samples(unstyled[:: args.per_style]),
        **{f"emotion {mode}": samples(by_mode[mode][::per_emotion]) for mode in modes if mode != "baseline"},
    }
    return report


def print_report(report: dict[str, Any]) -> None:
    ppl = report["perplexity"]
    print(f"\nstory quality: {report['bundle']['name']} ({report['bundle']['quantization']}, {report['controls']}), "
          f"emotion model {report['emotion_bundle']}")  # fmt: skip
    bpb = report["bits_per_byte"]
    print(f"\nbits per byte on the dev works ({bpb['tokens']} tokens, {bpb['bytes']} bytes): {bpb['bits_per_byte']:.4f}")
    if ppl:
        _print_perplexity(ppl)
    _print_rest(report)


def _print_perplexity(ppl: dict[str, Any]) -> None:
    print(f"\ndev perplexity, {ppl['blocks']} blocks x {ppl['context']} tokens (controls on, as training evaluates)")
    print(f"  {'ORT bundle (as served)':<44}{ppl['ort_bundle']:>10.2f}")
    if "torch_fp32" in ppl:
        print(f"  {'torch fp32, same blocks':<44}{ppl['torch_fp32']:>10.2f}")
    if "training_json" in ppl and ppl["training_json"]["best_dev_perplexity"] is not None:
        info = ppl["training_json"]
        label = f"training.json best (torch{', bf16 autocast' if info['bf16_autocast'] else ''})"
        print(f"  {label:<44}{info['best_dev_perplexity']:>10.2f}")


def _print_rest(report: dict[str, Any]) -> None:
    print(f"\n{'diversity':<36}{'texts':>6}{'words':>7}{'distinct-1':>12}{'distinct-2':>12}{'rep. trigrams':>15}")
    for label, f in report["diversity"].items():
        print(f"  {label:<34}{f['texts']:>6}{f['mean_words']:>7.0f}{f['distinct_1']:>12.3f}"
              f"{f['distinct_2']:>12.3f}{f['repeated_trigram_rate']:>15.3f}")  # fmt: skip

    sc = report["style_classifier"]
    print(f"\nstyle classifier ({sc['model']}): dev accuracy {sc['dev_accuracy']:.3f} on whole segments, "
          f"{sc['dev_accuracy_cut']:.3f} on their first {sc['cut_words']} words; chance {sc['chance']:.3f}")  # fmt: skip
    for key, judge in (("style_control", "TF-IDF judge"), ("style_control_minilm", "MiniLM judge")):
        if key not in report:
            continue
        control = report[key]
        styles = list(control["with_token"]["per_target"])
        print(f"{'style accuracy, ' + judge:<36}{'asked':>12}{'not asked':>12}{'not asked: share predicted':>28}")
        for style in styles:
            print(f"  {style:<34}{control['with_token']['per_target'][style]:>12.3f}"
                  f"{control['baseline_no_token']['per_target'][style]:>12.3f}"
                  f"{control['baseline_no_token']['predicted_share'].get(style, 0.0):>28.3f}")  # fmt: skip
        print(f"  {'overall':<34}{control['with_token']['overall']:>12.3f}"
              f"{control['baseline_no_token']['overall']:>12.3f}")  # fmt: skip

    emotion = report["emotion_control"]
    rerank = emotion.get("rerank", {"per_target": {}, "overall": math.nan})
    print(f"\n{'emotion hit rate (top Ekman group)':<36}{'asked':>10}{'asked+rerank':>14}{'no control':>12}"
          f"{'no control: share':>19}")  # fmt: skip
    for target in emotion["control"]["per_target"]:
        print(f"  {target:<34}{emotion['control']['per_target'][target]:>10.3f}"
              f"{rerank['per_target'].get(target, math.nan):>14.3f}{emotion['baseline']['per_target'][target]:>12.3f}"
              f"{emotion['baseline']['predicted_share'].get(target, 0.0):>19.3f}")  # fmt: skip
    print(f"  {'overall':<34}{emotion['control']['overall']:>10.3f}{rerank['overall']:>14.3f}"
          f"{emotion['baseline']['overall']:>12.3f}   (chance {emotion['chance']:.3f})")  # fmt: skip
    gen = report["generation"]
    s = gen["sampling"]
    print(f"\nsampling: temperature {s['temperature']}, top-k {s['top_k']}, top-p {s['top_p']}, repetition penalty "
          f"{s['repetition_penalty']}; {gen['max_tokens']} new tokens, seed {gen['seed']}; "
          f"{gen['tokens']} tokens in {gen['seconds']:.0f} s ({gen['tokens_per_s']:.0f} tokens/s batched)")  # fmt: skip


def print_comparison(reports: dict[str, dict[str, Any]]) -> None:
    """One row per figure, one column per model, so the models read side by side."""

    def figure(report: dict[str, Any], *path: str) -> float:
        value: Any = report
        for key in path:
            if not isinstance(value, dict) or key not in value:
                return math.nan
            value = value[key]
        return float(value)

    rows = [
        ("bits per byte, dev works", ("bits_per_byte", "bits_per_byte"), "{:.4f}"),
        ("style accuracy, TF-IDF judge", ("style_control", "with_token", "overall"), "{:.1%}"),
        ("style accuracy, MiniLM judge", ("style_control_minilm", "with_token", "overall"), "{:.1%}"),
        ("emotion hit rate, asked", ("emotion_control", "control", "overall"), "{:.1%}"),
        ("emotion hit rate, asked + rerank", ("emotion_control", "rerank", "overall"), "{:.1%}"),
        ("distinct-2, styled samples", ("diversity", "style control", "distinct_2"), "{:.3f}"),
        ("repeated trigrams, styled samples", ("diversity", "style control", "repeated_trigram_rate"), "{:.1%}"),
        ("tokens/s, batched", ("generation", "tokens_per_s"), "{:.0f}"),
    ]
    names = list(reports)
    print("\n" + f"{'side by side':<36}" + "".join(f"{name:>18}" for name in names))
    for label, path, fmt in rows:
        values = [figure(reports[name], *path) for name in names]
        print(f"  {label:<34}" + "".join(f"{'-' if math.isnan(v) else fmt.format(v):>18}" for v in values))


def main(argv: Sequence[str] | None = None) -> None:
    """`python -m benchmarks` calls main() with no arguments: the defaults, or a skip message."""
    args = parse_args(argv or [])
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    bundles = dict(_named(item) for item in (args.bundle or [str(SAMPLE_MODELS / "story")]))
    missing = [str(path) for path in bundles.values() if not (path / "manifest.json").is_file()]
    if missing:
        print(f"no generation bundle at {', '.join(missing)}; nothing to measure (pass --bundle DIR)")
        return
    if not (args.emotion_bundle / "manifest.json").is_file():
        print(f"no emotion bundle at {args.emotion_bundle}; nothing to measure (pass --emotion-bundle DIR)")
        return
    corpus = args.corpus or _default_corpus()
    if corpus is None or not (corpus / "dev.jsonl").is_file():
        print(f"no story corpus ({args.corpus or ' or '.join(map(str, CORPUS_CANDIDATES))}: train.jsonl, dev.jsonl);"
              " skipping (pass --corpus OUT/corpus of `storyteller train story`)")  # fmt: skip
        return
    print("style judges: training TF-IDF on the corpus's train split ...", flush=True)
    judges = Judges(StyleClassifier(read_jsonl(corpus / "train.jsonl")), None)
    if args.judge is not None:
        from export.style_judge import StyleJudge

        judges.minilm = StyleJudge(args.judge, threads=args.threads)
    reports = {}
    for name, bundle in bundles.items():
        reports[name] = asyncio.run(_measure(args, corpus, bundle, judges))
        print_report(reports[name])
    if len(reports) > 1:
        print_comparison(reports)
    if args.json:
        args.json.write_text(json.dumps(reports, indent=2, ensure_ascii=False))
        print(f"figures written to {args.json}")


def _named(item: str) -> tuple[str, Path]:
    name, sep, folder = item.partition("=")
    return (name, Path(folder)) if sep else (Path(item).name, Path(item))


if __name__ == "__main__":
    import sys

    main(sys.argv[1:])
