"""NarrativeService: plot graphs and playthrough sessions.

Translates messages to calls on the graph catalog and the session manager and back;
narrative's domain errors become status codes in the status interceptor.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncGenerator

import grpc

from narrative.emotions import EmotionVector
from narrative.session import available_choices, choose, observe_utterance, parse_game_event, report_event
from narrative.vocabulary import PLAYER_ID
from server.config import Settings
from server.errors import InvalidArgument
from server.models.served import ServedModels
from server.services.generation_convert import call_deadline, emotion_scores_pb, summary_pb
from server.services.narrative_convert import (
    choice_pb,
    diagnostic_pb,
    game_event_data,
    graph_summary_pb,
    session_pb,
    utterance_deltas_pb,
)
from server.services.validation import check_text, sampled_params
from server.sessions.catalog import GraphCatalog
from server.sessions.manager import Session, SessionManager
from server.writing.grounded import GroundedWriter, LineAsk, Written
from storyteller.v1 import common_pb2, narrative_pb2, narrative_pb2_grpc

INTENTS = {
    value: name.removeprefix("NPC_INTENT_").lower()
    for name, value in narrative_pb2.NpcIntent.items()
    if value != narrative_pb2.NPC_INTENT_UNSPECIFIED
}


async def _chunks(items: AsyncGenerator[str | Written]) -> AsyncGenerator[common_pb2.GenerationChunk]:
    """Text pieces as chunks, then the summary with the story's warnings about the chosen text."""
    index = 0
    async with contextlib.aclosing(items) as pieces:
        async for item in pieces:
            if isinstance(item, Written):
                summary = summary_pb(item.result)
                summary.warnings.extend(common_pb2.CoherenceWarning(code=w.code, message=w.message) for w in item.warnings)
                yield common_pb2.GenerationChunk(index=index, done=True, summary=summary)
            else:
                yield common_pb2.GenerationChunk(text_delta=item, index=index)
            index += 1


def _filename(request: narrative_pb2.ValidateGraphRequest | narrative_pb2.LoadGraphRequest) -> str:
    """The name diagnostics carry; its suffix picks the parser (".json" -> JSON)."""
    if request.filename:
        return request.filename
    return "graph.json" if request.format == narrative_pb2.GRAPH_FORMAT_JSON else "graph.yaml"


class NarrativeServicer(narrative_pb2_grpc.NarrativeServiceServicer):
    def __init__(self, catalog: GraphCatalog, sessions: SessionManager, models: ServedModels, settings: Settings) -> None:
        self._catalog = catalog
        self._sessions = sessions
        self._models = models
        self._settings = settings
        self._writer = GroundedWriter(sessions)

    def _session_pb(self, session: Session) -> narrative_pb2.Session:
        return session_pb(session.session_id, session.graph, session.state, self._settings.narrative.recent_events)

    async def ValidateGraph(
        self, request: narrative_pb2.ValidateGraphRequest, context: grpc.aio.ServicerContext
    ) -> narrative_pb2.ValidateGraphResponse:
        graph, diagnostics = await asyncio.to_thread(self._catalog.analyse, request.source, _filename(request))
        return narrative_pb2.ValidateGraphResponse(
            ok=graph is not None, diagnostics=[diagnostic_pb(d) for d in diagnostics]
        )

    async def LoadGraph(
        self, request: narrative_pb2.LoadGraphRequest, context: grpc.aio.ServicerContext
    ) -> narrative_pb2.LoadGraphResponse:
        graph, warnings = await asyncio.to_thread(self._catalog.load, request.source, _filename(request))
        return narrative_pb2.LoadGraphResponse(
            graph=graph_summary_pb(graph), diagnostics=[diagnostic_pb(d) for d in warnings]
        )

    async def ListGraphs(
        self, request: narrative_pb2.ListGraphsRequest, context: grpc.aio.ServicerContext
    ) -> narrative_pb2.ListGraphsResponse:
        return narrative_pb2.ListGraphsResponse(graphs=[graph_summary_pb(g) for g in self._catalog.all()])

    async def StartSession(
        self, request: narrative_pb2.StartSessionRequest, context: grpc.aio.ServicerContext
    ) -> narrative_pb2.StartSessionResponse:
        return narrative_pb2.StartSessionResponse(session=self._session_pb(self._sessions.start(request.graph_id)))

    async def GetSession(
        self, request: narrative_pb2.GetSessionRequest, context: grpc.aio.ServicerContext
    ) -> narrative_pb2.GetSessionResponse:
        return narrative_pb2.GetSessionResponse(session=self._session_pb(self._sessions.get(request.session_id)))

    async def EndSession(
        self, request: narrative_pb2.EndSessionRequest, context: grpc.aio.ServicerContext
    ) -> narrative_pb2.EndSessionResponse:
        self._sessions.end(request.session_id)
        return narrative_pb2.EndSessionResponse()

    async def ListChoices(
        self, request: narrative_pb2.ListChoicesRequest, context: grpc.aio.ServicerContext
    ) -> narrative_pb2.ListChoicesResponse:
        session = self._sessions.get(request.session_id)
        open_ids = {c.id for c in available_choices(session.graph, session.state)}
        return narrative_pb2.ListChoicesResponse(
            choices=[
                choice_pb(choice, choice.id in open_ids)
                for choice in session.graph.choices_from(session.state.current_beat)
                if request.include_unavailable or choice.id in open_ids
            ]
        )

    async def Choose(
        self, request: narrative_pb2.ChooseRequest, context: grpc.aio.ServicerContext
    ) -> narrative_pb2.ChooseResponse:
        if not request.choice_id:
            raise InvalidArgument("choice_id", "required")
        session = await self._sessions.change(
            request.session_id, request.expected_step, lambda graph, state: choose(graph, state, request.choice_id)
        )
        return narrative_pb2.ChooseResponse(session=self._session_pb(session))

    async def ReportEvent(
        self, request: narrative_pb2.ReportEventRequest, context: grpc.aio.ServicerContext
    ) -> narrative_pb2.ReportEventResponse:
        current = self._sessions.get(request.session_id)
        event = parse_game_event(game_event_data(request.event, current.graph))
        session = await self._sessions.change(
            request.session_id, request.expected_step, lambda graph, state: report_event(graph, state, event)
        )
        return narrative_pb2.ReportEventResponse(session=self._session_pb(session))

    async def ReportUtterance(
        self, request: narrative_pb2.ReportUtteranceRequest, context: grpc.aio.ServicerContext
    ) -> narrative_pb2.ReportUtteranceResponse:
        text = check_text(request.text, self._settings.limits, "text")
        if not request.listener_id:
            raise InvalidArgument("listener_id", "required")
        self._sessions.get(request.session_id)  # unknown session: NOT_FOUND before any model work
        [reading] = await self._models.require_emotion().classify([text])
        observed = EmotionVector.of(reading.ekman)
        speaker = request.speaker_id or PLAYER_ID
        deltas = []

        def hear(graph, state):
            new_state, change = observe_utterance(graph, state, speaker, request.listener_id, observed, text)
            deltas.append(change)
            return new_state

        session = await self._sessions.change(request.session_id, request.expected_step, hear)
        return narrative_pb2.ReportUtteranceResponse(
            emotion=emotion_scores_pb(reading),
            deltas=utterance_deltas_pb(request.listener_id, speaker, session.state, deltas[0]),
            session=self._session_pb(session),
        )

    async def Narrate(
        self, request: narrative_pb2.NarrateRequest, context: grpc.aio.ServicerContext
    ) -> AsyncGenerator[common_pb2.GenerationChunk]:
        started = time.perf_counter()
        story = self._models.require_story()
        params = sampled_params(request, 0, self._settings, prompt="", style=request.style)
        items = self._writer.narrate(story, request.session_id, params, call_deadline(context), started)
        async for chunk in _chunks(items):
            yield chunk

    async def NpcLine(
        self, request: narrative_pb2.NpcLineRequest, context: grpc.aio.ServicerContext
    ) -> AsyncGenerator[common_pb2.GenerationChunk]:
        started = time.perf_counter()
        story = self._models.require_story()
        if request.intent not in INTENTS and request.intent != narrative_pb2.NPC_INTENT_UNSPECIFIED:
            raise InvalidArgument("intent", f"{request.intent} is not an NpcIntent")
        situation = check_text(request.situation, self._settings.limits, "situation") if request.situation else ""
        params = sampled_params(request, request.num_candidates, self._settings, prompt="")
        ask = LineAsk(
            session_id=request.session_id, character_id=request.character_id, listener_id=request.listener_id,
            intent=INTENTS.get(request.intent, ""), target_emotion=request.target_emotion, style=request.style,
            situation=situation, apply_to_state=request.apply_to_state,
        )  # fmt: skip
        async for chunk in _chunks(self._writer.npc_line(story, ask, params, call_deadline(context), started)):
            yield chunk
