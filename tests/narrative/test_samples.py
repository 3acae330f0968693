"""Every sample graph loads without errors and, once the linter exists, lints clean.

The samples are what studios read first, so a broken sample is a broken first impression.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from narrative.diagnostics import Severity
from narrative.loader import analyse_graph_text, load_graph

SAMPLES_DIR = Path(__file__).resolve().parents[2] / "samples" / "graphs"
SAMPLES = sorted(path for path in SAMPLES_DIR.iterdir() if path.suffix in (".yaml", ".yml", ".json"))


def test_the_samples_are_there() -> None:
    names = {path.name for path in SAMPLES}
    assert {"brambleford_fairy_tale.yaml", "orbital_station_scifi.yaml"} <= names


@pytest.mark.parametrize("path", SAMPLES, ids=lambda path: path.name)
def test_sample_loads_without_errors(path: Path) -> None:
    graph, diagnostics = analyse_graph_text(path.read_text(encoding="utf-8"), str(path))
    errors = [d.format() for d in diagnostics if d.severity is Severity.ERROR]
    assert errors == []
    assert graph is not None


@pytest.mark.skipif(importlib.util.find_spec("narrative.lint") is None, reason="the linter is not written yet")
@pytest.mark.parametrize("path", SAMPLES, ids=lambda path: path.name)
def test_sample_lints_clean(path: Path) -> None:
    import narrative.lint

    lint_graph = getattr(narrative.lint, "lint_graph", None)
    if lint_graph is None:
        pytest.skip("narrative.lint does not expose lint_graph() yet")
    findings = lint_graph(load_graph(path))
    assert [f"{finding.code} {finding.message}" for finding in findings] == []
