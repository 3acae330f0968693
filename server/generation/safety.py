"""Content safety for generated text: a rated blocklist, an optional classifier hook, a rating.

A blocklist line is `TERM RATING`: the term (a word or phrase, matched whole and case-blind) is
allowed from that rating up: `teen`, `mature`, or `never`. A request (or its story) allows one
rating; text needing more is filtered. A classifier hook (`safety.classifier = "module:function"`,
called with the text, returning one of the same rating names) judges whole texts where word lists
fall short.

Why word-level: the blocklist is checked each time a word completes, before the word is sent, so
streams stay live; when a word would break the rating, generation resamples from the text already
sent with the next seed (the client never sees the blocked word). A hook can only judge whole
texts, so with a hook configured a restricted request's text is released once it has passed.
"""

from __future__ import annotations

import enum
import importlib
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from server.config import ConfigError


class Rating(enum.IntEnum):
    """Ordered like the proto's ContentRating; NEVER is above every rating a request can allow."""

    EVERYONE = 1
    TEEN = 2
    MATURE = 3
    NEVER = 4

    @classmethod
    def parse(cls, name: str) -> Rating:
        try:
            return cls[name.strip().upper()]
        except KeyError:
            raise ValueError(f"{name!r} is not a rating (everyone, teen, mature, never)") from None


class SafetyConfigError(ConfigError):
    """The blocklist or the classifier hook cannot be used; the message says where."""


_WORD_END = re.compile(r"[^\w'-]")


@dataclass(frozen=True)
class ContentFilter:
    terms: dict[str, Rating] = field(default_factory=dict)  # lower-case term -> rating that allows it
    classifier: Callable[[str], str] | None = None
    _patterns: list[tuple[re.Pattern[str], Rating]] = field(default_factory=list, repr=False)

    def __post_init__(self) -> None:
        for term, rating in sorted(self.terms.items()):
            words = r"\s+".join(re.escape(w) for w in term.split())
            self._patterns.append((re.compile(rf"(?<![\w'-]){words}(?![\w'-])", re.IGNORECASE), rating))

    def restricts(self, allowed: Rating) -> bool:
        """Whether any text could be filtered at this rating (else generation runs unfiltered)."""
        return self.classifier is not None or any(rating > allowed for rating in self.terms.values())

    def words_need(self, text: str) -> Rating:
        """The rating the blocklist says `text` needs (EVERYONE when nothing matches)."""
        needed = Rating.EVERYONE
        for pattern, rating in self._patterns:
            if rating > needed and pattern.search(text):
                needed = rating
        return needed

    def text_needs(self, text: str) -> Rating:
        """Blocklist and classifier hook together, for whole texts."""
        needed = self.words_need(text)
        if self.classifier is not None:
            needed = max(needed, Rating.parse(self.classifier(text)))
        return needed


# A run of word characters this long is released even without a boundary: no term is this long,
# so no term can start inside it and end after it (and a model stuck in one "word" still streams).
LONGEST_WORD = 32


def complete_words(text: str) -> int:
    """Length of the prefix of `text` that ends at a word boundary: what can be checked and sent."""
    last = None
    for match in _WORD_END.finditer(text):
        last = match
    end = last.end() if last is not None else 0
    return len(text) if len(text) - end >= LONGEST_WORD else end


def load_blocklist(path: Path) -> dict[str, Rating]:
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise SafetyConfigError(f"safety.blocklist {path}: {exc.strerror}") from None
    terms: dict[str, Rating] = {}
    for number, line in enumerate(lines, start=1):
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        term, _, rating = line.rpartition(" ")
        try:
            if not term.strip():
                raise ValueError("expected TERM RATING")
            terms[" ".join(term.lower().split())] = Rating.parse(rating)
        except ValueError as exc:
            raise SafetyConfigError(f"{path}:{number}: {exc}") from None
    return terms


def load_classifier(spec: str) -> Callable[[str], str]:
    module, _, name = spec.partition(":")
    try:
        hook = getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError, ValueError) as exc:
        raise SafetyConfigError(f"safety.classifier {spec!r}: cannot import it ({exc}); expected 'module:function'") from None
    if not callable(hook):
        raise SafetyConfigError(f"safety.classifier {spec!r} is not callable")
    return hook


def open_filter(blocklist: Path | None, classifier: str) -> ContentFilter | None:
    """The configured filter; None when there is neither a blocklist nor a hook."""
    terms = load_blocklist(blocklist) if blocklist is not None else {}
    hook = load_classifier(classifier) if classifier else None
    return ContentFilter(terms, hook) if terms or hook else None
