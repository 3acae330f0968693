"""Bearer-token authentication for application calls.

Health checking and reflection stay open: load balancers and tooling probe them without
credentials. Tokens are compared in constant time so timing reveals nothing about them.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable, Iterable
from typing import Any

import grpc

from server.interceptors.status import INFRASTRUCTURE_PREFIXES


def _denying(handler: grpc.RpcMethodHandler, message: str) -> grpc.RpcMethodHandler:
    """A handler of the same kind as `handler` that answers UNAUTHENTICATED."""

    async def abort(request: Any, context: grpc.aio.ServicerContext) -> None:
        await context.abort(grpc.StatusCode.UNAUTHENTICATED, message)

    async def abort_stream(request: Any, context: grpc.aio.ServicerContext):
        await context.abort(grpc.StatusCode.UNAUTHENTICATED, message)
        yield  # pragma: no cover - makes this an async generator

    if handler.unary_stream is not None:
        return grpc.unary_stream_rpc_method_handler(abort_stream, handler.request_deserializer, handler.response_serializer)
    return grpc.unary_unary_rpc_method_handler(abort, handler.request_deserializer, handler.response_serializer)


class AuthInterceptor(grpc.aio.ServerInterceptor):
    def __init__(self, tokens: Iterable[str]) -> None:
        self._tokens = [t.encode() for t in tokens]

    def _check(self, metadata: Iterable[tuple[str, Any]]) -> str | None:
        """None when authorised, else why not."""
        header = next((value for key, value in metadata if key == "authorization"), None)
        if header is None:
            return 'missing "authorization: Bearer <token>" metadata'
        scheme, _, token = str(header).partition(" ")
        if scheme.lower() != "bearer" or not token:
            return 'authorization metadata must be "Bearer <token>"'
        given = token.strip().encode()
        if not any(hmac.compare_digest(given, known) for known in self._tokens):
            return "unknown bearer token"
        return None

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Any],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler:
        if handler_call_details.method.startswith(INFRASTRUCTURE_PREFIXES):
            return await continuation(handler_call_details)
        problem = self._check(handler_call_details.invocation_metadata or ())
        handler = await continuation(handler_call_details)
        if problem is None or handler is None:
            return handler
        return _denying(handler, problem)
