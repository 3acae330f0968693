"""The status interceptor: what a servicer raises is the status code the client sees."""

from __future__ import annotations

import asyncio
import importlib
import pkgutil

import grpc
import pytest

import narrative
from narrative.errors import NarrativeError
from server.errors import DOMAIN_ERRORS, FailedPrecondition, InvalidArgument, NotFound, ResourceExhausted, Unavailable
from tests.server.conftest import make_settings


class UnlistedNarrativeError(NarrativeError):
    """A narrative error class that DOMAIN_ERRORS does not name."""


RAISED = {
    "InvalidArgument": (InvalidArgument("texts[2]", "empty text"), grpc.StatusCode.INVALID_ARGUMENT, "texts[2]: empty text"),
    "NotFound": (NotFound("session", "s-42"), grpc.StatusCode.NOT_FOUND, "session 's-42' not found"),
    "FailedPrecondition": (FailedPrecondition("choice not available"), grpc.StatusCode.FAILED_PRECONDITION, "choice not available"),
    "ResourceExhausted": (ResourceExhausted("queue full"), grpc.StatusCode.RESOURCE_EXHAUSTED, "queue full"),
    "Unavailable": (Unavailable("model not loaded"), grpc.StatusCode.UNAVAILABLE, "model not loaded"),
    "NotImplementedError": (NotImplementedError(), grpc.StatusCode.UNIMPLEMENTED, "/probe.Probe/NotImplementedError is not implemented"),
    "KeyError": (KeyError("secret-internal-detail"), grpc.StatusCode.INTERNAL, "internal error"),
    "UnlistedNarrativeError": (UnlistedNarrativeError("a bad beat"), grpc.StatusCode.INVALID_ARGUMENT, "a bad beat"),
}


def probe_handlers(release: asyncio.Event | None = None) -> grpc.GenericRpcHandler:
    """A test-only service: unary methods that raise, a stream that raises midway, a slow call."""

    def raiser(exc: Exception):
        async def unary(request: bytes, context) -> bytes:
            raise exc

        return grpc.unary_unary_rpc_method_handler(unary)

    async def stream_then_fail(request: bytes, context):
        yield b"one"
        raise InvalidArgument("sampling.top_p", "must be in (0, 1]")

    async def slow(request: bytes, context) -> bytes:
        await release.wait()
        return b"done"

    handlers = {name: raiser(exc) for name, (exc, _, _) in RAISED.items()}
    handlers["StreamThenFail"] = grpc.unary_stream_rpc_method_handler(stream_then_fail)
    handlers["Slow"] = grpc.unary_unary_rpc_method_handler(slow)
    return grpc.method_handlers_generic_handler("probe.Probe", handlers)


@pytest.mark.parametrize("name", sorted(RAISED))
async def test_each_error_type_maps_to_its_status_code(name, start_server, channel_to):
    server = await start_server(before_start=lambda s: s.grpc_server.add_generic_rpc_handlers((probe_handlers(),)))
    _, code, message = RAISED[name]
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await channel_to(server).unary_unary(f"/probe.Probe/{name}")(b"")
    assert caught.value.code() == code
    assert message in caught.value.details()
    assert "secret-internal-detail" not in caught.value.details()


async def test_an_error_midway_through_a_stream_keeps_the_messages_sent(start_server, channel_to):
    server = await start_server(before_start=lambda s: s.grpc_server.add_generic_rpc_handlers((probe_handlers(),)))
    call = channel_to(server).unary_stream("/probe.Probe/StreamThenFail")(b"")
    received = []
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        async for message in call:
            received.append(message)
    assert received == [b"one"]
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert caught.value.details() == "sampling.top_p: must be in (0, 1]"


async def test_shutdown_drains_in_flight_calls_and_refuses_new_ones(start_server, channel_to):
    release = asyncio.Event()
    server = await start_server(
        make_settings(server__grace_period_s=5),
        before_start=lambda s: s.grpc_server.add_generic_rpc_handlers((probe_handlers(release),)),
    )
    channel = channel_to(server)
    slow = asyncio.ensure_future(channel.unary_unary("/probe.Probe/Slow")(b""))
    while server.status.in_flight.count == 0:
        await asyncio.sleep(0.01)
    shutdown = asyncio.ensure_future(server.shutdown())
    while not server.status.draining:
        await asyncio.sleep(0.01)
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await channel.unary_unary("/probe.Probe/Slow")(b"")
    assert refused.value.code() == grpc.StatusCode.UNAVAILABLE
    assert not shutdown.done()  # still waiting for the slow call
    release.set()
    assert await slow == b"done"
    await asyncio.wait_for(shutdown, 5)


async def test_grace_period_bounds_the_wait_for_stuck_calls(start_server, channel_to):
    server = await start_server(
        make_settings(server__grace_period_s=0.3),
        before_start=lambda s: s.grpc_server.add_generic_rpc_handlers((probe_handlers(asyncio.Event()),)),
    )
    stuck = asyncio.ensure_future(channel_to(server).unary_unary("/probe.Probe/Slow")(b""))
    while server.status.in_flight.count == 0:
        await asyncio.sleep(0.01)
    await asyncio.wait_for(server.shutdown(), 3)
    with pytest.raises(grpc.aio.AioRpcError) as cancelled:
        await stuck
    assert cancelled.value.code() in (grpc.StatusCode.CANCELLED, grpc.StatusCode.UNAVAILABLE)


def _subclasses(kind: type) -> set[type]:
    found = set(kind.__subclasses__())
    return found.union(*(_subclasses(sub) for sub in found))


DESIGNER_TOOLS_ONLY = {"RenderError", "TwineImportError"}
"""Raised by `storyteller graph render` and `import-twine` alone, never during a call."""


def test_every_error_narrative_raises_has_its_own_status_code():
    """NarrativeError's own entry is a safety net: each class narrative defines is listed by name."""
    for module in pkgutil.walk_packages(narrative.__path__, "narrative."):
        importlib.import_module(module.name)
    classes = {c.__name__ for c in _subclasses(NarrativeError) if c.__module__.startswith("narrative.")}
    listed = {c.__name__ for c in DOMAIN_ERRORS}
    assert classes and classes - listed == DESIGNER_TOOLS_ONLY
    assert list(DOMAIN_ERRORS)[-1] is NarrativeError  # the first match wins: the net comes last
