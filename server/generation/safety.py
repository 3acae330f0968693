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
from collections import deque
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
    # One alternation per rating, strictest first: a check is a few regex scans, not one per term.
    _patterns: list[tuple[re.Pattern[str], Rating]] = field(default_factory=list, repr=False)

    def __post_init__(self) -> None:
        for rating in sorted(set(self.terms.values()), reverse=True):
            terms = sorted((t for t, r in self.terms.items() if r == rating), key=len, reverse=True)
            words = "|".join(r"\s+".join(re.escape(w) for w in term.split()) for term in terms)
            self._patterns.append((re.compile(rf"(?<![\w'-])(?:{words})(?![\w'-])", re.IGNORECASE), rating))

    @property
    def term_words(self) -> int:
        """Words in the longest term: how far back a match ending in new text can start."""
        return max((len(term.split()) for term in self.terms), default=1)

    def restricts(self, allowed: Rating) -> bool:
        """Whether any text could be filtered at this rating (else generation runs unfiltered)."""
        return self.classifier is not None or any(rating > allowed for rating in self.terms.values())

    def words_need(self, text: str) -> Rating:
        """The rating the blocklist says `text` needs (EVERYONE when nothing matches)."""
        return next((rating for pattern, rating in self._patterns if pattern.search(text)), Rating.EVERYONE)

    def text_needs(self, text: str) -> Rating:
        """Blocklist and classifier hook together, for whole texts."""
        needed = self.words_need(text)
        if self.classifier is not None:
            needed = max(needed, Rating.parse(self.classifier(text)))
        return needed


class WordScreen:
    """The blocklist over a stream's text as it grows, without rescanning what already passed.

    A term that ends in new text starts at the latest in one of the last `term_words`
    whitespace-separated chunks of the text before it, so only those chunks and the new text are
    searched: the cost per word stays flat however long the text gets. Each window starts where
    the text has whitespace (or begins), so a term's "not inside a word" guard sees what it would
    see in the whole text.
    """

    def __init__(self, content: ContentFilter) -> None:
        self.content = content
        self.text = ""
        self._needed = Rating.EVERYONE  # what the text appended so far needs
        self._chunk_starts: deque[int] = deque(maxlen=content.term_words)

    def needs(self, new: str) -> Rating:
        """The rating the text would need with `new` appended (nothing is appended)."""
        start = self._chunk_starts[0] if len(self._chunk_starts) == self._chunk_starts.maxlen else 0
        return max(self._needed, self.content.words_need(self.text[start:] + new))

    def append(self, new: str, needed: Rating | None = None) -> None:
        """Appends `new`; `needed` is what needs(new) said just before, when the caller asked."""
        self._needed = self.needs(new) if needed is None else needed
        offset = len(self.text)
        joined = offset > 0 and not self.text[-1].isspace()  # new text continues the last chunk
        for chunk in _CHUNK.finditer(new):
            if not (joined and chunk.start() == 0):
                self._chunk_starts.append(offset + chunk.start())
        self.text += new


_CHUNK = re.compile(r"\S+")


# A run of word characters this long is released even without a boundary: no term is this long,
# so no term can start inside it and end after it (and a model stuck in one "word" still streams).
LONGEST_WORD = 32


def release_points(text: str) -> list[int]:
    """Where `text` may be cut, in order: after each character that ends a word, and at its end once
    the word running there is LONGEST_WORD long. Text is checked and sent one such unit after
    another, so where a stream stops for a blocked word depends on the text alone, not on how its
    tokens happened to be grouped on the way."""
    points = [match.end() for match in _WORD_END.finditer(text)]
    if len(text) - (points[-1] if points else 0) >= LONGEST_WORD:
        points.append(len(text))
    return points


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
