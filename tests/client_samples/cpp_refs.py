"""The Unreal sample's C++: what TurboLink (protoc-gen-turbolink's templates) makes of the contract.

Message `M` in package `a.b` -> `FGrpcAB` + `M`, enum `E` -> `EGrpcAB` + `E` with the values as written in
the proto; field -> its JSON name with the first letter upper-cased (`text_delta` -> `TextDelta`); service
`S` -> `US` (MakeService("S")) and client `USClient` with `InitRpc`, `Rpc`, `OnRpcResponse` per RPC and
`CallRpc` on the service; headers `SAB/<File>{Message,Service,Client}.h`. Besides the members checker.py
resolves, every name with TurboLink's generated prefixes (FGrpc..., EGrpc..., U...Service[Client]) must
exist, and so must the generated headers included and the service named in MakeService("...").
"""

from __future__ import annotations

import re

from tests.client_samples.checker import SampleChecker
from tests.client_samples.naming import BAD, Naming, upper_first
from tests.client_samples.proto_schema import Contract, ProtoEnum, ProtoField, ProtoMessage
from tests.client_samples.source_text import Source, Token


def turbolink_package(package: str) -> str:
    return "".join(upper_first(part) for part in package.split(".") if part)


def turbolink_message(message: ProtoMessage) -> str:
    parents = "".join(upper_first(p) for p in message.parents)
    return "FGrpc" + turbolink_package(message.package) + parents + upper_first(message.name)


def turbolink_enum(enum: ProtoEnum) -> str:
    return "EGrpc" + turbolink_package(enum.package) + "".join(enum.parents) + enum.name


def turbolink_field(proto_field: ProtoField) -> str:
    return upper_first(proto_field.json_name)


def turbolink_file(name: str) -> str:
    """"storyteller/v1/common.proto" -> "Common" (protoc-gen-turbolink's GetCamelFileName)."""
    stem = name.rsplit("/", 1)[-1].split(".", 1)[0]
    return "".join(upper_first(word) for word in re.split(r"[-_ ]", stem) if word)


class TurboLinkNaming(Naming):
    lang = "C++ (TurboLink)"
    generic_members = frozenset({
        "AddUniqueDynamic", "AddDynamic", "RemoveAll", "RemoveDynamic", "Broadcast", "IsBound", "IsEmpty",
        "Reset", "Add", "Num", "Printf", "Len",
    })  # fmt: skip
    message_members = frozenset()
    repeated_members = frozenset({"Num", "Add", "IsEmpty", "IsValidIndex", "Contains", "Reset", "Empty"})
    _result_codes = (
        "Ok Cancelled Unknown InvalidArgument DeadlineExceeded NotFound AlreadyExists PermissionDenied "
        "ResourceExhausted FailedPrecondition Aborted OutOfRange Unimplemented Internal Unavailable DataLoss "
        "Unauthenticated ConnectionFailed NotDefined"
    ).split()
    api = {
        "FGrpcResult": {
            "Code": ("api", "EGrpcResultCode"), "Message": None, "GetCodeString": None, "GetMessageString": None,
        },
        "FGrpcContextHandle": {"Value": None},
        "FGrpcMetaData": {"MetaData": None},
        "FUInt64": {"Value": None},
        "FUInt32": {"Value": None},
        "FDouble64": {"Value": None},
        "UTurboLinkGrpcManager": {"MakeService": None, "ReleaseService": None},
        "UTurboLinkGrpcUtilities": {
            "GetTurboLinkGrpcManager": ("returns", ("api", "UTurboLinkGrpcManager")), "GetTurboLinkGrpcConfig": None,
        },
        "EGrpcResultCode": {name: ("api", "EGrpcResultCode") for name in _result_codes},
        "EGrpcServiceState": dict.fromkeys(
            ("NotCreate", "Idle", "Connecting", "Ready", "TransientFailure", "Shutdown")
        ),
        "EGrpcContextState": dict.fromkeys(("Ready", "Initialing", "Busy", "Done")),
        "EEndPlayReason": {"Type": None},
    }
    api_roots = {  # names usable as an expression root -> type
        "UTurboLinkGrpcUtilities": ("api", "UTurboLinkGrpcUtilities"),
        "EGrpcResultCode": ("api", "EGrpcResultCode"),
        "EGrpcServiceState": ("api", "EGrpcServiceState"),
        "EGrpcContextState": ("api", "EGrpcContextState"),
        "EEndPlayReason": ("api", "EEndPlayReason"),
    }
    # Plugin types that share the generated prefixes.
    plugin_types = frozenset({
        "FGrpcResult", "FGrpcContextHandle", "FGrpcMetaData", "FGrpcMessage", "EGrpcResultCode",
        "EGrpcServiceState", "EGrpcContextState", "UGrpcService", "UGrpcClient",
    })  # fmt: skip

    def __init__(self, contract: Contract):
        super().__init__(contract)
        self.structs = {turbolink_message(m): m.full_name for m in contract.messages.values()}
        self.enum_types = {turbolink_enum(e): e.full_name for e in contract.enums.values()}

    def field_name(self, message, proto_field):
        return turbolink_field(proto_field)

    def enum_value(self, enum, value):
        return value

    def describe_message(self, message):
        return f"{turbolink_message(message)} (message {message.name})"

    def scalar_type(self, proto_type):
        wrapped = {
            "uint64": "FUInt64", "fixed64": "FUInt64", "uint32": "FUInt32", "fixed32": "FUInt32", "double": "FDouble64",
        }  # fmt: skip
        return ("api", wrapped[proto_type]) if proto_type in wrapped else ("scalar", proto_type)

    def rpc_member_names(self, service, rpc):
        names = {rpc.name, f"Init{rpc.name}", f"On{rpc.name}Response"}
        if rpc.client_streaming:
            names.add(f"On{rpc.name}WriteComplete")
            if not rpc.server_streaming:
                names.add(f"Stop{rpc.name}")
        if not rpc.client_streaming:
            names.add(f"Call{rpc.name}")
        return names

    def client_member(self, service, name):
        for rpc in service.rpcs.values():
            if name == f"On{rpc.name}Response":
                return ("delegate", service.name, rpc.name)
            if name in self.rpc_member_names(service, rpc) - {f"Call{rpc.name}"}:
                return ("method", ("client", service.name), name)
        if name in ("TryCancel", "Shutdown", "GetContextState", "TryCancelContext"):
            return ("method", ("client", service.name), name)
        if name == "OnContextStateChange":
            return None
        return BAD

    def request_argument(self, rpc, method, args):
        """`Rpc(Handle, Request, ...)` and `CallRpc(Request, ...)`; the other generated methods take none."""
        position = 1 if method == rpc.name else 0
        if method in (rpc.name, f"Call{rpc.name}") and len(args) > position:
            return args[position]
        return None

    def call_result(self, rpc, method):
        return ("api", "FGrpcContextHandle") if method == f"Init{rpc.name}" else None

    def service_member(self, service, name):
        if any(name == f"Call{rpc.name}" and not rpc.client_streaming for rpc in service.rpcs.values()):
            return ("method", ("service", service.name), name)
        if name in ("Connect", "GetServiceState", "MakeClient", "RemoveClient"):
            return ("method", ("service", service.name), name)
        if name == "OnServiceStateChanged":
            return None
        return BAD

    def type_from_text(self, text):
        text = re.sub(r"\bconst\b|[&*\s]", "", text)
        wrapper = re.fullmatch(r"(?:TObjectPtr|TWeakObjectPtr|TStrongObjectPtr)<(\w+)>", text)
        if wrapper:
            text = wrapper.group(1)
        array = re.fullmatch(r"TArray<(.+)>", text)
        if array:
            inner = self.type_from_text(array.group(1))
            return ("repeated", inner) if inner else None
        if text in self.structs:
            return ("msg", self.structs[text])
        if text in self.enum_types:
            return ("enum", self.enum_types[text])
        match = re.fullmatch(r"U(\w+?)(Client)?", text)
        if match and match.group(1) in self.contract.services:
            return ("client" if match.group(2) else "service", match.group(1))
        if text in self.api:
            return ("api", text)
        return None

    def root_type_name(self, name: str) -> tuple | None:
        if name in self.enum_types:
            return ("enumtype", self.enum_types[name])
        return self.api_roots.get(name)


class TurboLinkChecker(SampleChecker):
    """The checker for C++ files: generated headers, MakeService names and TurboLink's generated type names."""

    naming_class = TurboLinkNaming
    naming: TurboLinkNaming

    def preprocess(self, source: Source) -> str:
        self.check_includes(source)
        self.check_make_service(source)
        return re.sub(r"^[ \t]*#.*$", lambda m: " " * len(m.group()), source.code, flags=re.M)

    def check_includes(self, source: Source) -> None:
        """`#include "S<Package>/<File>{Message,Service,Client}.h"`: the package, file and service must exist."""
        package_dirs = {"S" + turbolink_package(f.package) for f in self.contract.files.values()}
        for match in re.finditer(r'#include\s+"(S\w+)/(\w+?)(Message|Service|Client)\.h"', source.raw):
            folder, stem, part = match.groups()
            token = Token("", match.start(), "", "")
            files = {
                turbolink_file(f.name): f
                for f in self.contract.files.values()
                if "S" + turbolink_package(f.package) == folder
            }
            if folder not in package_dirs:
                self.problem(source, token, f"#include folder {folder} matches no package ({sorted(package_dirs)})")
            elif stem not in files:
                self.problem(source, token, f"#include {folder}/{stem}{part}.h: no {stem.lower()}.proto in the package")
            elif part != "Message" and not any(s.file == files[stem].name for s in self.contract.services.values()):
                self.problem(source, token, f"#include {folder}/{stem}{part}.h: {files[stem].name} has no service")
            else:
                self.refs.add(f"file {files[stem].name}")

    def check_make_service(self, source: Source) -> None:
        """`MakeService("S")`: S must be a service, and a `Cast<UX>` of the result on that line must have X = S."""
        for match in re.finditer(r'MakeService\s*\(\s*(?:TEXT\s*\(\s*)?"([^"]*)"', source.raw):
            name = match.group(1)
            token = Token("", match.start(1), "", "")
            if name not in self.contract.services:
                self.problem(source, token, f'MakeService("{name}"): no service {name} in the .proto files')
                continue
            self.refs.add(f"service {name}")
            cast = re.search(r"Cast<\s*U(\w+)\s*>\s*\([^;]*$", source.raw[: match.start()].rsplit("\n", 1)[-1])
            if cast and cast.group(1) != name:
                self.problem(source, token, f'MakeService("{name}") is cast to U{cast.group(1)}')

    def check_type_name(self, source: Source, token: Token) -> None:
        name = token.text
        generated = re.fullmatch(r"(FGrpc|EGrpc)\w+|U\w*Service(Client)?", name)
        if not generated or name in self.naming.plugin_types:
            return
        if self.naming.type_from_text(name) is None:
            self.problem(source, token, f"`{name}` is not a TurboLink name generated from the .proto files")
        else:
            self.refs.add(f"type {name}")
