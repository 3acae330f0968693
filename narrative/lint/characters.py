"""L14x: characters along the paths of the story: who is still there, how they feel, what they know."""

from __future__ import annotations

from collections.abc import Iterator

from narrative.diagnostics import H, Rule, Severity
from narrative.expressions import references
from narrative.expressions.nodes import Call
from narrative.lint.abstract import assume, in_beat
from narrative.lint.codes import LintCode
from narrative.lint.context import LintContext, LintFinding, emits
from narrative.lint.flow import may_sets
from narrative.schema import Die, Effect, Leave, ShiftEmotion

_TOM = (
    "characters: [{id: tom, name: Tom, baseline: {sadness: 0.5}}]\nfacts: [{id: secret, text: S}]\n"
    "beats: [{id: a, summary: A, characters: [tom], target_emotion: {tom: joy}},\n"
    "  {id: b, summary: B, characters: [tom], target_emotion: {tom: TARGET}}, {id: e, summary: E, ending: true}]\n"
    "choices: [{id: a_b, from: a, to: b, text: t, effects: EFFECTS}, {id: b_e, from: b, to: e, text: t, condition: 'CONDITION'}]\n"
)


def _tom(target: str = "joy", effects: str = "[]", condition: str = "true") -> str:
    return H + _TOM.replace("TARGET", target).replace("EFFECTS", effects).replace("CONDITION", condition)


REMOVED_CHARACTER_PRESENT = Rule(
    LintCode.REMOVED_CHARACTER_PRESENT, Severity.WARNING,
    "a character listed in a beat that some path reaches after the character left or died",
    "remove the character from the beat, or the leave/die effect from that path",
    _tom(effects="[{do: die, character: tom}]"),
)
EMOTION_ARC_BREAK = Rule(
    LintCode.EMOTION_ARC_BREAK, Severity.WARNING,
    "a character's target emotion changes between two consecutive beats with nothing that explains it",
    "add a shift_emotion effect toward the new emotion on the choice or the beat", _tom(target="anger"),
)
KNOWLEDGE_LEAK = Rule(
    LintCode.KNOWLEDGE_LEAK, Severity.WARNING,
    "a condition needs a character to know a fact that no path lets them learn",
    "add a `learn` effect on the way, or list the fact in the character's `knows`",
    _tom(condition="knows(player, secret)"),
)  # fmt: skip


@emits(REMOVED_CHARACTER_PRESENT)
def removed_characters_present(context: LintContext) -> Iterator[LintFinding]:
    """L140: a beat lists a character that some path has made leave or die before entering it.

    The session drops such a character from the beat silently, which is rarely what the
    designer wrote the beat for.
    """
    graph = context.graph
    bits = {character.id: 1 << i for i, character in enumerate(graph.characters)}

    def removes(effect: Effect) -> int:
        return bits[effect.character] if isinstance(effect, Leave | Die) else 0

    removed = may_sets(graph, context.components, removes).entering
    for beat in graph.beats:
        gone = removed.get(beat.id, 0)
        for j, character in enumerate(beat.characters):
            if gone & bits[character]:
                yield LintFinding(
                    LintCode.REMOVED_CHARACTER_PRESENT,
                    f"{character!r} is listed in beat {beat.id!r}, but some path reaches it after {character!r} left or died",
                    context.beat_path(beat.id, "characters", j),
                )


@emits(EMOTION_ARC_BREAK)
def emotion_arc_breaks(context: LintContext) -> Iterator[LintFinding]:
    """L141: across a choice, a character's target emotion changes from A to B, and neither the
    choice nor the beat it enters shifts that character's emotion toward B (or away from A) by
    at least `LintConfig.emotion_shift_threshold`. Returning to the character's baseline mood
    needs no explanation: emotions decay toward it every step.
    """
    graph = context.graph
    threshold = context.config.emotion_shift_threshold
    for choice in graph.choices:
        before = graph.beat(choice.from_).target_emotion
        target = graph.beat(choice.to)
        for character, new in target.target_emotion.items():
            old = before.get(character)
            if old is None or old == new or new == graph.character(character).baseline.dominant():
                continue
            shifts = _shifts(character, (*choice.effects, *target.effects))
            if shifts.get(new, 0.0) >= threshold or shifts.get(old, 0.0) <= -threshold:
                continue
            yield LintFinding(
                LintCode.EMOTION_ARC_BREAK,
                f"{character!r} goes from {old} in beat {choice.from_!r} to {new} in beat {target.id!r} "
                f"through choice {choice.id!r} with no shift_emotion of at least {threshold:g} explaining it",
                context.beat_path(target.id, "target_emotion", character),
            )


def _shifts(character: str, effects: tuple[Effect, ...]) -> dict[str, float]:
    total: dict[str, float] = {}
    for effect in effects:
        if isinstance(effect, ShiftEmotion) and effect.character == character:
            total[effect.axis] = total.get(effect.axis, 0.0) + effect.amount
    return total


@emits(KNOWLEDGE_LEAK)
def knowledge_leaks(context: LintContext) -> Iterator[LintFinding]:
    """L142: a condition that can only be true if a character knows a fact, in a beat that no
    path reaches with that character having learned it (nor knowing it from the start).

    Conditions already impossible for other reasons (L120, L121) are not repeated here.
    """
    graph = context.graph
    for choice_id, condition in context.conditions.items():
        if not references(condition).facts:
            continue
        choice = graph.choice(choice_id)
        source = graph.beat(choice.from_)
        state = context.ranges.get(source.id)
        if state is None or assume(condition, state, True, in_beat(source)) is None:
            continue
        unknowable: list[Call] = []
        if assume(condition, state, True, context.knowledge.oracle(source.id, in_beat(source), unknowable)) is None:
            needed = ", ".join(dict.fromkeys(f"knows({c.args[0].name}, {c.args[1].name})" for c in unknowable))
            yield LintFinding(
                LintCode.KNOWLEDGE_LEAK,
                f"condition of choice {choice.id!r} needs {needed}, but no path to beat {source.id!r} lets them learn it",
                context.choice_path(choice.id, "condition"),
                offset=unknowable[0].column,
            )
