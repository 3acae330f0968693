"""Which facts each character may know by each beat, for conditions that ask `knows(c, f)`.

Knowledge only grows (`learn` effects, never forgetting), so "some path has let c learn f
before this beat" is a may-analysis over bit sets (`flow.may_sets`): one bit per (character,
fact) pair that some `learn` effect teaches. Pairs known from the start hold everywhere.
"""

from __future__ import annotations

from narrative.expressions.nodes import Call
from narrative.graph import PlotGraph
from narrative.lint.abstract import CallOracle
from narrative.lint.domain import BOTH, FALSE, Abstract
from narrative.lint.flow import Components, may_sets
from narrative.schema import Beat, Choice, Effect, LearnFact


class Knowledge:
    def __init__(self, graph: PlotGraph, parts: Components) -> None:
        self._at_start = {(c.id, fact) for c in graph.characters for fact in c.knows}
        self._bits: dict[tuple[str, str], int] = {}
        owners: tuple[Beat | Choice, ...] = (*graph.beats, *graph.choices)
        for owner in owners:
            for effect in owner.effects:
                if isinstance(effect, LearnFact):
                    self._bits.setdefault((effect.character, effect.fact), 1 << len(self._bits))
        self._learned = may_sets(graph, parts, self._learns)

    def _learns(self, effect: Effect) -> int:
        return self._bits[(effect.character, effect.fact)] if isinstance(effect, LearnFact) else 0

    def may_know(self, character: str, fact: str, beat_id: str) -> bool:
        """Whether some path lets `character` know `fact` once `beat_id`'s effects applied."""
        pair = (character, fact)
        return pair in self._at_start or bool(self._learned.leaving(beat_id) & self._bits.get(pair, 0))

    def oracle(self, beat_id: str, otherwise: CallOracle, unknowable: list[Call] | None = None) -> CallOracle:
        """Answers `knows(c, f)` in `beat_id` as false where `c` cannot know `f` there (appending
        the call to `unknowable`, when given), and every other call as `otherwise` does."""

        def answer(call: Call) -> Abstract:
            if call.function != "knows":
                return otherwise(call)
            if self.may_know(call.args[0].name, call.args[1].name, beat_id):
                return BOTH
            if unknowable is not None:
                unknowable.append(call)
            return FALSE

        return answer
