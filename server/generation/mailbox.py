"""Events from the decode thread into an event loop, with one wake-up per burst.

The decode thread emits an event per row and step. Waking the loop for each one (a write to the
loop's self-pipe, then a read and a callback in the loop) was, at 16 streams, a round trip per
token on a loop that also serves gRPC. A Mailbox collects what arrives while a wake-up is already
on its way and delivers it all in that one callback; each job's queue then holds every event that
came, so a consumer takes them at once and a stream sends them as one chunk.

Under load the wake-ups are also spaced: `interval()` (seconds, asked when a wake-up is scheduled)
is the least time between two deliveries. With 16 streams a step yields 16 tokens, and sending
each in its own gRPC message cost the event loop about as much as decoding it; a 20 ms interval
sends each stream a few tokens per message instead. The generator asks for no spacing while a
single row decodes, so one stream still gets every token the moment it is decoded, and a call's
first text and its end are never held back (time to first token, and the next call of a client
waiting on this one).
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable
from typing import Any


class Mailbox:
    """One per event loop; post() from any thread, delivery in the loop."""

    def __init__(self, loop: asyncio.AbstractEventLoop, interval: Callable[[], float] = lambda: 0.0) -> None:
        self._loop = loop
        self._interval = interval
        self._items: deque[tuple[asyncio.Queue[Any], Any]] = deque()
        self._wake_pending = False
        self._delayed = False  # the pending wake-up waits for the interval
        self._delivered_at = float("-inf")  # written in the loop, read by posters: a float is atomic

    def post(self, queue: asyncio.Queue[Any], item: Any, urgent: bool = False) -> None:
        """Raises RuntimeError when the loop is closed: nobody will ever read the queue. An urgent
        item (a call's first text, its end) is delivered now, with whatever is waiting."""
        if self._loop.is_closed():
            raise RuntimeError("the event loop is closed")
        self._items.append((queue, item))
        # A wake-up already scheduled has not started draining yet (it clears the flags before it
        # drains), so it will take this item too; only an urgent item overtakes a delayed one.
        if self._wake_pending and not (urgent and self._delayed):
            return
        wait = 0.0 if urgent else self._delivered_at + self._interval() - time.monotonic()
        self._wake_pending, self._delayed = True, wait > 0
        if wait > 0:
            self._loop.call_soon_threadsafe(self._loop.call_later, wait, self._deliver)
        else:
            self._loop.call_soon_threadsafe(self._deliver)

    def _deliver(self) -> None:
        # An overtaken delayed wake-up still fires later and finds little or nothing: harmless.
        self._delivered_at = time.monotonic()
        self._wake_pending = self._delayed = False
        while self._items:
            queue, item = self._items.popleft()
            queue.put_nowait(item)
