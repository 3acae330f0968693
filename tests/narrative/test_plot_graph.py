from __future__ import annotations

import networkx as nx
import pytest

from narrative.algorithms import reachable_beats
from narrative.errors import UnknownReferenceError
from narrative.expressions import Expr
from narrative.loader import load_graph_text

SMALL = """\
story: {id: s, title: T, style: fairy_tale, start: dock}
beats:
  - {id: dock, summary: Dock.}
  - {id: stairs, summary: Stairs.}
  - {id: lamp_room, summary: Lamp., ending: true, ending_kind: good}
  - {id: attic, summary: Nobody comes here., ending: true}
variables:
  - {id: brave, type: bool}
choices:
  - {id: climb, from: dock, to: stairs, text: Climb.}
  - {id: run_up, from: dock, to: stairs, text: Run up., condition: brave}
  - {id: top, from: stairs, to: lamp_room, text: Top.}
"""


@pytest.fixture
def small():
    return load_graph_text(SMALL, "small.yaml")


def test_beats_are_nodes_and_choices_keyed_edges(small):
    digraph = small.digraph
    assert isinstance(digraph, nx.MultiDiGraph)
    assert set(digraph.nodes) == {"dock", "stairs", "lamp_room", "attic"}
    assert sorted(digraph["dock"]["stairs"]) == ["climb", "run_up"]
    assert digraph.nodes["attic"]["beat"].summary == "Nobody comes here."
    assert isinstance(digraph.edges["dock", "stairs", "run_up"]["condition"], Expr)
    assert nx.is_frozen(digraph)


def test_typed_lookups(small):
    assert small.start.id == "dock"
    assert [c.id for c in small.choices_from("dock")] == ["climb", "run_up"]
    assert small.choices_from("lamp_room") == ()
    assert [b.id for b in small.endings] == ["lamp_room", "attic"]
    assert small.condition("climb") is None
    assert small.variable("brave").default is False
    assert small.choice("top").to == "lamp_room"


@pytest.mark.parametrize(
    ("lookup", "kind"),
    [
        ("beat", "beat"),
        ("choice", "choice"),
        ("character", "character"),
        ("fact", "fact"),
        ("quest", "quest"),
        ("variable", "variable"),
        ("choices_from", "beat"),
    ],
)
def test_unknown_ids_raise_with_kind(small, lookup, kind):
    with pytest.raises(UnknownReferenceError) as caught:
        getattr(small, lookup)("nope")
    assert (caught.value.kind, caught.value.ref_id) == (kind, "nope")


def test_reachable_beats(small, lighthouse):
    assert reachable_beats(small) == {"dock", "stairs", "lamp_room"}
    assert reachable_beats(lighthouse) == {beat.id for beat in lighthouse.beats}
