"""The types the checker gives to values, and the base of what one code generator makes of the contract."""

from __future__ import annotations

from tests.client_samples.proto_schema import Contract, ProtoEnum, ProtoField, ProtoMessage, ProtoRpc, ProtoService
from tests.client_samples.source_text import Token

# Types: tuples. ("msg", full), ("enum", full) a value, ("enumtype", full) the type used as a value,
# ("scalar", proto type), ("repeated", element), ("map",), ("client", service), ("service", service),
# ("serviceclass", service) (C#'s static class), ("clientclass", service) (its nested client class),
# ("msgclass", full), ("method", owner, name), ("returns", type) (a method whose call gives type),
# ("delegate", service, rpc), ("bind", service, rpc) (the delegate's AddDynamic), ("stream_call", out),
# ("stream_reader", out), ("unary_call", out), ("task", out), ("async_enum", out), ("api", name),
# ("local", class or None), ("localmethod", name).
# None: unknown. BAD: an error was reported; nothing further is checked on it.
BAD = ("bad",)


def upper_first(text: str) -> str:
    return text[:1].upper() + text[1:]


class Naming:
    """What one generator makes of the contract, and the non-proto API the samples may use."""

    lang = ""
    generic_members: frozenset[str] = frozenset()  # members allowed on values of unknown type
    message_members: frozenset[str] = frozenset()
    repeated_members: frozenset[str] = frozenset()
    api: dict[str, dict[str, tuple | None]] = {}  # type -> member -> type of the member (or None)

    def __init__(self, contract: Contract):
        self.contract = contract
        self.fields: dict[str, dict[str, str]] = {}  # message full name -> generated member -> proto field
        for message in contract.messages.values():
            self.fields[message.full_name] = {self.field_name(message, f): f.name for f in message.fields.values()}
        self.enum_values: dict[str, dict[str, str]] = {
            enum.full_name: {self.enum_value(enum, v): v for v in enum.values} for enum in contract.enums.values()
        }

    def field_name(self, message: ProtoMessage, proto_field: ProtoField) -> str:
        raise NotImplementedError

    def enum_value(self, enum: ProtoEnum, value: str) -> str:
        raise NotImplementedError

    def describe_message(self, message: ProtoMessage) -> str:
        """How a message is named in a report."""
        raise NotImplementedError

    def field_type(self, proto_field: ProtoField) -> tuple:
        if proto_field.kind == "map":
            return ("map",)
        element = (
            {"message": ("msg", proto_field.type), "enum": ("enum", proto_field.type)}.get(proto_field.kind)
            or self.scalar_type(proto_field.type)
        )
        return ("repeated", element) if proto_field.repeated else element

    def scalar_type(self, proto_type: str) -> tuple:
        return ("scalar", proto_type)

    def client_member(self, service: ProtoService, name: str) -> tuple | None:
        """The type of member `name` of the service's client: None if unknown but allowed, BAD if wrong."""
        raise NotImplementedError

    def service_member(self, service: ProtoService, name: str) -> tuple | None:
        """As client_member, for generators whose service object is apart from its clients (TurboLink)."""
        raise NotImplementedError

    def request_argument(self, rpc: ProtoRpc, method: str, args: list[list[Token]]) -> list[Token] | None:
        """The argument of a call of generated `method` that is the RPC's request, if it takes one."""
        raise NotImplementedError

    def call_result(self, rpc: ProtoRpc, method: str) -> tuple | None:
        """The type of what a call of generated `method` returns."""
        raise NotImplementedError

    def type_from_text(self, text: str) -> tuple | None:
        raise NotImplementedError

    def root_type_name(self, name: str) -> tuple | None:
        """The type of a generated name used as the root of an expression (a type, for its static members)."""
        raise NotImplementedError

    def generated_member_names(self) -> set[str]:
        """Every member name the generator derives from the contract."""
        names = {name for members in self.fields.values() for name in members}
        names |= {name for values in self.enum_values.values() for name in values}
        for service in self.contract.services.values():
            for rpc in service.rpcs.values():
                names |= self.rpc_member_names(service, rpc)
        return names

    def rpc_member_names(self, service: ProtoService, rpc: ProtoRpc) -> set[str]:
        raise NotImplementedError
