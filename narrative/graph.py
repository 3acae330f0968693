"""`PlotGraph`: a loaded, checked plot graph behind a small typed API.

Beats are the nodes of a networkx `MultiDiGraph` and choices its edges, keyed by choice id (two
choices may join the same beats), carrying the parsed condition and the effects. Algorithms are
plain functions over it (see `narrative.algorithms`), in the style of networkx itself.

Instances come from `narrative.loader`, which guarantees every reference resolves; the lookups
here still raise `UnknownReferenceError` because ids also arrive from clients at run time.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TypeVar

import networkx as nx

from narrative.errors import UnknownReferenceError
from narrative.expressions import Expr
from narrative.index import GraphIndex
from narrative.schema import (
    Beat,
    Character,
    Choice,
    Fact,
    PlotGraphSpec,
    Quest,
    Story,
    Variable,
)


class PlotGraph:
    def __init__(self, spec: PlotGraphSpec, conditions: Mapping[str, Expr]) -> None:
        """Build from a checked spec; `conditions` maps choice id to its parsed condition."""
        self.spec = spec
        self._index = GraphIndex(spec)
        graph = nx.MultiDiGraph(story=spec.story.id)
        for beat in spec.beats:
            graph.add_node(beat.id, beat=beat)
        for choice in spec.choices:
            graph.add_edge(
                choice.from_, choice.to, key=choice.id, choice=choice, condition=conditions.get(choice.id)
            )
        self._graph = nx.freeze(graph)
        grouped: dict[str, list[Choice]] = {beat_id: [] for beat_id in self._index.beats}
        for choice in self._index.choices.values():
            grouped[choice.from_].append(choice)
        self._choices_from = {beat_id: tuple(choices) for beat_id, choices in grouped.items()}

    @property
    def digraph(self) -> nx.MultiDiGraph:
        """The frozen networkx graph, for algorithms; node attr `beat`, edge attrs `choice`, `condition`."""
        return self._graph

    @property
    def story(self) -> Story:
        return self.spec.story

    @property
    def index(self) -> GraphIndex:
        return self._index

    @property
    def start(self) -> Beat:
        return self.beat(self.spec.story.start)

    @property
    def beats(self) -> tuple[Beat, ...]:
        return tuple(self._index.beats.values())

    @property
    def choices(self) -> tuple[Choice, ...]:
        return tuple(self._index.choices.values())

    @property
    def characters(self) -> tuple[Character, ...]:
        return tuple(self._index.characters.values())

    @property
    def variables(self) -> tuple[Variable, ...]:
        return tuple(self._index.variables.values())

    @property
    def facts(self) -> tuple[Fact, ...]:
        return tuple(self._index.facts.values())

    @property
    def quests(self) -> tuple[Quest, ...]:
        return tuple(self._index.quests.values())

    @property
    def endings(self) -> tuple[Beat, ...]:
        return tuple(beat for beat in self.beats if beat.ending)

    def beat(self, beat_id: str) -> Beat:
        return _get(self._index.beats, "beat", beat_id)

    def choice(self, choice_id: str) -> Choice:
        return _get(self._index.choices, "choice", choice_id)

    def character(self, character_id: str) -> Character:
        """A declared character; the player is built in and has no `Character` entry."""
        return _get(self._index.characters, "character", character_id)

    def variable(self, variable_id: str) -> Variable:
        return _get(self._index.variables, "variable", variable_id)

    def fact(self, fact_id: str) -> Fact:
        return _get(self._index.facts, "fact", fact_id)

    def quest(self, quest_id: str) -> Quest:
        return _get(self._index.quests, "quest", quest_id)

    def choices_from(self, beat_id: str) -> tuple[Choice, ...]:
        """Choices leaving `beat_id`, in the order the file declares them."""
        return _get(self._choices_from, "beat", beat_id)

    def condition(self, choice_id: str) -> Expr | None:
        """The parsed condition of a choice; None when it is always offered."""
        choice = self.choice(choice_id)
        return self._graph.edges[choice.from_, choice.to, choice_id]["condition"]


_T = TypeVar("_T")


def _get(items: Mapping[str, _T], kind: str, item_id: str) -> _T:
    try:
        return items[item_id]
    except KeyError:
        raise UnknownReferenceError(kind, item_id) from None
