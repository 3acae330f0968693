"""Generates docs/api.md, the gRPC API reference, from the comments in proto/.

The .proto comments are the contract's documentation (game clients only have those
files); this page is the same text, readable without opening them. The comments come
from protoc itself (`--include_source_info`: each element's SourceCodeInfo location),
not from parsing .proto text, so every construct protoc accepts is read the way it means.

    python docs/generate_api.py            # writes docs/api.md
    python docs/generate_api.py --check    # exit 1 when docs/api.md is stale
"""

from __future__ import annotations

import argparse
import html
import sys
import tempfile
import textwrap
from collections.abc import Callable, Iterator, Sequence
from importlib import resources
from pathlib import Path

from google.protobuf import descriptor_pb2
from grpc_tools import protoc

ROOT = Path(__file__).resolve().parent.parent
PROTO_ROOT = ROOT / "proto"
OUTPUT = ROOT / "docs" / "api.md"
COMMAND = "python docs/generate_api.py"

# Field numbers of the descriptor.proto fields that SourceCodeInfo paths walk through.
FILE_MESSAGE, FILE_ENUM, FILE_SERVICE, FILE_SYNTAX = 4, 5, 6, 12
MESSAGE_FIELD, MESSAGE_NESTED, MESSAGE_ENUM = 2, 3, 4
ENUM_VALUE = 2
SERVICE_METHOD = 2

SourcePath = tuple[int, ...]


class ProtoFile:
    """One compiled .proto file and its comments, looked up by SourceCodeInfo path."""

    def __init__(self, proto: descriptor_pb2.FileDescriptorProto) -> None:
        self.proto = proto
        self._comments = {
            tuple(location.path): "\n\n".join(
                part for part in (_clean(location.leading_comments), _clean(location.trailing_comments)) if part
            )
            for location in proto.source_code_info.location
        }
        self._lines = {tuple(location.path): location.span[0] for location in proto.source_code_info.location}

    def comment(self, path: SourcePath) -> str:
        return self._comments.get(path, "")

    def line(self, path: SourcePath) -> int:
        """Where an element starts in the file (0-based)."""
        return self._lines[path]


def _clean(comment: str) -> str:
    """protoc keeps the space after "//" and the line breaks; Markdown needs neither, and a
    "<token>" in a comment must not turn into an HTML tag."""
    return html.escape(textwrap.dedent(comment).strip(), quote=False)


def compile_protos(proto_root: Path = PROTO_ROOT) -> list[ProtoFile]:
    """Runs protoc on every .proto under `proto_root`; returns them with their comments."""
    sources = sorted(str(p.relative_to(proto_root)) for p in proto_root.rglob("*.proto"))
    well_known = resources.files("grpc_tools") / "_proto"
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "descriptors.pb"
        status = protoc.main(
            ["protoc", f"-I{proto_root}", f"-I{well_known}", "--include_source_info",
             f"--descriptor_set_out={out}", *sources]
        )
        if status != 0:
            raise SystemExit(f"protoc failed on {proto_root} (exit {status})")
        descriptors = descriptor_pb2.FileDescriptorSet.FromString(out.read_bytes())
    return [ProtoFile(f) for f in descriptors.file]


def _cell(text: str) -> str:
    """A comment as one Markdown table cell."""
    return " ".join(text.split()).replace("|", "\\|")


def _anchor(name: str) -> str:
    """The anchor GitHub gives a heading: lower case, punctuation dropped."""
    return "".join(c for c in name.lower() if c.isalnum() or c in "-_")


class Renderer:
    """Markdown for a set of files of one package; types of that package become links."""

    def __init__(self, files: Sequence[ProtoFile]) -> None:
        self.files = files
        self._maps: dict[str, descriptor_pb2.DescriptorProto] = {
            f".{file.proto.package}.{name}": message
            for file in files
            for name, message in _messages(file.proto.message_type)
            if message.options.map_entry
        }

    def _type(self, field: descriptor_pb2.FieldDescriptorProto, package: str) -> str:
        if field.type_name in self._maps:
            key, value = self._maps[field.type_name].field
            return f"map&lt;{self._type(key, package)}, {self._type(value, package)}&gt;"
        if field.type_name:
            name = field.type_name.removeprefix(f".{package}.")
            shown = f"[{name}](#{_anchor(name)})" if not name.startswith(".") else name.lstrip(".")
        else:
            shown = descriptor_pb2.FieldDescriptorProto.Type.Name(field.type).removeprefix("TYPE_").lower()
        return f"repeated {shown}" if field.label == field.LABEL_REPEATED else shown

    def render(self) -> str:
        lines = [
            "# Storyteller gRPC API reference",
            "",
            f"Generated from the comments in `proto/` by `{COMMAND}` (`make docs`);",
            "edit the `.proto` files, not this page.",
        ]
        # Files with services first: a reader starts from the calls.
        for file in sorted(self.files, key=lambda f: (not f.proto.service, f.proto.name)):
            lines += [*([""] if lines[-1] else []), f"## {file.proto.name}", ""]
            if overview := file.comment((FILE_SYNTAX,)):
                lines += [overview, ""]
            for index, service in enumerate(file.proto.service):
                lines += self._service(file, service, (FILE_SERVICE, index))
            # Messages and enums in the order the file declares them (it groups them by topic).
            types = [(FILE_MESSAGE, index) for index in range(len(file.proto.message_type))]
            types += [(FILE_ENUM, index) for index in range(len(file.proto.enum_type))]
            for kind, index in sorted(types, key=file.line):
                if kind == FILE_MESSAGE:
                    message = file.proto.message_type[index]
                    lines += self._message(file, message, (kind, index), message.name)
                else:
                    enum = file.proto.enum_type[index]
                    lines += self._enum(file, enum, (kind, index), enum.name)
        return "\n".join(lines).rstrip() + "\n"

    def _service(self, file: ProtoFile, service: descriptor_pb2.ServiceDescriptorProto, path: SourcePath) -> list[str]:
        package = file.proto.package
        lines = [f"### {service.name}", "", f"Service `{package}.{service.name}`.", ""]
        if comment := file.comment(path):
            lines += [comment, ""]
        lines += ["| RPC | Request → Response | Description |", "|---|---|---|"]
        for index, method in enumerate(service.method):
            request = self._type(_message_field(method.input_type), package)
            response = self._type(_message_field(method.output_type), package)
            request = f"stream {request}" if method.client_streaming else request
            response = f"stream {response}" if method.server_streaming else response
            comment = _cell(file.comment((*path, SERVICE_METHOD, index)))
            lines.append(f"| `{method.name}` | {request} → {response} | {comment} |")
        return [*lines, ""]

    def _message(
        self, file: ProtoFile, message: descriptor_pb2.DescriptorProto, path: SourcePath, name: str
    ) -> list[str]:
        if message.options.map_entry:
            return []  # shown as map<K, V> on the field that uses it
        lines = [f"### {name}", ""]
        if comment := file.comment(path):
            lines += [comment, ""]
        if message.field:
            lines += ["| Field | Type | Description |", "|---|---|---|"]
            for index, field in enumerate(message.field):
                comment = _cell(file.comment((*path, MESSAGE_FIELD, index)))
                lines.append(f"| `{field.name}` | {self._type(field, file.proto.package)} | {comment} |")
        else:
            lines.append("No fields.")
        lines.append("")
        for index, nested in enumerate(message.nested_type):
            lines += self._message(file, nested, (*path, MESSAGE_NESTED, index), f"{name}.{nested.name}")
        for index, enum in enumerate(message.enum_type):
            lines += self._enum(file, enum, (*path, MESSAGE_ENUM, index), f"{name}.{enum.name}")
        return lines

    def _enum(
        self, file: ProtoFile, enum: descriptor_pb2.EnumDescriptorProto, path: SourcePath, name: str
    ) -> list[str]:
        lines = [f"### {name}", ""]
        if comment := file.comment(path):
            lines += [comment, ""]
        lines += ["| Value | Number | Description |", "|---|---|---|"]
        for index, value in enumerate(enum.value):
            comment = _cell(file.comment((*path, ENUM_VALUE, index)))
            lines.append(f"| `{value.name}` | {value.number} | {comment} |")
        return [*lines, ""]


def _messages(
    messages: Sequence[descriptor_pb2.DescriptorProto], prefix: str = ""
) -> Iterator[tuple[str, descriptor_pb2.DescriptorProto]]:
    """Every message with its name relative to the package, nested ones included."""
    for message in messages:
        name = f"{prefix}{message.name}"
        yield name, message
        yield from _messages(message.nested_type, f"{name}.")


def _message_field(type_name: str) -> descriptor_pb2.FieldDescriptorProto:
    """An RPC's request or response type, shaped as a field so it renders like one."""
    field = descriptor_pb2.FieldDescriptorProto
    return field(type=field.TYPE_MESSAGE, type_name=type_name)


def generate(proto_root: Path = PROTO_ROOT) -> str:
    return Renderer(compile_protos(proto_root)).render()


def write_or_check(
    argv: Sequence[str] | None, description: str, output: Path, command: str, generate: Callable[[], str]
) -> int:
    """The command line of a generated page: write it, or with --check exit 1 when it is out of date."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--check", action="store_true", help=f"exit 1 when {output.name} is not what would be written")
    args = parser.parse_args(argv)
    text = generate()
    if args.check:
        current = output.read_text(encoding="utf-8") if output.exists() else ""
        if current != text:
            print(f"{output.relative_to(ROOT)} is out of date: run `{command}`", file=sys.stderr)
            return 1
        return 0
    output.write_text(text, encoding="utf-8")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    return write_or_check(argv, __doc__.splitlines()[0], OUTPUT, COMMAND, generate)


if __name__ == "__main__":
    sys.exit(main())
