"""Import a Twine story written in Twee 3 into a plot graph, so a studio's Twine drafts become a
starting point instead of a rewrite.

The mapping keeps what both formats share and nothing more: a passage becomes a beat (its text
the summary), a link becomes a choice (its text what the player sees), a passage without links
becomes an ending. Story-format code (macros, variables, scripts) has no faithful translation into
the condition language, so it stays in the summary as text for a designer to redo by hand.

Passage tags become the beat's `tags`. Passage names become ids deterministically (see
`passage_ids`).

Twee 3 is specified at https://github.com/iftechfoundation/twine-specs (twee-3-specification.md).
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from narrative.errors import NarrativeError
from narrative.expressions import KEYWORDS
from narrative.loader import dump_spec
from narrative.schema import Beat, Choice, PlotGraphSpec, Story

DEFAULT_STYLE = "adventure"
"""Twine stories say nothing about genre; callers pass the style they want generated text in."""

START_PASSAGE = "Start"
"""The passage Twee 3 starts in when StoryData names none."""

_SPECIAL = frozenset({"StoryTitle", "StoryData"})
_CODE_TAGS = frozenset({"script", "stylesheet"})  # story JavaScript and CSS, not story content
_LINK = re.compile(r"\[\[(.+?)\]\]")


@dataclass(frozen=True)
class TweeIssue:
    """One problem in a Twee file, at the 1-based line an editor shows."""

    file: str
    line: int
    message: str

    def format(self) -> str:
        return f"{self.file}:{self.line}: {self.message}"


class TwineImportError(NarrativeError, ValueError):
    """A Twee file that cannot become a plot graph; `issues` lists every problem found."""

    def __init__(self, issues: Iterable[TweeIssue]) -> None:
        self.issues: tuple[TweeIssue, ...] = tuple(issues)
        super().__init__("\n".join(issue.format() for issue in self.issues))


@dataclass(frozen=True)
class Passage:
    name: str
    tags: tuple[str, ...]
    text: str
    line: int  # of the `::` header


@dataclass(frozen=True)
class Link:
    text: str
    target: str
    line: int


def _parse_twee(source: str, filename: str) -> tuple[list[Passage], list[TweeIssue]]:
    """Split Twee 3 source into passages, in file order, and the headers that cannot be read
    (their passages are left out). Text before the first header is ignored, as compilers do."""
    passages: list[Passage] = []
    issues: list[TweeIssue] = []
    header: tuple[str, tuple[str, ...], int] | None = None
    body: list[str] = []

    def close() -> None:
        if header is not None:
            name, tags, line = header
            passages.append(Passage(name, tags, "\n".join(body).rstrip(), line))

    for number, line in enumerate(source.splitlines(), start=1):
        if not line.startswith("::"):
            body.append(line)
            continue
        close()
        body = []
        try:
            header = (*_parse_header(line[2:]), number)
        except ValueError as error:
            issues.append(TweeIssue(filename, number, str(error)))
            header = None
    close()
    return passages, issues


def _parse_header(text: str) -> tuple[str, tuple[str, ...]]:
    """Name and tags of a header (after `::`); the metadata block (the passage's position on
    Twine's map) is dropped because plot graphs have no map."""
    name, rest = _read_escaped(text.lstrip(), stop="[{")
    name = name.strip()
    if not name:
        raise ValueError("passage header has no name")
    rest = rest.lstrip()
    tags: tuple[str, ...] = ()
    if rest.startswith("["):
        block, rest = _read_escaped(rest[1:], stop="]")
        if not rest.startswith("]"):
            raise ValueError(f"tag block of passage {name!r} is not closed with ']'")
        tags = tuple(block.split())
    return name, tags


def _read_escaped(text: str, stop: str) -> tuple[str, str]:
    """Decode `text` up to the first unescaped character of `stop`; a backslash escapes any
    character (Twee 3: `\\q` yields `q`). Returns (decoded, rest starting at the stop char)."""
    decoded: list[str] = []
    index = 0
    while index < len(text) and text[index] not in stop:
        if text[index] == "\\" and index + 1 < len(text):
            index += 1
        decoded.append(text[index])
        index += 1
    return "".join(decoded), text[index:]


def _links(passage: Passage) -> list[Link]:
    """Links in the passage, in reading order, with the line each is written on."""
    links = []
    for offset, line in enumerate(passage.text.splitlines(), start=passage.line + 1):
        for match in _LINK.finditer(line):
            text, target = _split_link(match.group(1))
            links.append(Link(text, target, offset))
    return links


def _split_link(inner: str) -> tuple[str, str]:
    """(text, target) of a link body. `->` splits at its rightmost and `<-` at its leftmost
    occurrence, as Twine 2 does; a SugarCube setter (`[[a|b][$x to 1]]`) is dropped."""
    inner = inner.split("][", 1)[0]
    if "->" in inner:
        text, target = inner.rsplit("->", 1)
    elif "<-" in inner:
        target, text = inner.split("<-", 1)
    elif "|" in inner:
        text, target = inner.rsplit("|", 1)
    else:
        text = target = inner
    return text.strip(), target.strip()


def passage_ids(names: Sequence[str]) -> dict[str, str]:
    """Map distinct passage names to unique ids that the condition language accepts.

    A name becomes lower snake case in ASCII ("Café Door!" -> "cafe_door"); a leading digit gets a
    `p_` prefix and a keyword a `_passage` suffix. Collisions are settled by `unique_ids`.
    """
    return dict(zip(names, unique_ids([_identifier(name) for name in names]), strict=True))


def unique_ids(bases: Sequence[str]) -> list[str]:
    """Make ids unique: the first of equal ids keeps it, the others get `_2`, `_3`... skipping
    ids that appear in `bases` themselves, so the result depends only on `bases` and their order.

    >>> unique_ids(["go_north", "go_north", "go_north_2"])
    ['go_north', 'go_north_3', 'go_north_2']
    """
    wanted = set(bases)
    used: set[str] = set()
    result = []
    for base in bases:
        candidate, suffix = base, 2
        while candidate in used or (candidate != base and candidate in wanted):
            candidate, suffix = f"{base}_{suffix}", suffix + 1
        used.add(candidate)
        result.append(candidate)
    return result


def _identifier(name: str) -> str:
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    ident = re.sub(r"[^a-z0-9]+", "_", ascii_name.lower()).strip("_") or "passage"
    if ident[0].isdigit():
        ident = f"p_{ident}"
    return f"{ident}_passage" if ident in KEYWORDS else ident


def import_twee(source: str, filename: str, style: str = DEFAULT_STYLE) -> PlotGraphSpec:
    """Convert Twee 3 source to a plot graph; raises `TwineImportError` listing every problem
    (no start passage, a link to a missing passage, a passage name used twice) at file:line."""
    passages, issues = _parse_twee(source, filename)
    by_name: dict[str, Passage] = {}
    for passage in passages:
        if passage.name in by_name:
            first = by_name[passage.name].line
            issues.append(
                TweeIssue(
                    filename, passage.line, f"passage {passage.name!r} is already defined at line {first}"
                )
            )
        else:
            by_name[passage.name] = passage
    story_passages = [
        p for p in by_name.values() if p.name not in _SPECIAL and not _CODE_TAGS.intersection(p.tags)
    ]
    ids = passage_ids([p.name for p in story_passages])
    start = _start_id(by_name, ids, filename, issues)

    beats: list[Beat] = []
    edges: list[tuple[str, str, str]] = []  # (from, to, text)
    for passage in story_passages:
        links = _links(passage)
        for link in links:
            if link.target in ids:
                edges.append((ids[passage.name], ids[link.target], link.text or link.target))
            else:
                issues.append(
                    TweeIssue(
                        filename,
                        link.line,
                        f"link {link.text!r} goes to passage {link.target!r}, which is not defined",
                    )
                )
        beats.append(Beat(id=ids[passage.name], summary=_summary(passage), ending=not links, tags=list(passage.tags)))
    if issues or start is None:
        raise TwineImportError(sorted(issues, key=lambda issue: issue.line))

    choice_ids = unique_ids([f"{origin}_to_{target}" for origin, target, _ in edges])
    choices = [
        Choice.model_validate({"id": choice_id, "from": origin, "to": target, "text": text})
        for choice_id, (origin, target, text) in zip(choice_ids, edges, strict=True)
    ]
    title = by_name["StoryTitle"].text.strip() if "StoryTitle" in by_name else ""
    story = Story(
        id=_identifier(title or _stem(filename)),
        title=title or _stem(filename),
        style=style,
        start=start,
        description=f"Imported from the Twine story {_stem(filename)!r}.",
    )
    return PlotGraphSpec(story=story, beats=beats, choices=choices)


def _start_id(
    by_name: dict[str, Passage], ids: dict[str, str], filename: str, issues: list[TweeIssue]
) -> str | None:
    """Id of the start passage: StoryData's `start`, else the passage named Start (Twee 3)."""
    data = by_name.get("StoryData")
    line = data.line if data is not None else 1
    start = START_PASSAGE
    if data is not None:
        try:
            start = json.loads(data.text or "{}").get("start", START_PASSAGE)
        except (json.JSONDecodeError, AttributeError) as error:
            issues.append(TweeIssue(filename, line, f"StoryData is not a JSON object: {error}"))
            return None
    if not isinstance(start, str):
        issues.append(TweeIssue(filename, line, f'StoryData "start" must be a passage name, not {start!r}'))
        return None
    if start in ids:
        return ids[start]
    if start == START_PASSAGE:
        message = f'no start passage: set "start" in StoryData or name a passage {START_PASSAGE!r}'
    else:
        message = f"start passage {start!r} is not defined"
    issues.append(TweeIssue(filename, line, message))
    return None


def _summary(passage: Passage) -> str:
    """Passage prose for the generator: lines that hold only links (the choices) are dropped,
    links inside a sentence keep their text; tags go last in a stable form."""
    lines = []
    for line in passage.text.splitlines():
        if line.strip() and not _LINK.sub("", line).strip():
            continue
        lines.append(_LINK.sub(lambda m: _split_link(m.group(1))[0], line))
    return "\n".join(lines).strip() or passage.name


def _stem(filename: str) -> str:
    return re.split(r"[\\/]", filename)[-1].rsplit(".", 1)[0] or filename


def spec_to_yaml(spec: PlotGraphSpec) -> str:
    """YAML of an imported graph, in the same layout the loader writes."""
    return dump_spec(spec)
