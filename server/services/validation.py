"""Request checks shared by servicers: each failure names the field and the limit."""

from __future__ import annotations

from collections.abc import Sequence

from server.config import LimitSettings
from server.errors import InvalidArgument


def check_texts(texts: Sequence[str], limits: LimitSettings, field: str = "texts") -> list[str]:
    if not texts:
        raise InvalidArgument(field, "at least one text is required")
    if len(texts) > limits.max_texts_per_classify:
        raise InvalidArgument(field, f"{len(texts)} texts; the limit is {limits.max_texts_per_classify} per call")
    for i, text in enumerate(texts):
        check_text(text, limits, f"{field}[{i}]")
    return list(texts)


def check_text(text: str, limits: LimitSettings, field: str) -> str:
    if not text.strip():
        raise InvalidArgument(field, "empty text")
    if len(text) > limits.max_text_chars:
        raise InvalidArgument(field, f"{len(text)} characters; the limit is {limits.max_text_chars}")
    return text
