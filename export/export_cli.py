"""`storyteller export`: registered through the "storyteller.cli" entry-point group.

Importing this module must stay cheap (no torch): `storyteller --help` imports every
registered command. The pipeline, and torch with it, is imported only when export runs.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

EPILOG = """\
steps: load the torch model -> export ONNX with optimum (decoders with a KV cache) ->
for decoders on cpu, graph rewrites (each layer's attention fused into one
MultiHeadAttention where the pattern matches, Linear layers without their reshapes;
--no-rewrite skips them) -> quantization (--quantize) -> parity against torch and the
quantization gate -> bundle folder with manifest.json.

quantization (--quantize; default int4 for generation, int8 for emotion, none on cuda):
  int4, int8  decoders: weight-only and block-wise (com.microsoft MatMulNBits): blocks of 32
              weights along the input, symmetric, accuracy level 4 (int8 compute on CPUs
              with VNNI). Activations stay float. int4 keeps the layers it hurts most at
              int8 (llama, gpt2: each layer's value projection and MLP output, and the first
              and last two layers of deeper models): SmolLM2-135M +2.4% bits per byte over
              fp32 at 123 MB, against +6.4% with every layer int4 (int8: +0.13%, 156 MB).
  int8        emotion encoders: dynamic int8, per channel, with the optimum preset of this
              CPU (avx2, avx512, avx512_vnni or arm64).
  none        the fp32 (cuda: fp16) graph as exported.
  Only MatMuls with a constant weight are quantized: attention scores (Q x K^T) and
  attention x V multiply two activations and stay float in every scheme.
  The preset follows the model's family (llama: Llama/SmolLM/Mistral/Qwen2; gpt2; encoder:
  BERT/MiniLM; generic: anything else) and is recorded in the manifest.
  LM head and token embedding (decoders): --lm-head int8 (default) stores the head's weight
  block-wise in int8 whatever the layers get (no loss measured); int4 saves 14 MB more on
  SmolLM2's 49k x 576 table but costs 2.5 points of bits per byte; fp32 keeps it float
  (and onnxruntime then holds a second float copy of a tied table). --embedding shared (default)
  makes the embedding lookup read the head's quantized weight (com.microsoft
  GatherBlockQuantized), so a tied table is stored once; fp32 keeps a float table (vocab x
  hidden x 4 bytes: 113 MB for SmolLM2-135M). figures: docs/decisions.md.

parity (printed, and stored in the manifest): every ONNX candidate against torch eager on
the --samples prompts: max |logit difference|, also over the largest |logit| torch gave
("/scale"), top-1 agreement; for generation, greedy agreement over 32 tokens (ORT with KV
cache) and bits per byte on held-out text; for emotion with --eval-file, macro-F1.
Gates, checked before anything is written (on failure the export exits 1, writes nothing,
and prints the figures):
  - fp32: max |logit difference| within --rtol of the logits' scale (default 1e-4; fp16
    5e-3) and top-1 agreement at least --min-top1 (default 0.99);
  - a quantized decoder: at most 3% more bits per byte than ORT fp32 on the same text.
    --allow-degraded keeps such a bundle anyway; its manifest records that it did
    (parity.gate.allow_degraded and the failures).
bits per byte: the first --eval-tokens tokens (default 4096) of each --eval-text file, in
windows of up to 1024 tokens. Without --eval-text, a built-in passage of narration and
dialogue (~1k tokens, no model's training text) is used: pass held-out text of the model's
own domain (e.g. a work of fiction it was not trained on) for figures that mean more.

--device cuda exports fp16 on the GPU (needs a CUDA build of torch and onnxruntime-gpu;
not covered by the CPU test suite); int4 and int8 are CPU formats: use it with --quantize
none. Models are read from local folders only: nothing is downloaded."""


def register(commands: Any) -> None:
    parser = commands.add_parser(
        "export",
        help="export a local Hugging Face model to a quantized ONNX bundle, gated by parity and bits per byte",
        description="Export a local Hugging Face model to an ONNX model bundle the server can load.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--model", type=Path, required=True, metavar="DIR", help="Hugging Face model folder")
    parser.add_argument("--task", choices=("emotion", "generation"), required=True)
    parser.add_argument("--out", type=Path, required=True, metavar="DIR", help="bundle folder to create")
    parser.add_argument(
        "--quantize", choices=("int4", "int8", "none"),
        help="default: int4 for generation, int8 for emotion; none on cuda",
    )  # fmt: skip
    parser.add_argument(
        "--lm-head", choices=("fp32", "int8", "int4"), help="decoders: how the LM head is stored (default: int8)"
    )
    parser.add_argument(
        "--embedding", choices=("fp32", "shared"), help="decoders: the token embedding table (default: shared)"
    )
    parser.add_argument("--opset", type=int, help="ONNX opset (default: the exporter's choice)")
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    parser.add_argument("--name", help="bundle name in the manifest (default: the model folder's name)")
    parser.add_argument("--samples", type=Path, metavar="FILE", help="texts/prompts for parity, one per line")
    parser.add_argument("--eval-file", type=Path, metavar="TSV", help="labelled GoEmotions TSV for macro-F1 (emotion)")
    parser.add_argument("--eval-limit", type=int, metavar="N", help="use the first N rows of --eval-file")
    parser.add_argument(
        "--eval-text", type=Path, action="append", default=[], metavar="FILE",
        help="generation: held-out UTF-8 text for bits per byte (repeatable; default: a built-in passage)",
    )  # fmt: skip
    parser.add_argument(
        "--eval-tokens", type=int, default=4096, metavar="N", help="score the first N tokens of each --eval-text"
    )
    parser.add_argument(
        "--allow-degraded", action="store_true",
        help="keep a quantized decoder that loses more than 3%% bits per byte against fp32 (the manifest says so)",
    )  # fmt: skip
    parser.add_argument(
        "--rtol", type=float, help="max |logit diff| of fp32 vs torch over the logits' scale (default 1e-4; fp16 5e-3)"
    )
    parser.add_argument("--min-top1", type=float, help="min top-1 agreement of fp32 vs torch (default 0.99)")
    parser.add_argument("--threads", type=int, default=2, help="onnxruntime threads for the parity runs")
    parser.add_argument(
        "--no-rewrite", dest="rewrite", action="store_false", help="keep the decoder graph exactly as optimum exports it"
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from export.errors import ExportError
    from export.parity import DEFAULT_TEXTS, Tolerance, default_tolerance
    from export.pipeline import ExportRequest, run_export

    try:
        texts = _read_samples(args.samples) if args.samples else DEFAULT_TEXTS
        tolerance = None
        if args.rtol is not None or args.min_top1 is not None:
            default = default_tolerance(args.device)
            tolerance = Tolerance(
                rtol=default.rtol if args.rtol is None else args.rtol,
                min_top1=default.min_top1 if args.min_top1 is None else args.min_top1,
            )
        request = ExportRequest(
            model_dir=args.model,
            task=args.task,
            out=args.out,
            quantize=args.quantize,
            lm_head=args.lm_head,
            embedding=args.embedding,
            eval_texts=tuple(args.eval_text),
            eval_tokens=args.eval_tokens,
            allow_degraded=args.allow_degraded,
            opset=args.opset,
            device=args.device,
            name=args.name,
            texts=texts,
            eval_file=args.eval_file,
            eval_limit=args.eval_limit,
            tolerance=tolerance,
            threads=args.threads,
            rewrite=args.rewrite,
        )
        result = run_export(request)
    except ExportError as exc:
        print(f"storyteller export: {exc}", file=sys.stderr)
        return 1
    print(result.report.table())
    for failure in result.manifest.parity["gate"]["failures"]:
        print(f"degraded, kept by --allow-degraded: {failure}")
    sizes = ", ".join(f"{variant} {size / 2**20:.1f} MiB" for variant, size in result.sizes.items())
    print(f"bundle: {result.bundle} ({result.manifest.quantization}, {result.manifest.model_file}; {sizes})")
    return 0


def _read_samples(path: Path) -> tuple[str, ...]:
    from export.errors import ExportError

    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise ExportError(f"--samples {path}: cannot read it: {exc.strerror}") from exc
    return tuple(line for line in lines if line.strip())
