"""The contract: proto/storyteller/v1/*.proto parsed into messages, enums and services.

parse_contract works on the texts, so the tests can check the samples against copies with things renamed
too; test_proto_schema.py holds the parser to what protoc compiled into the Python stubs.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from tests.client_samples.paths import PROTO_DIR, PROTO_ROOT

SCALARS = {
    "double", "float", "int32", "int64", "uint32", "uint64", "sint32", "sint64",
    "fixed32", "fixed64", "sfixed32", "sfixed64", "bool", "string", "bytes",
}  # fmt: skip


@dataclass
class ProtoField:
    name: str
    type: str  # a scalar name, or the full name of a message or enum once resolved ("map<k,v>" for maps)
    repeated: bool
    json_name: str
    kind: str = ""  # "scalar", "message", "enum" or "map", set when resolved


@dataclass
class ProtoMessage:
    full_name: str
    package: str
    parents: tuple[str, ...]  # names of the enclosing messages, outermost first
    name: str
    fields: dict[str, ProtoField] = field(default_factory=dict)


@dataclass
class ProtoEnum:
    full_name: str
    package: str
    parents: tuple[str, ...]
    name: str
    values: list[str] = field(default_factory=list)


@dataclass
class ProtoRpc:
    name: str
    input: str
    output: str
    client_streaming: bool
    server_streaming: bool


@dataclass
class ProtoService:
    name: str
    file: str
    rpcs: dict[str, ProtoRpc] = field(default_factory=dict)


@dataclass
class ProtoFile:
    name: str  # path relative to the include root, e.g. "storyteller/v1/common.proto"
    package: str = ""
    options: dict[str, str] = field(default_factory=dict)


@dataclass
class Contract:
    files: dict[str, ProtoFile] = field(default_factory=dict)
    messages: dict[str, ProtoMessage] = field(default_factory=dict)
    enums: dict[str, ProtoEnum] = field(default_factory=dict)
    services: dict[str, ProtoService] = field(default_factory=dict)  # by short name


class ProtoSyntaxError(ValueError):
    pass


_PROTO_TOKEN = re.compile(
    r"""\s+|//[^\n]*|/\*.*?\*/|(?P<str>"(?:[^"\\\n]|\\.)*"|'(?:[^'\\\n]|\\.)*')|(?P<word>\.?[A-Za-z_][\w.]*)"""
    r"""|(?P<num>[-+]?\d[\w.+-]*)|(?P<sym>[{}()\[\]<>;=,:])""",
    re.S,
)


def _proto_tokens(text: str) -> list[str]:
    tokens, pos = [], 0
    while pos < len(text):
        match = _PROTO_TOKEN.match(text, pos)
        if match is None:
            raise ProtoSyntaxError(f"unexpected {text[pos]!r} at offset {pos}")
        pos = match.end()
        if match.lastgroup:
            tokens.append(match.group(match.lastgroup))
    return tokens


def json_name(name: str) -> str:
    """protoc's ToJsonName: underscores dropped, the letter after each one upper-cased."""
    out, upper = [], False
    for char in name:
        if char == "_":
            upper = True
        else:
            out.append(char.upper() if upper else char)
            upper = False
    return "".join(out)


class _ProtoParser:
    """A small recursive-descent parser for the proto3 we write: package, imports, options, messages
    (nested ones included), enums, oneofs, maps and services. Extensions and groups are refused."""

    def __init__(self, name: str, text: str, contract: Contract):
        self.tokens = _proto_tokens(text)
        self.i = 0
        self.file = ProtoFile(name)
        self.contract = contract

    def peek(self) -> str | None:
        return self.tokens[self.i] if self.i < len(self.tokens) else None

    def next(self) -> str:
        if self.i >= len(self.tokens):
            raise ProtoSyntaxError(f"{self.file.name}: unexpected end of file")
        self.i += 1
        return self.tokens[self.i - 1]

    def expect(self, token: str) -> None:
        got = self.next()
        if got != token:
            raise ProtoSyntaxError(f"{self.file.name}: expected {token!r}, got {got!r}")

    def skip_statement(self) -> None:
        while self.next() != ";":
            pass

    def parse(self) -> ProtoFile:
        while (token := self.peek()) is not None:
            if token == "syntax":
                self.skip_statement()
            elif token == "package":
                self.next()
                self.file.package = self.next()
                self.expect(";")
            elif token == "import":
                self.next()
                if self.peek() in ("public", "weak"):
                    self.next()
                self.next()  # the imported file: every file is parsed anyway
                self.expect(";")
            elif token == "option":
                key, value = self.option()
                self.file.options[key] = value
            elif token == "message":
                self.message(())
            elif token == "enum":
                self.enum(())
            elif token == "service":
                self.service()
            elif token == ";":
                self.next()
            else:
                raise ProtoSyntaxError(f"{self.file.name}: unsupported top-level {token!r}")
        return self.file

    def option(self) -> tuple[str, str]:
        self.expect("option")
        key = []
        while (token := self.next()) != "=":
            key.append(token)
        value = self.next()
        if value == "{":  # aggregate value
            depth = 1
            while depth:
                token = self.next()
                depth += {"{": 1, "}": -1}.get(token, 0)
        self.expect(";")
        return "".join(key), value.strip("\"'")

    def full(self, parents: tuple[str, ...], name: str) -> str:
        return ".".join(part for part in (self.file.package, *parents, name) if part)

    def message(self, parents: tuple[str, ...]) -> None:
        self.expect("message")
        name = self.next()
        message = ProtoMessage(self.full(parents, name), self.file.package, parents, name)
        if message.full_name in self.contract.messages:
            raise ProtoSyntaxError(f"{self.file.name}: message {message.full_name} defined twice")
        self.contract.messages[message.full_name] = message
        self.expect("{")
        self.message_body(message, (*parents, name))

    def message_body(self, message: ProtoMessage, scope: tuple[str, ...]) -> None:
        while (token := self.peek()) != "}":
            if token == "message":
                self.message(scope)
            elif token == "enum":
                self.enum(scope)
            elif token == "option":
                self.option()
            elif token in ("reserved", "extensions"):
                self.skip_statement()
            elif token == "oneof":
                self.next()
                self.next()
                self.expect("{")
                self.message_body(message, scope)  # oneof members are plain fields of the message
                continue
            elif token == ";":
                self.next()
            elif token in ("extend", "group"):
                raise ProtoSyntaxError(f"{self.file.name}: {token} is not supported")
            else:
                self.field(message)
        self.expect("}")

    def field(self, message: ProtoMessage) -> None:
        repeated = False
        if self.peek() in ("repeated", "optional", "required"):
            repeated = self.next() == "repeated"
        type_ = self.next()
        if type_ == "map":
            self.expect("<")
            key = self.next()
            self.expect(",")
            value = self.next()
            self.expect(">")
            type_ = f"map<{key},{value}>"
        name = self.next()
        self.expect("=")
        self.next()  # field number
        json = json_name(name)
        if self.peek() == "[":
            self.next()
            while True:
                key = self.next()
                self.expect("=")
                value = self.next()
                if key == "json_name":
                    json = value.strip("\"'")
                if self.next() == "]":
                    break
        self.expect(";")
        if name in message.fields:
            raise ProtoSyntaxError(f"{self.file.name}: field {message.full_name}.{name} defined twice")
        message.fields[name] = ProtoField(name, type_, repeated, json)

    def enum(self, parents: tuple[str, ...]) -> None:
        self.expect("enum")
        name = self.next()
        enum = ProtoEnum(self.full(parents, name), self.file.package, parents, name)
        self.contract.enums[enum.full_name] = enum
        self.expect("{")
        while (token := self.peek()) != "}":
            if token == "option":
                self.option()
            elif token == "reserved":
                self.skip_statement()
            elif token == ";":
                self.next()
            else:
                enum.values.append(self.next())
                self.expect("=")
                self.next()
                if self.peek() == "[":
                    while self.next() != "]":
                        pass
                self.expect(";")
        self.expect("}")

    def service(self) -> None:
        self.expect("service")
        name = self.next()
        service = ProtoService(name, self.file.name)
        self.contract.services[name] = service
        self.expect("{")
        while (token := self.peek()) != "}":
            if token == "option":
                self.option()
                continue
            if token == ";":
                self.next()
                continue
            self.expect("rpc")
            rpc_name = self.next()
            self.expect("(")
            client_streaming = self.peek() == "stream"
            if client_streaming:
                self.next()
            input_ = self.next()
            self.expect(")")
            self.expect("returns")
            self.expect("(")
            server_streaming = self.peek() == "stream"
            if server_streaming:
                self.next()
            output = self.next()
            self.expect(")")
            if self.peek() == "{":
                self.next()
                while self.peek() != "}":
                    if self.peek() == "option":
                        self.option()
                    else:
                        self.next()
                self.next()
            else:
                self.expect(";")
            # Types are resolved later (scope: the package), like field types.
            service.rpcs[rpc_name] = ProtoRpc(rpc_name, input_, output, client_streaming, server_streaming)
        self.expect("}")


def _resolve(contract: Contract, name: str, scope: str, kinds: tuple[str, ...]) -> tuple[str, str]:
    """Proto name lookup: a leading "." is absolute, else innermost scope outwards."""
    tables = {"message": contract.messages, "enum": contract.enums}
    if name.startswith("."):
        candidates = [name[1:]]
    else:
        parts = scope.split(".") if scope else []
        candidates = [".".join((*parts[:n], name)) for n in range(len(parts), -1, -1)]
    for candidate in candidates:
        for kind in kinds:
            if candidate in tables[kind]:
                return kind, candidate
    raise ProtoSyntaxError(f"unknown type {name!r} (scope {scope!r})")


def parse_contract(texts: dict[str, str]) -> Contract:
    """Parses the .proto texts (path relative to the include root -> text) and resolves every type name."""
    contract = Contract()
    for name, text in sorted(texts.items()):
        contract.files[name] = _ProtoParser(name, text, contract).parse()
    for message in contract.messages.values():
        for proto_field in message.fields.values():
            if proto_field.type.startswith("map<"):
                proto_field.kind = "map"
            elif proto_field.type in SCALARS:
                proto_field.kind = "scalar"
            else:
                proto_field.kind, proto_field.type = _resolve(
                    contract, proto_field.type, message.full_name, ("message", "enum")
                )
    for service in contract.services.values():
        package = contract.files[service.file].package
        for rpc in service.rpcs.values():
            rpc.input = _resolve(contract, rpc.input, package, ("message",))[1]
            rpc.output = _resolve(contract, rpc.output, package, ("message",))[1]
    return contract


def read_protos() -> dict[str, str]:
    """The repository's .proto texts, by path relative to the include root."""
    return {path.relative_to(PROTO_ROOT).as_posix(): path.read_text() for path in sorted(PROTO_DIR.glob("*.proto"))}
