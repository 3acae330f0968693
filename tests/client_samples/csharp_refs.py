"""The Unity sample's C#: what protoc's C# generator and grpc_csharp_plugin make of the contract.

Classes keep the message name; fields become PascalCase properties (`text_delta` -> `TextDelta`, protoc's
UnderscoresToPascalCase); enum values lose the enum's name as prefix and become PascalCase
(`NPC_INTENT_GREET` in `NpcIntent` -> `NpcIntent.Greet`); service `S` -> static class `S` with client
`S.SClient`, whose methods are `Rpc` for every RPC plus `RpcAsync` for unary ones; the namespace is the
files' `csharp_namespace`. Besides the members checker.py resolves, every other PascalCase name must be a
proto type, a name the samples declare, or a known non-proto type (the allow-lists here).
"""

from __future__ import annotations

import re
from pathlib import Path

from tests.client_samples.checker import SampleChecker
from tests.client_samples.naming import BAD, Naming, upper_first
from tests.client_samples.proto_schema import Contract, ProtoEnum, ProtoField, ProtoMessage
from tests.client_samples.source_text import Source, Token, split_top


def csharp_pascal(name: str) -> str:
    """protoc's UnderscoresToCamelCase(name, cap_next_letter=True) for C#."""
    out, cap = [], True
    for i, char in enumerate(name):
        if "a" <= char <= "z":
            out.append(char.upper() if cap else char)
            cap = False
        elif "A" <= char <= "Z":
            out.append(char.lower() if i == 0 and not cap else char)
            cap = False
        elif char.isdigit():
            out.append(char)
            cap = True
        else:
            cap = True
    return "".join(out)


_CS_RESERVED_MEMBERS = {
    "Types", "Descriptor", "Equals", "ToString", "GetHashCode", "WriteTo", "Clone", "CalculateSize",
    "MergeFrom", "OnConstruction", "Parser",
}  # fmt: skip


def csharp_property(message: ProtoMessage, proto_field: ProtoField) -> str:
    """protoc's GetPropertyName: PascalCase, "_" appended when it would clash with the class or a member."""
    name = csharp_pascal(proto_field.name)
    return name + "_" if name == message.name or name in _CS_RESERVED_MEMBERS else name


def _shouty_to_pascal(text: str) -> str:
    out, previous = [], "_"
    for char in text:
        if not char.isalnum():
            previous = char
            continue
        if not previous.isalnum() or previous.isdigit():
            out.append(char.upper())
        elif previous.islower():
            out.append(char)
        else:
            out.append(char.lower())
        previous = char
    return "".join(out)


def csharp_enum_value(enum_name: str, value: str) -> str:
    """protoc's GetEnumValueName: the enum's name is stripped as a prefix (ignoring case and underscores)."""
    prefix = enum_name.replace("_", "").lower()
    p = v = 0
    stripped = value
    while p < len(prefix) and v < len(value):
        if value[v] == "_":
            v += 1
            continue
        if value[v].lower() != prefix[p]:
            break
        p, v = p + 1, v + 1
    else:
        if p == len(prefix):
            while v < len(value) and value[v] == "_":
                v += 1
            if v < len(value):
                stripped = value[v:]
    result = _shouty_to_pascal(stripped)
    return "_" + result if result[:1].isdigit() else result


class CSharpNaming(Naming):
    lang = "C#"
    generic_members = frozenset({
        "Log", "LogError", "LogWarning", "UtcNow", "AddSeconds", "IsNullOrEmpty", "ForAddress",
        "CreateCallInvoker", "Intercept", "Add", "Dispose", "Cancel", "Token", "IsCancellationRequested",
        "Invoke", "RootCertificates", "Http2Only", "HttpHandler", "DisposeHttpClient",
    })  # fmt: skip
    message_members = frozenset(
        {"Clone", "ToString", "Equals", "GetHashCode", "CalculateSize", "MergeFrom", "WriteTo", "ToByteArray"}
    )
    repeated_members = frozenset({"Count", "Add", "AddRange", "Clear", "Contains", "Remove", "Insert", "IndexOf"})
    api = {
        "RpcException": {"StatusCode": None, "Status": ("api", "Status"), "Trailers": None, "Message": None},
        "Status": {"StatusCode": None, "Detail": None},
    }
    # Non-proto names the C# samples use as types, attributes or static classes.
    known_types = frozenset({
        "IDisposable", "GrpcChannel", "GrpcChannelOptions", "YetAnotherHttpHandler", "CallInvoker", "Metadata",
        "RpcException", "StatusCode", "AsyncServerStreamingCall", "AsyncUnaryCall", "IAsyncStreamReader",
        "MonoBehaviour", "SerializeField", "Header", "Tooltip", "TextArea", "TextMeshProUGUI", "UnityEvent",
        "Debug", "CancellationTokenSource", "CancellationToken", "Task", "DateTime", "Exception",
        "OperationCanceledException",
    })  # fmt: skip

    def __init__(self, contract: Contract):
        super().__init__(contract)
        namespaces = {f.options.get("csharp_namespace") for f in contract.files.values()}
        assert len(namespaces) == 1, f"the .proto files disagree on csharp_namespace: {namespaces}"
        package = next(iter(contract.files.values())).package
        self.namespace = namespaces.pop() or ".".join(map(upper_first, package.split(".")))
        self.classes = {self.class_name(m): m.full_name for m in contract.messages.values()}
        self.enum_classes = {self.class_name(e): e.full_name for e in contract.enums.values()}

    @staticmethod
    def class_name(item: ProtoMessage | ProtoEnum) -> str:
        return ".".join([*(f"{parent}.Types" for parent in item.parents), item.name])

    def field_name(self, message, proto_field):
        return csharp_property(message, proto_field)

    def enum_value(self, enum, value):
        return csharp_enum_value(enum.name, value)

    def describe_message(self, message):
        return f"message {message.name}"

    def rpc_member_names(self, service, rpc):
        unary = not rpc.client_streaming and not rpc.server_streaming
        return {rpc.name, rpc.name + "Async"} if unary else {rpc.name}

    def client_member(self, service, name):
        for rpc in service.rpcs.values():
            if name in self.rpc_member_names(service, rpc):
                return ("method", ("client", service.name), name)
        return BAD

    def request_argument(self, rpc, method, args):
        request = args[0] if args else None
        if request and len(request) > 2 and request[0].kind == "id" and request[1].text == ":":
            request = request[2:]  # named argument
        return request

    def call_result(self, rpc, method):
        if rpc.client_streaming:
            return None
        if rpc.server_streaming:
            return ("stream_call", rpc.output)
        return ("unary_call", rpc.output) if method.endswith("Async") else ("msg", rpc.output)

    def type_names(self) -> set[str]:
        return set(self.classes) | set(self.enum_classes) | set(self.contract.services)

    def type_from_text(self, text):
        text = re.sub(r"\s+", "", text).removeprefix("global::").rstrip("?")
        text = text.removeprefix(self.namespace + ".")
        generic = re.fullmatch(r"([\w.]+)<(.+)>", text)
        if generic:
            outer, inner = generic.groups()
            inner_type = self.type_from_text(inner)
            if outer == "RepeatedField":
                return ("repeated", inner_type) if inner_type else None
            wrap = {
                "AsyncServerStreamingCall": "stream_call", "AsyncUnaryCall": "unary_call",
                "IAsyncStreamReader": "stream_reader", "Task": "task", "IAsyncEnumerable": "async_enum",
            }.get(outer)  # fmt: skip
            return (wrap, inner_type[1]) if wrap and inner_type and inner_type[0] == "msg" else None
        if text in self.classes:
            return ("msg", self.classes[text])
        if text in self.enum_classes:
            return ("enum", self.enum_classes[text])
        client = re.fullmatch(r"(\w+)\.(\w+)Client", text)
        if client and client.group(1) == client.group(2) and client.group(1) in self.contract.services:
            return ("client", client.group(1))
        if text in self.api:
            return ("api", text)
        return None

    def root_type_name(self, name: str) -> tuple | None:
        if name in self.classes:
            return ("msgclass", self.classes[name])
        if name in self.enum_classes:
            return ("enumtype", self.enum_classes[name])
        if name in self.contract.services:
            return ("serviceclass", name)
        return None


class CSharpChecker(SampleChecker):
    """The checker for C# files: using directives, object initializers and type names as C# has them."""

    naming_class = CSharpNaming
    naming: CSharpNaming
    csharp = True

    def preprocess(self, source: Source) -> str:
        """Proto types need `using <csharp_namespace>;`; using and namespace directives are not references."""
        code = source.code
        uses_proto = any(re.search(rf"\b{re.escape(name)}\b", code) for name in self.naming.type_names())
        if uses_proto and not re.search(rf"^[ \t]*using\s+{re.escape(self.naming.namespace)}\s*;", code, re.M):
            self.problem(source, Token("", 0, "", ""), f"uses proto types without `using {self.naming.namespace};` "
                         "(the protos' csharp_namespace)")
        directives = r"^[ \t]*(?:using\s+[\w.]+\s*;|namespace\s+[\w.]+)"
        return re.sub(directives, lambda m: " " * len(m.group()), code, flags=re.M)

    def check_source(self, source: Source) -> None:
        self.check_initializers(source)
        super().check_source(source)

    def check_initializers(self, source: Source) -> None:
        """`new T { Field = value, ... }`: each Field must be a member of T and take the value's type."""
        tokens = source.tokens
        for i, token in enumerate(tokens):
            if token.text != "new":
                continue
            j = i + 1
            while j < len(tokens) and tokens[j].text not in ("{", "(", ";", ")", ","):
                j += 1
            type_text = " ".join(t.text for t in tokens[i + 1 : j])
            if j < len(tokens) and tokens[j].text == "(":
                j = source.close[j] + 1
            if j >= len(tokens) or tokens[j].text != "{":
                continue
            new_type = self.naming.type_from_text(type_text)
            for entry in split_top(tokens[j + 1 : source.close[j]]):
                if len(entry) < 3 or entry[0].kind != "id" or entry[1].text != "=":
                    continue
                name_index = next(k for k in range(j, len(tokens)) if tokens[k] is entry[0])
                self.handled.add((source.path.name, name_index))
                self.skip_assign.add((source.path.name, name_index + 1))
                member_type = self.member(source, new_type, entry[0].text, name_index, report=True)
                self.compare(source, entry[2], member_type, self.infer(source, entry[2:]), f"`{entry[0].text}`")

    def check_type_name(self, source: Source, token: Token) -> None:
        name = token.text
        if not name[:1].isupper() or name in self.local_names:
            return
        if name in self.naming.type_names():
            self.refs.add(f"{'service' if name in self.contract.services else 'type'} {name}")
            return
        if name in self.naming.known_types:
            return
        self.problem(source, token, f"`{name}` is neither a type of the .proto files (as C# names them) "
                     "nor a known non-proto type; if it is the latter, add it to the allow-list in "
                     f"{Path(__file__).name}")
