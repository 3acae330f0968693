"""Where batch lines come from: every speaking slot of a plot graph, or the rows of a CSV/JSONL file.

A graph is linted first and refused with its diagnostics when it has errors, as the server refuses
it. A file's bad rows are reported with their row number and field; the caller decides whether
they are skipped (the rest is written) or refuse the whole run (nothing is written).
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import get_args

from narrative.chat_format import ChatFormat
from narrative.coherence import check
from narrative.context import build_context
from narrative.diagnostics import Severity
from narrative.emotions import EKMAN_AXES
from narrative.graph import PlotGraph
from narrative.line_brief import chat_line_prompt, chat_situation_prompt
from narrative.lint import lint_text
from narrative.prompting import INTENT_VERBS, Intent, npc_line_prompt, situation_line_prompt
from narrative.session import state_at
from narrative.state import SessionState
from narrative.vocabulary import PLAYER_ID
from server.batch.requests import LineRequest, row_key

DEFAULT_INTENTS: tuple[Intent, ...] = ("greet", "inform", "farewell")
MAX_VARIANTS = 20
FIELDS = ("key", "character", "listener", "situation", "intent", "emotion", "style", "variants")


class BatchInputError(ValueError):
    """The input as a whole cannot be used (unreadable file, graph with errors)."""


@dataclass(frozen=True)
class RowError:
    row: int
    field: str
    message: str

    def __str__(self) -> str:
        return f"row {self.row}: {self.field}: {self.message}"


@dataclass(frozen=True)
class GraphLines:
    """A graph's lines, and the coherence check of a written line against the state it was asked in."""

    graph: PlotGraph
    states: dict[str, SessionState]
    requests: list[LineRequest]

    def check(self, request: LineRequest, text: str, detected: str) -> list[str]:
        state = self.states[request.beat_id]
        found = check(self.graph, state, text, request.speaker_id, detected or None)  # type: ignore[arg-type]
        return [f"{w.code}: {w.message}" for w in found]


def graph_requests(
    path: Path,
    intents: Sequence[Intent] = DEFAULT_INTENTS,
    variants: int = 1,
    max_prompt_chars: int = 400,
    chat: ChatFormat | None = None,
) -> GraphLines:
    """A line per (beat, present character, intent, variant), beats in file order, endings excluded;
    prompts in `chat`'s layout for a chat-tuned model, else as prose to continue."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise BatchInputError(f"--graph {path}: {exc.strerror}") from None
    graph, diagnostics = lint_text(text, str(path))
    errors = [d for d in diagnostics if d.severity is Severity.ERROR]
    if graph is None or errors:
        raise BatchInputError("\n".join(d.format() for d in errors or diagnostics))
    states = {beat.id: state_at(graph, beat.id) for beat in graph.beats if not beat.ending}
    return GraphLines(graph, states, list(_graph_lines(graph, states, intents, variants, max_prompt_chars, chat)))


def _graph_lines(
    graph: PlotGraph,
    states: dict[str, SessionState],
    intents: Sequence[Intent],
    variants: int,
    max_chars: int,
    chat: ChatFormat | None,
) -> Iterator[LineRequest]:
    for beat_id, state in states.items():
        beat = graph.beat(beat_id)
        for character in state.present:
            context = build_context(graph, state, speaker=character, listener=PLAYER_ID)
            for intent in intents:
                prompt = (
                    chat_line_prompt(context, chat, intent, max_chars=max_chars)
                    if chat is not None
                    else npc_line_prompt(context, intent=intent, max_chars=max_chars)
                )
                for variant in range(variants):
                    yield LineRequest(
                        id=f"{graph.story.id}.{beat.id}.{character}.{intent}.{variant}",
                        speaker=graph.character(character).name,
                        prompt=prompt,
                        intent=intent,
                        listener=PLAYER_ID,
                        graph_id=graph.story.id,
                        beat_id=beat.id,
                        speaker_id=character,
                    )


def _rows(path: Path) -> Iterator[tuple[int, dict | None, str]]:
    """(row number, fields, problem) per data row; row numbers are the file's line numbers."""
    with path.open(encoding="utf-8", newline="") as handle:
        if path.suffix.lower() == ".jsonl":
            for number, line in enumerate(handle, start=1):
                if not line.strip():
                    continue
                try:
                    value = json.loads(line)
                except json.JSONDecodeError as exc:
                    yield number, None, f"not valid JSON: {exc.msg}"
                    continue
                yield (number, value, "") if isinstance(value, dict) else (number, None, "not a JSON object")
        else:
            reader = csv.DictReader(handle)
            unknown = sorted(set(reader.fieldnames or ()) - set(FIELDS))
            if unknown:
                raise BatchInputError(f"--lines {path}: unknown column(s) {unknown}; columns are {list(FIELDS)}")
            for fields in reader:
                yield reader.line_num, fields, ""


def _check_row(number: int, fields: dict, styles: frozenset[str]) -> tuple[dict, list[RowError]]:
    clean = {k: str(v if v is not None else "").strip() for k, v in fields.items() if k in FIELDS}
    problems = [RowError(number, k, "unknown field") for k in fields if k not in FIELDS]
    if not clean.get("character"):
        problems.append(RowError(number, "character", "required"))
    if clean.get("intent", "") not in INTENT_VERBS:
        problems.append(RowError(number, "intent", f"{clean['intent']!r} is not one of {sorted(k for k in INTENT_VERBS if k)}"))
    if clean.get("emotion") and clean["emotion"] not in EKMAN_AXES:
        problems.append(RowError(number, "emotion", f"{clean['emotion']!r} is not one of {list(EKMAN_AXES)}"))
    if clean.get("style") and styles and clean["style"] not in styles:
        problems.append(RowError(number, "style", f"{clean['style']!r}: the story model knows {sorted(styles)}"))
    variants = clean.get("variants") or "1"
    if not variants.isdigit() or not 1 <= int(variants) <= MAX_VARIANTS:
        problems.append(RowError(number, "variants", f"{variants!r}: expected a whole number 1..{MAX_VARIANTS}"))
    return clean, problems


def file_requests(
    path: Path, styles: frozenset[str] = frozenset(), max_prompt_chars: int = 400, chat: ChatFormat | None = None
) -> tuple[list[LineRequest], list[RowError]]:
    """The lines of every good row, and an error per bad row (its first problem first)."""
    if path.suffix.lower() not in (".csv", ".jsonl"):
        raise BatchInputError(f"--lines {path}: expected a .csv or .jsonl file")
    requests: list[LineRequest] = []
    errors: list[RowError] = []
    seen: dict[str, int] = {}
    try:
        rows = list(_rows(path))
    except OSError as exc:
        raise BatchInputError(f"--lines {path}: {exc.strerror}") from None
    except (UnicodeDecodeError, csv.Error) as exc:
        raise BatchInputError(f"--lines {path}: cannot read it: {exc}") from None
    for number, fields, problem in rows:
        if fields is None:
            errors.append(RowError(number, "row", problem))
            continue
        clean, problems = _check_row(number, fields, styles)
        key = clean.get("key") or row_key(*(clean.get(f, "") for f in FIELDS[1:7]))
        if not problems and key in seen:
            problems.append(RowError(number, "key", f"{key!r} is also row {seen[key]}'s key"))
        if problems:
            errors.extend(problems)
            continue
        seen[key] = number
        line_prompt = situation_line_prompt if chat is None else partial(chat_situation_prompt, chat=chat)
        prompt = line_prompt(
            clean["character"], clean.get("situation", ""), listener=clean.get("listener", ""),
            intent=clean.get("intent", ""), emotion=clean.get("emotion") or None, style=clean.get("style", ""),
            max_chars=max_prompt_chars,
        )  # fmt: skip
        requests += [
            LineRequest(f"{key}.{v}", clean["character"], prompt, clean.get("intent", ""), clean.get("listener", ""), source_row=number)
            for v in range(int(clean.get("variants") or 1))
        ]
    return requests, errors


def intents_arg(text: str) -> tuple[Intent, ...]:
    """--intents greet,warn: every name must be an intent the prompts know."""
    names = tuple(n.strip() for n in text.split(",") if n.strip())
    known = [k for k in get_args(Intent) if k]
    bad = [n for n in names if n not in known]
    if bad or not names:
        raise ValueError(f"--intents {text!r}: choose from {known}")
    return names  # type: ignore[return-value]
