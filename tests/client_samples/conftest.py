from __future__ import annotations

import pytest

from tests.client_samples.paths import CPP_FILES, CS_FILES
from tests.client_samples.proto_schema import read_protos
from tests.client_samples.samples import check_samples


@pytest.fixture
def check_edited_samples(tmp_path):
    """check_samples on copies of both samples in tmp_path, `replacements` made in the one named `file`."""

    def check(file: str, replacements: list[tuple[str, str]]) -> list[str]:
        for path in (*CS_FILES, *CPP_FILES):
            text = path.read_text()
            if path.name == file:
                for old, new in replacements:
                    assert old in text, f"{old!r} not in {file}"
                    text = text.replace(old, new)
            (tmp_path / path.name).write_text(text)
        problems, _ = check_samples(
            read_protos(), tuple(tmp_path / p.name for p in CS_FILES), tuple(tmp_path / p.name for p in CPP_FILES)
        )
        return problems

    return check
