"""Each generator's naming rules, and the allow-lists of non-proto names."""

from __future__ import annotations

from storyteller.v1 import common_pb2, narrative_pb2, story_pb2
from tests.client_samples.cpp_refs import TurboLinkNaming, turbolink_field, turbolink_file, turbolink_package
from tests.client_samples.csharp_refs import CSharpNaming, csharp_enum_value, csharp_pascal, csharp_property
from tests.client_samples.proto_schema import json_name, parse_contract, read_protos


def test_generator_naming_rules():
    assert csharp_pascal("text_delta") == "TextDelta"
    assert csharp_pascal("time_to_first_token_ms") == "TimeToFirstTokenMs"
    assert csharp_pascal("no_repeat_ngram_size") == "NoRepeatNgramSize"
    assert csharp_pascal("field1_a") == "Field1A" and csharp_pascal("foo_2bar") == "Foo2Bar"
    assert csharp_enum_value("NpcIntent", "NPC_INTENT_GREET") == "Greet"
    assert csharp_enum_value("FinishReason", "FINISH_REASON_END_OF_TEXT") == "EndOfText"
    assert csharp_enum_value("ContentRating", "CONTENT_RATING_UNSPECIFIED") == "Unspecified"
    assert csharp_enum_value("Color", "RED") == "Red" and csharp_enum_value("Foo", "FOO_2") == "_2"
    assert json_name("time_to_first_token_ms") == "timeToFirstTokenMs" and json_name("foo_2bar") == "foo2bar"
    assert turbolink_package("storyteller.v1") == "StorytellerV1"
    assert turbolink_file("storyteller/v1/narrative.proto") == "Narrative"
    # The JSON names our fields get from protoc, which TurboLink's field names are made of.
    contract = parse_contract(read_protos())
    for module in (common_pb2, story_pb2, narrative_pb2):
        for message in module.DESCRIPTOR.message_types_by_name.values():
            for f in message.fields:
                assert json_name(f.name) == f.json_name, f.full_name
    message = contract.messages["storyteller.v1.GenerationSummary"]
    assert turbolink_field(message.fields["time_to_first_token_ms"]) == "TimeToFirstTokenMs"
    assert csharp_property(message, message.fields["detected_emotion"]) == "DetectedEmotion"


def test_allow_lists_cannot_hide_a_proto_name():
    """Members allowed on values of unknown type, and the non-proto C# type names, never collide with a
    name the contract generates: an unresolved reference to a proto name is always reported."""
    contract = parse_contract(read_protos())
    for naming in (CSharpNaming(contract), TurboLinkNaming(contract)):
        assert not naming.generic_members & naming.generated_member_names(), naming.lang
    cs = CSharpNaming(contract)
    assert not cs.known_types & cs.type_names()
