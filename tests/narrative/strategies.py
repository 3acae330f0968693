"""Hypothesis strategies for plot graphs, shared by the narrative property tests.

Graphs come from `narrative.random_graph` driven by hypothesis' own random source, so failures
shrink and replay. `NARRATIVE_EXAMPLES=2000 pytest tests/narrative` runs a longer search.
"""

from __future__ import annotations

import os

import yaml
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

from narrative.graph import PlotGraph
from narrative.loader import load_graph_text
from narrative.random_graph import random_graph_data

EXAMPLES = int(os.environ.get("NARRATIVE_EXAMPLES", "50"))

property_settings = settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])

graph_data = st.builds(random_graph_data, st.randoms(use_true_random=False), st.integers(min_value=1, max_value=25))
"""Plain data of a valid plot graph, as a YAML file would hold it."""


def load_data(data: dict) -> PlotGraph:
    """Load generated data through the real loader, as a designer's file would be."""
    return load_graph_text(yaml.safe_dump(data, sort_keys=False))
