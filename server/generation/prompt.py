"""The prompt as the model was trained to read it: BOS, style token, emotion token, text.

export/ trains the story model on exactly this layout, so the server must build it the
same way or the control tokens mean nothing:

    [bos_token_id] + [style token, if any] + [emotion token, if any] + encode(prompt)

The text is encoded without the tokenizer's own special tokens (the BOS is placed here).
Control tokens come from the bundle's manifest; a value the bundle has no token for is the
caller's mistake and is refused with the values it does accept.
"""

from __future__ import annotations

from collections.abc import Mapping

from tokenizers import Tokenizer

from server.errors import InvalidArgument
from server.models.bundle import BundleError, BundleManifest


def _control_ids(tokenizer: Tokenizer, tokens: Mapping[str, str], kind: str) -> dict[str, int]:
    ids = {}
    for value, token in tokens.items():
        token_id = tokenizer.token_to_id(token)
        if token_id is None:
            raise BundleError(f"manifest control_tokens.{kind}: {token!r} ({value}) is not in tokenizer.json")
        ids[value] = token_id
    return ids


class PromptEncoder:
    def __init__(self, tokenizer: Tokenizer, manifest: BundleManifest) -> None:
        self._tokenizer = tokenizer
        self.bos_id = manifest.special_tokens.get("bos_token_id")
        self.styles = _control_ids(tokenizer, manifest.control_tokens.styles, "styles")
        self.emotions = _control_ids(tokenizer, manifest.control_tokens.emotions, "emotions")

    @property
    def control_ids(self) -> list[int]:
        """Every style and emotion token id: they steer, the model never writes them."""
        return sorted({*self.styles.values(), *self.emotions.values()})

    @staticmethod
    def _control(field: str, value: str, known: Mapping[str, int], kind: str) -> list[int]:
        if not value:
            return []
        if value not in known:
            if not known:
                raise InvalidArgument(field, f"this model has no {kind} control; leave {field} empty")
            raise InvalidArgument(field, f"unknown {kind} {value!r}; this model accepts: {', '.join(sorted(known))}")
        return [known[value]]

    def encode(self, prompt: str, style: str = "", emotion: str = "") -> list[int]:
        """Token ids of the whole prompt; InvalidArgument names "style" or "target_emotion"."""
        ids = [] if self.bos_id is None else [self.bos_id]
        ids += self._control("style", style, self.styles, "style")
        ids += self._control("target_emotion", emotion, self.emotions, "emotion")
        return ids + self._tokenizer.encode(prompt, add_special_tokens=False).ids


CHARS_PER_TOKEN_FLOOR = 2  # English prose runs 3-4 characters per BPE token; 2 leaves a margin


def char_budget(max_context: int, max_new_tokens: int, ceiling: int = 600) -> int:
    """Characters of prompt text that surely fit beside `max_new_tokens` in the model's context,
    for callers that build prompts (grounded lines, batch jobs) before they have the tokenizer."""
    room = max_context - max_new_tokens - 4  # BOS and control tokens
    return max(0, min(ceiling, CHARS_PER_TOKEN_FLOOR * room))
