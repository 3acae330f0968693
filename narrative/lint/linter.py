"""Running the checks: `lint_graph` over a loaded graph, `lint_file` over a file on disk.

Findings become the loader's `Diagnostic`s, positioned with the same `SourceDocument` the loader
uses, so load errors (E0xx) and lint findings (L1xx) read alike and sort together.
"""

from __future__ import annotations

import re
from pathlib import Path

from narrative.diagnostics import LOADER_RULES, Code, Diagnostic, Rule
from narrative.graph import PlotGraph
from narrative.lint.characters import emotion_arc_breaks, knowledge_leaks, removed_characters_present
from narrative.lint.codes import LintCode
from narrative.lint.conditions import impossible_conditions
from narrative.lint.context import Check, LintConfig, LintContext, LintFinding
from narrative.lint.quests import quest_order
from narrative.lint.structure import dead_ends, trap_cycles, unreachable_beats
from narrative.lint.variables import variable_usage
from narrative.loader import analyse_source
from narrative.yaml_source import SourceDocument

CHECKS: tuple[Check, ...] = (
    unreachable_beats,
    dead_ends,
    trap_cycles,
    variable_usage,
    impossible_conditions,
    quest_order,
    removed_characters_present,
    emotion_arc_breaks,
    knowledge_leaks,
)
"""Every check, in the order their findings are listed for a graph without source positions."""

LINT_RULES: dict[Code | LintCode, Rule] = {rule.code: rule for check in CHECKS for rule in check.rules}
"""Each lint code's rule, as its check declares it: a check left out of CHECKS leaves its codes out."""

RULES: tuple[Rule, ...] = (*LOADER_RULES, *sorted(LINT_RULES.values(), key=lambda rule: rule.code))
"""Every diagnostic code, the loader's then the linter's, in code order: what docs/lint-codes.md lists."""

SUPPRESSION = re.compile(r"#\s*lint:\s*ignore\s+(L\d{3}(?:\s*,\s*L\d{3})*)")
"""`# lint: ignore L111` (or `L111, L121`) at the end of a line silences those codes there: a
designer's way to say "intended" (e.g. a variable only the game reads), like a linter's noqa."""

UNPOSITIONED = "<graph>"
"""File name of diagnostics for a graph linted without its source document."""


def lint_graph(
    graph: PlotGraph, document: SourceDocument | None = None, config: LintConfig = LintConfig()
) -> list[Diagnostic]:
    """Every lint finding for `graph`, sorted by position when `document` (the source the graph
    was loaded from) is given; without it, findings are at 1:1 of `<graph>`.

    >>> from narrative.loader import load_graph_text
    >>> graph = load_graph_text('''
    ... story: {id: s, title: S, style: mystery, start: a}
    ... beats: [{id: a, summary: A}, {id: b, summary: B, ending: true}]
    ... ''')
    >>> [str(d.code) for d in lint_graph(graph)]
    ['L103', 'L102']
    """
    context = LintContext(graph, config)
    diagnostics = [_diagnostic(finding, document) for check in CHECKS for finding in check(context)]
    if document is not None:
        diagnostics.sort(key=lambda d: (d.line, d.column, d.code))
    return diagnostics


def lint_file(path: str | Path, config: LintConfig = LintConfig()) -> list[Diagnostic]:
    """Load errors of the file if it has any (then nothing is linted), else its lint findings
    except those a `# lint: ignore CODE` comment on their line silences (see `SUPPRESSION`).

    Raises `OSError` or `UnicodeDecodeError` when the file cannot be read as text.
    """
    return lint_text(Path(path).read_text(encoding="utf-8"), str(path), config)[1]


def lint_text(
    text: str, filename: str, config: LintConfig = LintConfig()
) -> tuple[PlotGraph | None, list[Diagnostic]]:
    """The graph (None when it does not load) and every diagnostic: its load errors, or else its
    lint findings less the silenced ones. For callers that also serve the graph (the server)."""
    graph, diagnostics, document = analyse_source(text, filename)
    if graph is None:
        return None, diagnostics
    silenced = _suppressions(text)
    return graph, [d for d in lint_graph(graph, document, config) if d.code not in silenced.get(d.line, ())]


def _suppressions(text: str) -> dict[int, set[str]]:
    """1-based line -> codes silenced there."""
    found: dict[int, set[str]] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        match = SUPPRESSION.search(line)
        if match:
            found[number] = {code.strip() for code in match.group(1).split(",")}
    return found


def _diagnostic(finding: LintFinding, document: SourceDocument | None) -> Diagnostic:
    rule = LINT_RULES[finding.code]
    if document is None:
        filename, (line, column) = UNPOSITIONED, (1, 1)
    else:
        filename, (line, column) = document.filename, document.position(finding.path, offset=finding.offset)
    return Diagnostic(finding.code, rule.severity, finding.message, filename, line, column, rule.hint)
