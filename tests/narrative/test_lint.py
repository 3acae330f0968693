"""The linter: each code on a minimal graph that triggers it and a near-twin that does not,
positions and formats, the CLI, and properties on random graphs (never crashes; what it calls
impossible never happens in a simulated playthrough)."""

from __future__ import annotations

import argparse
import doctest
import json
import random
import time
from pathlib import Path

import pytest
from hypothesis import given

import narrative.lint.linter
from narrative.diagnostics import Severity
from narrative.expressions import parse
from narrative.lint import CHECKS, LINT_RULES, LintCode, LintConfig, lint_file, lint_graph
from narrative.lint.abstract import assume
from narrative.lint.cli import add_lint_command
from narrative.lint.domain import BOTH, Interval, ValueSet
from narrative.loader import graph_from_spec, load_graph_text
from narrative.random_graph import random_spec
from narrative.simulate import simulate
from tests.narrative.strategies import graph_data, load_data, property_settings

HEADER = "story: {id: s, title: S, style: mystery, start: a}\n"


def lint(body: str, config: LintConfig = LintConfig()) -> list[tuple[str, str]]:
    """(code, message) of every finding for a graph given without its story header."""
    return [(str(d.code), d.message) for d in lint_graph(load_graph_text(HEADER + body), config=config)]


def codes(body: str, config: LintConfig = LintConfig()) -> list[str]:
    """Sorted codes: without a source document, findings come in check order, not by position."""
    return sorted(code for code, _ in lint(body, config))


# --- L10x structure -------------------------------------------------------------------------

TWO_ENDINGS = """
beats:
  - {id: a, summary: A}
  - {id: b, summary: B}
  - {id: e1, summary: E1, ending: true}
  - {id: e2, summary: E2, ending: true}
"""


def test_unreachable_beat_and_ending():
    body = TWO_ENDINGS + """
choices:
  - {id: a_e1, from: a, to: e1, text: t}
  - {id: b_e2, from: b, to: e2, text: t}
"""
    found = lint(body)
    assert [c for c, _ in found] == ["L101", "L103"]
    assert "'b'" in found[0][1] and "no path of choices from the start beat 'a'" in found[0][1]
    assert "'e2'" in found[1][1]
    assert codes(body + "  - {id: a_b, from: a, to: b, text: t}\n") == []


def test_ending_behind_an_impossible_gate_is_unreachable():
    body = TWO_ENDINGS + """
variables: [{id: x, type: int, default: 0}]
choices:
  - {id: a_b, from: a, to: b, text: t, effects: [{do: set, variable: x, value: 1}]}
  - {id: b_e1, from: b, to: e1, text: t}
  - {id: b_e2, from: b, to: e2, text: t, condition: "x == 2"}
"""
    found = dict(lint(body))
    assert set(found) == {"L103", "L121"}
    assert "passes a choice whose condition can never be true" in found["L103"]
    assert codes(body.replace("value: 1", "value: 2")) == []


def test_dead_end():
    body = """
beats:
  - {id: a, summary: A}
  - {id: b, summary: B}
choices:
  - {id: a_b, from: a, to: b, text: t}
"""
    assert codes(body) == ["L102"]
    assert codes(body.replace("summary: B}", "summary: B, ending: true}")) == []


def test_trap_cycle():
    body = """
beats:
  - {id: a, summary: A}
  - {id: l1, summary: L1}
  - {id: l2, summary: L2}
  - {id: e, summary: E, ending: true}
choices:
  - {id: a_l1, from: a, to: l1, text: t}
  - {id: a_e, from: a, to: e, text: t}
  - {id: l1_l2, from: l1, to: l2, text: t}
  - {id: l2_l1, from: l2, to: l1, text: t}
"""
    found = lint(body)
    assert [c for c, _ in found] == ["L104"]
    assert "'l1', 'l2'" in found[0][1]
    assert codes(body + "  - {id: l2_e, from: l2, to: e, text: t}\n") == []


def test_a_beat_that_only_loops_to_itself_is_a_trap():
    body = """
beats:
  - {id: a, summary: A}
choices:
  - {id: again, from: a, to: a, text: t}
"""
    assert lint(body) == [("L104", "beat 'a' leads only to itself and is not an ending: a playthrough there never ends")]


# --- L11x variables ------------------------------------------------------------------------

VARIABLE_GRAPH = """
variables: [{id: x, type: int, default: 0}, {id: flag, type: bool}]
beats:
  - {id: a, summary: A, effects: EFFECTS}
  - {id: e, summary: E, ending: true}
choices:
  - {id: a_e, from: a, to: e, text: t, condition: CONDITION}
"""


def variables_graph(effects: str, condition: str) -> str:
    return VARIABLE_GRAPH.replace("EFFECTS", effects).replace("CONDITION", condition)


def test_variable_read_but_never_written():
    found = lint(variables_graph("[{do: set, variable: flag, value: true}]", "x == 0 and flag"))
    assert [c for c, _ in found] == ["L110"]
    assert "'x'" in found[0][1] and "always 0" in found[0][1]
    assert codes(variables_graph("[{do: set, variable: flag, value: true}, {do: add, variable: x, amount: 1}]", "x >= 0 and flag")) == []


def test_variable_written_but_never_read_and_unused():
    assert codes(variables_graph("[{do: set, variable: flag, value: true}]", "flag or true")) == ["L112"]
    assert codes(variables_graph("[{do: add, variable: x, amount: 1}]", "x > 0")) == ["L112"]
    assert codes(variables_graph("[{do: add, variable: x, amount: 1}, {do: set, variable: flag, value: true}]", "x > 0")) == ["L111"]


# --- L12x conditions -----------------------------------------------------------------------

GATE = """
variables:
  - {id: x, type: int, default: 0, min: 0, max: 10}
  - {id: who, type: string}
  - {id: flag, type: bool}
beats:
  - {id: a, summary: A, effects: [{do: add, variable: x, amount: 1}, {do: set, variable: who, value: tom}, {do: set, variable: flag, value: true}]}
  - {id: e1, summary: E1, ending: true}
  - {id: e2, summary: E2, ending: true}
choices:
  - {id: a_e1, from: a, to: e1, text: t, condition: 'x >= 0 or flag or who == ""'}
  - {id: a_e2, from: a, to: e2, text: t, condition: 'CONDITION'}
"""


@pytest.mark.parametrize(
    "condition",
    ["x > 3 and x < 2", "x > 10", "x < 5 and (x > 7 or x < 0)", 'who == "a" and who == "b"', "flag and not flag", "x * 2 > 20 or x + 1 < 1"],
)
def test_contradictory_condition(condition):
    assert codes(GATE.replace("CONDITION", condition)) == ["L103", "L120"]  # and the ending behind it


@pytest.mark.parametrize("condition", ["x > 0 and x < 2", "x >= 1 or x > 9", 'who == "tom"', "flag", "x != 0", "not (x == 0)"])
def test_satisfiable_condition_is_quiet(condition):
    assert codes(GATE.replace("CONDITION", condition)) == []


@pytest.mark.parametrize("condition", ["x >= 2", "x == 0", 'who == ""', "not flag", "x != 1"])
def test_gate_no_path_satisfies(condition):
    found = dict(lint(GATE.replace("CONDITION", condition)))
    assert sorted(found) == ["L103", "L121"]
    assert "never true in beat 'a'" in found["L121"]


def test_gate_message_shows_the_range_on_every_path():
    message = dict(lint(GATE.replace("CONDITION", "x >= 2")))["L121"]
    assert "x is 1" in message


def test_gate_message_says_a_boolean_that_can_be_either_is_either():
    body = """
variables: [{id: x, type: int, default: 0}, {id: flag, type: bool}]
beats:
  - {id: a, summary: A}
  - {id: b, summary: B}
  - {id: e1, summary: E1, ending: true}
  - {id: e2, summary: E2, ending: true}
choices:
  - {id: yes_, from: a, to: b, text: t, effects: [{do: set, variable: flag, value: true}]}
  - {id: no_, from: a, to: b, text: t, effects: [{do: set, variable: flag, value: false}]}
  - {id: b_e1, from: b, to: e1, text: t}
  - {id: b_e2, from: b, to: e2, text: t, condition: "flag and x >= 2"}
"""
    message = dict(lint(body))["L121"]
    assert "flag is either true or false" in message and "x is 0" in message


LOOP = """
variables: [{id: n, type: int, default: 0, min: 0, max: 100}]
beats:
  - {id: a, summary: A}
  - {id: e, summary: E, ending: true}
choices:
  - {id: more, from: a, to: a, text: t, condition: "n < 5", effects: [{do: add, variable: n, amount: STEP}]}
  - {id: done, from: a, to: e, text: t, condition: "DONE"}
"""


def test_loops_reach_a_fixpoint_and_stay_sound():
    assert codes(LOOP.replace("STEP", "1").replace("DONE", "n == 5")) == []
    assert codes(LOOP.replace("STEP", "2").replace("DONE", "n >= 6")) == []
    assert codes(LOOP.replace("STEP", "-1").replace("DONE", "n > 0")) == ["L103", "L121"]


def test_absent_character_closes_a_present_gate():
    body = """
characters: [{id: tom, name: Tom}]
beats:
  - {id: a, summary: A, characters: []}
  - {id: e1, summary: E1, ending: true}
  - {id: e2, summary: E2, ending: true}
choices:
  - {id: a_e1, from: a, to: e1, text: t}
  - {id: a_e2, from: a, to: e2, text: t, condition: present(tom)}
"""
    found = dict(lint(body))
    assert set(found) == {"L121", "L103"} and "'tom' is not present" in found["L121"]
    assert codes(body.replace("characters: []", "characters: [tom]")) == []


def test_abstract_conditions_narrow_through_and_or():
    state = {"x": Interval(0, 10, True), "flag": BOTH}
    assert assume(parse("x > 3 and x < 6"), state, True)["x"] == Interval(4, 5, True)
    assert assume(parse("x < 2 or x > 8"), state, True)["x"] == Interval(0, 10, True)
    assert assume(parse("not (x < 2 or x > 8)"), state, True)["x"] == Interval(2, 8, True)
    assert assume(parse("x != 0"), state, True)["x"] == Interval(1, 10, True)
    assert assume(parse("x > 2.5"), state, True)["x"] == Interval(3, 10, True)
    assert assume(parse("x == 2.5"), state, True) is None
    assert assume(parse("flag == false"), state, True)["flag"] == ValueSet(frozenset({False}))
    floats = {"y": Interval(0.0, 1.0)}
    assert assume(parse("y > 1.0"), floats, True) is None
    assert assume(parse("y > 0.5 and y <= 0.5"), floats, True) is None
    assert assume(parse("y / (y - y) > 0"), floats, True) is not None  # may divide by zero: unknown


# --- L13x quests ---------------------------------------------------------------------------

QUEST = """
beats:
  - {id: a, summary: A}
  - {id: b, summary: B}
  - {id: c, summary: C}
  - {id: e, summary: E, ending: true}
choices:
  - {id: a_b, from: a, to: b, text: t}
  - {id: b_c, from: b, to: c, text: t}
  - {id: c_e, from: c, to: e, text: t}
quests:
  - {id: q, title: Q, steps: [{beat: FIRST}, {beat: SECOND}]}
"""


def quest(first: str, second: str, extra: str = "") -> str:
    return QUEST.replace("FIRST", first).replace("SECOND", second).replace("quests:", extra + "quests:")


def test_quest_step_unreachable_after_the_previous_one():
    found = lint(quest("c", "b"))
    assert [c for c, _ in found] == ["L130"] and "step 2 ('b') cannot follow step 1 ('c')" in found[0][1]
    assert codes(quest("b", "c")) == []


def test_quest_steps_in_the_order_every_path_inverts():
    back = "  - {id: c_b, from: c, to: b, text: t}\n"
    found = lint(quest("c", "b", back))
    assert [c for c, _ in found] == ["L131"] and "passes step 2 ('b') first" in found[0][1]
    assert codes(quest("b", "c", back)) == []


# --- L14x characters -----------------------------------------------------------------------

CHARACTERS = """
characters:
  - {id: tom, name: Tom, baseline: {sadness: 0.5}}
facts: [{id: secret, text: S}]
beats:
  - {id: a, summary: A, characters: [tom], target_emotion: {tom: joy}}
  - {id: b, summary: B, characters: [tom], target_emotion: {tom: TARGET}, effects: BEAT_EFFECTS}
  - {id: e, summary: E, ending: true}
choices:
  - {id: a_b, from: a, to: b, text: t, effects: CHOICE_EFFECTS}
  - {id: b_e, from: b, to: e, text: t, condition: 'CONDITION'}
"""


def characters(target: str = "joy", beat_effects: str = "[]", choice_effects: str = "[]", condition: str = "true") -> str:
    return (
        CHARACTERS.replace("TARGET", target)
        .replace("BEAT_EFFECTS", beat_effects)
        .replace("CHOICE_EFFECTS", choice_effects)
        .replace("CONDITION", condition)
    )


def test_removed_character_present_later():
    found = lint(characters(choice_effects="[{do: die, character: tom}]"))
    assert [c for c, _ in found] == ["L140"] and "'tom' is listed in beat 'b'" in found[0][1]
    assert codes(characters(beat_effects="[{do: leave, character: tom}]")) == []  # leaves in the scene itself
    assert codes(characters()) == []


def test_emotion_arc_break_and_what_explains_it():
    assert codes(characters(target="anger")) == ["L141"]
    shift = "[{do: shift_emotion, character: tom, axis: anger, amount: AMOUNT}]"
    assert codes(characters(target="anger", choice_effects=shift.replace("AMOUNT", "0.3"))) == []
    assert codes(characters(target="anger", beat_effects=shift.replace("AMOUNT", "0.3"))) == []
    fading = "[{do: shift_emotion, character: tom, axis: joy, amount: -0.4}]"
    assert codes(characters(target="anger", choice_effects=fading)) == []
    assert codes(characters(target="sadness")) == []  # back to the baseline mood: decay explains it


def test_emotion_arc_threshold_is_configurable():
    small = characters(target="anger", choice_effects="[{do: shift_emotion, character: tom, axis: anger, amount: 0.1}]")
    assert codes(small) == ["L141"]
    assert codes(small, LintConfig(emotion_shift_threshold=0.05)) == []


def test_knowledge_leak():
    found = dict(lint(characters(condition="knows(player, secret)")))
    assert sorted(found) == ["L103", "L142"]
    assert "needs knows(player, secret)" in found["L142"]
    learn = "[{do: learn, character: player, fact: secret}]"
    assert codes(characters(condition="knows(player, secret)", choice_effects=learn)) == []
    assert codes(characters(condition="not knows(player, secret)")) == []
    known = characters(condition="knows(tom, secret)").replace("baseline: {sadness: 0.5}", "baseline: {sadness: 0.5}, knows: [secret]")
    assert codes(known) == []


# --- positions, formats, API ---------------------------------------------------------------


def test_every_code_has_a_rule_and_a_distinct_range():
    assert set(LINT_RULES) == set(LintCode)
    assert all(code.startswith("L1") for code in LintCode)
    assert all(rule.hint and rule.meaning for rule in LINT_RULES.values())


def test_lint_file_points_at_line_and_column(tmp_path: Path):
    path = tmp_path / "g.yaml"
    path.write_text(HEADER + GATE.replace("CONDITION", "x > 3 and x < 2"), encoding="utf-8")
    found = {str(d.code): d for d in lint_file(path)}
    condition = found["L120"]
    assert (condition.file, condition.severity) == (str(path), Severity.ERROR)
    line = path.read_text().splitlines()[condition.line - 1]
    assert line[condition.column - 1 :].startswith("x > 3 and x < 2")
    ending = found["L103"]
    assert path.read_text().splitlines()[ending.line - 1][ending.column - 1 :].startswith("e2")


def test_lint_file_returns_load_errors_instead_of_linting(tmp_path: Path):
    path = tmp_path / "broken.yaml"
    path.write_text(HEADER + "beats:\n  - {id: a, summary: A, ending: maybe}\n", encoding="utf-8")
    found = lint_file(path)
    assert [str(d.code) for d in found] == ["E005"] and found[0].line == 3


def test_lint_graph_without_a_document_still_reports():
    found = lint_graph(load_graph_text(HEADER + "beats: [{id: a, summary: A}]\n"))
    assert [(str(d.code), d.file, d.line, d.column) for d in found] == [("L102", "<graph>", 1, 1)]


def test_sample_graph_has_no_lint_errors(sample_path: Path):
    assert not [d for d in lint_file(sample_path) if d.severity is Severity.ERROR]


def test_docstring_example():
    assert doctest.testmod(narrative.lint.linter).failed == 0


def run_cli(*argv: str) -> int:
    parser = argparse.ArgumentParser()
    add_lint_command(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["lint", *argv])
    return args.func(args)


def test_cli_text_output_and_exit_status(tmp_path: Path, capsys):
    bad, good = tmp_path / "bad.yaml", tmp_path / "good.yaml"
    bad.write_text(HEADER + "beats: [{id: a, summary: A}, {id: b, summary: B, ending: true}]\n", encoding="utf-8")
    good.write_text(HEADER + "beats: [{id: a, summary: A, ending: true}]\n", encoding="utf-8")
    assert run_cli(str(good)) == 0
    assert run_cli(str(bad), str(good)) == 1
    out = capsys.readouterr().out.splitlines()
    line = bad.read_text().splitlines()[1]
    assert out == [
        f"{bad}:2:{line.index('a,') + 1}: L102 error: beat 'a' is not an ending and has no choice out "
        f"(hint: {LINT_RULES[LintCode.DEAD_END].hint})",
        f"{bad}:2:{line.index('b,') + 1}: L103 warning: ending 'b' is never reached: no path of choices from "
        f"the start beat 'a' leads to it (hint: {LINT_RULES[LintCode.UNREACHABLE_ENDING].hint})",
    ]
    assert run_cli(str(tmp_path / "missing.yaml")) == 2


def test_cli_json_output(tmp_path: Path, capsys):
    path = tmp_path / "g.yaml"
    path.write_text(HEADER + "beats: [{id: a, summary: A}]\n", encoding="utf-8")
    assert run_cli(str(path), "--format", "json") == 1
    [entry] = json.loads(capsys.readouterr().out)
    assert entry == {
        "file": str(path), "line": 2, "column": 14, "code": "L102", "severity": "error",
        "message": "beat 'a' is not an ending and has no choice out", "hint": LINT_RULES[LintCode.DEAD_END].hint,
    }  # fmt: skip


# --- properties and speed ------------------------------------------------------------------


@property_settings
@given(graph_data)
def test_lint_never_crashes_and_uses_known_codes(data):
    for diagnostic in lint_graph(load_data(data)):
        assert diagnostic.severity is LINT_RULES[LintCode(diagnostic.code)].severity


@property_settings
@given(graph_data)
def test_what_lint_calls_impossible_never_happens_in_play(data):
    graph = load_data(data)
    never_reached = {d.message.split("'")[1] for d in lint_graph(graph) if d.code in ("L101", "L103")}
    never_taken = {d.message.split("'")[1] for d in lint_graph(graph) if d.code in ("L120", "L121", "L142")}
    report = simulate(graph, runs=30, seed=0, strategy="coverage", max_steps=40)
    assert all(report.beat_visits[beat] == 0 for beat in never_reached)
    assert all(report.choice_counts[choice] == 0 for choice in never_taken)


def test_lint_of_a_large_graph_is_fast():
    graph = graph_from_spec(random_spec(random.Random(7), 5000))
    started = time.perf_counter()
    lint_graph(graph)
    assert time.perf_counter() - started < 5.0  # ~0.4 s here; generous for slow CI machines


def test_checks_are_each_registered_once():
    assert len(set(CHECKS)) == len(CHECKS)


def test_a_comment_silences_a_code_on_its_line(tmp_path: Path):
    body = """
variables:
  - {id: x, type: int}  # lint: ignore L112
  - {id: y, type: int}  # lint: ignore L110, L111
beats: [{id: a, summary: A, ending: true}]
"""
    path = tmp_path / "g.yaml"
    path.write_text(HEADER + body, encoding="utf-8")
    assert [(str(d.code), d.line) for d in lint_file(path)] == [("L112", 5)]
