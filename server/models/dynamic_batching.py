"""Dynamic batching: requests that arrive within a short window run as one model call.

A model on CPU answers a batch of 16 in far less than 16 times the latency of one, so
under concurrent load the server gathers items from many calls, runs them together in
a worker thread, and hands each call its own results. A batch is what queued while the
previous batch ran (plus what arrives within `max_wait_s`, 0 by default): a lone call
runs at once, and a busy server fills its batches by itself. A batch never exceeds
`max_batch_size` items. With batching disabled every call runs alone (same code path, batch of one
call), which is what the benchmark compares against.

For monitoring, `queued` is how many items wait for a batch right now, and `on_batch`
(if given) hears the size of every batch the model ran.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Generic, TypeVar

Item = TypeVar("Item")
Result = TypeVar("Result")


@dataclass
class _Pending(Generic[Item, Result]):
    items: Sequence[Item]
    future: asyncio.Future[list[Result]]
    arrived: float = field(default_factory=time.perf_counter)


@dataclass
class BatchStats:
    batches: int = 0
    items: int = 0

    @property
    def mean_batch_size(self) -> float:
        return self.items / self.batches if self.batches else 0.0


class DynamicBatcher(Generic[Item, Result]):
    """Runs `run_batch(items) -> results` (same length, same order) over gathered calls.

    `run_batch` is blocking (onnxruntime); it runs in a worker thread, one batch at a
    time, while the event loop keeps accepting calls for the next batch.
    """

    def __init__(
        self,
        run_batch: Callable[[list[Item]], list[Result]],
        max_batch_size: int = 32,
        max_wait_s: float = 0.005,
        enabled: bool = True,
        on_batch: Callable[[int], None] | None = None,
    ) -> None:
        self._run_batch = run_batch
        self._on_batch = on_batch
        self.max_batch_size = max_batch_size
        self.max_wait_s = max_wait_s
        self.enabled = enabled
        self.stats = BatchStats()
        # Items submitted and not yet taken into a batch (including the carried call).
        self.queued = 0
        self._queue: asyncio.Queue[_Pending[Item, Result]] = asyncio.Queue()
        # A call that did not fit the previous batch: it opens the next one.
        self._carry: _Pending[Item, Result] | None = None
        self._worker: asyncio.Task | None = None

    async def submit(self, items: Sequence[Item]) -> list[Result]:
        """Results for `items`, in order. A call larger than max_batch_size runs in parts."""
        if self._worker is None:
            self._worker = asyncio.create_task(self._work())
        parts = [items[i : i + self.max_batch_size] for i in range(0, len(items), self.max_batch_size)]
        futures = []
        for part in parts:
            future: asyncio.Future[list[Result]] = asyncio.get_running_loop().create_future()
            self._queue.put_nowait(_Pending(part, future))
            self.queued += len(part)
            futures.append(future)
        return [result for future in futures for result in await future]

    async def _gather(self) -> list[_Pending[Item, Result]]:
        first, self._carry = self._carry or await self._queue.get(), None
        batch, size = [first], len(first.items)
        if not self.enabled:
            return batch
        deadline = first.arrived + self.max_wait_s
        while size < self.max_batch_size:
            if self._queue.empty():
                remaining = deadline - time.perf_counter()
                if remaining <= 0:
                    break
                try:
                    pending = await asyncio.wait_for(self._queue.get(), remaining)
                except TimeoutError:
                    break
            else:
                pending = self._queue.get_nowait()
            if size + len(pending.items) > self.max_batch_size:
                self._carry = pending
                break
            batch.append(pending)
            size += len(pending.items)
        return batch

    async def _work(self) -> None:
        while True:
            batch = await self._gather()
            self.queued -= sum(len(pending.items) for pending in batch)
            live = [p for p in batch if not p.future.cancelled()]
            if not live:
                continue
            items = [item for pending in live for item in pending.items]
            try:
                results = await asyncio.to_thread(self._run_batch, items)
            except Exception as exc:  # every caller of this batch gets the error
                for pending in live:
                    if not pending.future.done():
                        pending.future.set_exception(exc)
                continue
            self.stats.batches += 1
            self.stats.items += len(items)
            if self._on_batch is not None:
                self._on_batch(len(items))
            offset = 0
            for pending in live:
                if not pending.future.done():
                    pending.future.set_result(results[offset : offset + len(pending.items)])
                offset += len(pending.items)

    async def close(self) -> None:
        if self._worker is not None:
            self._worker.cancel()
            await asyncio.gather(self._worker, return_exceptions=True)
            self._worker = None

