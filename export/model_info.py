"""What a bundle's manifest says about its model, read from the Hugging Face config and tokenizer.

Labels follow the one emotion vocabulary of `narrative.emotions`: a classifier saved with
generic names (LABEL_0...) and 28 outputs is a GoEmotions head, so it gets those names.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from export.errors import ExportError
from export.train_emotion import THRESHOLDS_FILE
from narrative.emotions import FINE_LABELS

if TYPE_CHECKING:
    from transformers import PretrainedConfig, PreTrainedTokenizerFast

# Special tokens that steer generation, e.g. "<|style:horror|>" and "<|emotion:fear|>".
CONTROL_TOKEN = re.compile(r"^<\|(style|emotion):([A-Za-z0-9_\-]+)\|>$")
_GENERIC_LABEL = re.compile(r"^LABEL_\d+$")
# Tokenizers without a limit report a huge sentinel as model_max_length.
_NO_LIMIT = 1_000_000


@dataclass(frozen=True)
class ControlTokens:
    styles: dict[str, str] = field(default_factory=dict)
    emotions: dict[str, str] = field(default_factory=dict)


def emotion_labels(config: PretrainedConfig) -> list[str]:
    """Label names by class id (position = id)."""
    names = [config.id2label[i] for i in range(config.num_labels)]
    if all(_GENERIC_LABEL.match(name) for name in names):
        if len(names) != len(FINE_LABELS):
            raise ExportError(
                f"config.json: id2label has only generic names for {len(names)} classes; name the labels "
                f"(id2label) or use a {len(FINE_LABELS)}-class GoEmotions head"
            )
        return list(FINE_LABELS)
    return names


def thresholds(model_dir: Path, labels: Sequence[str]) -> dict[str, float]:
    """Per-label decision thresholds tuned by `storyteller train emotion`; empty when there are none."""
    path = model_dir / THRESHOLDS_FILE
    if not path.is_file():
        return {}
    try:
        found = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ExportError(f"{path}:{exc.lineno}: not valid JSON: {exc.msg}") from None
    if not isinstance(found, dict) or sorted(found) != sorted(labels):
        raise ExportError(f"{path}: expected a threshold for each of the model's labels {list(labels)}")
    return {label: float(found[label]) for label in labels}


def control_tokens(tokenizer: PreTrainedTokenizerFast) -> ControlTokens:
    """Style and emotion tokens found among the tokenizer's added tokens; empty when it has none."""
    found = ControlTokens()
    for token in sorted(tokenizer.get_added_vocab()):
        match = CONTROL_TOKEN.match(token)
        if match:
            kind, value = match.groups()
            (found.styles if kind == "style" else found.emotions)[value] = token
    return found


def max_context(config: PretrainedConfig, tokenizer: PreTrainedTokenizerFast) -> int:
    """The longest input the model takes: its position table, capped by the tokenizer's limit."""
    limits = [
        getattr(config, key)
        for key in ("max_position_embeddings", "n_positions", "max_sequence_length")
        if isinstance(getattr(config, key, None), int)
    ]
    if 0 < tokenizer.model_max_length < _NO_LIMIT:
        limits.append(tokenizer.model_max_length)
    if not limits:
        raise ExportError("config.json: no max_position_embeddings or n_positions; cannot tell the max context")
    return min(limits)


def special_token_ids(config: PretrainedConfig, tokenizer: PreTrainedTokenizerFast) -> dict[str, int]:
    """pad/bos/eos ids the serving loop needs (the tokenizer's, else the config's); absent ones omitted."""
    ids: dict[str, int] = {}
    for name in ("pad", "bos", "eos"):
        value = getattr(tokenizer, f"{name}_token_id", None)
        if value is None:
            value = getattr(config, f"{name}_token_id", None)
        if isinstance(value, int):
            ids[f"{name}_token_id"] = value
    return ids


def base_model_source(model_dir: Path) -> dict[str, str]:
    """Where a fine-tuned model's pretrained weights came from (export.base_model), for the manifest."""
    from export.base_model import read_provenance

    provenance = read_provenance(model_dir)
    if provenance is None:
        return {}
    return {
        "base_package": f"{provenance.package}=={provenance.version}",
        "base_licence": provenance.licence,
        "base_gguf_sha256": provenance.gguf_sha256,
    }
