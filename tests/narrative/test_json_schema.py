from __future__ import annotations

import json

from narrative.schema import SCHEMA_PATH, plot_graph_json_schema, write_json_schema


def test_committed_schema_is_up_to_date():
    """Fails when the models change without `python -m narrative.schema` being re-run."""
    assert json.loads(SCHEMA_PATH.read_text()) == plot_graph_json_schema()


def test_schema_describes_the_format(tmp_path):
    schema = json.loads(write_json_schema(tmp_path / "schema.json").read_text())
    assert schema["$schema"].endswith("2020-12/schema")
    assert schema["additionalProperties"] is False
    assert set(schema["required"]) == {"story", "beats"}
    choice = schema["$defs"]["Choice"]
    assert "from" in choice["properties"] and "from_" not in choice["properties"]
    effect_tags = schema["$defs"]["Beat"]["properties"]["effects"]["items"]["discriminator"]["mapping"]
    assert set(effect_tags) == {"set", "add", "shift_emotion", "shift_relationship", "learn", "leave", "die"}
