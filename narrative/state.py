"""`SessionState`: everything a playthrough has changed, as plain JSON-serialisable data.

The server persists it as JSON (SQLite), so it holds ids and numbers only, never graph objects;
the graph is loaded separately and passed next to it. It also serves as the read-only view that
conditions are evaluated against (`narrative.expressions.StateView`).
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from narrative.emotions import EmotionVector
from narrative.vocabulary import RelationshipAxis

LOG_LIMIT = 500
"""Entries kept in the event log (the newest); bounds the stored state of long playthroughs."""

LogKind = Literal["enter", "choice", "effect", "event", "utterance"]
RelationshipValues = dict[RelationshipAxis, float]


class LogEntry(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    step: int
    kind: LogKind
    text: str


MAX_LINES = 8  # lines said aloud that a session keeps for grounding the next ones


class SpokenLine(BaseModel):
    """A line said aloud in the session (a player's reported utterance or a delivered NPC line)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    step: int
    speaker: str  # a character id or "player"
    listener: str
    text: str


class SessionState(BaseModel):
    """One playthrough. Session functions never mutate a state; they return a new one."""

    model_config = ConfigDict(extra="forbid")

    story_id: str
    step: int = 0
    current_beat: str
    visited: list[str] = Field(default_factory=list, description="Beats entered, in order.")
    variables: dict[str, bool | int | float | str] = Field(default_factory=dict)
    emotions: dict[str, EmotionVector] = Field(default_factory=dict)
    relationships: dict[str, dict[str, RelationshipValues]] = Field(
        default_factory=dict, description="source -> target -> axis -> value; absent means 0."
    )
    knowledge: dict[str, list[str]] = Field(default_factory=dict, description="Facts in the order learned.")
    present: list[str] = Field(default_factory=list, description="Characters in the current beat.")
    removed: dict[str, Literal["left", "died"]] = Field(default_factory=dict)
    log: list[LogEntry] = Field(default_factory=list)
    lines: list[SpokenLine] = Field(
        default_factory=list, description=f"The latest lines said aloud, oldest first; at most {MAX_LINES}."
    )

    def to_json(self) -> str:
        return self.model_dump_json()

    @classmethod
    def from_json(cls, text: str | bytes) -> SessionState:
        return cls.model_validate_json(text)

    # StateView, for conditions
    def variable(self, name: str) -> bool | int | float | str:
        return self.variables[name]

    def has_visited(self, beat: str) -> bool:
        return beat in self.visited

    def emotion(self, character: str, axis: str) -> float:
        return getattr(self.emotions[character], axis)

    def relationship(self, source: str, target: str, axis: str) -> float:
        return self.relationships.get(source, {}).get(target, {}).get(axis, 0.0)  # type: ignore[call-overload]

    def knows(self, character: str, fact: str) -> bool:
        return fact in self.knowledge.get(character, [])

    def is_present(self, character: str) -> bool:
        return character in self.present
