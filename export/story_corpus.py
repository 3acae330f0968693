"""The story model's training text: public-domain works, cleaned, segmented, labelled, split by work.

Each work's folder is its genre, and the genre becomes the segment's style control. Works are
cleaned of the printed book's furniture (headings, illustration markers, _italics_ underscores,
curly quotes) and cut into segments of whole paragraphs long enough for the emotion model to
read a mood in (a lone "said he." says nothing). The split is by work, never by segment, so dev
perplexity measures how the model does on a book it has not seen.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

from export.errors import ExportError

# Segments: whole paragraphs, joined until at least MIN_WORDS; a paragraph above MAX_WORDS is cut
# at sentence ends. ~80-250 words is 100-330 tokens: one or two to a 256-token training block.
MIN_WORDS = 80
MAX_WORDS = 250

_QUOTES = str.maketrans({"\u2018": "'", "\u2019": "'", "\u201c": '"', "\u201d": '"', "\u00a0": " "})
_EDITORIAL = re.compile(r"\[(?:Illustration|Footnote|Sidenote|Transcriber)[^\]]*\]", re.IGNORECASE | re.DOTALL)
_UNDERSCORE_ITALICS = re.compile(r"_([^_\n]+?)_")
_HEADING = re.compile(r"^(?:chapter|book|part|volume|stave|contents|preface|the end)\b", re.IGNORECASE)
_SENTENCE_END = re.compile(r"(?:(?<=[.!?])|(?<=[.!?][\"')]))\s+(?=[\"'(]?[A-Z])")


@dataclass(frozen=True)
class Work:
    genre: str
    title: str
    path: Path


@dataclass(frozen=True)
class Segment:
    work: str
    style: str
    text: str
    emotion: str = ""


def find_works(data: Path) -> list[Work]:
    """Every `GENRE/TITLE.txt` under the corpus folder, sorted so runs are reproducible."""
    works = [Work(p.parent.name, p.stem, p) for p in sorted(data.glob("*/*.txt"))]
    if not works:
        raise ExportError(f"--data {data}: no GENRE/WORK.txt files (expected the stories corpus layout)")
    return works


def clean(text: str) -> str:
    text = text.replace("\r\n", "\n").translate(_QUOTES)
    text = _EDITORIAL.sub("", text)
    return _UNDERSCORE_ITALICS.sub(r"\1", text)


def _is_prose(paragraph: str) -> bool:
    """Headings, tables of contents and ornaments are not prose: the model should not learn them."""
    words = paragraph.split()
    if not words or _HEADING.match(paragraph):
        return False
    if not any(c.islower() for c in paragraph):  # ALL CAPS titles, roman numerals
        return False
    letters = sum(c.isalpha() for c in paragraph)
    if letters < 0.6 * len(paragraph.replace(" ", "")):
        return False
    return len(words) >= 12 or paragraph.rstrip()[-1] in ".!?\"'"


def paragraphs(text: str) -> Iterator[str]:
    """Blank-line separated blocks, hard-wrapped lines joined, whitespace collapsed."""
    for block in re.split(r"\n\s*\n", clean(text)):
        paragraph = " ".join(block.split())
        if _is_prose(paragraph):
            yield paragraph


def _sentence_chunks(paragraph: str) -> Iterator[str]:
    chunk: list[str] = []
    for sentence in _SENTENCE_END.split(paragraph):
        chunk.append(sentence)
        if sum(len(s.split()) for s in chunk) >= MAX_WORDS // 2:
            yield " ".join(chunk)
            chunk = []
    if chunk:
        yield " ".join(chunk)


def segment(paragraph_list: Iterable[str]) -> Iterator[str]:
    """Consecutive paragraphs joined by blank lines into segments of MIN_WORDS..~MAX_WORDS words."""
    pending: list[str] = []
    words = 0
    for paragraph in paragraph_list:
        pieces = list(_sentence_chunks(paragraph)) if len(paragraph.split()) > MAX_WORDS else [paragraph]
        for piece in pieces:
            size = len(piece.split())
            if pending and words + size > MAX_WORDS:
                yield "\n\n".join(pending)
                pending, words = [], 0
            pending.append(piece)
            words += size
            if words >= MIN_WORDS:
                yield "\n\n".join(pending)
                pending, words = [], 0
    if pending and words >= MIN_WORDS // 2:
        yield "\n\n".join(pending)


def dev_works(works: list[Work]) -> set[str]:
    """One held-out work per genre that has several: the one nearest the genre's median length,
    so dev neither loses a genre's biggest book nor is a pamphlet."""
    held: set[str] = set()
    by_genre: dict[str, list[tuple[int, str]]] = {}
    for work in works:
        by_genre.setdefault(work.genre, []).append((work.path.stat().st_size, work.title))
    for sized in by_genre.values():
        if len(sized) < 2:
            continue
        sized.sort()
        held.add(sized[(len(sized) - 1) // 2][1])
    return held


def read_segments(works: list[Work]) -> list[Segment]:
    return [
        Segment(work.title, work.genre, text)
        for work in works
        for text in segment(paragraphs(work.path.read_text(encoding="utf-8")))
    ]


def write_jsonl(path: Path, segments: Iterable[Segment]) -> None:
    with path.open("w", encoding="utf-8") as out:
        for item in segments:
            out.write(json.dumps(asdict(item), ensure_ascii=False) + "\n")


def read_jsonl(path: Path) -> list[Segment]:
    with path.open(encoding="utf-8") as lines:
        return [Segment(**json.loads(line)) for line in lines]


def summary(train: list[Segment], dev: list[Segment]) -> dict:
    """Counts the model card quotes: segments and words per style, emotions, dev works."""

    def counts(items: list[Segment]) -> dict:
        return {
            "segments": len(items),
            "words": sum(len(s.text.split()) for s in items),
            "styles": dict(sorted(Counter(s.style for s in items).items())),
            "emotions": dict(sorted(Counter(s.emotion for s in items).items())),
        }

    return {"train": counts(train), "dev": counts(dev), "dev_works": sorted({s.work for s in dev})}
