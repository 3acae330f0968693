"""Rebuilds an RPC method handler around a wrapped behaviour.

grpc.aio interceptors receive a handler and must return one of the same kind with the
same (de)serializers; this is the one place that knows how, for the two kinds of RPC
the contract allows (unary-unary and unary-stream).
"""

from __future__ import annotations

import inspect
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import grpc

Unary = Callable[[Any, grpc.aio.ServicerContext], Awaitable[Any]]
Streaming = Callable[[Any, grpc.aio.ServicerContext], AsyncIterator[Any]]


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


def rewrap(handler: grpc.RpcMethodHandler, unary: Callable[[Unary], Unary], streaming: Callable[[Streaming], Streaming]) -> grpc.RpcMethodHandler:
    """Returns handler with its behaviour passed through `unary` or `streaming`."""
    if handler.unary_unary is not None:
        return grpc.unary_unary_rpc_method_handler(
            unary(handler.unary_unary),
            request_deserializer=handler.request_deserializer,
            response_serializer=handler.response_serializer,
        )
    if handler.unary_stream is not None:
        return grpc.unary_stream_rpc_method_handler(
            streaming(handler.unary_stream),
            request_deserializer=handler.request_deserializer,
            response_serializer=handler.response_serializer,
        )
    return handler  # client-streaming kinds: not in our contract (reflection uses one)
