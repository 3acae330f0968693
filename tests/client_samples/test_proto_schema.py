"""The checker's .proto parser against protoc, and on what our protos do not use yet."""

from __future__ import annotations

from google.protobuf.descriptor import FieldDescriptor

from storyteller.v1 import common_pb2, narrative_pb2, story_pb2
from tests.client_samples.cpp_refs import turbolink_message
from tests.client_samples.csharp_refs import CSharpNaming
from tests.client_samples.proto_schema import Contract, parse_contract, read_protos

_TYPE_NAMES = {
    value: name.removeprefix("TYPE_").lower()
    for name, value in vars(FieldDescriptor).items()
    if name.startswith("TYPE_")
}


def _descriptor_view(files) -> dict:
    view = {}

    def add_message(message):
        fields = {}
        for f in message.fields:
            type_name = (
                f.message_type.full_name
                if f.message_type
                else f.enum_type.full_name
                if f.enum_type
                else _TYPE_NAMES[f.type]
            )
            fields[f.name] = (type_name, f.is_repeated, f.json_name)
        view[f"message {message.full_name}"] = fields
        for nested in message.nested_types:
            add_message(nested)
        for enum in message.enum_types:
            view[f"enum {enum.full_name}"] = [v.name for v in enum.values]

    for module in files:
        descriptor = module.DESCRIPTOR
        for message in descriptor.message_types_by_name.values():
            add_message(message)
        for enum in descriptor.enum_types_by_name.values():
            view[f"enum {enum.full_name}"] = [v.name for v in enum.values]
        for service in descriptor.services_by_name.values():
            view[f"service {service.name}"] = {
                m.name: (m.input_type.full_name, m.output_type.full_name, m.client_streaming, m.server_streaming)
                for m in service.methods
            }
    return view


def _contract_view(contract: Contract) -> dict:
    view = {}
    for message in contract.messages.values():
        fields = message.fields.values()
        view[f"message {message.full_name}"] = {f.name: (f.type, f.repeated, f.json_name) for f in fields}
    for enum in contract.enums.values():
        view[f"enum {enum.full_name}"] = list(enum.values)
    for service in contract.services.values():
        view[f"service {service.name}"] = {
            r.name: (r.input, r.output, r.client_streaming, r.server_streaming) for r in service.rpcs.values()
        }
    return view


def test_proto_parser_agrees_with_protoc():
    """The checker's own .proto parser reads what protoc compiled into the Python stubs."""
    contract = parse_contract(read_protos())
    assert _contract_view(contract) == _descriptor_view((common_pb2, story_pb2, narrative_pb2))
    for module in (common_pb2, story_pb2, narrative_pb2):
        parsed = contract.files[module.DESCRIPTOR.name]
        assert parsed.package == module.DESCRIPTOR.package
        assert parsed.options.get("csharp_namespace") == module.DESCRIPTOR.GetOptions().csharp_namespace


def test_proto_parser_handles_what_our_protos_do_not_use_yet():
    contract = parse_contract({
        "x/v1/a.proto": """
            syntax = "proto3"; package x.v1; option csharp_namespace = "X.V1";
            message Outer {
              message Inner { string inner_name = 1 [json_name = "innerName2"]; }
              enum Mode { MODE_UNSPECIFIED = 0; MODE_FAST = 1; }
              Inner inner = 1; Mode mode = 2; map<string, Inner> by_id = 3;
              oneof choice { string text = 4; int32 number_2_go = 5; }
              reserved 9; reserved "old";
            }
            service S { rpc Chat(stream Outer) returns (stream .x.v1.Outer.Inner) { option deprecated = true; } }
        """,
    })  # fmt: skip
    outer = contract.messages["x.v1.Outer"]
    assert outer.fields["inner"].type == "x.v1.Outer.Inner" and outer.fields["mode"].kind == "enum"
    assert outer.fields["by_id"].kind == "map"
    assert set(outer.fields) == {"inner", "mode", "by_id", "text", "number_2_go"}
    assert contract.messages["x.v1.Outer.Inner"].fields["inner_name"].json_name == "innerName2"
    assert contract.services["S"].rpcs["Chat"].output == "x.v1.Outer.Inner"
    assert contract.services["S"].rpcs["Chat"].client_streaming
    assert turbolink_message(contract.messages["x.v1.Outer.Inner"]) == "FGrpcXV1OuterInner"
    assert CSharpNaming.class_name(contract.messages["x.v1.Outer.Inner"]) == "Outer.Types.Inner"


def test_our_protos_have_no_nested_types():
    """So the C# (`Outer.Types.Inner`) and TurboLink (`FGrpc...OuterInner`) spellings of nested types, which
    the checker knows but the samples never need, are not exercised by the samples."""
    contract = parse_contract(read_protos())
    assert all(not m.parents for m in contract.messages.values())
    assert all(not e.parents for e in contract.enums.values())
