"""Events from the decode thread into an event loop, with one wake-up per burst.

The decode thread emits an event per row and step; a wake-up of the loop per event would cost a
round trip per token on a loop that also serves gRPC. A Mailbox collects what arrives while a
wake-up is already on its way and delivers it all in that one callback; each job's queue then holds
every event that came, so a consumer takes them at once and a stream sends them as one chunk.

Under load the wake-ups are also spaced: `interval()` (seconds, asked when a wake-up is scheduled)
is the least time between two deliveries, so a stream gets a few tokens per gRPC message. A single
row decoding alone gets no spacing, and a call's first text and its end are never held back; such
an urgent item is delivered at once with what its own queue holds, and only that, so it does not
cut every other stream's chunks short. The measurements behind this: docs/decisions.md.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from typing import Any


class Mailbox:
    """One per event loop; post() from any thread, delivery in the loop."""

    def __init__(self, loop: asyncio.AbstractEventLoop, interval: Callable[[], float] = lambda: 0.0) -> None:
        self._loop = loop
        self._interval = interval
        self._lock = threading.Lock()
        self._waiting: dict[asyncio.Queue[Any], list[Any]] = {}  # per queue, in the order posted
        self._wake_pending = False  # a delivery of everything is scheduled
        self._delivered_at = float("-inf")  # written in the loop, read by posters: a float is atomic

    def post(self, queue: asyncio.Queue[Any], item: Any, urgent: bool = False) -> None:
        """Raises RuntimeError when the loop is closed: nobody will ever read the queue. An urgent
        item (a call's first text, its end) is delivered now, with whatever its queue has waiting."""
        if self._loop.is_closed():
            raise RuntimeError("the event loop is closed")
        with self._lock:
            self._waiting.setdefault(queue, []).append(item)
            if not urgent:
                if self._wake_pending:  # the scheduled delivery has not taken the items yet: it takes this one
                    return
                self._wake_pending = True
        if urgent:
            self._loop.call_soon_threadsafe(self._deliver, queue)
            return
        wait = self._delivered_at + self._interval() - time.monotonic()
        if wait > 0:
            self._loop.call_soon_threadsafe(self._loop.call_later, wait, self._deliver_all)
        else:
            self._loop.call_soon_threadsafe(self._deliver_all)

    def _deliver(self, queue: asyncio.Queue[Any]) -> None:
        with self._lock:
            items = self._waiting.pop(queue, [])
        for item in items:
            queue.put_nowait(item)

    def _deliver_all(self) -> None:
        self._delivered_at = time.monotonic()
        with self._lock:
            waiting, self._waiting = self._waiting, {}
            self._wake_pending = False
        for queue, items in waiting.items():
            for item in items:
                queue.put_nowait(item)
