"""NarrativeService sessions through a real channel: play, bad input changes nothing, restarts."""

from __future__ import annotations

from pathlib import Path

import grpc
import pytest

from storyteller.v1 import narrative_pb2 as pb
from storyteller.v1 import narrative_pb2_grpc
from tests.server.conftest import make_settings

TWO_DOORS = (Path(__file__).parent / "data" / "two_doors.yaml").read_text()


async def open_stub(start_server, channel_to, **settings):
    server = await start_server(make_settings(**settings))
    stub = narrative_pb2_grpc.NarrativeServiceStub(channel_to(server))
    await stub.LoadGraph(pb.LoadGraphRequest(source=TWO_DOORS, filename="two_doors.yaml"))
    return server, stub


@pytest.fixture
async def stub(start_server, channel_to):
    return (await open_stub(start_server, channel_to))[1]


async def started(stub) -> pb.Session:
    return (await stub.StartSession(pb.StartSessionRequest(graph_id="two_doors"))).session


async def state_of(stub, session_id: str) -> pb.Session:
    return (await stub.GetSession(pb.GetSessionRequest(session_id=session_id))).session


def variables(session: pb.Session) -> dict:
    return {v.name: (v.bool_value if v.type == pb.VARIABLE_TYPE_BOOL else v.number_value) for v in session.variables}


async def expect_error(call, code: grpc.StatusCode, detail: str = "") -> None:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await call
    assert caught.value.code() == code, caught.value.details()
    assert detail in caught.value.details()


async def test_a_playthrough_to_an_ending(stub):
    session = await started(stub)
    assert (session.current_beat.beat_id, session.step, list(session.visited)) == ("hall", 0, ["hall"])
    assert variables(session) == {"has_key": False, "coins": 0}
    [guard] = session.characters
    assert (guard.character_id, guard.present, guard.dominant_emotion) == ("guard", True, "neutral")

    offered = (await stub.ListChoices(pb.ListChoicesRequest(session_id=session.session_id))).choices
    assert [c.choice_id for c in offered] == ["to_garden", "leave"]
    every = (await stub.ListChoices(pb.ListChoicesRequest(session_id=session.session_id, include_unavailable=True))).choices
    assert [(c.choice_id, c.available, c.condition) for c in every if not c.available] == [
        ("to_vault", False, "has_key and coins >= 1")
    ]

    for choice in ("to_garden", "back_to_hall", "to_vault"):
        session = (await stub.Choose(pb.ChooseRequest(session_id=session.session_id, choice_id=choice))).session
    assert (session.current_beat.beat_id, session.ended, session.step) == ("vault", True, 3)
    assert variables(session) == {"has_key": True, "coins": 1}
    assert list(session.visited) == ["hall", "garden", "hall", "vault"]
    await expect_error(
        stub.Choose(pb.ChooseRequest(session_id=session.session_id, choice_id="leave")),
        grpc.StatusCode.FAILED_PRECONDITION, "has reached an ending",
    )


@pytest.mark.parametrize(
    ("request_fields", "code", "detail"),
    [
        ({"choice_id": "to_vault"}, grpc.StatusCode.FAILED_PRECONDITION, "not available"),
        ({"choice_id": "no_such_choice"}, grpc.StatusCode.NOT_FOUND, "no_such_choice"),
        ({"choice_id": "back_to_hall"}, grpc.StatusCode.FAILED_PRECONDITION, "not available"),
        ({"choice_id": ""}, grpc.StatusCode.INVALID_ARGUMENT, "choice_id: required"),
        ({"choice_id": "to_garden", "expected_step": 7}, grpc.StatusCode.FAILED_PRECONDITION, "not expected_step 7"),
    ],
)
async def test_a_rejected_choice_changes_nothing(stub, request_fields, code, detail):
    session = await started(stub)
    await expect_error(stub.Choose(pb.ChooseRequest(session_id=session.session_id, **request_fields)), code, detail)
    assert await state_of(stub, session.session_id) == session


async def test_expected_step_makes_a_retry_safe(stub):
    session = await started(stub)
    in_garden = (await stub.Choose(pb.ChooseRequest(session_id=session.session_id, choice_id="to_garden"))).session
    request = pb.ChooseRequest(session_id=session.session_id, choice_id="back_to_hall", expected_step=in_garden.step)
    back = (await stub.Choose(request)).session
    # The same request again (a client retrying after a lost reply) applies nothing twice.
    await expect_error(stub.Choose(request), grpc.StatusCode.FAILED_PRECONDITION, f"at step {back.step}")
    assert await state_of(stub, session.session_id) == back


@pytest.mark.parametrize(
    ("event", "code", "detail"),
    [
        (pb.GameEvent(), grpc.StatusCode.INVALID_ARGUMENT, "event.kind"),
        (pb.GameEvent(kind=pb.EVENT_KIND_SET_VARIABLE, variable=pb.Variable(name="gold")), grpc.StatusCode.NOT_FOUND, "gold"),
        (pb.GameEvent(kind=pb.EVENT_KIND_SET_VARIABLE, variable=pb.Variable(name="coins", number_value=2.5)),
         grpc.StatusCode.INVALID_ARGUMENT, "coins is an int"),
        (pb.GameEvent(kind=pb.EVENT_KIND_LEARN_FACT, character_id="guard", fact_id="nothing"), grpc.StatusCode.NOT_FOUND, "nothing"),
        (pb.GameEvent(kind=pb.EVENT_KIND_EMOTION_SHIFT, character_id="guard", axis="smugness", amount=0.1),
         grpc.StatusCode.INVALID_ARGUMENT, "axis"),
        (pb.GameEvent(kind=pb.EVENT_KIND_CHARACTER_LEFT, character_id="ghost"), grpc.StatusCode.NOT_FOUND, "ghost"),
    ],
)
async def test_bad_events_are_refused_and_change_nothing(stub, event, code, detail):
    session = await started(stub)
    await expect_error(stub.ReportEvent(pb.ReportEventRequest(session_id=session.session_id, event=event)), code, detail)
    assert await state_of(stub, session.session_id) == session


async def test_events_change_the_session(stub):
    session = await started(stub)
    for event in (
        pb.GameEvent(kind=pb.EVENT_KIND_SET_VARIABLE, variable=pb.Variable(name="coins", number_value=3)),
        pb.GameEvent(kind=pb.EVENT_KIND_LEARN_FACT, character_id="guard", fact_id="secret_door"),
        pb.GameEvent(kind=pb.EVENT_KIND_EMOTION_SHIFT, character_id="guard", axis="anger", amount=0.5),
    ):
        session = (await stub.ReportEvent(pb.ReportEventRequest(session_id=session.session_id, event=event))).session
    [guard] = session.characters
    assert variables(session)["coins"] == 3 and list(guard.knows) == ["secret_door"]
    assert {e.label: e.score for e in guard.emotion}["anger"] == pytest.approx(0.5)
    assert session.step == 3 and [e.step for e in session.recent_events if e.kind == "event"] == [1, 2, 3]
    assert "anger" in session.recent_events[-1].description


async def test_unknown_ids_and_required_fields(stub):
    await expect_error(stub.StartSession(pb.StartSessionRequest(graph_id="nope")), grpc.StatusCode.NOT_FOUND, "graph 'nope'")
    await expect_error(stub.StartSession(pb.StartSessionRequest()), grpc.StatusCode.INVALID_ARGUMENT, "graph_id")
    await expect_error(stub.GetSession(pb.GetSessionRequest(session_id="s-0")), grpc.StatusCode.NOT_FOUND, "session 's-0'")
    await expect_error(stub.ListChoices(pb.ListChoicesRequest(session_id="s-0")), grpc.StatusCode.NOT_FOUND)
    session = await started(stub)
    await stub.EndSession(pb.EndSessionRequest(session_id=session.session_id))
    await expect_error(stub.GetSession(pb.GetSessionRequest(session_id=session.session_id)), grpc.StatusCode.NOT_FOUND)
    await expect_error(stub.EndSession(pb.EndSessionRequest(session_id=session.session_id)), grpc.StatusCode.NOT_FOUND)


async def test_session_limit_is_resource_exhausted(start_server, channel_to):
    _, stub = await open_stub(start_server, channel_to, limits__max_sessions=2)
    await started(stub)
    await started(stub)
    await expect_error(stub.StartSession(pb.StartSessionRequest(graph_id="two_doors")), grpc.StatusCode.RESOURCE_EXHAUSTED)


async def test_utterances_need_the_emotion_model(stub):
    session = await started(stub)
    request = pb.ReportUtteranceRequest(session_id=session.session_id, listener_id="guard", text="Thank you, friend!")
    await expect_error(stub.ReportUtterance(request), grpc.StatusCode.UNAVAILABLE, "no emotion model")
    await expect_error(
        stub.ReportUtterance(pb.ReportUtteranceRequest(session_id=session.session_id, listener_id="guard", text=" ")),
        grpc.StatusCode.INVALID_ARGUMENT, "text: empty text",
    )
    assert await state_of(stub, session.session_id) == session


async def test_sessions_survive_a_restart(start_server, channel_to, tmp_path):
    database = str(tmp_path / "sessions.sqlite3")
    server, stub = await open_stub(start_server, channel_to, narrative__database=database)
    session = await started(stub)
    session = (await stub.Choose(pb.ChooseRequest(session_id=session.session_id, choice_id="to_garden"))).session
    await server.shutdown()
    server = await start_server(make_settings(narrative__database=database))
    await server.wait_graphs_loaded()
    stub = narrative_pb2_grpc.NarrativeServiceStub(channel_to(server))
    assert await state_of(stub, session.session_id) == session
    after = (await stub.Choose(pb.ChooseRequest(session_id=session.session_id, choice_id="back_to_hall"))).session
    assert list(after.visited) == ["hall", "garden", "hall"]
