"""Prometheus metrics of one server, served over plain HTTP on a port of their own.

Each server has its own CollectorRegistry instead of prometheus_client's process-wide
default, so several servers in one process (the tests) never clash over metric names.
Counters and histograms are fed as things happen: calls by the status interceptor (it
sees every application call's method, code and duration), batches by the emotion batcher.
Gauges of state (sessions, graphs, models, queued texts) are read from their owners when
Prometheus scrapes, so they cannot drift from what the server holds.

The generation loop reports tokens sampled (from its worker thread; prometheus_client's
counters are thread-safe) and each request's time to first token.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from wsgiref.simple_server import WSGIServer

import grpc
from prometheus_client import CollectorRegistry, Counter, Histogram, ProcessCollector, start_http_server
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

# From a cache hit (ListGraphs, ~1 ms) to a long streamed generation.
RPC_SECONDS_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
# From a short prompt on an idle server to a long one queued behind a full batch.
FIRST_TOKEN_SECONDS_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


@dataclass(frozen=True)
class Readings:
    """Where the state gauges come from; each is called on every scrape, from the HTTP thread."""

    active_sessions: Callable[[], int]
    graphs_loaded: Callable[[], int]
    # Configured model role -> loaded.
    models_loaded: Callable[[], Mapping[str, bool]]
    emotion_queue_depth: Callable[[], int]
    generation_active: Callable[[], int] = lambda: 0


def batch_size_buckets(max_batch_size: int) -> tuple[float, ...]:
    """Powers of two below the configured bound, then the bound: full batches get a bucket of their own."""
    powers = [2**i for i in range(max_batch_size.bit_length()) if 2**i < max_batch_size]
    return (*powers, max_batch_size)


def split_method(method: str) -> tuple[str, str]:
    """"/storyteller.v1.NarrativeService/ListGraphs" -> ("storyteller.v1.NarrativeService", "ListGraphs")."""
    service, _, name = method.lstrip("/").rpartition("/")
    return service, name


class _StateCollector(Collector):
    """Gauges read from their owners at scrape time."""

    def __init__(self, readings: Readings) -> None:
        self._readings = readings

    @staticmethod
    def _families() -> tuple[GaugeMetricFamily, ...]:
        return (
            GaugeMetricFamily("storyteller_sessions_active", "Playthrough sessions in the session store."),
            GaugeMetricFamily("storyteller_graphs_loaded", "Plot graphs sessions can start from."),
            GaugeMetricFamily(
                "storyteller_model_loaded",
                "1 when the configured model bundle of a role is loaded, else 0.",
                labels=["role"],
            ),
            GaugeMetricFamily("storyteller_emotion_queue_depth", "Texts waiting for an emotion classification batch."),
            GaugeMetricFamily("storyteller_generation_rows_active", "Sequences in the generation batch now."),
        )

    def describe(self) -> Iterable[Metric]:
        # The names, for the registry's duplicate check, without reading any state.
        return self._families()

    def collect(self) -> Iterable[Metric]:
        sessions, graphs, models, queue, rows = self._families()
        sessions.add_metric([], self._readings.active_sessions())
        graphs.add_metric([], self._readings.graphs_loaded())
        for role, loaded in sorted(self._readings.models_loaded().items()):
            models.add_metric([role], 1.0 if loaded else 0.0)
        queue.add_metric([], self._readings.emotion_queue_depth())
        rows.add_metric([], self._readings.generation_active())
        return (sessions, graphs, models, queue, rows)


class ServerMetrics:
    """The metrics of one server and the HTTP endpoint that exposes them at /metrics."""

    def __init__(self, readings: Readings, max_batch_size: int) -> None:
        self.registry = CollectorRegistry()
        # Resident memory and CPU of the process, as the default registry would have had them.
        ProcessCollector(registry=self.registry)
        self.rpc_requests = Counter(
            "storyteller_rpc_requests",
            "Application calls finished, by method and status code (health and reflection are not counted).",
            ["service", "method", "code"],
            registry=self.registry,
        )
        self.rpc_duration = Histogram(
            "storyteller_rpc_duration_seconds",
            "Time from a call's arrival to its status, by method.",
            ["service", "method"],
            buckets=RPC_SECONDS_BUCKETS,
            registry=self.registry,
        )
        self.emotion_batch_size = Histogram(
            "storyteller_emotion_batch_size",
            "Texts per emotion model run (gathered from concurrent calls).",
            buckets=batch_size_buckets(max_batch_size),
            registry=self.registry,
        )
        self.generated_tokens = Counter(
            "storyteller_generated_tokens",
            "Tokens sampled by the generation loop, every candidate counted.",
            registry=self.registry,
        )
        self.time_to_first_token = Histogram(
            "storyteller_generation_time_to_first_token_seconds",
            "Time from a generation request's arrival to its first sampled token.",
            buckets=FIRST_TOKEN_SECONDS_BUCKETS,
            registry=self.registry,
        )
        self.registry.register(_StateCollector(readings))
        self._http: tuple[WSGIServer, threading.Thread] | None = None

    def observe_call(self, method: str, code: grpc.StatusCode, seconds: float) -> None:
        """The status interceptor's CallObserver. Only registered methods reach it (an unknown
        one has no handler), so the method labels stay a small fixed set."""
        service, name = split_method(method)
        self.rpc_requests.labels(service, name, code.name).inc()
        self.rpc_duration.labels(service, name).observe(seconds)

    def observe_batch(self, size: int) -> None:
        self.emotion_batch_size.observe(size)

    def observe_tokens(self, count: int) -> None:
        """The generation loop's GenerationObserver; called from its worker thread."""
        self.generated_tokens.inc(count)

    def observe_time_to_first_token(self, seconds: float) -> None:
        self.time_to_first_token.observe(seconds)

    def serve(self, address: str) -> int:
        """Starts /metrics on `address` ("host:port"; port 0 picks one) in a daemon thread;
        returns the bound port. A port in use raises OSError."""
        host, _, port = address.rpartition(":")
        server, thread = start_http_server(int(port), host.strip("[]"), registry=self.registry)
        self._http = (server, thread)
        return server.server_port

    async def close(self) -> None:
        """Stops the endpoint and frees its port; shutdown() waits for the serving loop's next poll."""
        if self._http is None:
            return
        server, thread = self._http
        self._http = None
        await asyncio.to_thread(server.shutdown)
        server.server_close()
        thread.join()
