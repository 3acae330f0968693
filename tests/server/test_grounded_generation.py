"""Narrate and NpcLine on a real server: grounded in the session, checked, and fed back into it."""

from __future__ import annotations

from pathlib import Path

import grpc
import pytest

from narrative.coherence import ABSENT_CHARACTER
from narrative.emotion_logic import blend, expression_weight
from narrative.emotions import EmotionVector
from narrative.loader import load_graph
from server.writing.grounded import UNSUPPORTED_CONTROL
from storyteller.v1 import common_pb2, narrative_pb2_grpc
from storyteller.v1 import narrative_pb2 as pb
from tests.server.conftest import make_settings, wait_serving

LIGHTHOUSE = Path(__file__).resolve().parents[2] / "samples" / "graphs" / "lighthouse_mystery.yaml"
SAMPLING = common_pb2.SamplingParams(temperature=0.9, top_k=40, max_tokens=24, seed=11)


@pytest.fixture
async def stub(start_server, channel_to, tiny_story_bundle, tiny_emotion_bundle):
    settings = make_settings(
        models__story=str(tiny_story_bundle), models__emotion=str(tiny_emotion_bundle), models__intra_op_threads=1,
        narrative__graphs=str(LIGHTHOUSE),
    )  # fmt: skip
    server = await start_server(settings)
    channel = channel_to(server)
    await wait_serving(channel)
    return narrative_pb2_grpc.NarrativeServiceStub(channel)


async def at_cottage(stub) -> pb.Session:
    session = (await stub.StartSession(pb.StartSessionRequest(graph_id="lighthouse_mystery"))).session
    request = pb.ChooseRequest(session_id=session.session_id, choice_id="go_cottage")
    return (await stub.Choose(request)).session


async def collect(call) -> tuple[str, common_pb2.GenerationSummary]:
    chunks = [chunk async for chunk in call]
    assert [c.index for c in chunks] == list(range(len(chunks)))
    assert [c.done for c in chunks] == [False] * (len(chunks) - 1) + [True]
    return "".join(c.text_delta for c in chunks), chunks[-1].summary


def emotions(session: pb.Session, character: str) -> EmotionVector:
    [state] = [c for c in session.characters if c.character_id == character]
    return EmotionVector.of({s.label: s.score for s in state.emotion})


def assert_absentees_flagged(text: str, session: pb.Session, summary: common_pb2.GenerationSummary) -> None:
    """Every character the text names who is not in the beat comes with an absent-character warning."""
    present = {c.character_id for c in session.characters if c.present}
    flagged = " ".join(w.message for w in summary.warnings if w.code == ABSENT_CHARACTER)
    for character in load_graph(LIGHTHOUSE).characters:
        if character.id not in present and any(part in text for part in character.name.split()):
            assert character.name in flagged, (text, summary.warnings)


async def test_narration_streams_prose_for_the_current_beat(stub):
    session = await at_cottage(stub)
    text, summary = await collect(stub.Narrate(pb.NarrateRequest(session_id=session.session_id, sampling=SAMPLING)))
    assert summary.completion_tokens > 0 and summary.seed == 11
    # The graph is a mystery; the tiny model has no such style, so it writes without it and says so.
    assert UNSUPPORTED_CONTROL in [w.code for w in summary.warnings] and summary.style == ""
    assert_absentees_flagged(text, session, summary)
    again, _ = await collect(stub.Narrate(pb.NarrateRequest(session_id=session.session_id, sampling=SAMPLING)))
    assert again == text  # same state, same seed: same prose


async def test_npc_line_feeds_its_emotion_back_into_the_speaker(stub):
    session = await at_cottage(stub)
    before = emotions(session, "keeper")
    request = pb.NpcLineRequest(
        session_id=session.session_id, character_id="keeper", intent=pb.NPC_INTENT_WARN, target_emotion="fear",
        sampling=SAMPLING, num_candidates=3, apply_to_state=True,
    )  # fmt: skip
    text, summary = await collect(stub.NpcLine(request))
    assert_absentees_flagged(text, session, summary)
    assert summary.candidates == 3 and summary.detected_emotion.top_ekman
    after = (await stub.GetSession(pb.GetSessionRequest(session_id=session.session_id))).session
    assert after.step == session.step + 1 and after.recent_events[-1].kind == "utterance"
    heard = EmotionVector.of({s.label: s.score for s in summary.detected_emotion.ekman})
    graph = load_graph(LIGHTHOUSE)
    expected = blend(before, heard, expression_weight(graph.character("keeper").traits))
    assert emotions(after, "keeper").as_dict() == pytest.approx(expected.as_dict(), abs=1e-6)


async def test_npc_line_without_apply_leaves_the_state_alone(stub):
    session = await at_cottage(stub)
    request = pb.NpcLineRequest(session_id=session.session_id, character_id="keeper", sampling=SAMPLING)
    await collect(stub.NpcLine(request))
    after = (await stub.GetSession(pb.GetSessionRequest(session_id=session.session_id))).session
    assert after.step == session.step and emotions(after, "keeper") == emotions(session, "keeper")


@pytest.mark.parametrize(
    ("change", "code", "field"),
    [
        ({"character_id": "widow"}, grpc.StatusCode.INVALID_ARGUMENT, "character_id"),  # not in this beat
        ({"character_id": ""}, grpc.StatusCode.INVALID_ARGUMENT, "character_id"),
        ({"listener_id": "ghost"}, grpc.StatusCode.INVALID_ARGUMENT, "listener_id"),
        ({"listener_id": "keeper"}, grpc.StatusCode.INVALID_ARGUMENT, "listener_id"),
        ({"target_emotion": "glee"}, grpc.StatusCode.INVALID_ARGUMENT, "target_emotion"),
        ({"style": "western"}, grpc.StatusCode.INVALID_ARGUMENT, "style"),
        ({"intent": 99}, grpc.StatusCode.INVALID_ARGUMENT, "intent"),
        ({"session_id": "nope"}, grpc.StatusCode.NOT_FOUND, "nope"),
    ],
)
async def test_bad_npc_line_requests_name_the_field_and_change_nothing(stub, change, code, field):
    session = await at_cottage(stub)
    fields = {"session_id": session.session_id, "character_id": "keeper", "sampling": SAMPLING, "apply_to_state": True}
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await collect(stub.NpcLine(pb.NpcLineRequest(**{**fields, **change})))
    assert caught.value.code() == code and field in caught.value.details()
    after = (await stub.GetSession(pb.GetSessionRequest(session_id=session.session_id))).session
    assert after.step == session.step


@pytest.fixture
async def chat_stub(start_server, channel_to, tiny_chat_story_bundle, tiny_emotion_bundle):
    settings = make_settings(
        models__story=str(tiny_chat_story_bundle), models__emotion=str(tiny_emotion_bundle),
        models__intra_op_threads=1, narrative__graphs=str(LIGHTHOUSE),
    )  # fmt: skip
    server = await start_server(settings)
    channel = channel_to(server)
    await wait_serving(channel)
    return narrative_pb2_grpc.NarrativeServiceStub(channel)


async def test_a_chat_model_answers_what_was_said_earlier_in_the_session(chat_stub, tiny_chat_story_bundle):
    import json

    manifest = json.loads((tiny_chat_story_bundle / "manifest.json").read_text())
    assert manifest["chat_format"]["user_to_assistant"].endswith("assistant\n")
    session = (await chat_stub.StartSession(pb.StartSessionRequest(graph_id="lighthouse_mystery"))).session
    ask = pb.NpcLineRequest(session_id=session.session_id, character_id="constable", sampling=SAMPLING)
    _, before = await collect(chat_stub.NpcLine(ask))
    assert before.style == "mystery" and before.completion_tokens > 0
    heard = "Who has been lighting the lamp at night, constable? I saw it from the harbour."
    await chat_stub.ReportUtterance(
        pb.ReportUtteranceRequest(session_id=session.session_id, listener_id="constable", text=heard)
    )
    _, after = await collect(chat_stub.NpcLine(ask))
    # The brief now carries the player's line ("Conversation so far"): the prompt grew by at least its words.
    assert after.prompt_tokens >= before.prompt_tokens + len(heard.split())
    situation = pb.NpcLineRequest(
        session_id=session.session_id, character_id="constable", sampling=SAMPLING, situation="Answer me!"
    )
    _, answered = await collect(chat_stub.NpcLine(situation))
    assert answered.prompt_tokens > after.prompt_tokens
