"""NarrativeService graph RPCs: validate, load, list, limits, and graphs kept across restarts."""

from __future__ import annotations

from pathlib import Path

import grpc
import pytest

from storyteller.v1 import narrative_pb2, narrative_pb2_grpc
from tests.server.conftest import make_settings

DATA = Path(__file__).parent / "data"
TWO_DOORS = (DATA / "two_doors.yaml").read_text()
SAMPLES = Path(__file__).parents[2] / "samples" / "graphs"


async def narrative(start_server, channel_to, **settings):
    server = await start_server(make_settings(**settings))
    return server, narrative_pb2_grpc.NarrativeServiceStub(channel_to(server))


async def test_validate_reports_each_problem_with_its_location(start_server, channel_to):
    _, stub = await narrative(start_server, channel_to)
    broken = TWO_DOORS.replace("to: vault, text: Unlock", "to: vaultt, text: Unlock")
    response = await stub.ValidateGraph(narrative_pb2.ValidateGraphRequest(source=broken, filename="quests/doors.yaml"))
    assert not response.ok
    [problem] = response.diagnostics
    assert (problem.code, problem.severity, problem.file) == ("E007", narrative_pb2.SEVERITY_ERROR, "quests/doors.yaml")
    line = next(n for n, text in enumerate(broken.splitlines(), start=1) if "vaultt" in text)
    column = broken.splitlines()[line - 1].index("vaultt") + 1
    assert (problem.line, problem.column) == (line, column) and "vaultt" in problem.message
    assert (await stub.ValidateGraph(narrative_pb2.ValidateGraphRequest(source=TWO_DOORS))).ok


async def test_load_refuses_a_broken_graph_and_keeps_nothing(start_server, channel_to):
    _, stub = await narrative(start_server, channel_to)
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.LoadGraph(narrative_pb2.LoadGraphRequest(source=TWO_DOORS.replace("has_key", "has key", 1)))
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "graph.yaml:" in caught.value.details()
    assert list((await stub.ListGraphs(narrative_pb2.ListGraphsRequest())).graphs) == []


async def test_load_then_list(start_server, channel_to):
    _, stub = await narrative(start_server, channel_to)
    loaded = (await stub.LoadGraph(narrative_pb2.LoadGraphRequest(source=TWO_DOORS))).graph
    assert (loaded.graph_id, loaded.beat_count, loaded.choice_count) == ("two_doors", 4, 4)
    assert list(loaded.ending_ids) == ["vault", "street"] and list(loaded.character_ids) == ["guard"]
    listed = (await stub.ListGraphs(narrative_pb2.ListGraphsRequest())).graphs
    assert [g.graph_id for g in listed] == ["two_doors"]


@pytest.mark.parametrize(
    ("source", "settings", "detail"),
    [
        ("", {}, "source: graph source is empty"),
        (TWO_DOORS, {"limits__max_graph_bytes": 100}, "the limit is 100"),
        (TWO_DOORS, {"limits__max_beats": 3}, "graph has 4 beats; the limit is 3"),
    ],
)
async def test_graph_limits_are_invalid_argument(start_server, channel_to, source, settings, detail):
    _, stub = await narrative(start_server, channel_to, **settings)
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.LoadGraph(narrative_pb2.LoadGraphRequest(source=source))
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert detail in caught.value.details()


async def test_configured_graph_folders_load_at_startup(start_server, channel_to):
    server, stub = await narrative(start_server, channel_to, narrative__graphs=str(SAMPLES))
    await server.wait_graphs_loaded()
    ids = {g.graph_id for g in (await stub.ListGraphs(narrative_pb2.ListGraphsRequest())).graphs}
    assert "lighthouse_mystery" in ids


async def test_graphs_loaded_by_clients_survive_a_restart(start_server, channel_to, tmp_path):
    database = str(tmp_path / "sessions.sqlite3")
    server, stub = await narrative(start_server, channel_to, narrative__database=database)
    await stub.LoadGraph(narrative_pb2.LoadGraphRequest(source=TWO_DOORS, filename="doors.yaml"))
    await server.shutdown()
    server, stub = await narrative(start_server, channel_to, narrative__database=database)
    await server.wait_graphs_loaded()
    assert [g.graph_id for g in (await stub.ListGraphs(narrative_pb2.ListGraphsRequest())).graphs] == ["two_doors"]


async def test_a_client_loaded_graph_is_not_replaced_by_a_configured_file_on_restart(start_server, channel_to, tmp_path):
    folder, database = tmp_path / "graphs", str(tmp_path / "sessions.sqlite3")
    folder.mkdir()
    (folder / "doors.yaml").write_text(TWO_DOORS)
    settings = {"narrative__database": database, "narrative__graphs": str(folder)}
    server, stub = await narrative(start_server, channel_to, **settings)
    await server.wait_graphs_loaded()
    newer = TWO_DOORS.replace("title: Two Doors", "title: Two Doors Revised")
    await stub.LoadGraph(narrative_pb2.LoadGraphRequest(source=newer, filename="doors.yaml"))
    await server.shutdown()
    server, stub = await narrative(start_server, channel_to, **settings)
    await server.wait_graphs_loaded()
    [graph] = (await stub.ListGraphs(narrative_pb2.ListGraphsRequest())).graphs
    assert graph.title == "Two Doors Revised"


async def test_a_new_version_that_no_longer_fits_live_sessions_is_refused(start_server, channel_to):
    _, stub = await narrative(start_server, channel_to)
    await stub.LoadGraph(narrative_pb2.LoadGraphRequest(source=TWO_DOORS))
    session = (await stub.StartSession(narrative_pb2.StartSessionRequest(graph_id="two_doors"))).session
    renamed = TWO_DOORS.replace("hall", "lobby")
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.LoadGraph(narrative_pb2.LoadGraphRequest(source=renamed))
    assert caught.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert "no longer fits 1 of its sessions" in caught.value.details() and "'hall'" in caught.value.details()
    # The session plays on, on the version it started with; a version that still fits it is accepted.
    await stub.ListChoices(narrative_pb2.ListChoicesRequest(session_id=session.session_id))
    retitled = TWO_DOORS.replace("title: Two Doors", "title: Two Doors Revised")
    assert (await stub.LoadGraph(narrative_pb2.LoadGraphRequest(source=retitled))).graph.title == "Two Doors Revised"
    await stub.ListChoices(narrative_pb2.ListChoicesRequest(session_id=session.session_id))
    await stub.EndSession(narrative_pb2.EndSessionRequest(session_id=session.session_id))
    assert (await stub.LoadGraph(narrative_pb2.LoadGraphRequest(source=renamed))).graph.graph_id == "two_doors"


async def test_lint_findings_come_back_and_lint_errors_refuse_the_graph(start_server, channel_to):
    _, stub = await narrative(start_server, channel_to)
    source = TWO_DOORS.replace("choices:\n", "  - {id: attic, summary: Nobody comes here., ending: true}\nchoices:\n")
    checked = await stub.ValidateGraph(narrative_pb2.ValidateGraphRequest(source=source))
    assert checked.ok and [(d.code, d.severity) for d in checked.diagnostics] == [("L103", narrative_pb2.SEVERITY_WARNING)]
    loaded = await stub.LoadGraph(narrative_pb2.LoadGraphRequest(source=source))
    assert [d.code for d in loaded.diagnostics] == ["L103"] and "attic" in loaded.diagnostics[0].message

    dead_end = TWO_DOORS.replace("  - {id: back_to_hall, from: garden, to: hall, text: Go back inside}\n", "")
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.LoadGraph(narrative_pb2.LoadGraphRequest(source=dead_end, filename="doors.yaml"))
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "L102 error: beat 'garden'" in caught.value.details()
