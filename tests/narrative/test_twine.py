from __future__ import annotations

import pytest

from narrative.loader import analyse_graph_text
from narrative.schema import PlotGraphSpec
from narrative.twine import TwineImportError, import_twee, passage_ids, spec_to_yaml

CELLAR = """\
:: StoryTitle
The Cellar Door

:: StoryData
{"ifid": "5C3E1C8E-1111-4B4B-9C9C-ABCDEFABCDEF", "format": "Harlowe", "start": "Front Hall"}

:: Front Hall [dark indoor] {"position":"100,100","size":"100,100"}
A draughty hall. A [[cellar door->Cellar]] stands ajar.
[[Go upstairs|Up Stairs]]
[[Up Stairs<-Climb the banister]]

:: Cellar
Cold stone. [[Front Hall]]

:: Up Stairs
The attic is empty, and the story ends here.

:: Story JavaScript [script]
window.setup = {};

:: Story Stylesheet [stylesheet]
body { color: black; }
"""


def _choices(spec: PlotGraphSpec) -> list[tuple[str, str, str]]:
    return [(choice.from_, choice.to, choice.text) for choice in spec.choices]


def test_passages_become_beats_and_links_become_choices() -> None:
    spec = import_twee(CELLAR, "cellar.twee")

    assert spec.story.title == "The Cellar Door"
    assert spec.story.id == "the_cellar_door"
    assert spec.story.start == "front_hall"
    assert [beat.id for beat in spec.beats] == ["front_hall", "cellar", "up_stairs"]
    assert _choices(spec) == [
        ("front_hall", "cellar", "cellar door"),
        ("front_hall", "up_stairs", "Go upstairs"),
        ("front_hall", "up_stairs", "Climb the banister"),
        ("cellar", "front_hall", "Front Hall"),
    ]


def test_passages_without_links_are_endings() -> None:
    spec = import_twee(CELLAR, "cellar.twee")

    assert {beat.id: beat.ending for beat in spec.beats} == {"front_hall": False, "cellar": False, "up_stairs": True}


def test_summary_keeps_prose_drops_link_lines_and_keeps_tags() -> None:
    hall = import_twee(CELLAR, "cellar.twee").beats[0]

    assert hall.summary == "A draughty hall. A cellar door stands ajar."
    assert hall.tags == ["dark", "indoor"]


def test_script_and_stylesheet_passages_are_not_beats() -> None:
    spec = import_twee(CELLAR, "cellar.twee")

    assert all("setup" not in beat.summary and "color" not in beat.summary for beat in spec.beats)


def test_two_links_to_one_passage_get_distinct_choice_ids() -> None:
    spec = import_twee(CELLAR, "cellar.twee")

    ids = [choice.id for choice in spec.choices]
    assert ids == ["front_hall_to_cellar", "front_hall_to_up_stairs", "front_hall_to_up_stairs_2", "cellar_to_front_hall"]


def test_start_passage_defaults_to_start_without_storydata() -> None:
    spec = import_twee(":: Intro\nHello [[Start]]\n\n:: Start\nThe end.\n", "tiny.twee")

    assert spec.story.start == "start"
    assert spec.story.title == "tiny"  # no StoryTitle: the file name


def test_header_escapes_and_sugarcube_setters() -> None:
    # In headers, brackets are escaped; in links they are written as they are.
    source = ":: Start\n[[Open it|A [locked] box][$opened to true]]\n\n:: A \\[locked\\] box\nInside, nothing.\n"

    spec = import_twee(source, "box.twee")

    assert _choices(spec) == [("start", "a_locked_box", "Open it")]


@pytest.mark.parametrize(
    ("names", "expected"),
    [
        (["Go North", "go-north", "Go North 2"], ["go_north", "go_north_3", "go_north_2"]),
        (["Café Door!", "2nd Floor", "And", "???"], ["cafe_door", "p_2nd_floor", "and_passage", "passage"]),
    ],
)
def test_passage_ids_are_valid_unique_and_deterministic(names: list[str], expected: list[str]) -> None:
    ids = passage_ids(names)

    assert [ids[name] for name in names] == expected
    assert passage_ids(list(names)) == ids


def test_yaml_output_loads_back_to_the_same_graph() -> None:
    spec = import_twee(CELLAR, "cellar.twee")

    graph, diagnostics = analyse_graph_text(spec_to_yaml(spec), "cellar.yaml")

    assert diagnostics == []
    assert graph is not None and graph.spec == spec


def _issues(source: str) -> list[tuple[int, str]]:
    with pytest.raises(TwineImportError) as caught:
        import_twee(source, "bad.twee")
    assert str(caught.value).startswith("bad.twee:")
    return [(issue.line, issue.message) for issue in caught.value.issues]


def test_missing_start_is_reported() -> None:
    [(line, message)] = _issues(":: Intro\nThe only passage.\n")

    assert line == 1
    assert "no start passage" in message


def test_storydata_start_naming_no_passage_is_reported_at_storydata() -> None:
    [(line, message)] = _issues(':: Intro\nHello.\n\n:: StoryData\n{"ifid": "X", "start": "Begin"}\n')

    assert line == 4
    assert "'Begin'" in message


def test_link_to_missing_passage_is_reported_at_the_link_line() -> None:
    [(line, message)] = _issues(":: Start\nYou stand still.\n\nThen [[walk on->Road]].\n")

    assert line == 4
    assert "'Road'" in message


def test_duplicate_passage_names_are_reported_at_the_second() -> None:
    [(line, message)] = _issues(":: Start\nOne. [[Start]]\n\n:: Start\nTwo.\n")

    assert line == 4
    assert "line 1" in message


def test_every_problem_is_reported_in_line_order() -> None:
    issues = _issues(":: Start\n[[Hall]]\n\n:: Hall\n[[nowhere]]\n\n:: Hall\nAgain.\n\n:: Notes [draft\nScratch.\n")

    assert [line for line, _ in issues] == [5, 7, 10]
    assert "not closed" in issues[2][1]
