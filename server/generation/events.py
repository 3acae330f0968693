"""The scheduler's events, moved from its decode thread into the caller's event loop.

A job's events arrive through the loop's Mailbox in the bursts they came in; a failure, a passed
deadline or a shutdown ends the iteration with the error the call ends with, after the events that
came before it. Leaving the iteration early (the call was cancelled) cancels the job, so its rows
leave the batch before the next step.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator

from server.errors import DeadlineExceeded, Unavailable
from server.generation.mailbox import Mailbox
from server.generation.plan import Plan
from server.generation.scheduler import GenerationScheduler, Job
from server.generation.types import Delta, Event, Failed, Finished, FinishReason

RowEvent = Delta | Finished


def ending_error(event: Event) -> BaseException | None:
    """The error a call ends with when this event arrives (None for every other event)."""
    if isinstance(event, Failed):
        return event.error
    if isinstance(event, Finished) and event.reason is FinishReason.DEADLINE:
        return DeadlineExceeded("the deadline passed during generation")
    if isinstance(event, Finished) and event.reason is FinishReason.CANCELLED:
        return Unavailable("generation was cancelled: the server is shutting down")
    return None


async def event_batches(
    scheduler: GenerationScheduler, mailbox: Mailbox, plan: Plan
) -> AsyncGenerator[list[RowEvent]]:
    """The job's events in this event loop, in the batches they arrived in; the job is cancelled
    when the iteration stops early."""
    queue: asyncio.Queue[Event] = asyncio.Queue()
    text_sent = False

    def emit(event: Event) -> None:
        """A call's first text and its end (any other event) are not held back by the interval."""
        nonlocal text_sent
        is_text = isinstance(event, Delta) and bool(event.text)
        mailbox.post(queue, event, urgent=not isinstance(event, Delta) or (is_text and not text_sent))
        text_sent = text_sent or is_text

    job = Job(plan.spec, emit)
    scheduler.submit(job)
    remaining = plan.spec.rows
    try:
        while remaining:
            batch = [await queue.get()]
            while not queue.empty():
                batch.append(queue.get_nowait())
            rows: list[RowEvent] = []
            for event in batch:
                error = ending_error(event)
                if error is not None:
                    if rows:
                        yield rows
                    raise error
                assert not isinstance(event, Failed)  # a failure is an ending error
                if isinstance(event, Finished):
                    remaining -= 1
                rows.append(event)
            yield rows
    finally:
        job.cancel()
