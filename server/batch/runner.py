"""Running a batch: lines spread over writers, written to the file strictly in input order.

Each writer takes the next line as soon as it is free; finished lines wait in a reorder buffer
until every line before them is written, so the file is always a prefix of the full, ordered
result. Ids already in the file are skipped (resume). A progress bar shows lines/s and the ETA.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

from tqdm import tqdm

from server.batch.output import LineRecord, OutputFile
from server.batch.requests import LineRequest, line_seed
from server.batch.writers import BatchSampling, LineWriter

Checker = Callable[[LineRequest, str, str], list[str]]
"""Coherence warnings for a written line: (request, text, detected Ekman group) -> messages."""


class BatchFailed(RuntimeError):
    """A writer failed (a server went away, a bundle would not load); the file stays a clean prefix."""


@dataclass(frozen=True)
class BatchReport:
    total: int
    skipped: int  # already in the output file
    written: int
    seconds: float

    @property
    def lines_per_minute(self) -> float:
        return 60.0 * self.written / self.seconds if self.seconds > 0 else 0.0


def pending(requests: Sequence[LineRequest], output: OutputFile) -> list[LineRequest]:
    return [r for r in requests if r.id not in output.done]


async def run_batch(
    requests: Sequence[LineRequest],
    writers: Sequence[LineWriter],
    output: OutputFile,
    run_seed: int,
    sampling: BatchSampling,
    checker: Checker | None = None,
    progress: bool = True,
) -> BatchReport:
    loop = asyncio.get_running_loop()
    started = loop.time()
    todo = pending(requests, output)
    finished: dict[int, LineRecord] = {}
    next_to_write = 0
    queue: asyncio.Queue[int] = asyncio.Queue()
    for index in range(len(todo)):
        queue.put_nowait(index)
    bar = tqdm(total=len(todo), desc="lines", unit="line", disable=not progress)

    def flush() -> None:
        nonlocal next_to_write
        while next_to_write in finished:
            output.write(finished.pop(next_to_write))
            next_to_write += 1
            bar.update(1)

    async def work(writer: LineWriter) -> None:
        while not queue.empty():
            index = queue.get_nowait()
            request = todo[index]
            record = await writer.write(request, line_seed(run_seed, request.id), sampling)
            if checker is not None:
                record = replace(record, warnings=checker(request, record.text, record.detected_emotion))
            finished[index] = record
            flush()

    try:
        # A failing writer cancels the others; what was written stays a clean, resumable prefix.
        async with asyncio.TaskGroup() as group:
            for writer in writers:
                group.create_task(work(writer))
    except ExceptionGroup as failed:
        raise BatchFailed("; ".join(str(e) for e in failed.exceptions)) from failed
    finally:
        bar.close()
    return BatchReport(len(requests), len(requests) - len(todo), next_to_write, loop.time() - started)
