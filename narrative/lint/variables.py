"""L11x: variables that conditions and effects do not use together.

A variable only read always holds its default; one only written changes nothing the graph can
see. Unknown variables are load errors (E010), so they are not repeated here.
"""

from __future__ import annotations

from collections.abc import Iterator

from narrative.diagnostics import H, Rule, Severity
from narrative.lint.codes import LintCode
from narrative.lint.context import LintContext, LintFinding, emits
from narrative.schema import AddVariable, Beat, Choice, SetVariable

_ONE_CHOICE = "beats: [{id: a, summary: A}, {id: e, summary: E, ending: true}]\n"

READ_NEVER_WRITTEN = Rule(
    LintCode.READ_NEVER_WRITTEN, Severity.WARNING,
    "a variable that conditions read but no effect changes, so it always holds its default",
    "add an effect that sets it, or compare with its default directly (ignore if the game sets it by events)",
    H + "variables: [{id: x, type: int, default: 0}]\n" + _ONE_CHOICE
    + "choices: [{id: a_e, from: a, to: e, text: t, condition: 'x == 0'}]\n",
)
WRITTEN_NEVER_READ = Rule(
    LintCode.WRITTEN_NEVER_READ, Severity.WARNING, "a variable that effects change but no condition reads",
    "use it in a condition, or remove it (ignore if the game reads it from the session)",
    H + "variables: [{id: x, type: int, default: 0}]\n" + _ONE_CHOICE
    + "choices: [{id: a_e, from: a, to: e, text: t, effects: [{do: set, variable: x, value: 1}]}]\n",
)
UNUSED_VARIABLE = Rule(
    LintCode.UNUSED_VARIABLE, Severity.WARNING, "a declared variable that nothing reads or writes",
    "remove it, or use it",
    H + "variables: [{id: x, type: int, default: 0}]\n" + _ONE_CHOICE + "choices: [{id: a_e, from: a, to: e, text: t}]\n",
)  # fmt: skip


@emits(READ_NEVER_WRITTEN, WRITTEN_NEVER_READ, UNUSED_VARIABLE)
def variable_usage(context: LintContext) -> Iterator[LintFinding]:
    """L110 read but never written, L111 written but never read, L112 neither."""
    spec = context.graph.spec
    owners: tuple[Beat | Choice, ...] = (*spec.beats, *spec.choices)
    written = {
        effect.variable
        for owner in owners
        for effect in owner.effects
        if isinstance(effect, SetVariable | AddVariable)
    }
    for i, variable in enumerate(spec.variables):
        readers = context.reads.get(variable.id, ())
        path = ("variables", i, "id")
        if readers and variable.id not in written:
            default = str(variable.default).lower() if isinstance(variable.default, bool) else repr(variable.default)
            yield LintFinding(
                LintCode.READ_NEVER_WRITTEN,
                f"variable {variable.id!r} is read by {_count(readers)} (first: choice {readers[0]!r}) "
                f"but no effect changes it, so it is always {default}",
                path,
            )
        elif not readers and variable.id in written:
            yield LintFinding(
                LintCode.WRITTEN_NEVER_READ, f"variable {variable.id!r} is changed by effects but no condition reads it", path
            )
        elif not readers:
            yield LintFinding(LintCode.UNUSED_VARIABLE, f"variable {variable.id!r} is never read or changed", path)


def _count(readers: tuple[str, ...]) -> str:
    return "1 condition" if len(readers) == 1 else f"{len(readers)} conditions"
