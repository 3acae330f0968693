from __future__ import annotations

import json

import pytest
import yaml

from narrative.diagnostics import LOADER_RULE, Code
from narrative.errors import GraphLoadError
from narrative.loader import analyse_graph_text, dump_graph, load_graph, load_graph_text

MINIMAL = """\
story: {id: s, title: T, style: mystery, start: a}
beats:
  - {id: a, summary: Start.}
"""


@pytest.mark.parametrize(
    ("filename", "code", "line", "column"),
    [
        ("e001_yaml_syntax.yaml", Code.YAML_SYNTAX, 5, 4),
        ("e002_duplicate_key.yaml", Code.DUPLICATE_KEY, 5, 5),
        ("e003_missing_field.yaml", Code.MISSING_FIELD, 5, 5),
        ("e004_unknown_field.yaml", Code.UNKNOWN_FIELD, 4, 5),
        ("e005_invalid_value.yaml", Code.INVALID_VALUE, 7, 12),
        ("e005_invalid_value.json", Code.INVALID_VALUE, 4, 46),
        ("e006_duplicate_id.yaml", Code.DUPLICATE_ID, 5, 9),
        ("e007_unknown_beat.yaml", Code.UNKNOWN_BEAT, 7, 9),
        ("e008_unknown_character.yaml", Code.UNKNOWN_CHARACTER, 7, 23),
        ("e009_unknown_fact.yaml", Code.UNKNOWN_FACT, 5, 13),
        ("e010_unknown_variable.yaml", Code.UNKNOWN_VARIABLE, 6, 29),
        ("e011_unknown_quest.yaml", Code.UNKNOWN_QUEST, 8, 21),
        ("e012_expression_syntax.yaml", Code.EXPRESSION_SYNTAX, 12, 25),  # at 'and' inside the condition
        ("e013_expression_type.yaml", Code.EXPRESSION_TYPE, 13, 35),  # at '==' inside the quoted condition
        ("e014_effect_value.yaml", Code.EFFECT_VALUE, 10, 16),
        ("e015_choice_from_ending.yaml", Code.CHOICE_FROM_ENDING, 7, 22),
        ("e016_player_not_npc.yaml", Code.PLAYER_NOT_NPC, 6, 40),
    ],
)
def test_each_code_points_at_file_line_column(data_dir, filename, code, line, column):
    path = data_dir / filename
    with pytest.raises(GraphLoadError) as caught:
        load_graph(path)
    found = [(d.code, d.line, d.column) for d in caught.value.diagnostics]
    assert (code, line, column) in found
    diagnostic = next(d for d in caught.value.diagnostics if d.code == code)
    assert diagnostic.file == str(path)
    assert diagnostic.format().startswith(f"{path}:{line}:{column}: {code.value} error: ")
    assert diagnostic.hint


def test_every_code_has_a_broken_example(data_dir):
    examples = {path.name[:4].upper() for path in data_dir.glob("e0*")}
    assert examples == {code.value for code in Code}
    assert set(LOADER_RULE) == set(Code)


def test_all_integrity_errors_are_reported_together_in_order(data_dir):
    graph, diagnostics = analyse_graph_text((data_dir / "many_errors.yaml").read_text(), "many.yaml")
    assert graph is None
    assert [(d.code, d.line, d.column) for d in diagnostics] == [
        (Code.UNKNOWN_BEAT, 1, 49),
        (Code.UNKNOWN_CHARACTER, 5, 18),
        (Code.UNKNOWN_BEAT, 7, 27),
        (Code.EXPRESSION_SYNTAX, 7, 67),
    ]


def test_schema_errors_are_all_reported(data_dir):
    _, diagnostics = analyse_graph_text((data_dir / "e004_unknown_field.yaml").read_text(), "x.yaml")
    assert {d.code for d in diagnostics} == {Code.MISSING_FIELD, Code.UNKNOWN_FIELD}
    assert "beats[0]: unknown field 'sumary'" in {d.message for d in diagnostics}


@pytest.mark.parametrize(
    ("text", "code", "fragment"),
    [
        ("", Code.INVALID_VALUE, "holds no plot graph"),
        ("- just\n- a list\n", Code.INVALID_VALUE, "valid dictionary"),
        (MINIMAL.replace("style: mystery", "style: Mystery Noir"), Code.INVALID_VALUE, "pattern"),
        (MINIMAL.replace("id: a,", "id: not,"), Code.INVALID_VALUE, "condition language"),
        (MINIMAL + "characters:\n  - {id: player, name: Me}\n", Code.INVALID_VALUE, "built-in player"),
        (MINIMAL + "variables:\n  - {id: n, type: int, default: 2, max: 1}\n", Code.INVALID_VALUE, "outside"),
        (MINIMAL + "variables:\n  - {id: n, type: int, default: 1.5}\n", Code.INVALID_VALUE, "integer"),
        (MINIMAL.replace("Start.}", "Start., ending_kind: good}"), Code.INVALID_VALUE, "ending is not true"),
        (
            MINIMAL.replace("Start.}", "Start., effects: [{do: explode}]}"),
            Code.INVALID_VALUE,
            "unknown 'do' 'explode'",
        ),
        (MINIMAL + "facts:\n  - {id: f, text: no}\n", Code.INVALID_VALUE, "valid string"),
    ],
)
def test_schema_problems(text, code, fragment):
    _, diagnostics = analyse_graph_text(text, "g.yaml")
    assert code in {d.code for d in diagnostics}
    assert any(fragment in d.message for d in diagnostics), [d.message for d in diagnostics]


def test_player_may_appear_where_any_character_fits():
    text = MINIMAL + (
        "facts:\n  - {id: f, text: A fact.}\n"
        "characters:\n  - {id: tom, name: Tom}\n"
        "relationships:\n  - {from: player, to: tom, trust: 0.5}\n"
    )
    text = text.replace("Start.}", "Start., effects: [{do: learn, character: player, fact: f}]}")
    graph = load_graph_text(text, "g.yaml")
    assert [(r.from_, r.to, r.trust) for r in graph.spec.relationships] == [("player", "tom", 0.5)]


def test_sample_loads_and_round_trips(lighthouse):
    assert len(lighthouse.beats) >= 15
    assert len(lighthouse.characters) >= 3
    assert len(lighthouse.endings) >= 3
    text = dump_graph(lighthouse)
    again = load_graph_text(text, "dumped.yaml")
    assert again.spec == lighthouse.spec
    assert dump_graph(again) == text
    for choice in lighthouse.choices:
        assert again.condition(choice.id) == lighthouse.condition(choice.id)


def test_json_graph_loads_the_same_as_yaml(lighthouse, sample_path):
    data = yaml.safe_load(sample_path.read_text())
    graph = load_graph_text(json.dumps(data, indent="\t"), "lighthouse.json")
    assert graph.spec == lighthouse.spec


def test_load_error_message_lists_diagnostics():
    with pytest.raises(GraphLoadError) as caught:
        load_graph_text(MINIMAL.replace("start: a", "start: b"), "wire.yaml")
    assert "wire.yaml:1:" in str(caught.value)
    assert caught.value.diagnostics[0].code is Code.UNKNOWN_BEAT


QUOTING_HINT = "quote words such as yes/no/on/off"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "the file holds no plot graph"),
        ("# only a comment\n", "the file holds no plot graph"),
        (MINIMAL.replace("Start.}", "Start., effects: }"), "beats[0].effects: the key has no value"),
        (MINIMAL + "  - id: b\n    summary: B\n    effects:\n", "beats[1].effects: the key has no value"),
    ],
)
def test_an_empty_file_or_key_says_so_and_gets_no_quoting_hint(text: str, message: str) -> None:
    _, diagnostics = analyse_graph_text(text)
    assert [d.code for d in diagnostics] == [Code.INVALID_VALUE]
    assert message in diagnostics[0].message and QUOTING_HINT not in diagnostics[0].hint


def test_a_boolean_where_text_belongs_gets_the_quoting_hint() -> None:
    _, diagnostics = analyse_graph_text(MINIMAL.replace("summary: Start.", "summary: yes"))
    assert [d.code for d in diagnostics] == [Code.INVALID_VALUE] and QUOTING_HINT in diagnostics[0].hint
    _, diagnostics = analyse_graph_text(MINIMAL.replace("Start.}", "Start., ending: maybe}"))
    assert [d.code for d in diagnostics] == [Code.INVALID_VALUE] and QUOTING_HINT not in diagnostics[0].hint
