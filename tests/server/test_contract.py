"""The .proto contract stays usable from Unity (grpc-dotnet) and Unreal (TurboLink)."""

from __future__ import annotations

import pathlib

import pytest
from google.protobuf.descriptor import Descriptor, FieldDescriptor

import storyteller.v1
from storyteller.v1 import common_pb2, narrative_pb2, story_pb2

FILES = [common_pb2.DESCRIPTOR, story_pb2.DESCRIPTOR, narrative_pb2.DESCRIPTOR]


def all_messages():
    def walk(message: Descriptor):
        yield message
        for nested in message.nested_types:
            yield from walk(nested)

    for file in FILES:
        for message in file.message_types_by_name.values():
            yield from walk(message)


def all_enums():
    for file in FILES:
        yield from file.enum_types_by_name.values()
    for message in all_messages():
        yield from message.enum_types


def test_one_versioned_package():
    assert {f.package for f in FILES} == {"storyteller.v1"}
    assert all(f.name.startswith("storyteller/v1/") for f in FILES)


@pytest.mark.parametrize("enum", list(all_enums()), ids=lambda e: e.full_name)
def test_every_enum_starts_with_unspecified_zero(enum):
    first = enum.values[0]
    assert first.number == 0
    assert first.name.endswith("_UNSPECIFIED")
    # Values are prefixed with the enum's name, so they do not clash in C++ namespaces.
    assert all(v.name.startswith(first.name.removesuffix("UNSPECIFIED")) for v in enum.values)


def test_only_unary_and_server_streaming_rpcs():
    services = [s for f in FILES for s in f.services_by_name.values()]
    assert {s.name for s in services} == {"StoryService", "NarrativeService"}
    for service in services:
        for method in service.methods:
            assert not method.client_streaming, method.full_name


def test_no_optional_any_or_oneof():
    for message in all_messages():
        assert not message.oneofs, f"{message.full_name} uses oneof (or proto3 optional)"
        for field in message.fields:
            if field.type == FieldDescriptor.TYPE_MESSAGE:
                assert field.message_type.full_name != "google.protobuf.Any", field.full_name


def test_streams_end_with_a_summary_of_the_generation():
    streamed = {m.output_type.full_name for f in FILES for s in f.services_by_name.values() for m in s.methods if m.server_streaming}
    assert streamed == {"storyteller.v1.GenerationChunk"}
    summary = common_pb2.GenerationSummary.DESCRIPTOR.fields_by_name
    assert {"finish_reason", "prompt_tokens", "completion_tokens", "seed", "detected_emotion"} <= set(summary)


def test_every_service_rpc_message_and_enum_is_documented():
    """Clients only have the .proto: a declaration without a comment is undocumented API.
    Request/response messages are documented by their RPC."""
    folder = pathlib.Path(storyteller.v1.__file__).parent
    for proto in folder.glob("*.proto"):
        lines = proto.read_text().splitlines()
        for number, line in enumerate(lines):
            stripped = line.strip()
            if stripped.startswith(("rpc ", "service ", "message ", "enum ")):
                previous = lines[number - 1].strip()
                documented = previous.startswith("//") or stripped.split()[1].endswith(("Request", "Response"))
                assert documented, f"{proto.name}:{number + 1}: {stripped} has no comment"
