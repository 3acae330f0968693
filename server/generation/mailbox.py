"""Events from the decode thread into an event loop, with one wake-up per burst.

The decode thread emits an event per row and step. Waking the loop for each one (a write to the
loop's self-pipe, then a read and a callback in the loop) was, at 16 streams, a round trip per
token on a loop that also serves gRPC. A Mailbox collects what arrives while a wake-up is already
on its way and delivers it all in that one callback; each job's queue then holds every event that
came, so a consumer that fell behind takes several tokens at once.
"""

from __future__ import annotations

import asyncio
from collections import deque
from typing import Any


class Mailbox:
    """One per event loop; post() from any thread, delivery in the loop."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._items: deque[tuple[asyncio.Queue[Any], Any]] = deque()
        self._wake_pending = False

    def post(self, queue: asyncio.Queue[Any], item: Any) -> None:
        """Raises RuntimeError when the loop is closed: nobody will ever read the queue."""
        if self._loop.is_closed():
            raise RuntimeError("the event loop is closed")
        self._items.append((queue, item))
        # A wake-up already scheduled has not started draining yet (it clears the flag before it
        # drains), so it will take this item too; otherwise schedule one.
        if not self._wake_pending:
            self._wake_pending = True
            self._loop.call_soon_threadsafe(self._deliver)

    def _deliver(self) -> None:
        self._wake_pending = False
        while self._items:
            queue, item = self._items.popleft()
            queue.put_nowait(item)
