"""Every sample graph loads without errors and lints clean (warnings included).

The samples are what studios read first, so a broken sample is a broken first impression.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from narrative.diagnostics import Severity
from narrative.lint import lint_file
from narrative.loader import analyse_graph_text

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


@pytest.mark.parametrize("path", SAMPLES, ids=lambda path: path.name)
def test_sample_lints_clean(path: Path) -> None:
    assert [diagnostic.format() for diagnostic in lint_file(path)] == []
