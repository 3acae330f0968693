"""L12x: conditions that can never be true, alone (L120) or where they are asked (L121)."""

from __future__ import annotations

from collections.abc import Iterator

from narrative.diagnostics import H, Rule, Severity
from narrative.expressions import references
from narrative.lint.abstract import assume, in_beat
from narrative.lint.codes import LintCode
from narrative.lint.context import LintContext, LintFinding, emits
from narrative.lint.domain import describe
from narrative.lint.ranges import declared_state
from narrative.vocabulary import PLAYER_ID

_GATED = (
    "beats: [{id: a, summary: A, effects: [{do: add, variable: x, amount: 1}]},\n"
    "  {id: e1, summary: E1, ending: true}, {id: e2, summary: E2, ending: true}]\n"
    "choices: [{id: a_e1, from: a, to: e1, text: t}, {id: a_e2, from: a, to: e2, text: t, condition: 'CONDITION'}]\n"
)
CONTRADICTORY_CONDITION = Rule(
    LintCode.CONTRADICTORY_CONDITION, Severity.ERROR,
    "a condition that is false for every value its variables can hold, so the choice is never offered",
    "check the comparisons joined by `and`, and the variables' min/max",
    H + "variables: [{id: x, type: int, default: 0}]\n" + _GATED.replace("CONDITION", "x > 3 and x < 2"),
)
UNSATISFIABLE_GATE = Rule(
    LintCode.UNSATISFIABLE_GATE, Severity.WARNING,
    "a condition that no path of choices can make true where it is asked",
    "check the effects on the way and who the beat lists as present (ignore if the game sets variables by events)",
    H + "variables: [{id: x, type: int, default: 0, min: 0, max: 10}]\n" + _GATED.replace("CONDITION", "x >= 2"),
)  # fmt: skip


@emits(CONTRADICTORY_CONDITION, UNSATISFIABLE_GATE)
def impossible_conditions(context: LintContext) -> Iterator[LintFinding]:
    """L120: false for every value the variables may hold by declaration (`x > 3 and x < 2`,
    or `clues > 10` with `max: 10`). L121: false for every value the variables can hold on
    entering the choice's beat by any allowed path, given who the beat lists as present (e.g. `clues >= 5` where at most 3 clues can
    be found). Choices out of beats no allowed path reaches are left to L101.
    """
    graph = context.graph
    for choice_id, condition in context.conditions.items():
        names = sorted(references(condition).variables)
        path = context.choice_path(choice_id, "condition")
        if assume(condition, declared_state(graph, names), True) is None:
            yield LintFinding(
                LintCode.CONTRADICTORY_CONDITION,
                f"condition of choice {choice_id!r} can never be true, whatever its variables hold",
                path,
                offset=0,
            )
            continue
        source = graph.beat(graph.choice(choice_id).from_)
        state = context.ranges.get(source.id)
        if state is None or assume(condition, state, True, in_beat(source)) is not None:
            continue
        seen = [f"{name} is {describe(state[name])}" for name in names]
        absent = sorted(c for c in references(condition).characters - {PLAYER_ID} if c not in source.characters)
        seen += [f"{c!r} is not present" for c in absent]
        yield LintFinding(
            LintCode.UNSATISFIABLE_GATE,
            f"condition of choice {choice_id!r} is never true in beat {source.id!r}"
            + (f", where on every path {', '.join(seen)}" if seen else ""),
            path,
            offset=0,
        )
