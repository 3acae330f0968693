"""Assembles the gRPC server: services, health, reflection, interceptors, lifecycle.

Health checking has one status per service plus the overall status "" (SERVING only
when every service is). A service turns SERVING when what it needs is ready, e.g.
StoryService once its model bundles are loaded; until then load balancers keep traffic
away. Shutdown reverses this: health goes NOT_SERVING first, new application calls get
UNAVAILABLE, in-flight calls have the grace period to finish, then the rest is
cancelled.

Prometheus metrics (server.metrics) have their own HTTP port, bound first on start so a
port in use stops the server before it takes traffic, and closed after the gRPC server.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_health.v1._async import HealthServicer
from grpc_reflection.v1alpha import reflection

from server.config import ModelSettings, ServerSettings, Settings, TlsSettings
from server.generation.safety import open_filter
from server.interceptors.auth import AuthInterceptor
from server.interceptors.status import StatusInterceptor
from server.metrics import Readings, ServerMetrics
from server.models.registry import ModelRegistry
from server.models.served import ServedModels
from server.services.narrative import NarrativeServicer
from server.services.story import StoryServicer
from server.sessions.catalog import GraphCatalog
from server.sessions.manager import SessionManager
from server.sessions.store import SqliteStore
from storyteller.v1 import narrative_pb2, narrative_pb2_grpc, story_pb2, story_pb2_grpc

log = logging.getLogger("storyteller.server")

STORY_SERVICE = story_pb2.DESCRIPTOR.services_by_name["StoryService"].full_name
NARRATIVE_SERVICE = narrative_pb2.DESCRIPTOR.services_by_name["NarrativeService"].full_name
SERVICES = (STORY_SERVICE, NARRATIVE_SERVICE)

SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING

def channel_options(server: ServerSettings) -> list[tuple[str, int]]:
    """Message limits and keepalive: TurboLink (Unreal) pings idle connections, and a
    server that forbids that answers with GOAWAY "too_many_pings"."""
    min_ping_ms = int(server.min_ping_interval_s * 1000)
    return [
        ("grpc.max_receive_message_length", server.max_receive_message_bytes),
        ("grpc.max_send_message_length", server.max_send_message_bytes),
        ("grpc.keepalive_time_ms", int(server.keepalive_time_s * 1000)),
        ("grpc.keepalive_timeout_ms", int(server.keepalive_timeout_s * 1000)),
        ("grpc.keepalive_permit_without_calls", 1),
        ("grpc.http2.min_recv_ping_interval_without_data_ms", min_ping_ms),
        ("grpc.http2.min_ping_interval_without_data_ms", min_ping_ms),
        ("grpc.http2.max_pings_without_data", 0),
    ]


def _server_credentials(tls: TlsSettings) -> grpc.ServerCredentials:
    assert tls.cert_file is not None and tls.key_file is not None
    client_ca = tls.client_ca_file.read_bytes() if tls.client_ca_file else None
    return grpc.ssl_server_credentials(
        [(tls.key_file.read_bytes(), tls.cert_file.read_bytes())],
        root_certificates=client_ca,
        require_client_auth=client_ca is not None,
    )


def _model_states(settings: ModelSettings, registry: ModelRegistry) -> dict[str, bool]:
    """Loaded or not, per configured role; a role configured empty is not expected, so not reported."""
    configured = {"emotion": settings.emotion, "story": settings.story}
    return {role: role in registry.bundles for role, path in configured.items() if path is not None}


def _metrics(
    settings: Settings, registry: ModelRegistry, models: ServedModels, store: SqliteStore, catalog: GraphCatalog
) -> ServerMetrics:
    readings = Readings(
        active_sessions=store.count_sessions,
        graphs_loaded=lambda: len(catalog.all()),
        models_loaded=lambda: _model_states(settings.models, registry),
        emotion_queue_depth=models.emotion_queue_depth,
        generation_active=models.generation_active,
    )
    return ServerMetrics(readings, settings.batching.max_batch_size)


@dataclass
class StorytellerServer:
    settings: Settings
    grpc_server: grpc.aio.Server
    health: HealthServicer
    status: StatusInterceptor
    registry: ModelRegistry
    models: ServedModels
    store: SqliteStore
    catalog: GraphCatalog
    port: int = 0
    metrics: ServerMetrics | None = None
    # The bound metrics port once started (metrics.address may ask for port 0).
    metrics_port: int = 0
    _ready: dict[str, bool] = field(default_factory=dict)
    _tasks: set[asyncio.Task] = field(default_factory=set)
    _stopped: asyncio.Event = field(default_factory=asyncio.Event)
    _models_loaded: asyncio.Event = field(default_factory=asyncio.Event)
    _graphs_loaded: asyncio.Event = field(default_factory=asyncio.Event)

    @classmethod
    def create(cls, settings: Settings) -> StorytellerServer:
        registry = ModelRegistry()
        models = ServedModels(safety=open_filter(settings.safety.blocklist, settings.safety.classifier))
        store = SqliteStore(settings.narrative.database)
        catalog = GraphCatalog(store, settings.limits)
        metrics = _metrics(settings, registry, models, store, catalog) if settings.metrics.enabled else None
        status = StatusInterceptor(observer=metrics)
        # The status interceptor is outermost, so calls the auth interceptor refuses are logged and counted too.
        interceptors: list[grpc.aio.ServerInterceptor] = [status]
        if settings.auth.tokens:
            interceptors.append(AuthInterceptor(settings.auth.tokens))
        grpc_server = grpc.aio.server(
            interceptors=interceptors,
            options=channel_options(settings.server),
            maximum_concurrent_rpcs=settings.server.max_concurrent_rpcs,
        )
        health = HealthServicer()
        story_pb2_grpc.add_StoryServiceServicer_to_server(
            StoryServicer(registry, models, settings), grpc_server
        )
        narrative_pb2_grpc.add_NarrativeServiceServicer_to_server(
            NarrativeServicer(catalog, SessionManager(store, catalog, settings.limits), models, settings), grpc_server
        )
        health_pb2_grpc.add_HealthServicer_to_server(health, grpc_server)
        reflection.enable_server_reflection(
            (*SERVICES, health_pb2.DESCRIPTOR.services_by_name["Health"].full_name, reflection.SERVICE_NAME),
            grpc_server,
        )
        if settings.tls.enabled:
            port = grpc_server.add_secure_port(settings.server.address, _server_credentials(settings.tls))
        else:
            port = grpc_server.add_insecure_port(settings.server.address)
        return cls(settings, grpc_server, health, status, registry, models, store, catalog, port, metrics)

    async def _set_ready(self, service: str, ready: bool) -> None:
        self._ready[service] = ready
        await self.health.set(service, SERVING if ready else NOT_SERVING)
        await self.health.set("", SERVING if all(self._ready.get(s, False) for s in SERVICES) else NOT_SERVING)

    async def start(self) -> None:
        started = time.perf_counter()
        if self.metrics is not None:
            self.metrics_port = self.metrics.serve(self.settings.metrics.address)
            log.info("metrics listening", extra={"port": self.metrics_port})
        await self.health.set("", NOT_SERVING)
        await self.grpc_server.start()
        await self._set_ready(STORY_SERVICE, False)
        await self._set_ready(NARRATIVE_SERVICE, False)
        log.info("listening", extra={"port": self.port, "tls": self.settings.tls.enabled})
        for startup in (self._load_models(started), self._load_graphs()):
            task = asyncio.create_task(startup)
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _load_graphs(self) -> None:
        """Graphs of earlier runs first (their sessions go on), then the configured files."""
        await asyncio.to_thread(self.catalog.restore)
        await asyncio.to_thread(self.catalog.load_paths, self.settings.narrative.graphs)
        await self._set_ready(NARRATIVE_SERVICE, True)
        self._graphs_loaded.set()

    async def _load_models(self, started: float) -> None:
        await self.registry.load_async(self.settings.models)
        self.models.attach(
            self.registry, self.settings, self.metrics.observe_batch if self.metrics else None, self.metrics
        )
        await self._set_ready(STORY_SERVICE, self.registry.complete)
        self._models_loaded.set()
        log.info(
            "models loaded" if self.registry.complete else "models missing: StoryService stays NOT_SERVING",
            extra={"loaded": sorted(self.registry.bundles), "failed": self.registry.failures,
                   "startup_ms": round((time.perf_counter() - started) * 1000, 1)},
        )

    async def shutdown(self) -> None:
        """Health NOT_SERVING, refuse new calls, drain in-flight ones within the grace period."""
        if self.status.draining:
            return
        grace = self.settings.server.grace_period_s
        log.info("shutting down", extra={"in_flight": self.status.in_flight.count, "grace_s": grace})
        await self.health.enter_graceful_shutdown()
        self.status.draining = True
        drained = await self.status.in_flight.wait_idle(grace)
        if not drained:
            log.warning("grace period over; cancelling calls", extra={"in_flight": self.status.in_flight.count})
        for task in self._tasks:
            task.cancel()
        await self.grpc_server.stop(0)
        if self.metrics is not None:
            await self.metrics.close()  # before the store closes: a scrape reads it
        await self.models.close()
        self.store.close()
        self._stopped.set()
        log.info("stopped")

    async def wait_models_loaded(self) -> None:
        """Returns once every configured bundle was tried (loaded or refused)."""
        await self._models_loaded.wait()

    async def wait_graphs_loaded(self) -> None:
        """Returns once stored and configured graphs were loaded (or logged as broken)."""
        await self._graphs_loaded.wait()

    async def wait_stopped(self) -> None:
        await self._stopped.wait()
