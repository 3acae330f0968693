"""DynamicBatcher: gathering, bounds, order, errors, and the unbatched mode."""

from __future__ import annotations

import asyncio
import threading

import pytest

from server.models.dynamic_batching import DynamicBatcher


class Recorder:
    """A fake model: doubles numbers and records the batches it was given."""

    def __init__(self, fail_on: int | None = None, delay: float = 0.0) -> None:
        self.batches: list[list[int]] = []
        self.fail_on = fail_on
        self.delay = delay
        self.threads: set[str] = set()

    def __call__(self, items: list[int]) -> list[int]:
        self.threads.add(threading.current_thread().name)
        self.batches.append(list(items))
        if self.delay:
            threading.Event().wait(self.delay)
        if self.fail_on in items:
            raise ValueError(f"bad item {self.fail_on}")
        return [2 * x for x in items]


async def test_concurrent_calls_share_one_batch_and_get_their_own_results():
    model = Recorder()
    batcher = DynamicBatcher(model, max_batch_size=32, max_wait_s=0.05)
    results = await asyncio.gather(*(batcher.submit([i, 100 + i]) for i in range(5)))
    assert results == [[2 * i, 200 + 2 * i] for i in range(5)]
    assert len(model.batches) == 1 and len(model.batches[0]) == 10
    assert model.threads != {threading.current_thread().name}  # ran off the event loop
    await batcher.close()


async def test_batches_never_exceed_the_bound_and_large_calls_are_split():
    model = Recorder()
    batcher = DynamicBatcher(model, max_batch_size=4, max_wait_s=0.05)
    results = await asyncio.gather(batcher.submit(list(range(10))), batcher.submit([50, 51, 52]))
    assert results == [[2 * x for x in range(10)], [100, 102, 104]]
    assert max(len(b) for b in model.batches) <= 4
    assert sorted(x for b in model.batches for x in b) == sorted([*range(10), 50, 51, 52])
    await batcher.close()


async def test_a_lone_call_waits_at_most_the_window():
    model = Recorder()
    batcher = DynamicBatcher(model, max_batch_size=32, max_wait_s=0.02)
    started = asyncio.get_running_loop().time()
    assert await batcher.submit([1]) == [2]
    assert asyncio.get_running_loop().time() - started < 1.0
    await batcher.close()


async def test_an_error_reaches_the_callers_of_that_batch_only():
    model = Recorder(fail_on=13, delay=0.05)
    batcher = DynamicBatcher(model, max_batch_size=2, max_wait_s=0.01)
    good, bad = await asyncio.gather(batcher.submit([1, 2]), batcher.submit([13]), return_exceptions=True)
    assert good == [2, 4]
    assert isinstance(bad, ValueError) and "bad item 13" in str(bad)
    assert await batcher.submit([3]) == [6]  # the worker survives
    await batcher.close()


async def test_disabled_batching_runs_every_call_alone():
    model = Recorder()
    batcher = DynamicBatcher(model, max_batch_size=32, max_wait_s=0.05, enabled=False)
    await asyncio.gather(*(batcher.submit([i]) for i in range(4)))
    assert sorted(model.batches) == [[0], [1], [2], [3]]
    assert batcher.stats.batches == 4 and batcher.stats.mean_batch_size == 1
    await batcher.close()


async def test_a_cancelled_call_is_skipped():
    model = Recorder(delay=0.05)
    batcher = DynamicBatcher(model, max_batch_size=1, max_wait_s=0.0)
    first = asyncio.ensure_future(batcher.submit([1]))
    cancelled = asyncio.ensure_future(batcher.submit([2]))
    await asyncio.sleep(0.01)
    cancelled.cancel()
    assert await first == [2]
    assert await batcher.submit([3]) == [6]
    assert [2] not in model.batches
    with pytest.raises(asyncio.CancelledError):
        await cancelled
    await batcher.close()


async def test_queued_counts_waiting_items_and_on_batch_hears_each_batch_size():
    release = threading.Event()
    sizes: list[int] = []

    def model(items: list[int]) -> list[int]:
        release.wait(5)  # the model is busy until the test has looked at the queue
        return items

    batcher = DynamicBatcher(model, max_batch_size=4, max_wait_s=0.0, on_batch=sizes.append)
    running = asyncio.ensure_future(batcher.submit([1]))
    while batcher.queued:  # the worker took the lone call into a batch; the model now blocks
        await asyncio.sleep(0.005)
    waiting = asyncio.ensure_future(batcher.submit([2, 3, 4, 5, 6]))  # split into 4 + 1
    await asyncio.sleep(0.01)
    assert batcher.queued == 5
    release.set()
    assert await asyncio.gather(running, waiting) == [[1], [2, 3, 4, 5, 6]]
    assert (batcher.queued, sizes) == (0, [1, 4, 1])
    await batcher.close()
