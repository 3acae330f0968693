"""Rebuilds an RPC method handler around a wrapped behaviour.

grpc.aio interceptors receive a handler and must return one of the same kind with the
same (de)serializers; this is the one place that knows how, for the two kinds of RPC
the contract allows (unary-unary and unary-stream) and the bidirectional stream of
server reflection.
"""

from __future__ import annotations

import inspect
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import grpc

Unary = Callable[[Any, grpc.aio.ServicerContext], Awaitable[Any]]
Streaming = Callable[[Any, grpc.aio.ServicerContext], AsyncIterator[Any]]
Bidirectional = Callable[[AsyncIterator[Any], grpc.aio.ServicerContext], AsyncIterator[Any]]


async def call_unary(behaviour: Callable[..., Any], request: Any, context: grpc.aio.ServicerContext) -> Any:
    """Calls a unary behaviour that may be a coroutine function or a plain function."""
    result = behaviour(request, context)
    return await result if inspect.isawaitable(result) else result


async def iterate_stream(behaviour: Callable[..., Any], request: Any, context: grpc.aio.ServicerContext) -> AsyncIterator[Any]:
    """Iterates a streaming behaviour that may be an async or a plain generator."""
    result = behaviour(request, context)
    if inspect.isawaitable(result):
        result = await result
    if hasattr(result, "__aiter__"):
        async for item in result:
            yield item
    elif result is not None:
        for item in result:
            yield item


class Undecodable:
    """Stands in for a request whose bytes did not parse, so the behaviour can refuse it with a status
    of our choosing (grpc itself would answer UNKNOWN and log a traceback)."""

    def __init__(self, error: Exception) -> None:
        self.error = error


def _tolerant(deserializer: Callable[[bytes], Any] | None) -> Callable[[bytes], Any] | None:
    if deserializer is None:
        return None

    def deserialize(data: bytes) -> Any:
        try:
            return deserializer(data)
        except Exception as exc:  # protobuf's DecodeError, or anything a parser raises
            return Undecodable(exc)

    return deserialize


def rewrap(
    handler: grpc.RpcMethodHandler,
    unary: Callable[[Unary], Unary],
    streaming: Callable[[Streaming], Streaming],
    bidirectional: Callable[[Bidirectional], Bidirectional] | None = None,
) -> grpc.RpcMethodHandler:
    """Returns handler with its behaviour passed through `unary`, `streaming` or `bidirectional`; a
    request that does not parse reaches the behaviour as an `Undecodable`."""
    if handler.unary_unary is not None:
        return grpc.unary_unary_rpc_method_handler(
            unary(handler.unary_unary),
            request_deserializer=_tolerant(handler.request_deserializer),
            response_serializer=handler.response_serializer,
        )
    if handler.unary_stream is not None:
        return grpc.unary_stream_rpc_method_handler(
            streaming(handler.unary_stream),
            request_deserializer=_tolerant(handler.request_deserializer),
            response_serializer=handler.response_serializer,
        )
    if handler.stream_stream is not None and bidirectional is not None:
        return grpc.stream_stream_rpc_method_handler(
            bidirectional(handler.stream_stream),
            request_deserializer=_tolerant(handler.request_deserializer),
            response_serializer=handler.response_serializer,
        )
    return handler  # client streaming: in neither our contract nor the infrastructure's
