"""Turns what a servicer raises into a status code, logs each call, and gates draining.

Servicers only raise (server.errors, narrative's domain errors); this interceptor is the
one place that decides the status code a client sees. Anything unexpected becomes
INTERNAL with a generic message (the traceback goes to the log, not to the client).

It also counts application calls in flight, so a graceful shutdown can wait for exactly
those (health watchers and reflection are infrastructure and do not hold it up), and it
refuses new application calls with UNAVAILABLE once draining has begun.

Each finished application call is also reported to an optional `CallObserver` (the
Prometheus metrics, server.metrics), so this module knows nothing of how calls are counted.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Callable, Mapping
from typing import Any, Protocol

import grpc

from server.errors import DOMAIN_ERRORS, InvalidArgument, ServiceError, Unavailable
from server.interceptors.wrapping import (
    Bidirectional,
    Streaming,
    Unary,
    Undecodable,
    call_unary,
    iterate_stream,
    rewrap,
)

log = logging.getLogger("storyteller.rpc")

# Health checks and reflection are infrastructure: not held up by draining, not logged,
# not reported to the observer (a load balancer's probes would drown the game's calls).
INFRASTRUCTURE_PREFIXES = ("/grpc.health.v1.", "/grpc.reflection.")


# Status details travel percent-encoded in the trailers, and a client refuses trailers past its
# metadata limit (8 KiB by default) with RESOURCE_EXHAUSTED, losing the real code: messages that
# quote a client's value (an unknown id, a style) are cut to this many UTF-8 bytes.
MAX_DETAILS_BYTES = 1024


def bounded(message: str, limit: int = MAX_DETAILS_BYTES) -> str:
    """`message`, cut to at most `limit` UTF-8 bytes (whole characters) with a marker when cut."""
    if len(message.encode("utf-8")) <= limit:
        return message
    marker = " ... (truncated)"
    return message.encode("utf-8")[: limit - len(marker)].decode("utf-8", "ignore") + marker


class CallObserver(Protocol):
    def observe_call(self, method: str, code: grpc.StatusCode, seconds: float) -> None:
        """One finished application call: "/package.Service/Method", its status code, its duration."""


class InFlight:
    """Counts application calls in progress; `wait_idle` resolves when none are left."""

    def __init__(self) -> None:
        self.count = 0
        self._idle = asyncio.Event()
        self._idle.set()

    def enter(self) -> None:
        self.count += 1
        self._idle.clear()

    def leave(self) -> None:
        self.count -= 1
        if self.count == 0:
            self._idle.set()

    async def wait_idle(self, timeout: float) -> bool:
        """True when every call finished within `timeout` seconds."""
        try:
            await asyncio.wait_for(self._idle.wait(), timeout)
        except TimeoutError:
            return False
        return True


class StatusInterceptor(grpc.aio.ServerInterceptor):
    def __init__(
        self,
        domain_errors: Mapping[type[Exception], grpc.StatusCode] | None = None,
        observer: CallObserver | None = None,
    ) -> None:
        # Exceptions of layers that know nothing of gRPC (narrative/) and their codes.
        self._domain_errors = dict(DOMAIN_ERRORS if domain_errors is None else domain_errors)
        self._observer = observer
        self.in_flight = InFlight()
        self.draining = False

    def _status_for(self, exc: Exception, method: str) -> tuple[grpc.StatusCode, str]:
        if isinstance(exc, ServiceError):
            return exc.code, bounded(exc.message)
        if isinstance(exc, NotImplementedError):
            return grpc.StatusCode.UNIMPLEMENTED, f"{method} is not implemented in this server build"
        for kind, code in self._domain_errors.items():
            if isinstance(exc, kind):
                return code, bounded(str(exc))
        log.exception("unexpected error in %s", method, extra={"method": method})
        return grpc.StatusCode.INTERNAL, "internal error; the server log has the details"

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Any],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler:
        handler = await continuation(handler_call_details)
        method = handler_call_details.method
        if handler is None:
            return handler
        if method.startswith(INFRASTRUCTURE_PREFIXES):
            return rewrap(handler, _refusing_undecodable_unary, _refusing_undecodable_stream, _refusing_undecodable_requests)

        def unary(behaviour: Unary) -> Unary:
            async def wrapped(request: Any, context: grpc.aio.ServicerContext) -> Any:
                started = self._start()
                code = grpc.StatusCode.OK
                try:
                    self._refuse_if_draining()
                    self._refuse_if_undecodable(request)
                    return await call_unary(behaviour, request, context)
                except grpc.aio.AbortError:
                    raise  # the servicer chose its status itself
                except Exception as exc:  # every exception gets a status
                    code, message = self._status_for(exc, method)
                    await context.abort(code, message)
                finally:
                    self._finish(method, started, code, context)

            return wrapped

        def streaming(behaviour: Streaming) -> Streaming:
            async def wrapped(request: Any, context: grpc.aio.ServicerContext):
                started = self._start()
                code = grpc.StatusCode.OK
                try:
                    self._refuse_if_draining()
                    self._refuse_if_undecodable(request)
                    async for item in iterate_stream(behaviour, request, context):
                        yield item
                except asyncio.CancelledError:
                    code = grpc.StatusCode.CANCELLED
                    raise
                except grpc.aio.AbortError:
                    raise
                except Exception as exc:
                    code, message = self._status_for(exc, method)
                    await context.abort(code, message)
                finally:
                    self._finish(method, started, code, context)

            return wrapped

        return rewrap(handler, unary, streaming)

    def _refuse_if_draining(self) -> None:
        if self.draining:
            raise Unavailable("server is shutting down; retry on another instance")

    @staticmethod
    def _refuse_if_undecodable(request: Any) -> None:
        if isinstance(request, Undecodable):
            raise _undecodable(request)

    def _start(self) -> float:
        self.in_flight.enter()
        return time.perf_counter()

    def _finish(self, method: str, started: float, code: grpc.StatusCode, context: grpc.aio.ServicerContext) -> None:
        self.in_flight.leave()
        if code is grpc.StatusCode.OK:
            if context.cancelled():
                code = grpc.StatusCode.CANCELLED
            elif context.code() is not None:
                code = context.code()
        seconds = time.perf_counter() - started
        extra = {"method": method, "code": code.name, "ms": round(seconds * 1000, 2)}
        log.info("rpc %s %s", method, code.name, extra=extra)
        if self._observer is not None:
            self._observer.observe_call(method, code, seconds)


def _undecodable(request: Undecodable) -> InvalidArgument:
    return InvalidArgument("request", f"not a valid message of this method's request type: {request.error}")


async def _abort_if_undecodable(request: Any, context: grpc.aio.ServicerContext) -> None:
    if isinstance(request, Undecodable):
        error = _undecodable(request)
        await context.abort(error.code, bounded(error.message))


# Health and reflection get only the refusal of undecodable bytes: INVALID_ARGUMENT, as every
# application method gives, instead of grpc's UNKNOWN and a logged traceback.


def _refusing_undecodable_unary(behaviour: Unary) -> Unary:
    async def wrapped(request: Any, context: grpc.aio.ServicerContext) -> Any:
        await _abort_if_undecodable(request, context)
        return await call_unary(behaviour, request, context)

    return wrapped


def _refusing_undecodable_stream(behaviour: Streaming) -> Streaming:
    async def wrapped(request: Any, context: grpc.aio.ServicerContext) -> AsyncIterator[Any]:
        await _abort_if_undecodable(request, context)
        async for item in iterate_stream(behaviour, request, context):
            yield item

    return wrapped


def _refusing_undecodable_requests(behaviour: Bidirectional) -> Bidirectional:
    async def wrapped(requests: AsyncIterator[Any], context: grpc.aio.ServicerContext) -> AsyncIterator[Any]:
        async def checked() -> AsyncIterator[Any]:
            async for request in requests:
                await _abort_if_undecodable(request, context)
                yield request

        async for item in iterate_stream(behaviour, checked(), context):
            yield item

    return wrapped
