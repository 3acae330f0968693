"""Both samples against the contract as it is, and against copies of it with things renamed."""

from __future__ import annotations

import re

import pytest

from tests.client_samples.cpp_refs import TurboLinkNaming
from tests.client_samples.csharp_refs import CSharpNaming
from tests.client_samples.proto_schema import read_protos
from tests.client_samples.samples import check_samples


def test_samples_name_only_what_the_contract_has():
    problems, _ = check_samples(read_protos())
    assert problems == [], "\n".join(problems)


EXPECTED_REFERENCES = {
    "service NarrativeService",
    "rpc NarrativeService.NpcLine",
    "rpc NarrativeService.StartSession",
    "field storyteller.v1.StartSessionRequest.graph_id",
    "field storyteller.v1.StartSessionResponse.session",
    "field storyteller.v1.Session.session_id",
    "field storyteller.v1.Session.characters",
    "field storyteller.v1.CharacterState.present",
    "field storyteller.v1.NpcLineRequest.session_id",
    "field storyteller.v1.NpcLineRequest.character_id",
    "field storyteller.v1.NpcLineRequest.intent",
    "field storyteller.v1.NpcLineRequest.sampling",
    "field storyteller.v1.SamplingParams.max_tokens",
    "field storyteller.v1.GenerationChunk.text_delta",
    "field storyteller.v1.GenerationChunk.done",
    "field storyteller.v1.GenerationChunk.summary",
    "field storyteller.v1.GenerationSummary.detected_emotion",
    "field storyteller.v1.GenerationSummary.warnings",
    "field storyteller.v1.GenerationSummary.finish_reason",
    "field storyteller.v1.EmotionScores.top_ekman",
    "field storyteller.v1.CoherenceWarning.code",
    "field storyteller.v1.CoherenceWarning.message",
    "enum value storyteller.v1.NpcIntent.NPC_INTENT_GREET",
    "enum value storyteller.v1.FinishReason.FINISH_REASON_CONTEXT_FULL",
}


@pytest.mark.parametrize("lang", [CSharpNaming.lang, TurboLinkNaming.lang])
def test_the_check_sees_what_the_samples_use(lang):
    """The extraction is not vacuous: the RPCs, fields and enum values the samples are about are resolved."""
    _, refs = check_samples(read_protos())
    assert EXPECTED_REFERENCES <= refs[lang], sorted(EXPECTED_REFERENCES - refs[lang])


def _mutate(texts: dict[str, str], file: str, pattern: str, replacement: str) -> dict[str, str]:
    texts = dict(texts)
    key = f"storyteller/v1/{file}"
    texts[key], count = re.subn(pattern, replacement, texts[key])
    assert count, f"{pattern!r} not found in {file}"
    return texts


# (file, regex, replacement, what the C# report must mention, what the C++ report must mention or None)
MUTATIONS = {
    "field renamed": ("common.proto", r"\btext_delta\b", "text_piece", "`TextDelta`", "`TextDelta`"),
    "nested field renamed": ("common.proto", r"\bdetected_emotion\b", "emotion", "`DetectedEmotion`",
                             "`DetectedEmotion`"),
    "request field renamed": ("narrative.proto", r"string graph_id = 1;\n}\n\nmessage StartSessionResponse",
                              "string graph = 1;\n}\n\nmessage StartSessionResponse", "`GraphId`", "`GraphId`"),
    "message renamed": ("narrative.proto", r"\bNpcLineRequest\b", "NpcLineCall", "`NpcLineRequest`",
                        "`FGrpcStorytellerV1NpcLineRequest`"),
    "rpc renamed": ("narrative.proto", r"rpc NpcLine\(", "rpc SpeakLine(", "`NpcLine`", "`NpcLine`"),
    "service renamed": ("narrative.proto", r"\bservice NarrativeService\b", "service PlotService", "`NarrativeService`",
                        'MakeService("NarrativeService")'),
    "enum value renamed": ("narrative.proto", r"\bNPC_INTENT_GREET\b", "NPC_INTENT_HELLO", "`Greet`",
                           "`NPC_INTENT_GREET`"),
    "field type changed": ("common.proto", r"GenerationSummary summary = 4;", "EmotionScores summary = 4;",
                           "argument of Report()", "expected FGrpcStorytellerV1GenerationSummary"),
    "streaming dropped": ("narrative.proto", r"returns \(stream GenerationChunk\);\n}", "returns (GenerationChunk);\n}",
                          "expected stream_call<GenerationChunk>", None),
}  # fmt: skip


@pytest.mark.parametrize("mutation", MUTATIONS.values(), ids=MUTATIONS.keys())
def test_a_contract_change_the_samples_depend_on_is_reported(mutation):
    file, pattern, replacement, in_csharp, in_cpp = mutation
    problems, _ = check_samples(_mutate(read_protos(), file, pattern, replacement))
    cs = [p for p in problems if p.startswith("samples/clients/unity/")]
    cpp = [p for p in problems if p.startswith("samples/clients/unreal/")]
    assert any(in_csharp in p for p in cs), "\n".join(problems) or "nothing reported"
    if in_cpp is None:
        # TurboLink's generated API has the same shape for unary and server-streaming RPCs.
        assert not cpp, "\n".join(cpp)
    else:
        assert any(in_cpp in p for p in cpp), "\n".join(problems) or "nothing reported"


def test_a_contract_change_the_samples_do_not_depend_on_is_not_reported():
    texts = _mutate(read_protos(), "story.proto", r"\bnum_candidates\b", "candidate_count")
    texts = _mutate(texts, "narrative.proto", r"rpc Narrate\(", "rpc NarrateBeat(")
    problems, _ = check_samples(texts)
    assert problems == [], "\n".join(problems)
