from __future__ import annotations

from dataclasses import dataclass, field

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from narrative.diagnostics import Code
from narrative.errors import ExpressionError
from narrative.expressions import Symbols, ValueType, check_condition, evaluate, parse, references, unparse
from narrative.expressions.nodes import Binary, Call, Constant, Name, Unary
from narrative.expressions.parser import MAX_DEPTH


@dataclass
class FakeView:
    variables: dict = field(default_factory=dict)
    visited: set = field(default_factory=set)
    emotions: dict = field(default_factory=dict)
    relationships: dict = field(default_factory=dict)
    known: set = field(default_factory=set)
    present: set = field(default_factory=set)

    def variable(self, name):
        return self.variables[name]

    def has_visited(self, beat):
        return beat in self.visited

    def emotion(self, character, axis):
        return self.emotions.get((character, axis), 0.0)

    def relationship(self, source, target, axis):
        return self.relationships.get((source, target, axis), 0.0)

    def knows(self, character, fact):
        return (character, fact) in self.known

    def is_present(self, character):
        return character in self.present


SYMBOLS = Symbols(
    variables={
        "clues": ValueType.NUMBER,
        "lamp_lit": ValueType.BOOL,
        "name": ValueType.STRING,
        "storm": ValueType.NUMBER,
    },
    beats=frozenset({"cellar", "tower"}),
    npcs=frozenset({"tom", "mara"}),
    facts=frozenset({"debt"}),
)


def test_precedence_and_associativity():
    assert parse("a or b and not c") == Binary(
        "or", Name("a"), Binary("and", Name("b"), Unary("not", Name("c")))
    )
    assert parse("1 - 2 - 3") == Binary("-", Binary("-", Constant(1), Constant(2)), Constant(3))
    assert parse("1 + 2 * 3 > 4") == Binary(
        ">", Binary("+", Constant(1), Binary("*", Constant(2), Constant(3))), Constant(4)
    )
    assert parse("not a == b") == Unary("not", Binary("==", Name("a"), Name("b")))
    assert parse("-(x + 1)") == Unary("-", Binary("+", Name("x"), Constant(1)))


def test_literals_and_calls():
    assert parse("'a\\'b'") == Constant("a'b")
    assert parse("true != false") == Binary("!=", Constant(True), Constant(False))
    assert parse("2.5e1 == 25") == Binary("==", Constant(25.0), Constant(25))
    assert parse("relationship(tom, player, trust)") == Call(
        "relationship", (Name("tom"), Name("player"), Name("trust"))
    )


@pytest.mark.parametrize(
    ("source", "column", "fragment"),
    [
        ("clues >=", 8, "expected a value"),
        ("a < b < c", 6, "do not chain"),
        ("(a and b", 8, "expected ')'"),
        ("visited('cellar')", 8, "expected an id"),
        ("a && b", 2, "use 'and'"),
        ("a = 1", 2, "'=='"),
        ('name == "open', 8, "not closed"),
        ("", 0, "empty"),
        ("a b", 2, "unexpected 'b'"),
        ("3rd > 1", 0, "cannot start with a digit"),
    ],
)
def test_parse_errors_point_at_the_column(source, column, fragment):
    with pytest.raises(ExpressionError) as caught:
        parse(source)
    assert caught.value.column == column
    assert fragment in caught.value.message


def test_nesting_is_bounded():
    with pytest.raises(ExpressionError, match="nested deeper"):
        parse("(" * (MAX_DEPTH + 1) + "a" + ")" * (MAX_DEPTH + 1))
    with pytest.raises(ExpressionError, match="nested deeper"):
        parse(" + ".join(["1"] * (MAX_DEPTH + 2)) + " > 0")
    assert parse("(" * 10 + "a" + ")" * 10) == Name("a")


def test_evaluate_with_short_circuit():
    view = FakeView(
        variables={"clues": 3, "lamp_lit": False, "storm": 0.5},
        visited={"cellar"},
        emotions={("tom", "fear"): 0.7},
        relationships={("tom", "player", "trust"): -0.2},
        known={("player", "debt")},
        present={"tom"},
    )
    assert evaluate(parse("clues * 2 - 1 == 5 and visited(cellar)"), view) is True
    assert evaluate(parse("emotion(tom, fear) > 0.5 and relationship(tom, player, trust) < 0"), view) is True
    assert evaluate(parse("knows(player, debt) and not present(mara)"), view) is True
    assert evaluate(parse("lamp_lit or clues / 2 >= 1.5"), view) is True
    # `missing` would raise KeyError if evaluated: `and` must not evaluate its right side.
    assert evaluate(parse("lamp_lit and missing"), view) is False
    assert evaluate(parse("storm + 0.25 == 0.75"), view) is True


def test_division_by_zero_is_an_expression_error():
    with pytest.raises(ExpressionError, match="division by zero") as caught:
        evaluate(parse("clues / (clues - 3) > 1"), FakeView(variables={"clues": 3}))
    assert caught.value.column == 6


@pytest.mark.parametrize(
    ("source", "code", "column"),
    [
        ("lamp_lit and clues", Code.EXPRESSION_TYPE, 13),
        ("clues == lamp_lit", Code.EXPRESSION_TYPE, 6),
        ("name < 3", Code.EXPRESSION_TYPE, 0),
        ("clues + 1", Code.EXPRESSION_TYPE, 6),
        ("-lamp_lit", Code.EXPRESSION_TYPE, 1),
        ("wisdom(tom)", Code.EXPRESSION_TYPE, 0),
        ("knows(tom)", Code.EXPRESSION_TYPE, 0),
        ("emotion(tom, happiness) > 0", Code.EXPRESSION_TYPE, 13),
        ("relationship(tom, mara, love) > 0", Code.EXPRESSION_TYPE, 24),
        ("luck > 2", Code.UNKNOWN_VARIABLE, 0),
        ("visited(attic)", Code.UNKNOWN_BEAT, 8),
        ("knows(ghost, debt)", Code.UNKNOWN_CHARACTER, 6),
        ("knows(player, rumour)", Code.UNKNOWN_FACT, 14),
        ("emotion(player, joy) > 0", Code.PLAYER_NOT_NPC, 8),
    ],
)
def test_check_condition_reports_code_and_column(source, code, column):
    issues = check_condition(parse(source), SYMBOLS)
    assert [(issue.code, issue.column) for issue in issues] == [(code, column)]


@pytest.mark.parametrize(
    "source",
    [
        "lamp_lit",
        'name == "keeper" or clues >= 2',
        "relationship(player, tom, trust) > 0.5 and knows(player, debt)",
        "present(tom) and emotion(mara, sadness) < storm * 2",
        "not visited(tower)",
    ],
)
def test_well_typed_conditions_pass(source):
    assert check_condition(parse(source), SYMBOLS) == []


def test_references_lists_every_kind():
    refs = references(
        parse(
            "clues > 1 and visited(tower) and knows(tom, debt)"
            " and relationship(mara, player, fear) > lamp_bias"
        )
    )
    assert refs.variables == {"clues", "lamp_bias"}
    assert refs.beats == {"tower"}
    assert refs.characters == {"tom", "mara", "player"}
    assert refs.facts == {"debt"}


# --- properties --------------------------------------------------------------------------------

names = st.sampled_from(["a", "clues", "lamp_lit", "x_1"])
leaves = st.one_of(
    st.builds(Constant, st.booleans()),
    st.builds(Constant, st.integers(0, 10**6)),
    st.builds(Constant, st.floats(0, 1e6, allow_nan=False, allow_infinity=False)),
    st.builds(Constant, st.text(max_size=5)),
    st.builds(Name, names),
    st.builds(
        Call, st.sampled_from(["visited", "knows"]), st.lists(st.builds(Name, names), max_size=3).map(tuple)
    ),
)
operators = st.sampled_from(["and", "or", "==", "!=", "<", "<=", ">", ">=", "+", "-", "*", "/"])
trees = st.recursive(
    leaves,
    lambda inner: st.one_of(
        st.builds(Unary, st.sampled_from(["not", "-"]), inner),
        st.builds(Binary, operators, inner, inner),
    ),
    max_leaves=12,
)


@given(trees)
def test_unparse_then_parse_is_identity(tree):
    assert parse(unparse(tree)) == tree


@settings(max_examples=300)
@given(
    st.text(alphabet=st.sampled_from(list("ab1.()=<>!+-*/ \"'_,andornt\\")), max_size=40)
    | st.text(max_size=40)
)
def test_parser_never_crashes(source):
    try:
        tree = parse(source)
    except ExpressionError as error:
        assert 0 <= error.column <= len(source)
    else:
        assert parse(unparse(tree)) == tree
