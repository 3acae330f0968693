"""Reading a graph file while remembering where every value was written.

PyYAML's composed node tree carries the line and column of each node; keeping it next to the plain
data lets any later check (schema, references, conditions) point at `file:line:column` from a
path such as `("beats", 3, "effects", 0, "amount")`.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import yaml

from narrative.diagnostics import LOADER_RULE, Code, Diagnostic, Severity

Path = Sequence[str | int]


@dataclass(frozen=True)
class SourceDocument:
    """Parsed data plus the node tree it came from (None when positions are unknown)."""

    filename: str
    data: Any
    root: yaml.Node | None

    def resolve(self, path: Path) -> tuple[yaml.Node | None, yaml.Node | None, tuple[str | int, ...]]:
        """Walk `path` as far as the file has it: (value node, its key node, the matched path).

        Path elements the file does not have (a missing field, a union tag pydantic adds) are
        skipped, so the result is the closest thing that was written.
        """
        node, key_node, matched = self.root, None, []
        for element in path:
            if isinstance(node, yaml.MappingNode):
                pair = next(((k, v) for k, v in node.value if k.value == str(element)), None)
                if pair is not None:
                    key_node, node = pair
                    matched.append(element)
            elif (
                isinstance(node, yaml.SequenceNode)
                and isinstance(element, int)
                and 0 <= element < len(node.value)
            ):
                key_node, node = None, node.value[element]
                matched.append(element)
        return node, key_node, tuple(matched)

    def position(self, path: Path, *, at_key: bool = False, offset: int | None = None) -> tuple[int, int]:
        """1-based (line, column) of the value at `path`, of its key with `at_key`, or of the
        character `offset` inside a one-line scalar string (used for conditions)."""
        node, key_node, _ = self.resolve(path)
        target = key_node if at_key and key_node is not None else node
        if target is None:
            return 1, 1
        line, column = target.start_mark.line + 1, target.start_mark.column + 1
        # Offsets map onto columns only for a plain or quoted scalar written on one line.
        scalar = target if isinstance(target, yaml.ScalarNode) else None
        inline = scalar is not None and scalar.style in (None, "'", '"')
        if offset is not None and scalar is not None and inline and scalar.start_mark.line == scalar.end_mark.line:
            column += offset + (1 if scalar.style else 0)
        return line, column


def diagnostic_at(
    code: Code, message: str, filename: str, line: int, column: int, hint: str | None = None
) -> Diagnostic:
    """An error of the loader; `hint` replaces the code's own when the case at hand has a better one."""
    return Diagnostic(code, Severity.ERROR, message, filename, line, column, LOADER_RULE[code].hint if hint is None else hint)


def read_source(text: str, filename: str) -> tuple[SourceDocument | None, list[Diagnostic]]:
    """Parse YAML (or JSON when the name ends in .json); None when the text does not parse."""
    if filename.endswith(".json"):
        try:
            data = json.loads(text)
        except json.JSONDecodeError as error:
            return None, [diagnostic_at(Code.YAML_SYNTAX, error.msg, filename, error.lineno, error.colno)]
        # Valid JSON has tabs only as whitespace, where a space means the same to YAML and keeps
        # every column; YAML then supplies the positions.
        root, _ = _compose(text.replace("\t", " "), filename)
        return SourceDocument(filename, data, root), _duplicate_keys(root, filename)
    root, problems = _compose(text, filename)
    if problems:
        return None, problems
    loader = yaml.SafeLoader("")
    try:
        data = loader.construct_document(root) if root is not None else None
    except yaml.MarkedYAMLError as error:
        return None, [_syntax_diagnostic(error, filename)]
    finally:
        loader.dispose()
    return SourceDocument(filename, data, root), _duplicate_keys(root, filename)


def _compose(text: str, filename: str) -> tuple[yaml.Node | None, list[Diagnostic]]:
    try:
        # The reader checks every character as it is built: a control character raises here.
        loader = yaml.SafeLoader(text)
    except yaml.reader.ReaderError as error:
        before = text[: error.position]
        line, column = before.count("\n") + 1, error.position - (before.rfind("\n") + 1) + 1
        message = f"character {error.character:#06x} is not allowed in YAML"
        return None, [diagnostic_at(Code.YAML_SYNTAX, message, filename, line, column)]
    try:
        return loader.get_single_node(), []
    except yaml.MarkedYAMLError as error:
        return None, [_syntax_diagnostic(error, filename)]
    except yaml.YAMLError as error:
        return None, [diagnostic_at(Code.YAML_SYNTAX, str(error), filename, 1, 1)]
    finally:
        loader.dispose()


def _syntax_diagnostic(error: yaml.MarkedYAMLError, filename: str) -> Diagnostic:
    mark = error.problem_mark or error.context_mark
    line, column = (mark.line + 1, mark.column + 1) if mark is not None else (1, 1)
    message = " ".join(part for part in (error.context, error.problem) if part)
    return diagnostic_at(Code.YAML_SYNTAX, message or "invalid YAML", filename, line, column)


def _duplicate_keys(root: yaml.Node | None, filename: str) -> list[Diagnostic]:
    found: list[Diagnostic] = []
    stack = [root] if root is not None else []
    seen_nodes: set[int] = set()
    while stack:
        node = stack.pop()
        if id(node) in seen_nodes:  # aliases share nodes
            continue
        seen_nodes.add(id(node))
        if isinstance(node, yaml.MappingNode):
            keys: set[str] = set()
            for key, value in node.value:
                if isinstance(key, yaml.ScalarNode) and key.value in keys:
                    line, column = key.start_mark.line + 1, key.start_mark.column + 1
                    found.append(
                        diagnostic_at(
                            Code.DUPLICATE_KEY, f"duplicate key {key.value!r}", filename, line, column
                        )
                    )
                keys.add(key.value if isinstance(key, yaml.ScalarNode) else "")
                stack.append(value)
        elif isinstance(node, yaml.SequenceNode):
            stack.extend(node.value)
    return sorted(found, key=lambda d: (d.line, d.column))
