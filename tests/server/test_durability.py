"""Acknowledged session changes survive the server being killed, and none is ever half-applied.

The server runs as a process (`python -m server serve`, no models, two_doors.yaml, its SQLite
database in tmp_path). Several sessions take a burst of Choose and ReportEvent calls, one client
thread per session, every call with expected_step, and each acknowledged response is recorded.
The server is SIGKILLed mid-burst, restarted on the same database, and every session must be
exactly the state that replaying its acknowledged calls gives (narrative.session in this process),
or that plus the one call that was in flight when the server died, applied whole. Then the burst
goes on from there, for a few kill/restart rounds.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from narrative.graph import PlotGraph
from narrative.loader import load_graph_text
from narrative.session import choose, parse_game_event, report_event, start_session
from narrative.state import SessionState
from server.config import NarrativeSettings
from server.services.narrative_convert import game_event_data, session_pb
from storyteller.v1 import narrative_pb2, narrative_pb2_grpc

GRAPH_FILE = Path(__file__).parent / "data" / "two_doors.yaml"
SESSIONS = 6
ROUNDS = 3
NARRATIVE = "storyteller.v1.NarrativeService"
RECENT_EVENTS = NarrativeSettings().recent_events


class Server:
    """The server process on a database file; the port comes from its "listening" log line."""

    def __init__(self, database: Path) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("STORYTELLER_")}
        self.process = subprocess.Popen(
            [sys.executable, "-m", "server", "serve", "--address", "127.0.0.1:0", "--emotion-model", "",
             "--story-model", "", "--set", f"narrative.database={database}", "--set", f"narrative.graphs={GRAPH_FILE}",
             "--set", "metrics.enabled=false"],
            stderr=subprocess.PIPE, text=True, env={**env, "OMP_NUM_THREADS": "1"},
        )  # fmt: skip
        assert self.process.stderr is not None
        self.port = 0
        for line in self.process.stderr:
            entry = json.loads(line)
            if entry["msg"] == "listening":
                self.port = entry["port"]
                break
        assert self.port, "the server exited before listening"
        # Keep reading its log so it never blocks on a full pipe.
        threading.Thread(target=self.process.stderr.read, daemon=True).start()
        self.channel = grpc.insecure_channel(f"127.0.0.1:{self.port}")
        self.stub = narrative_pb2_grpc.NarrativeServiceStub(self.channel)
        health = health_pb2_grpc.HealthStub(self.channel)
        until = time.monotonic() + 30
        while health.Check(health_pb2.HealthCheckRequest(service=NARRATIVE), timeout=10).status != 1:
            assert time.monotonic() < until, "NarrativeService never turned SERVING"
            time.sleep(0.02)

    def kill(self) -> None:
        self.process.send_signal(signal.SIGKILL)
        self.process.wait()
        self.channel.close()


@dataclass
class Call:
    """One Choose (choice_id) or ReportEvent (event) call, as sent."""

    choice_id: str = ""
    event: narrative_pb2.GameEvent | None = None

    def apply(self, graph: PlotGraph, state: SessionState) -> SessionState:
        if self.choice_id:
            return choose(graph, state, self.choice_id)
        assert self.event is not None
        return report_event(graph, state, parse_game_event(game_event_data(self.event, graph)))


@dataclass
class Player:
    """One session's client: what it sent, what the server acknowledged, what was in flight at the kill."""

    session_id: str
    rng: random.Random
    session: narrative_pb2.Session
    acknowledged: list[tuple[Call, int]] = field(default_factory=list)  # (call, the step the server returned)
    in_flight: Call | None = None
    unexpected: list[str] = field(default_factory=list)

    def next_call(self) -> Call:
        """A call the current state accepts: walk between hall and garden (never to an ending), or an event."""
        roll = self.rng.random()
        if roll < 0.4:
            return Call(choice_id="to_garden" if self.session.current_beat.beat_id == "hall" else "back_to_hall")
        kinds = [
            narrative_pb2.GameEvent(kind=narrative_pb2.EVENT_KIND_EMOTION_SHIFT, character_id="guard",
                                    axis=self.rng.choice(["joy", "anger", "fear"]), amount=self.rng.uniform(-0.3, 0.3)),
            narrative_pb2.GameEvent(kind=narrative_pb2.EVENT_KIND_RELATIONSHIP_CHANGE, character_id="guard",
                                    other_id="player", axis="trust", amount=self.rng.uniform(-0.5, 0.5)),
            narrative_pb2.GameEvent(kind=narrative_pb2.EVENT_KIND_SET_VARIABLE, variable=narrative_pb2.Variable(
                name="coins", type=narrative_pb2.VARIABLE_TYPE_NUMBER, number_value=self.rng.randint(0, 5))),
            narrative_pb2.GameEvent(kind=narrative_pb2.EVENT_KIND_LEARN_FACT, character_id="guard",
                                    fact_id="secret_door"),
        ]  # fmt: skip
        return Call(event=self.rng.choice(kinds))

    def play(self, stub: narrative_pb2_grpc.NarrativeServiceStub, killed: threading.Event) -> None:
        """Calls back to back until the server dies under one of them."""
        while True:
            call = self.next_call()
            self.in_flight = call
            try:
                if call.choice_id:
                    request = narrative_pb2.ChooseRequest(session_id=self.session_id, choice_id=call.choice_id,
                                                          expected_step=self.session.step)  # fmt: skip
                    response = stub.Choose(request, timeout=10)
                else:
                    response = stub.ReportEvent(narrative_pb2.ReportEventRequest(
                        session_id=self.session_id, event=call.event, expected_step=self.session.step), timeout=10)
            except grpc.RpcError as error:
                if not killed.is_set():
                    self.unexpected.append(f"{error.code().name}: {error.details()}")
                    self.in_flight = None
                return
            self.in_flight = None
            self.session = response.session
            self.acknowledged.append((call, response.session.step))
            if killed.is_set():
                return


def replay(graph: PlotGraph, calls: list[Call]) -> SessionState:
    state = start_session(graph)
    for call in calls:
        state = call.apply(graph, state)
    return state


def test_acknowledged_changes_survive_sigkill_and_none_is_half_applied(tmp_path):
    graph = load_graph_text(GRAPH_FILE.read_text(encoding="utf-8"), str(GRAPH_FILE))
    database = tmp_path / "sessions.sqlite3"
    server = Server(database)
    players = []
    for i in range(SESSIONS):
        session = server.stub.StartSession(narrative_pb2.StartSessionRequest(graph_id="two_doors"), timeout=10).session
        players.append(Player(session.session_id, random.Random(i), session))
    applied: dict[str, list[Call]] = {p.session_id: [] for p in players}  # what the server holds, as calls
    rng = random.Random(2024)
    totals = {"acknowledged": 0, "in_flight_applied": 0, "in_flight_lost": 0}
    try:
        for round_ in range(ROUNDS):
            killed = threading.Event()
            for player in players:
                player.acknowledged, player.in_flight = [], None
            threads = [threading.Thread(target=p.play, args=(server.stub, killed)) for p in players]
            for thread in threads:
                thread.start()
            time.sleep(rng.uniform(0.3, 0.8))  # mid-burst: every client has a call in flight or about to
            killed.set()
            server.kill()
            for thread in threads:
                thread.join(15)
            for player in players:
                assert not player.unexpected, f"round {round_}: calls failed before the kill: {player.unexpected}"

            server = Server(database)
            for player in players:
                stored = server.stub.GetSession(narrative_pb2.GetSessionRequest(session_id=player.session_id),
                                                timeout=10).session  # fmt: skip
                calls = applied[player.session_id] + [call for call, _ in player.acknowledged]
                steps = [step for _, step in player.acknowledged]
                assert steps == sorted(set(steps)), "acknowledged steps must increase one call at a time"
                if steps:
                    assert stored.step >= steps[-1], f"acknowledged step {steps[-1]} lost: stored {stored.step}"
                for call, step in player.acknowledged:
                    if call.choice_id:
                        target = graph.choice(call.choice_id).to
                        assert target in stored.visited, f"acknowledged choice {call.choice_id} (step {step}) lost"
                without = session_pb(player.session_id, graph, replay(graph, calls), RECENT_EVENTS)
                candidates = {"acknowledged calls": without}
                if player.in_flight is not None:
                    with_it = replay(graph, [*calls, player.in_flight])
                    candidates["acknowledged calls + the one in flight"] = session_pb(
                        player.session_id, graph, with_it, RECENT_EVENTS
                    )
                matched = [name for name, expected in candidates.items() if expected == stored]
                assert matched, (
                    f"round {round_}, session {player.session_id}: the stored state is none of {list(candidates)}\n"
                    f"stored: step {stored.step}, beat {stored.current_beat.beat_id}, variables {stored.variables}\n"
                    f"expected: step {without.step}, beat {without.current_beat.beat_id}, variables {without.variables}"
                )
                if matched[0] != "acknowledged calls":
                    calls.append(player.in_flight)
                    totals["in_flight_applied"] += 1
                elif player.in_flight is not None:
                    totals["in_flight_lost"] += 1
                applied[player.session_id] = calls
                totals["acknowledged"] += len(player.acknowledged)
                player.session = stored
        assert totals["acknowledged"] >= SESSIONS * ROUNDS, f"too few calls to mean anything: {totals}"
        print(f"\ndurability: {ROUNDS} SIGKILLs, {SESSIONS} sessions: {totals}")
    finally:
        server.kill()
