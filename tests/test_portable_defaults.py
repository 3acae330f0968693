"""No source file defaults to a path of one machine: what runs on a fresh clone takes its paths from
the repository, the command line or the configuration."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("server", "narrative", "export", "benchmarks", "docs", "samples")
MACHINE_PREFIXES = ("/work/", "/home/", "/Users/", "/root/", "/mnt/")


def machine_paths(source: str) -> list[tuple[int, str]]:
    """(line, text) of every string constant that is an absolute path under a user's or machine's folder."""
    return [
        (node.lineno, node.value)
        for node in ast.walk(ast.parse(source))
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value.startswith(MACHINE_PREFIXES)
    ]


def test_the_check_finds_a_machine_path() -> None:
    assert machine_paths('CANDIDATES = (Path("runs/best"), Path("/work/train/best"))') == [(1, "/work/train/best")]


def test_no_source_file_defaults_to_a_path_of_one_machine() -> None:
    found = [
        f"{path.relative_to(ROOT)}:{line}: {text!r}"
        for package in PACKAGES
        for path in sorted((ROOT / package).rglob("*.py"))
        for line, text in machine_paths(path.read_text(encoding="utf-8"))
    ]
    assert not found, "\n".join(found)
