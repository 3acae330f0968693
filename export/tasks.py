"""The two tasks a bundle serves, and what each one means to transformers and optimum.

`emotion` is multi-label sequence classification (one sigmoid per label); `generation` is a
causal LM exported with past key values so that decoding reuses a KV cache.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from export.errors import ExportError

if TYPE_CHECKING:
    from transformers import PreTrainedModel, PreTrainedTokenizerFast

Task = Literal["emotion", "generation"]


@dataclass(frozen=True)
class TaskSpec:
    name: Task
    optimum_task: str
    auto_class: str  # the transformers Auto* class that loads the torch reference


TASKS: dict[str, TaskSpec] = {
    "emotion": TaskSpec("emotion", "text-classification", "AutoModelForSequenceClassification"),
    "generation": TaskSpec("generation", "text-generation-with-past", "AutoModelForCausalLM"),
}


def check_model_dir(model_dir: Path) -> None:
    """Fails early, before torch loads: only local folders are accepted, nothing is downloaded."""
    if not (model_dir / "config.json").is_file():
        raise ExportError(
            f"--model {model_dir}: not a folder with a config.json "
            "(models are loaded from local Hugging Face folders only; nothing is downloaded)"
        )


def load_torch_model(model_dir: Path, task: Task) -> PreTrainedModel:
    """The original model, in eval mode and fp32, as the reference for parity."""
    import transformers

    check_model_dir(model_dir)
    auto = getattr(transformers, TASKS[task].auto_class)
    try:
        model = auto.from_pretrained(model_dir, local_files_only=True, dtype="float32")
    except (OSError, ValueError) as exc:
        raise ExportError(f"--model {model_dir}: cannot load it as a {task} model: {exc}") from exc
    return model.eval()


def load_tokenizer(model_dir: Path) -> PreTrainedTokenizerFast:
    """The model's fast tokenizer: the server runs its tokenizer.json with `tokenizers`."""
    from transformers import AutoTokenizer

    try:
        tokenizer = AutoTokenizer.from_pretrained(model_dir, local_files_only=True)
    except (OSError, ValueError) as exc:
        raise ExportError(f"--model {model_dir}: cannot load its tokenizer: {exc}") from exc
    if not tokenizer.is_fast:
        raise ExportError(
            f"--model {model_dir}: {type(tokenizer).__name__} is not a fast tokenizer; "
            "the bundle needs a tokenizer.json that the `tokenizers` library can run"
        )
    return tokenizer
