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
MultiHeadAttention, Linear layers without their reshapes; --no-rewrite skips them) ->
dynamic int8 quantization, per channel, with the optimum preset for this CPU (avx2,
avx512, avx512_vnni or arm64) -> parity against torch -> bundle folder with manifest.json.

parity (printed, and stored in the manifest): max |logit difference| and top-1 agreement
of ORT fp32 and ORT int8 against torch; for generation, greedy agreement over 32 tokens
(ORT with KV cache); for emotion with --eval-file, macro-F1 fp32 vs int8. The export fails,
and writes nothing, when fp32 is outside --atol / --min-top1.

--device cuda exports fp16 on the GPU (needs a CUDA build of torch and onnxruntime-gpu;
not covered by the CPU test suite); int8 is a CPU format, so use it with --quantize none.
Models are read from local folders only: nothing is downloaded."""


def register(commands: Any) -> None:
    parser = commands.add_parser(
        "export",
        help="export a local Hugging Face model to an ONNX (int8) bundle, with a parity report",
        description="Export a local Hugging Face model to an ONNX model bundle the server can load.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--model", type=Path, required=True, metavar="DIR", help="Hugging Face model folder")
    parser.add_argument("--task", choices=("emotion", "generation"), required=True)
    parser.add_argument("--out", type=Path, required=True, metavar="DIR", help="bundle folder to create")
    parser.add_argument("--quantize", choices=("int8", "none"), help="default: int8 on cpu, none (fp16) on cuda")
    parser.add_argument("--opset", type=int, help="ONNX opset (default: the exporter's choice)")
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    parser.add_argument("--name", help="bundle name in the manifest (default: the model folder's name)")
    parser.add_argument("--samples", type=Path, metavar="FILE", help="texts/prompts for parity, one per line")
    parser.add_argument("--eval-file", type=Path, metavar="TSV", help="labelled GoEmotions TSV for macro-F1 (emotion)")
    parser.add_argument("--eval-limit", type=int, metavar="N", help="use the first N rows of --eval-file")
    parser.add_argument("--atol", type=float, help="max |logit diff| of fp32 vs torch (default 1e-4; fp16 5e-2)")
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
        if args.atol is not None or args.min_top1 is not None:
            default = default_tolerance(args.device)
            tolerance = Tolerance(
                atol=default.atol if args.atol is None else args.atol,
                min_top1=default.min_top1 if args.min_top1 is None else args.min_top1,
            )
        request = ExportRequest(
            model_dir=args.model,
            task=args.task,
            out=args.out,
            quantize=args.quantize or ("none" if args.device == "cuda" else "int8"),
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
    print(f"bundle: {result.bundle} ({result.manifest.quantization}, {result.manifest.model_file})")
    return 0


def _read_samples(path: Path) -> tuple[str, ...]:
    from export.errors import ExportError

    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise ExportError(f"--samples {path}: cannot read it: {exc.strerror}") from exc
    return tuple(line for line in lines if line.strip())
