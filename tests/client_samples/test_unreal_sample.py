"""The C++ side: mistakes put into copies of the Unreal sample."""

from __future__ import annotations

import pytest

# (file, [(text in the sample, replacement)], what the report must mention)
SAMPLE_EDITS = {
    "C++ field typo": ("StorytellerNpcLine.cpp", [("*Summary.DetectedEmotion.TopEkman,",
                                                   "*Summary.DetectedEmotion.TopEkmann,")],
                       "`TopEkmann`: FGrpcStorytellerV1EmotionScores (message EmotionScores) has no such field"),
    "C++ handler signature": ("StorytellerNpcLine.cpp", [("const FGrpcStorytellerV1GenerationChunk& Chunk)",
                                                          "const FGrpcStorytellerV1GenerateResponse& Chunk)")],
                              "response parameter of HandleNpcLineResponse: "
                              "expected FGrpcStorytellerV1GenerationChunk"),
    "C++ enum value": ("StorytellerNpcLine.h", [("NpcIntent::NPC_INTENT_GREET", "NpcIntent::NPC_INTENT_HI")],
                       "`NPC_INTENT_HI`"),
    "C++ generated type": ("StorytellerNpcLine.cpp", [("FGrpcStorytellerV1NpcLineRequest Request",
                                                       "FGrpcStorytellerV1NpcLineRequests Request")],
                           "`FGrpcStorytellerV1NpcLineRequests` is not a TurboLink name"),
    "C++ header": ("StorytellerNpcLine.cpp", [("SStorytellerV1/NarrativeClient.h",
                                               "SStorytellerV1/NarrativesClient.h")],
                   "no narratives.proto in the package"),
    "C++ service name": ("StorytellerNpcLine.cpp", [('MakeService(TEXT("NarrativeService"))',
                                                     'MakeService(TEXT("Narrative"))')],
                         'MakeService("Narrative"): no service Narrative'),
    "C++ rpc on the service": ("StorytellerNpcLine.cpp", [("NarrativeClient->InitNpcLine()",
                                                           "NarrativeClient->InitNpcLines()")],
                               "`InitNpcLines`: the C++ (TurboLink) client of NarrativeService has no such member"),
    "C++ unclosed brace": ("StorytellerNpcLine.cpp", [("if (Manager == nullptr)\n\t{", "if (Manager == nullptr)\n\t{{")],
                           "`{` is never closed"),
}  # fmt: skip


@pytest.mark.parametrize("edit", SAMPLE_EDITS.values(), ids=SAMPLE_EDITS.keys())
def test_a_wrong_name_in_a_sample_is_reported(edit, check_edited_samples):
    """The other way round: the same checker, on copies of the samples with one mistake put in."""
    file, replacements, expected = edit
    problems = check_edited_samples(file, replacements)
    assert any(expected in p for p in problems), "\n".join(problems) or "nothing reported"
