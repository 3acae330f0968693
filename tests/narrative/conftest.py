from __future__ import annotations

from pathlib import Path

import pytest

from narrative.graph import PlotGraph
from narrative.loader import load_graph

SAMPLE = Path(__file__).resolve().parents[2] / "samples" / "graphs" / "lighthouse_mystery.yaml"


@pytest.fixture(scope="session")
def sample_path() -> Path:
    return SAMPLE


@pytest.fixture(scope="session")
def data_dir() -> Path:
    """Broken example graphs, one per diagnostic code."""
    return Path(__file__).resolve().parent / "data"


@pytest.fixture(scope="session")
def lighthouse() -> PlotGraph:
    return load_graph(SAMPLE)
