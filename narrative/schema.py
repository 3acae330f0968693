"""The plot-graph format that narrative designers write by hand (YAML, or JSON).

Every model forbids unknown fields and is strict about types, so that a typo or a YAML surprise
(`no` read as false, `1.10` read as a number) is an error at load time instead of a story that
silently behaves differently. Ids are identifiers so that conditions can name them unquoted.
Run `python -m narrative.schema` to regenerate `plotgraph.schema.json` for editors.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints, model_validator

from narrative.emotions import EkmanLabel, EmotionVector
from narrative.expressions import KEYWORDS
from narrative.vocabulary import ID_PATTERN, PLAYER_ID, RelationshipAxis


def _not_keyword(value: str) -> str:
    if value in KEYWORDS:
        raise ValueError(f"{value!r} is a word of the condition language and cannot be an id")
    return value


def _not_player(value: str) -> str:
    if value == PLAYER_ID:
        raise ValueError(f"{PLAYER_ID!r} is the built-in player and cannot be declared")
    return value


Id = Annotated[str, StringConstraints(pattern=ID_PATTERN), AfterValidator(_not_keyword)]
StyleName = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]*$")]
Unit = Annotated[float, Field(ge=0.0, le=1.0)]
Signed = Annotated[float, Field(ge=-1.0, le=1.0)]
EndingKind = Literal["good", "bad", "neutral", "bittersweet", "secret"]
VariableValue = bool | int | float | str


class StrictModel(BaseModel):
    """Base of every format model: unknown fields and loose types are errors, and so are nan and
    infinities (a session that stored one could not be read back: JSON has no such numbers)."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True, populate_by_name=True, allow_inf_nan=False)


class Story(StrictModel):
    id: Id
    title: str
    style: StyleName = Field(description="Default style of generated text, e.g. mystery, horror.")
    start: Id = Field(description="Id of the beat a playthrough starts in.")
    description: str = ""
    rating: Literal["everyone", "teen", "mature"] = Field(
        "everyone", description="Highest content rating of generated text, unless a request asks for less."
    )


class Character(StrictModel):
    id: Annotated[Id, AfterValidator(_not_player)]
    name: str
    role: str = ""
    description: str = ""
    traits: dict[Annotated[str, StringConstraints(pattern=ID_PATTERN)], Unit] = Field(
        default_factory=dict,
        description="Personality in [0, 1]; the emotion rules read temper, empathy, stubbornness.",
    )
    baseline: EmotionVector = Field(
        default_factory=EmotionVector, description="The mood this character drifts back to."
    )
    initial: EmotionVector | None = Field(
        default=None, description="Emotion at the start of a playthrough; the baseline if absent."
    )
    knows: list[Id] = Field(default_factory=list, description="Fact ids known from the start.")


class Relationship(StrictModel):
    """How `from` feels about `to`; directed, so A may trust B while B fears A."""

    from_: Id = Field(alias="from")
    to: Id
    trust: Signed = 0.0
    affection: Signed = 0.0
    fear: Signed = 0.0
    respect: Signed = 0.0


def _check_bounds(default: float, low: float | None, high: float | None) -> None:
    if low is not None and high is not None and low > high:
        raise ValueError(f"min ({low}) is greater than max ({high})")
    if (low is not None and default < low) or (high is not None and default > high):
        raise ValueError(f"default {default} is outside [{low}, {high}]")


class BoolVariable(StrictModel):
    id: Id
    type: Literal["bool"]
    default: bool = False
    description: str = ""


class IntVariable(StrictModel):
    id: Id
    type: Literal["int"]
    default: int = 0
    min: int | None = None
    max: int | None = None
    description: str = ""

    @model_validator(mode="after")
    def _default_within_bounds(self) -> IntVariable:
        _check_bounds(self.default, self.min, self.max)
        return self


class FloatVariable(StrictModel):
    id: Id
    type: Literal["float"]
    default: float = 0.0
    min: float | None = None
    max: float | None = None
    description: str = ""

    @model_validator(mode="after")
    def _default_within_bounds(self) -> FloatVariable:
        _check_bounds(self.default, self.min, self.max)
        return self


class StringVariable(StrictModel):
    id: Id
    type: Literal["string"]
    default: str = ""
    description: str = ""


Variable = Annotated[BoolVariable | IntVariable | FloatVariable | StringVariable, Field(discriminator="type")]


class Fact(StrictModel):
    id: Id
    text: str


class SetVariable(StrictModel):
    do: Literal["set"]
    variable: Id
    value: VariableValue


class AddVariable(StrictModel):
    do: Literal["add"]
    variable: Id
    amount: int | float


class ShiftEmotion(StrictModel):
    do: Literal["shift_emotion"]
    character: Id
    axis: EkmanLabel
    amount: Signed


class ShiftRelationship(StrictModel):
    do: Literal["shift_relationship"]
    from_: Id = Field(alias="from")
    to: Id
    axis: RelationshipAxis
    amount: Annotated[float, Field(ge=-2.0, le=2.0)]


class LearnFact(StrictModel):
    do: Literal["learn"]
    character: Id
    fact: Id


class Leave(StrictModel):
    """The character leaves the story: absent from every later beat."""

    do: Literal["leave"]
    character: Id


class Die(StrictModel):
    """The character dies: absent from every later beat, remembered as dead."""

    do: Literal["die"]
    character: Id


Effect = Annotated[
    SetVariable | AddVariable | ShiftEmotion | ShiftRelationship | LearnFact | Leave | Die,
    Field(discriminator="do"),
]


class Beat(StrictModel):
    id: Id
    summary: str = Field(description="What happens; the text generator narrates from it.")
    location: str = ""
    characters: list[Id] = Field(
        default_factory=list, description="Characters present; the player always is."
    )
    effects: list[Effect] = Field(default_factory=list, description="Applied on entering.")
    target_emotion: dict[Id, EkmanLabel] = Field(
        default_factory=dict, description="Intended emotion per character: the arc of the scene."
    )
    style: StyleName | None = Field(default=None, description="Overrides the story's style.")
    ending: bool = False
    ending_kind: EndingKind | None = None
    tags: list[str] = Field(default_factory=list, description="Free labels for tools, e.g. Twine passage tags.")

    @model_validator(mode="after")
    def _kind_only_on_endings(self) -> Beat:
        if self.ending_kind is not None and not self.ending:
            raise ValueError("ending_kind is set but ending is not true")
        return self


class Choice(StrictModel):
    id: Id
    from_: Id = Field(alias="from")
    to: Id
    text: str = Field(description="What the player sees.")
    condition: str | None = Field(
        default=None, description="When the choice is offered, e.g. 'clues >= 2 and visited(cellar)'."
    )
    effects: list[Effect] = Field(default_factory=list, description="Applied when taken.")


class QuestStep(StrictModel):
    beat: Id
    description: str = ""


class Quest(StrictModel):
    id: Id
    title: str
    description: str = ""
    steps: list[QuestStep] = Field(min_length=1)
    prerequisites: list[Id] = Field(default_factory=list, description="Quest ids to finish first.")


class PlotGraphSpec(StrictModel):
    """A whole plot graph as written; `narrative.loader` checks what a schema cannot."""

    story: Story
    characters: list[Character] = Field(default_factory=list)
    relationships: list[Relationship] = Field(default_factory=list)
    variables: list[Variable] = Field(default_factory=list)
    facts: list[Fact] = Field(default_factory=list)
    beats: list[Beat] = Field(min_length=1)
    choices: list[Choice] = Field(default_factory=list)
    quests: list[Quest] = Field(default_factory=list)


SCHEMA_PATH = Path(__file__).with_name("plotgraph.schema.json")


def plot_graph_json_schema() -> dict[str, Any]:
    """JSON Schema of the format, generated from the models so it never disagrees with them."""
    schema = PlotGraphSpec.model_json_schema(by_alias=True)
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": "https://storyteller.dev/schemas/plotgraph.schema.json",
        "title": "Storyteller plot graph",
        **schema,
    }


def write_json_schema(path: Path = SCHEMA_PATH) -> Path:
    path.write_text(json.dumps(plot_graph_json_schema(), indent=2, sort_keys=True) + "\n", encoding="utf-8")
    return path


if __name__ == "__main__":
    write_json_schema()
