"""Fine-tuning the story model from a pretrained base: its tokenizer with our control tokens, its weights.

Why it is built this way:
- Style and emotion control tokens are added as special tokens (BPE never splits them, the server
  finds them by name), and their embedding rows start at the mean embedding of the words they
  stand for ("science fiction", "fear"): the model begins by reading them as those words and
  only has to sharpen them, instead of learning a random vector from a few thousand examples.
- Every training text starts with `<|endoftext|>`, the base model's own document separator, which
  becomes the bundle's BOS and EOS: the layout `BOS, style, emotion, text` the server builds for
  prose and, with the chat layout inside it, for NPC lines.
- The chat layout is read off the base tokenizer's template (narrative.chat_format), so the
  trainer and the server write NPC prompts with the same code.
- LoRA (peft) trains low-rank deltas on the seven projections plus the control tokens' rows; the
  best model is always saved merged, a plain Hugging Face folder that export takes as it is.
"""

from __future__ import annotations

import copy
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import torch

from export.base_model import LICENSE_FILE, PROVENANCE_FILE
from export.errors import ExportError
from export.story_tokenizer import END_OF_TEXT, control_tokens
from narrative.chat_format import REPLY_SENTINEL, SYSTEM_SENTINEL, USER_SENTINEL, ChatFormat

if TYPE_CHECKING:
    from transformers import PreTrainedModel, PreTrainedTokenizerFast

LORA_TARGETS = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")
END_OF_TURN = "<|im_end|>"


def chat_format_of(tokenizer: PreTrainedTokenizerFast) -> ChatFormat | None:
    """The tokenizer's chat template as a ChatFormat; None when it has no template."""
    if not getattr(tokenizer, "chat_template", None):
        return None
    system = {"role": "system", "content": SYSTEM_SENTINEL}
    user = {"role": "user", "content": USER_SENTINEL}
    reply = {"role": "assistant", "content": REPLY_SENTINEL}
    try:
        prompt = tokenizer.apply_chat_template([system, user], tokenize=False, add_generation_prompt=True)
        conversation = tokenizer.apply_chat_template([system, user, reply], tokenize=False)
        return ChatFormat.from_rendered(prompt, conversation)
    except Exception as exc:  # a Jinja template fails in its own ways (TemplateError, UndefinedError, ...)
        raise ExportError(f"the tokenizer's chat template cannot be used for NPC lines: {exc}") from exc


def _words(token: str) -> str:
    """'<|style:science_fiction|>' -> ' science fiction'."""
    return " " + token.strip("<|>").split(":", 1)[1].replace("_", " ")


def load_base_tokenizer(base: Path, styles: Sequence[str]) -> PreTrainedTokenizerFast:
    """The base tokenizer with the control tokens added and `<|endoftext|>` as BOS, EOS and padding."""
    from transformers import AutoTokenizer

    try:
        tokenizer = AutoTokenizer.from_pretrained(base, local_files_only=True)
    except (OSError, ValueError) as exc:
        raise ExportError(f"--base {base}: cannot load its tokenizer: {exc}") from exc
    if tokenizer.convert_tokens_to_ids(END_OF_TEXT) in (None, tokenizer.unk_token_id) and tokenizer.unk_token != END_OF_TEXT:
        raise ExportError(f"--base {base}: its tokenizer has no {END_OF_TEXT} token to separate documents")
    tokenizer.add_special_tokens({"additional_special_tokens": control_tokens(styles)}, replace_additional_special_tokens=False)
    tokenizer.bos_token = tokenizer.eos_token = tokenizer.pad_token = END_OF_TEXT
    if hasattr(tokenizer, "add_bos_token"):
        tokenizer.add_bos_token = False
    tokenizer.model_input_names = ["input_ids", "attention_mask"]
    return tokenizer


def load_base_model(base: Path, tokenizer: PreTrainedTokenizerFast, dropout: float) -> PreTrainedModel:
    """The base causal LM, its embeddings grown for the control tokens and those rows initialised."""
    from transformers import AutoModelForCausalLM

    try:
        model = AutoModelForCausalLM.from_pretrained(base, local_files_only=True, dtype="float32")
    except (OSError, ValueError) as exc:
        raise ExportError(f"--base {base}: cannot load it as a causal LM: {exc}") from exc
    for key in ("attention_dropout", "hidden_dropout", "resid_pdrop", "embd_pdrop", "attn_pdrop"):
        if hasattr(model.config, key):
            setattr(model.config, key, dropout)
    old = model.get_input_embeddings().weight.shape[0]
    model.resize_token_embeddings(len(tokenizer), mean_resizing=False)
    embeddings = model.get_input_embeddings().weight
    with torch.no_grad():
        for token_id in range(old, len(tokenizer)):
            words = tokenizer(_words(tokenizer.convert_ids_to_tokens(token_id)), add_special_tokens=False)["input_ids"]
            embeddings[token_id] = embeddings[words].mean(0)
    eot = tokenizer.convert_tokens_to_ids(END_OF_TEXT)
    model.config.bos_token_id = model.config.eos_token_id = model.config.pad_token_id = eot
    if model.generation_config is not None:
        model.generation_config.bos_token_id = model.generation_config.eos_token_id = eot
        model.generation_config.pad_token_id = eot
    return model


def with_lora(model: PreTrainedModel, rank: int, dropout: float, new_token_ids: Sequence[int]) -> PreTrainedModel:
    """LoRA on the seven projections; the control tokens' embedding rows train in full."""
    from peft import LoraConfig, get_peft_model

    config = LoraConfig(
        r=rank, lora_alpha=2 * rank, lora_dropout=dropout, target_modules=list(LORA_TARGETS),
        trainable_token_indices={"embed_tokens": list(new_token_ids)}, task_type="CAUSAL_LM",
    )  # fmt: skip
    return get_peft_model(model, config)


def save_model(model: PreTrainedModel, tokenizer: PreTrainedTokenizerFast, base: Path, folder: Path) -> None:
    """A plain Hugging Face folder (LoRA merged into a copy), with the base's provenance and licence."""
    if hasattr(model, "merge_and_unload"):
        model = copy.deepcopy(model).merge_and_unload()
    tmp = folder.with_name(folder.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    model.save_pretrained(tmp)
    tokenizer.save_pretrained(tmp)
    for name in (PROVENANCE_FILE, LICENSE_FILE):
        if (base / name).is_file():
            shutil.copy2(base / name, tmp / name)
    shutil.rmtree(folder, ignore_errors=True)
    tmp.rename(folder)
