"""Loading plot graphs from files or text, with errors a designer can act on.

Every problem becomes a `Diagnostic` at file:line:column with a stable code (see
`narrative.diagnostics.LOADER_RULES`). All problems of a stage are collected, not just the first,
and a graph with any error loads nothing: `GraphLoadError` carries the whole list. The stages are
syntax, then schema, then references and conditions; a later stage needs the earlier one clean
(references cannot be resolved in a document whose shape is wrong).
"""

from __future__ import annotations

from pathlib import Path

import yaml
from pydantic import ValidationError
from pydantic_core import ErrorDetails

from narrative.diagnostics import Code, Diagnostic
from narrative.errors import GraphLoadError
from narrative.graph import PlotGraph
from narrative.index import GraphIndex
from narrative.integrity import check_spec
from narrative.schema import PlotGraphSpec
from narrative.yaml_source import SourceDocument, diagnostic_at, read_source

INVALID_FILE_HINT = "a plot graph is a mapping with story:, beats: and choices: (see samples/graphs/)"


def load_graph(path: str | Path) -> PlotGraph:
    """Load a `.yaml`/`.yml` or `.json` graph file; raises `GraphLoadError` listing every problem."""
    path = Path(path)
    return load_graph_text(path.read_text(encoding="utf-8"), str(path))


def load_graph_text(text: str, filename: str = "<graph>.yaml") -> PlotGraph:
    """Load a graph sent as text (e.g. over the wire); `filename` labels diagnostics and picks
    JSON parsing when it ends in `.json`."""
    graph, diagnostics = analyse_graph_text(text, filename)
    if graph is None:
        raise GraphLoadError(diagnostics)
    return graph


def analyse_graph_text(
    text: str, filename: str = "<graph>.yaml"
) -> tuple[PlotGraph | None, list[Diagnostic]]:
    """The graph (None if any error) and the diagnostics, sorted by position; for validation
    endpoints that report problems without raising."""
    graph, diagnostics, _ = analyse_source(text, filename)
    return graph, diagnostics


def analyse_source(
    text: str, filename: str = "<graph>.yaml"
) -> tuple[PlotGraph | None, list[Diagnostic], SourceDocument | None]:
    """`analyse_graph_text` plus the parsed document, whose positions later passes (the
    linter) reuse instead of parsing the text again."""
    document, diagnostics = read_source(text, filename)
    if document is None:
        return None, diagnostics, None
    try:
        spec = PlotGraphSpec.model_validate(document.data)
    except ValidationError as error:
        diagnostics += [_schema_diagnostic(detail, document) for detail in error.errors()]
        return None, _sorted(diagnostics), document
    index = GraphIndex(spec)
    conditions, findings = check_spec(spec, index)
    for finding in findings:
        line, column = document.position(finding.path, offset=finding.offset)
        diagnostics.append(diagnostic_at(finding.code, finding.message, filename, line, column))
    if diagnostics:
        return None, _sorted(diagnostics), document
    return PlotGraph(spec, conditions), [], document


def graph_from_spec(spec: PlotGraphSpec, filename: str = "<generated>") -> PlotGraph:
    """A `PlotGraph` from an in-memory spec, with the loader's checks but without YAML text
    (which would cost more than the graph for 100k beats); errors are at 1:1 of `filename`."""
    conditions, findings = check_spec(spec, GraphIndex(spec))
    if findings:
        raise GraphLoadError(diagnostic_at(f.code, f.message, filename, 1, 1) for f in findings)
    return PlotGraph(spec, conditions)


def dump_graph(graph: PlotGraph) -> str:
    """YAML text of the graph; loading it gives back an equal `graph.spec`."""
    return dump_spec(graph.spec)


def dump_spec(spec: PlotGraphSpec) -> str:
    """YAML text of a spec that may not be checked yet (e.g. fresh from an import)."""
    data = spec.model_dump(mode="json", by_alias=True, exclude_defaults=True)
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=100)


def _schema_diagnostic(detail: ErrorDetails, document: SourceDocument) -> Diagnostic:
    loc = detail["loc"]
    kind = detail["type"]
    if kind == "missing":
        code, at_key = Code.MISSING_FIELD, False
        message = f"missing field {loc[-1]!r}"
    elif kind == "extra_forbidden":
        code, at_key = Code.UNKNOWN_FIELD, True
        message = f"unknown field {loc[-1]!r}"
    else:
        code, at_key = Code.INVALID_VALUE, False
        message = detail["msg"]
        if kind == "union_tag_invalid":
            ctx = detail["ctx"]
            message = f"unknown {ctx['discriminator']} {ctx['tag']!r}; expected one of {ctx['expected_tags']}"
    _, _, matched = document.resolve(loc)
    where = _dotted(matched[:-1] if kind == "extra_forbidden" else matched)
    line, column = document.position(loc, at_key=at_key)
    hint = _invalid_value_hint(detail) if code is Code.INVALID_VALUE else None
    if code is Code.INVALID_VALUE and not loc and detail["input"] is None:
        message = "the file holds no plot graph (it is empty, or only comments)"
    elif code is Code.INVALID_VALUE and detail["input"] is None:
        message = "the key has no value"
    return diagnostic_at(code, f"{where}: {message}" if where else message, document.filename, line, column, hint)


def _invalid_value_hint(detail: ErrorDetails) -> str | None:
    """A hint that fits the value found, where the code's own would mislead: YAML reads an unquoted
    yes/no/on/off as a boolean, which is the likely cause only when a boolean stands where text belongs."""
    if detail["input"] is None:
        return "write the value after the key, or remove the key" if detail["loc"] else INVALID_FILE_HINT
    if isinstance(detail["input"], bool) and detail["type"] == "string_type":
        return "quote words such as yes/no/on/off that YAML reads as booleans"
    return None


def _dotted(path: tuple[str | int, ...]) -> str:
    text = ""
    for element in path:
        text += f"[{element}]" if isinstance(element, int) else f".{element}" if text else str(element)
    return text


def _sorted(diagnostics: list[Diagnostic]) -> list[Diagnostic]:
    return sorted(diagnostics, key=lambda d: (d.line, d.column, d.code))
