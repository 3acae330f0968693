"""Byte-level BPE for the story model, trained with `tokenizers` on the training split only.

Control tokens are special tokens, so BPE never splits them and the server finds them in the
bundle's manifest by name. Byte-level means any text a player types can be encoded (no unknown
token), and the server's streaming detokenizer must hold back partial UTF-8 characters.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path

from tokenizers import Tokenizer, decoders, pre_tokenizers, processors, trainers
from tokenizers.models import BPE

from narrative.emotions import EKMAN_AXES

END_OF_TEXT = "<|endoftext|>"


def style_token(style: str) -> str:
    return f"<|style:{style}|>"


def emotion_token(emotion: str) -> str:
    return f"<|emotion:{emotion}|>"


def control_tokens(styles: Sequence[str]) -> list[str]:
    """Every style the corpus has and every Ekman axis, whether or not a segment carries it."""
    return [style_token(s) for s in sorted(styles)] + [emotion_token(e) for e in EKMAN_AXES]


def train_tokenizer(texts: Iterable[str], styles: Sequence[str], vocab_size: int) -> Tokenizer:
    tokenizer = Tokenizer(BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    tokenizer.post_processor = processors.ByteLevel(trim_offsets=False)
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=[END_OF_TEXT, *control_tokens(styles)],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        min_frequency=2,
        show_progress=False,
    )
    tokenizer.train_from_iterator(texts, trainer)
    return tokenizer


def save_for_transformers(tokenizer: Tokenizer, folder: Path, max_length: int) -> None:
    """tokenizer.json plus the config transformers and optimum read; only input_ids and
    attention_mask as model inputs, or optimum's generate passes token_type_ids GPT-2 lacks."""
    from transformers import PreTrainedTokenizerFast

    fast = PreTrainedTokenizerFast(
        tokenizer_object=tokenizer,
        bos_token=END_OF_TEXT,
        eos_token=END_OF_TEXT,
        pad_token=END_OF_TEXT,
        model_input_names=["input_ids", "attention_mask"],
        model_max_length=max_length,
    )
    fast.save_pretrained(folder)
