"""The decode thread's events reach the event loop in bursts: one wake-up takes all that came."""

from __future__ import annotations

import asyncio
import threading

from server.generation.mailbox import Mailbox


async def test_posts_from_another_thread_arrive_in_order_in_one_burst():
    loop = asyncio.get_running_loop()
    mailbox = Mailbox(loop, interval=lambda: 0.05)
    queue: asyncio.Queue[int] = asyncio.Queue()
    mailbox.post(queue, 0)
    assert await queue.get() == 0  # the first post is delivered at once
    # Inside the interval, posts wait for one delivery and arrive together.
    thread = threading.Thread(target=lambda: [mailbox.post(queue, i) for i in range(1, 6)])
    thread.start()
    thread.join()
    assert queue.empty()
    assert await queue.get() == 1
    assert [queue.get_nowait() for _ in range(4)] == [2, 3, 4, 5]


async def test_a_closed_loop_refuses_posts():
    loop = asyncio.new_event_loop()
    mailbox = Mailbox(loop)
    loop.close()
    try:
        mailbox.post(asyncio.Queue(), 1)
    except RuntimeError as exc:
        assert "closed" in str(exc)
    else:
        raise AssertionError("posting to a closed loop must raise")


async def two_streams(interval_s: float) -> tuple[Mailbox, asyncio.Queue[str], asyncio.Queue[str]]:
    """A mailbox that has just delivered (the next post waits for the interval) and two streams' queues."""
    mailbox = Mailbox(asyncio.get_running_loop(), interval=lambda: interval_s)
    queue: asyncio.Queue[str] = asyncio.Queue()
    mailbox.post(queue, "first")
    assert await queue.get() == "first"
    return mailbox, queue, asyncio.Queue()


async def test_an_urgent_item_overtakes_the_interval_with_its_own_queue_only():
    mailbox, queue, other = await two_streams(60.0)
    mailbox.post(queue, "held")  # would wait a minute
    mailbox.post(other, "other stream's text")
    mailbox.post(queue, "end", urgent=True)
    assert await asyncio.wait_for(queue.get(), timeout=5) == "held"
    assert queue.get_nowait() == "end"
    await asyncio.sleep(0.05)
    assert other.empty()  # another call's text still waits for the interval


async def test_the_timed_delivery_still_comes_after_an_urgent_one():
    mailbox, queue, other = await two_streams(0.05)
    mailbox.post(other, "text")
    mailbox.post(queue, "end", urgent=True)
    assert await asyncio.wait_for(queue.get(), timeout=5) == "end"
    assert await asyncio.wait_for(other.get(), timeout=5) == "text"
    mailbox.post(other, "more")  # a later post is not lost behind the delivery that has come and gone
    assert await asyncio.wait_for(other.get(), timeout=5) == "more"
