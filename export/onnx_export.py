"""Step 1: Hugging Face folder -> ONNX, with optimum's exporter.

Decoders are exported with past key values ("text-generation-with-past"): one model.onnx
whose present.* outputs feed the next step's past_key_values.* inputs. Validation is ours
(export.parity), so optimum's own check is switched off rather than run twice.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from export.errors import ExportError
from export.tasks import TASKS, Task, check_model_dir

Device = Literal["cpu", "cuda"]
MODEL_FILE = "model.onnx"


@dataclass(frozen=True)
class OnnxModel:
    """An ONNX model on disk and the facts the manifest declares about it."""

    path: Path
    opset: int
    inputs: list[str]
    outputs: list[str]

    @property
    def files(self) -> list[Path]:
        """The graph and, for models over 2 GB, its external-data files beside it."""
        return [self.path, *sorted(self.path.parent.glob(f"{self.path.name}_data"))]

    @property
    def size_bytes(self) -> int:
        return sum(f.stat().st_size for f in self.files)


def describe(path: Path) -> OnnxModel:
    """Reads opset and input/output names without loading the weights."""
    import onnx

    try:
        model = onnx.load(str(path), load_external_data=False)
    except Exception as exc:  # onnx raises DecodeError, OSError... all mean "not a readable model"
        raise ExportError(f"{path}: not a readable ONNX model: {exc}") from exc
    opset = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), None)
    if opset is None:
        raise ExportError(f"{path}: no default-domain opset_import")
    initializers = {i.name for i in model.graph.initializer}
    return OnnxModel(
        path=path,
        opset=opset,
        inputs=[i.name for i in model.graph.input if i.name not in initializers],
        outputs=[o.name for o in model.graph.output],
    )


def export_onnx(
    model_dir: Path, task: Task, out_dir: Path, opset: int | None = None, device: Device = "cpu"
) -> OnnxModel:
    """Exports fp32 on CPU; on CUDA (needs a GPU build of torch, untested on CPU machines) fp16."""
    from optimum.exporters.onnx import main_export

    check_model_dir(model_dir)
    if device == "cuda":
        import torch

        if not torch.cuda.is_available():
            raise ExportError("--device cuda: torch sees no CUDA GPU (the fp16 export runs the model on the GPU)")
    try:
        main_export(
            str(model_dir),
            output=out_dir,
            task=TASKS[task].optimum_task,
            opset=opset,
            device=device,
            dtype="fp16" if device == "cuda" else None,
            local_files_only=True,
            do_validation=False,
            library_name="transformers",
        )
    except Exception as exc:  # optimum raises ValueError/KeyError/RuntimeError for unsupported models
        raise ExportError(f"--model {model_dir}: ONNX export as {TASKS[task].optimum_task!r} failed: {exc}") from exc
    path = out_dir / MODEL_FILE
    if not path.is_file():
        found = sorted(p.name for p in out_dir.glob("*.onnx"))
        raise ExportError(f"{out_dir}: the exporter wrote {found or 'no .onnx file'}, expected {MODEL_FILE}")
    return describe(path)
