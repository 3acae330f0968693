"""NPC-line training examples from the corpus's quoted dialogue: brief -> one in-character line.

A novel's dialogue paragraph says who speaks ("...," said Holmes), often how (asked, warned,
replied), and sits after the narration of what just happened and the lines said before it. That
is the brief an NPC gets in a game (narrative.line_brief), so each attributed line becomes one
example: speaker, listener (the previous speaker, when another), scene (the latest narration),
intent (from the speech verb, or a question mark), feeling (the emotion model's reading of the
line, labelled later), the conversation so far -> the words spoken.

Only lines whose speaker the paragraph names are kept: "he said" could be anyone, and a line put
in the wrong mouth teaches the model to ignore the brief. Works are kept apart by the caller's
split, as for prose, so dev examples come from books the model never saw.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from itertools import pairwise

from export.story_corpus import Work, paragraphs
from narrative.emotions import EkmanLabel
from narrative.line_brief import LineBrief, Spoken
from narrative.prompting import Intent

MIN_WORDS, MAX_WORDS = 2, 60
SCENE_CHARS = 300
_QUOTED = re.compile(r'"([^"]{2,600})"')
_NAME = r"((?:the |Mr\. |Mrs\. |Miss |Dr\. |Sir |Lady |Lord |Captain |Professor |Aunt |Uncle )?[A-Z][a-z]+(?: [A-Z][a-z]+)?)"
_VERBS = (
    "said|asked|replied|answered|cried|exclaimed|shouted|whispered|murmured|called|continued|added|"
    "went on|observed|remarked|returned|inquired|enquired|demanded|warned|threatened|agreed|refused|"
    "confessed|admitted|explained|told|begged|pleaded|protested|insisted|growled|snapped|sobbed|laughed|"
    "muttered|declared|repeated|retorted|interrupted|suggested|greeted|wondered|screamed|roared"
)
# "...," said Holmes | "...," Holmes said | Holmes said, "..." (the quote may follow on the same line)
_AFTER = re.compile(rf'"\s*,?\s*(?:{_VERBS}) {_NAME}\b|"\s*,?\s*{_NAME} (?:{_VERBS})\b')
_BEFORE = re.compile(rf'(?:^|[.!?]\s+){_NAME} (?:{_VERBS})(?: [a-z]+)?,? "')
_VERB = re.compile(rf"\b({_VERBS})\b")
# Capitalised words that start an attribution without naming anyone ("Then he said", "Mrs. X. said").
_NOT_NAMES = {"He", "She", "It", "They", "I", "We", "You", "The", "Then", "And", "But", "Yes", "No", "Oh",
              "Mr", "Mrs", "Miss", "Dr", "Sir", "Lady", "Lord"}  # fmt: skip
INTENT_OF_VERB: dict[str, Intent] = {
    "asked": "ask", "inquired": "ask", "enquired": "ask", "demanded": "ask", "wondered": "ask",
    "warned": "warn", "threatened": "threaten", "agreed": "agree", "refused": "refuse",
    "confessed": "confess", "admitted": "confess", "greeted": "greet", "told": "inform",
    "explained": "inform", "replied": "inform", "answered": "inform",
}  # fmt: skip


@dataclass(frozen=True)
class LineExample:
    work: str
    brief: LineBrief
    line: str


def _speaker(paragraph: str) -> tuple[str, str] | None:
    """(speaker name, speech verb) when the paragraph names who speaks."""
    for pattern in (_AFTER, _BEFORE):
        match = pattern.search(paragraph)
        if match:
            name = next(group for group in match.groups() if group)
            if name.split()[0] in _NOT_NAMES:
                return None
            verb = _VERB.search(match.group(0))
            return name, verb.group(1) if verb else "said"
    return None


def _intent(verb: str, line: str) -> Intent:
    if verb in INTENT_OF_VERB:
        return INTENT_OF_VERB[verb]
    return "ask" if line.rstrip().endswith("?") else ""


def _clean_line(quotes: Sequence[str]) -> str | None:
    """The quoted parts of one paragraph as one utterance; None when it is not a usable line."""
    parts = [q.strip() for q in quotes if q.strip()]
    # A quote cut by its attribution ("Well," said he, "I think" / "Yes, sir," said he. "Go on.")
    # reads on with a comma before lower case and ends its sentence before upper case.
    joined = [
        part[:-1] + "." if part.endswith(",") and after[0].isupper() else part
        for part, after in pairwise(parts)
    ]
    text = " ".join([*joined, parts[-1].rstrip(",")] if parts else [])
    if text and text[-1] not in ".!?-":
        text += "."
    words = len(text.split())
    if not MIN_WORDS <= words <= MAX_WORDS or "'" * 2 in text:
        return None
    return text


def _tail(text: str, limit: int) -> str:
    """The end of a narration paragraph, cut at a sentence start so it reads as a whole."""
    if len(text) <= limit:
        return text
    cut = text[-limit:]
    start = re.search(r"[.!?]\s+([A-Z])", cut)
    return cut[start.start(1) :] if start else cut


def work_examples(work: Work, style: str) -> Iterator[LineExample]:
    """Every attributed line of one work, with the narration and lines before it."""
    scene = ""
    earlier: list[Spoken] = []
    last_dialogue = -10
    for index, paragraph in enumerate(paragraphs(work.path.read_text(encoding="utf-8"))):
        quotes = _QUOTED.findall(paragraph)
        if not quotes:
            scene = _tail(paragraph, SCENE_CHARS)
            if index - last_dialogue > 2:
                earlier = []
            continue
        last_dialogue = index
        found = _speaker(paragraph)
        line = _clean_line(quotes)
        if found is None or line is None:
            if line is not None:
                earlier.append(Spoken("Someone", line))
            continue
        speaker, verb = found
        listener = next((s.speaker for s in reversed(earlier) if s.speaker not in (speaker, "Someone")), "")
        brief = LineBrief(
            speaker=speaker, listener=listener, scene=scene, intent=_intent(verb, line),
            earlier=tuple(earlier[-4:]), style=style,
        )  # fmt: skip
        yield LineExample(work.title, brief, line)
        earlier.append(Spoken(speaker, line))


def corpus_examples(works: Sequence[Work]) -> list[LineExample]:
    return [example for work in works for example in work_examples(work, work.genre)]


def with_feelings(examples: Sequence[LineExample], feelings: Sequence[EkmanLabel]) -> list[LineExample]:
    """The emotion model's reading of each line, as the speaker's feeling in the brief."""
    return [replace(e, brief=replace(e.brief, feeling=f)) for e, f in zip(examples, feelings, strict=True)]
