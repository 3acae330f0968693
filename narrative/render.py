"""Draw a plot graph for designers: an interactive HTML page, or an SVG/PNG picture.

Both outputs come from one `Picture` (what to show), so the page and the image never disagree:
beats are boxes labelled with their id and each character's target emotion ("mira: fear"), the
start beat and the endings (coloured by `ending_kind`) stand out, and every choice is an arrow
labelled with its text and, when it has one, its condition.

The HTML page is one file with the vis-network script inlined (pyvis), so the graph draws offline.
Images need Graphviz's `dot` program, which is not a Python package; without it `render_image`
raises `RenderError` saying what to install.
"""

from __future__ import annotations

import html
import textwrap
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import graphviz
from pyvis.network import Network

from narrative.errors import NarrativeError
from narrative.schema import Beat, PlotGraphSpec

NodeKind = Literal["start", "beat", "ending", "missing"]
IMAGE_FORMATS = ("svg", "png")
OUTPUT_SUFFIXES = (".html", *(f".{fmt}" for fmt in IMAGE_FORMATS))

_WRAP = 32  # characters per line of a label, so long summaries and choice texts stay narrow
_FILL: dict[str, str] = {
    "start": "#9ecae1",
    "beat": "#f0f0f0",
    "missing": "#ffffff",
    "good": "#a1d99b",
    "bad": "#fc9272",
    "neutral": "#d9d9d9",
    "bittersweet": "#c6a5d8",
    "secret": "#fdd66b",
    "ending": "#d9d9d9",  # an ending without a kind
}


class RenderError(NarrativeError):
    """A picture that cannot be made (unknown output format, Graphviz missing)."""


@dataclass(frozen=True)
class Node:
    id: str
    kind: NodeKind
    label: str  # shown on the box
    tooltip: str  # shown on hover (HTML) or as the SVG title
    fill: str


@dataclass(frozen=True)
class Edge:
    id: str
    source: str
    target: str
    label: str
    tooltip: str


@dataclass(frozen=True)
class Picture:
    title: str
    nodes: tuple[Node, ...]
    edges: tuple[Edge, ...]


def picture(spec: PlotGraphSpec) -> Picture:
    """What a rendering shows, independent of the output format.

    A choice that names an undefined beat gets a dashed "missing" box instead of failing, so a
    picture of a broken draft shows where it is broken.
    """
    nodes = [_beat_node(beat, spec.story.start) for beat in spec.beats]
    known = {beat.id for beat in spec.beats}
    for choice in spec.choices:
        for beat_id in (choice.from_, choice.to):
            if beat_id not in known:
                known.add(beat_id)
                nodes.append(
                    Node(
                        beat_id,
                        "missing",
                        f"{beat_id}\n(not defined)",
                        "no beat has this id",
                        _FILL["missing"],
                    )
                )
    edges = []
    for choice in spec.choices:
        label = _wrap(choice.text)
        if choice.condition:
            label += f"\nif {choice.condition}"
        tooltip = f"{choice.id}: {choice.text}" + (
            f"\ncondition: {choice.condition}" if choice.condition else ""
        )
        edges.append(Edge(choice.id, choice.from_, choice.to, label, tooltip))
    return Picture(spec.story.title, tuple(nodes), tuple(edges))


def _beat_node(beat: Beat, start: str) -> Node:
    kind: NodeKind = "start" if beat.id == start else "ending" if beat.ending else "beat"
    lines = [beat.id]
    if beat.ending:
        lines.append(f"END ({beat.ending_kind})" if beat.ending_kind else "END")
    lines += [f"{character}: {emotion}" for character, emotion in beat.target_emotion.items()]
    tooltip = [beat.summary]
    if beat.location:
        tooltip.append(f"location: {beat.location}")
    if beat.characters:
        tooltip.append(f"characters: {', '.join(beat.characters)}")
    fill = _FILL[beat.ending_kind or "ending"] if beat.ending else _FILL[kind]
    return Node(beat.id, kind, "\n".join(lines), "\n".join(tooltip), fill)


def _wrap(text: str) -> str:
    return "\n".join(textwrap.wrap(text, _WRAP)) or text


# ------------------------------------------------------------------ HTML (pyvis)

_VIS_OPTIONS = {
    "layout": {
        "hierarchical": {
            "enabled": True,
            "direction": "LR",
            "sortMethod": "directed",
            "levelSeparation": 260,
            "nodeSpacing": 140,
        }
    },
    "physics": {"enabled": False},
    "interaction": {"hover": True, "navigationButtons": True, "keyboard": True},
    "nodes": {"shape": "box", "font": {"face": "Helvetica", "size": 14}, "margin": 10},
    "edges": {
        "arrows": {"to": {"enabled": True}},
        "font": {"size": 11, "align": "middle"},
        "color": {"inherit": False},
    },
}
_VIS_BORDER = {"start": 4, "ending": 3, "beat": 1, "missing": 1}


def render_html(spec: PlotGraphSpec) -> str:
    """A single-file interactive page: drag, zoom, hover a beat for its summary."""
    shown = picture(spec)
    # pyvis 0.3.2 prints `heading` twice, so the page gets its title and heading here instead.
    network = Network(height="90vh", width="100%", directed=True, cdn_resources="in_line")
    network.options = _VIS_OPTIONS
    for node in shown.nodes:
        network.add_node(
            node.id,
            label=node.label,
            title=node.tooltip,
            shape="box",
            color={"background": node.fill, "border": "#333333"},
            borderWidth=_VIS_BORDER[node.kind],
            shapeProperties={"borderDashes": node.kind == "missing"},
        )
    parallel: Counter[tuple[str, str]] = Counter()
    for edge in shown.edges:
        # Choices joining the same two beats would be drawn on top of each other: bend each one more.
        rank = parallel[edge.source, edge.target]
        parallel[edge.source, edge.target] += 1
        network.add_edge(
            edge.source,
            edge.target,
            id=edge.id,
            label=edge.label,
            title=edge.tooltip,
            smooth={"enabled": True, "type": "curvedCW", "roundness": 0.15 * rank} if rank else False,
        )
    title = html.escape(shown.title)
    page = network.generate_html()
    page = page.replace("<head>", f"<head>\n<title>{title}</title>", 1)
    return page.replace("<body>", f'<body>\n<h1 style="text-align:center">{title}</h1>', 1)


# ------------------------------------------------------------------ images (graphviz)

_DOT_STYLE = {"start": "filled,bold", "beat": "filled,rounded", "ending": "filled", "missing": "dashed"}
_DOT_PERIPHERIES = {"start": "1", "beat": "1", "ending": "2", "missing": "1"}


def to_dot(spec: PlotGraphSpec) -> graphviz.Digraph:
    """The Graphviz description of the picture; building it needs no `dot` program."""
    shown = picture(spec)
    dot = graphviz.Digraph(
        name=spec.story.id,
        graph_attr={
            "rankdir": "LR",
            "label": _dot_text(shown.title),
            "labelloc": "t",
            "fontname": "Helvetica",
        },
        node_attr={"shape": "box", "fontname": "Helvetica", "fontsize": "12"},
        edge_attr={"fontname": "Helvetica", "fontsize": "10"},
    )
    for node in shown.nodes:
        dot.node(
            node.id,
            label=_dot_text(node.label),
            tooltip=_dot_text(node.tooltip),
            style=_DOT_STYLE[node.kind],
            peripheries=_DOT_PERIPHERIES[node.kind],
            fillcolor=node.fill,
        )
    for edge in shown.edges:
        dot.edge(
            edge.source, edge.target, label=_dot_text(edge.label), tooltip=_dot_text(edge.tooltip), id=edge.id
        )
    return dot


def _dot_text(text: str) -> str:
    """Designer text as a literal DOT label: backslashes kept, `<...>` not read as HTML."""
    return graphviz.nohtml("\\n".join(line.replace("\\", "\\\\") for line in text.split("\n")))


def render_image(spec: PlotGraphSpec, fmt: str) -> bytes:
    """An SVG or PNG picture; raises `RenderError` when Graphviz's `dot` is not installed."""
    if fmt not in IMAGE_FORMATS:
        raise RenderError(f"cannot render {fmt!r}; image formats are {', '.join(IMAGE_FORMATS)}")
    try:
        return to_dot(spec).pipe(format=fmt)
    except graphviz.ExecutableNotFound:
        raise RenderError(
            f"rendering .{fmt} needs Graphviz's `dot` program, which was not found on PATH: install graphviz "
            "(e.g. `apt-get install graphviz` or `brew install graphviz`) or render to .html instead"
        ) from None


# ------------------------------------------------------------------ files


def render_to_file(spec: PlotGraphSpec, path: str | Path) -> Path:
    """Write the picture in the format the suffix names (.html, .svg, .png)."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix == ".html":
        path.write_text(render_html(spec), encoding="utf-8")
    elif suffix in OUTPUT_SUFFIXES:
        path.write_bytes(render_image(spec, suffix[1:]))
    else:
        raise RenderError(
            f"{path}: unknown output format {suffix or '(none)'!r}; use one of {', '.join(OUTPUT_SUFFIXES)}"
        )
    return path
