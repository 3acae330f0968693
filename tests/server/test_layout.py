"""Guards of the server's seams: what a newcomer adding a module or an RPC could get wrong unnoticed."""

from __future__ import annotations

import ast
import inspect
from pathlib import Path

import pytest

from server.services.narrative import NarrativeServicer
from server.services.story import StoryServicer
from storyteller.v1 import narrative_pb2, story_pb2

SERVICES = Path(__file__).resolve().parents[2] / "server" / "services"
SERVICERS = {"server.services.story", "server.services.narrative"}


def _imported_modules(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return found


@pytest.mark.parametrize("path", sorted(SERVICES.glob("*.py")), ids=lambda p: p.name)
def test_no_servicer_module_imports_another(path):
    """What two servicers share lives in a module of its own (e.g. generation_convert), not in one of them."""
    assert not _imported_modules(path) & SERVICERS


@pytest.mark.parametrize(
    ("servicer", "descriptor"),
    [
        (StoryServicer, story_pb2.DESCRIPTOR.services_by_name["StoryService"]),
        (NarrativeServicer, narrative_pb2.DESCRIPTOR.services_by_name["NarrativeService"]),
    ],
)
def test_servicer_methods_are_typed_with_their_request_message(servicer, descriptor):
    for method in descriptor.methods:
        annotation = inspect.get_annotations(getattr(servicer, method.name), eval_str=True).get("request")
        assert annotation is not None, f"{servicer.__name__}.{method.name}: request is untyped"
        assert annotation.DESCRIPTOR.full_name == method.input_type.full_name, method.name
