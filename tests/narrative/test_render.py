from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from xml.etree import ElementTree

import pytest

from narrative.loader import load_graph
from narrative.render import RenderError, picture, render_html, render_image, render_to_file, to_dot
from narrative.schema import PlotGraphSpec

SAMPLE = Path(__file__).resolve().parents[2] / "samples" / "graphs" / "brambleford_fairy_tale.yaml"
needs_dot = pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz's dot is not installed")

SMALL = PlotGraphSpec.model_validate(
    {
        "story": {"id": "s", "title": "Mira & <the> Moth", "style": "mystery", "start": "hall"},
        "characters": [{"id": "mira", "name": "Mira"}],
        "variables": [{"id": "clues", "type": "int"}],
        "beats": [
            {"id": "hall", "summary": "A hall.", "characters": ["mira"], "target_emotion": {"mira": "fear"}},
            {"id": "vault", "summary": "Gold.", "ending": True, "ending_kind": "good"},
            {"id": "street", "summary": "Rain.", "ending": True},
        ],
        "choices": [
            {"id": "open", "from": "hall", "to": "vault", "text": "Open the vault.", "condition": "clues >= 2 and visited(hall)"},
            {"id": "leave", "from": "hall", "to": "street", "text": "Leave."},
        ],
    }
)


@pytest.fixture(scope="module")
def sample() -> PlotGraphSpec:
    return load_graph(SAMPLE).spec


def _vis_data(page: str) -> tuple[list[dict], list[dict]]:
    """The node and edge lists the page hands to vis-network."""
    nodes, edges = (json.loads(found) for found in re.findall(r"new vis\.DataSet\((\[.*?\])\);", page))
    return nodes, edges


def test_picture_marks_start_and_endings_and_shows_target_emotions() -> None:
    shown = picture(SMALL)

    kinds = {node.id: node.kind for node in shown.nodes}
    assert kinds == {"hall": "start", "vault": "ending", "street": "ending"}
    hall, vault, street = shown.nodes
    assert hall.label.splitlines() == ["hall", "mira: fear"]
    assert "END (good)" in vault.label
    assert vault.fill != street.fill  # endings are coloured by kind
    assert [edge.label for edge in shown.edges] == ["Open the vault.\nif clues >= 2 and visited(hall)", "Leave."]


def test_picture_shows_choices_to_undefined_beats_as_missing() -> None:
    broken = SMALL.model_copy(update={"choices": [*SMALL.choices, SMALL.choices[1].model_copy(update={"id": "x", "to": "attic"})]})

    missing = [node for node in picture(broken).nodes if node.kind == "missing"]

    assert [node.id for node in missing] == ["attic"]


def test_html_holds_every_beat_and_every_condition(sample: PlotGraphSpec) -> None:
    nodes, edges = _vis_data(render_html(sample))

    assert {node["id"] for node in nodes} == {beat.id for beat in sample.beats}
    labels = {edge["id"]: edge["label"] for edge in edges}
    for choice in sample.choices:
        assert choice.text.split()[0] in labels[choice.id]
        if choice.condition:
            assert f"if {choice.condition}" in labels[choice.id]


def test_html_bends_parallel_choices_apart(sample: PlotGraphSpec) -> None:
    _, edges = _vis_data(render_html(sample))

    smooth = {edge["id"]: edge["smooth"] for edge in edges}
    assert smooth["free_fox"] is False  # first of two choices from wood_edge to fox_freed
    assert smooth["free_fox_warily"]["roundness"] > 0


def test_html_escapes_the_title() -> None:
    page = render_html(SMALL)

    assert "Mira &amp; &lt;the&gt; Moth" in page
    assert "<the>" not in page


def test_dot_source_labels_every_choice() -> None:
    source = to_dot(SMALL).source

    assert 'hall -> vault [label="Open the vault.\\nif clues >= 2 and visited(hall)"' in source
    assert "peripheries=2" in source  # endings are drawn with a double border


@needs_dot
def test_svg_holds_every_beat_and_every_condition(sample: PlotGraphSpec) -> None:
    svg = ElementTree.fromstring(render_image(sample, "svg"))

    texts = {element.text for element in svg.iter("{http://www.w3.org/2000/svg}text")}
    assert {beat.id for beat in sample.beats} <= texts
    assert {f"if {choice.condition}" for choice in sample.choices if choice.condition} <= texts
    assert "bramble_morning" in texts and "miller: sadness" in texts


@needs_dot
def test_png_is_a_png(tmp_path: Path) -> None:
    written = render_to_file(SMALL, tmp_path / "small.png")

    assert written.read_bytes().startswith(b"\x89PNG\r\n\x1a\n")


def test_images_without_dot_say_what_to_install(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # an empty folder: no dot anywhere

    with pytest.raises(RenderError, match=r"install graphviz .* \.html"):
        render_image(SMALL, "svg")


def test_html_needs_no_dot(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))

    written = render_to_file(SMALL, tmp_path / "small.html")

    assert "Open the vault." in written.read_text(encoding="utf-8")


def test_unknown_output_format_is_refused(tmp_path: Path) -> None:
    with pytest.raises(RenderError, match=r"\.pdf"):
        render_to_file(SMALL, tmp_path / "small.pdf")
    assert not (tmp_path / "small.pdf").exists()
