"""`storyteller graph ...`: designers' commands on plot-graph files.

Each subcommand is one `add_*` function that adds its parser to the group; list it in
`SUBCOMMANDS` and it is part of `storyteller graph`. Handlers import their modules when they run,
so `storyteller --help` does not load pyvis or graphviz.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from narrative.errors import GraphLoadError, NarrativeError
from narrative.lint.cli import add_lint_command
from narrative.simulate_cli import add_simulate_command

PROG = "storyteller graph"


def register(commands: Any) -> None:
    """Add the `graph` command group to `storyteller`'s subparsers."""
    group = commands.add_parser(
        "graph",
        help="work with plot-graph files (lint, simulate, render, import)",
        description="Commands on plot graphs, the YAML files that describe a story's beats and choices.",
    )
    subcommands = group.add_subparsers(dest="graph_command", metavar="SUBCOMMAND", required=True)
    for add in SUBCOMMANDS:
        add(subcommands)


def add_render(subcommands: Any) -> None:
    parser = subcommands.add_parser(
        "render",
        help="draw a plot graph as HTML, SVG or PNG",
        description=(
            "Draw a plot graph: beats with the characters' target emotions, choices with their text and "
            "condition; the start and the endings stand out. .html is an interactive page; .svg and .png "
            "need Graphviz's `dot` program."
        ),
    )
    parser.add_argument("file", type=Path, help="plot graph (.yaml, .yml or .json)")
    parser.add_argument("-o", "--output", type=Path, required=True, help="OUT.html, OUT.svg or OUT.png")
    parser.set_defaults(func=run_render)


def run_render(args: argparse.Namespace) -> int:
    from narrative.loader import load_graph

    try:
        from narrative.render import render_to_file
    except ModuleNotFoundError as error:  # pyvis and graphviz come with the `graph` extra
        return _fail("render", f"{error.name} is not installed: pip install 'storyteller[graph]'")
    try:
        graph = load_graph(args.file)
        render_to_file(graph.spec, args.output)
    except GraphLoadError as error:
        return _fail("render", "\n".join(d.format() for d in error.diagnostics))
    except (OSError, NarrativeError) as error:
        return _fail("render", str(error))
    print(f"wrote {args.output}")
    return 0


def add_import_twine(subcommands: Any) -> None:
    parser = subcommands.add_parser(
        "import-twine",
        help="convert a Twine story (Twee 3) into a plot graph",
        description=(
            "Convert Twee 3 source into a plot graph: passages become beats, links become choices, passages "
            "without links become endings. Story-format code (macros, variables) stays in the beat summaries "
            "as text; rewrite it as conditions and effects by hand."
        ),
    )
    parser.add_argument("file", type=Path, help="Twee 3 source (.twee or .tw)")
    parser.add_argument("-o", "--output", type=Path, required=True, help="OUT.yaml")
    parser.add_argument(
        "--style", type=_style, help="style of generated text, e.g. fairy_tale, horror (default: adventure)"
    )
    parser.set_defaults(func=run_import_twine)


def run_import_twine(args: argparse.Namespace) -> int:
    from narrative.twine import DEFAULT_STYLE, import_twee, spec_to_yaml

    try:
        spec = import_twee(
            args.file.read_text(encoding="utf-8"), str(args.file), style=args.style or DEFAULT_STYLE
        )
        args.output.write_text(spec_to_yaml(spec), encoding="utf-8")
    except (OSError, UnicodeDecodeError, NarrativeError) as error:
        return _fail("import-twine", str(error))
    print(f"wrote {args.output}: {len(spec.beats)} beats, {len(spec.choices)} choices")
    return 0


def _style(value: str) -> str:
    """argparse type: a style name as the schema defines it, checked before any work is done."""
    from pydantic import TypeAdapter, ValidationError

    from narrative.schema import StyleName

    try:
        return TypeAdapter(StyleName).validate_python(value)
    except ValidationError:
        raise argparse.ArgumentTypeError(
            f"{value!r} is not a style name (lower case letters, digits and _)"
        ) from None


def _fail(command: str, message: str) -> int:
    print(f"{PROG} {command}: {message}", file=sys.stderr)
    return 1


SUBCOMMANDS: tuple[Callable[[Any], None], ...] = (add_lint_command, add_simulate_command, add_render, add_import_twine)
"""The `graph` subcommands, in the order `--help` lists them."""
