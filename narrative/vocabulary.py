"""Ids and axes shared by the graph format, the expression language and the session state.

They live apart from the schema so that the expression language can use them without importing
the graph models (the language is also used on its own, e.g. by the linter).
"""

from __future__ import annotations

from typing import Literal, get_args

PLAYER_ID = "player"
"""The built-in character that stands for the person playing; graphs never declare it."""

ID_PATTERN = r"^[A-Za-z_][A-Za-z0-9_]*$"
"""Ids are identifiers so that conditions can name beats, characters and facts without quotes."""

RelationshipAxis = Literal["trust", "affection", "fear", "respect"]
RELATIONSHIP_AXES: tuple[RelationshipAxis, ...] = get_args(RelationshipAxis)
