"""What every lint check works from: the graph, the settings, and analyses computed once.

Checks are plain functions of a `LintContext`; the costly analyses they share (reachability,
variable ranges) are cached properties, computed on first use and only if some check needs them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from functools import cached_property

from narrative.algorithms import reachable_beats
from narrative.diagnostics import Rule
from narrative.expressions import Expr, references
from narrative.graph import PlotGraph
from narrative.lint.abstract import CallOracle, in_beat
from narrative.lint.codes import DEFAULT_EMOTION_SHIFT_THRESHOLD, LintCode
from narrative.lint.domain import State
from narrative.lint.flow import Components, components
from narrative.lint.knowledge import Knowledge
from narrative.lint.ranges import variable_ranges
from narrative.schema import Beat

Path = tuple[str | int, ...]


@dataclass(frozen=True)
class LintConfig:
    emotion_shift_threshold: float = DEFAULT_EMOTION_SHIFT_THRESHOLD
    """Smallest shift_emotion amount that explains a change of a character's target emotion."""


@dataclass(frozen=True)
class LintFinding:
    """One problem, located by its path in the file (and offset inside a condition's text)."""

    code: LintCode
    message: str
    path: Path
    offset: int | None = None


class LintContext:
    def __init__(self, graph: PlotGraph, config: LintConfig) -> None:
        self.graph = graph
        self.config = config

    @cached_property
    def _beat_positions(self) -> dict[str, int]:
        return {beat.id: i for i, beat in enumerate(self.graph.spec.beats)}

    @cached_property
    def _choice_positions(self) -> dict[str, int]:
        return {choice.id: i for i, choice in enumerate(self.graph.spec.choices)}

    def beat_path(self, beat_id: str, *rest: str | int) -> Path:
        """Path of a beat (or of a field below it, `rest`) in the file."""
        return ("beats", self._beat_positions[beat_id], *(rest or ("id",)))

    def choice_path(self, choice_id: str, *rest: str | int) -> Path:
        return ("choices", self._choice_positions[choice_id], *(rest or ("id",)))

    @cached_property
    def conditions(self) -> Mapping[str, Expr]:
        """Parsed condition per choice id, for the choices that have one, in file order."""
        edges = self.graph.digraph.edges(keys=True, data="condition")
        found = {key: condition for _, _, key, condition in edges if condition is not None}
        return {choice.id: found[choice.id] for choice in self.graph.choices if choice.id in found}

    @cached_property
    def reads(self) -> Mapping[str, tuple[str, ...]]:
        """Variable id -> ids of the choices whose condition reads it."""
        readers: dict[str, list[str]] = {}
        for choice_id, condition in self.conditions.items():
            for name in references(condition).variables:
                readers.setdefault(name, []).append(choice_id)
        return {name: tuple(choice_ids) for name, choice_ids in readers.items()}

    @cached_property
    def reachable(self) -> frozenset[str]:
        """Beats some path of choices reaches, ignoring conditions."""
        return reachable_beats(self.graph)

    @cached_property
    def components(self) -> Components:
        """Strongly connected components in topological order (see `narrative.lint.flow`)."""
        return components(self.graph)

    @cached_property
    def knowledge(self) -> Knowledge:
        """Which facts each character may know by each beat."""
        return Knowledge(self.graph, self.components)

    @cached_property
    def ranges(self) -> Mapping[str, State]:
        """Beats some path the conditions allow reaches -> values of the variables conditions read
        once the beat's effects applied (see `narrative.lint.ranges`). Conditions there see who
        each beat lists as present and what each character may know by then."""
        knowledge = self.knowledge
        oracles: dict[str, CallOracle] = {}  # one per beat, however often the fixpoint visits it

        def oracle_in(beat: Beat) -> CallOracle:
            if beat.id not in oracles:
                oracles[beat.id] = knowledge.oracle(beat.id, in_beat(beat))
            return oracles[beat.id]

        return variable_ranges(self.graph, self.conditions, self.reads, oracle_in)


@dataclass(frozen=True)
class Check:
    """A lint check and the rules of the codes it emits; a finding with a code it did not declare
    is a bug of the check, and raises."""

    run: Callable[[LintContext], Iterator[LintFinding]]
    rules: tuple[Rule, ...]

    def __call__(self, context: LintContext) -> Iterator[LintFinding]:
        declared = {rule.code for rule in self.rules}
        for finding in self.run(context):
            if finding.code not in declared:
                raise AssertionError(f"{self.run.__name__} emitted {finding.code}, which it does not declare")
            yield finding


def emits(*rules: Rule) -> Callable[[Callable[[LintContext], Iterator[LintFinding]]], Check]:
    """Declares the rules of the codes a check function emits; the linter's registry is built from these."""

    def declare(run: Callable[[LintContext], Iterator[LintFinding]]) -> Check:
        return Check(run, rules)

    return declare
