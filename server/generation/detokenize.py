"""Token ids -> text pieces, one token at a time, never splitting a UTF-8 character.

A byte-level BPE token is a few bytes, not a few characters: "é" may arrive as two tokens,
and decoding the first alone gives U+FFFD. So new text is released only once the decoded
window no longer ends in U+FFFD. Decoding a short window (the tokens since the last
release, plus the ones before it as a prefix) instead of everything keeps each step
constant-time, and the prefix keeps decoders that strip a leading space (SentencePiece's
Metaspace) from eating the space before a word: the prefix is decoded alone too, and
only the difference is released. This is text-generation-inference's scheme.
"""

from __future__ import annotations

from collections.abc import Sequence

from tokenizers import Tokenizer

REPLACEMENT = "\ufffd"
# Prompt tokens decoded before the first generated one, for the leading-space rule above.
PROMPT_CONTEXT = 4


class IncrementalDetokenizer:
    """Feed tokens with push(); concatenating what push() and flush() return gives the text."""

    def __init__(self, tokenizer: Tokenizer, prompt_ids: Sequence[int] = ()) -> None:
        self._tokenizer = tokenizer
        self._ids: list[int] = list(prompt_ids[-PROMPT_CONTEXT:]) if prompt_ids else []
        self._prefix = 0  # start of the window: the tokens already released before _read
        self._read = len(self._ids)  # tokens up to here have been released

    def _decode(self, ids: list[int]) -> str:
        return self._tokenizer.decode(ids, skip_special_tokens=True)

    def push(self, token_id: int) -> str:
        """The text this token completes; "" while a character is still incomplete."""
        self._ids.append(token_id)
        before = self._decode(self._ids[self._prefix : self._read])
        now = self._decode(self._ids[self._prefix :])
        if len(now) > len(before) and not now.endswith(REPLACEMENT):
            self._prefix, self._read = self._read, len(self._ids)
            return now[len(before) :]
        return ""

    def flush(self) -> str:
        """Whatever is held back when the row ends (an incomplete character decodes as U+FFFD)."""
        before = self._decode(self._ids[self._prefix : self._read])
        now = self._decode(self._ids[self._prefix :])
        self._prefix = self._read = len(self._ids)
        return now[len(before) :] if len(now) > len(before) else ""
