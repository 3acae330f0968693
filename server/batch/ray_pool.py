"""A batch on Ray: one actor per worker, each loading the bundles once and writing one line at a time.

Ray's ActorPool hands lines to idle actors and returns results in input order, so the file is
written exactly as the in-process runner writes it (same order, same resume, same text: each
actor is a LocalWriter). `--ray local` starts a private local Ray with as many CPUs as workers.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

from tqdm import tqdm

from server.batch.output import LineRecord, OutputFile
from server.batch.requests import LineRequest, line_seed
from server.batch.runner import BatchFailed, BatchReport, Checker, pending
from server.batch.writers import BatchSampling, LocalWriter


class RayLineWriter:
    """The actor: a LocalWriter with its own event loop, kept for the actor's life."""

    def __init__(self, story: str, emotion: str | None, threads: int) -> None:
        self._loop = asyncio.new_event_loop()
        self._writer = self._loop.run_until_complete(
            LocalWriter.open(Path(story), Path(emotion) if emotion else None, threads)
        )

    def write(self, request: LineRequest, seed: int, sampling: BatchSampling) -> LineRecord:
        return self._loop.run_until_complete(self._writer.write(request, seed, sampling))


def run_on_ray(
    address: str,
    requests: Sequence[LineRequest],
    output: OutputFile,
    run_seed: int,
    sampling: BatchSampling,
    story: Path,
    emotion: Path | None,
    workers: int,
    checker: Checker | None = None,
    progress: bool = True,
) -> BatchReport:
    import ray
    from ray.util import ActorPool

    started = time.monotonic()
    if address == "local":
        ray.init(num_cpus=workers, include_dashboard=False, log_to_driver=False, configure_logging=False)
    else:
        ray.init(address=address, log_to_driver=False, configure_logging=False)
    try:
        actor = ray.remote(num_cpus=1)(RayLineWriter)
        pool = ActorPool([actor.remote(str(story), str(emotion) if emotion else None, 1) for _ in range(workers)])
        todo = pending(requests, output)
        results = pool.map(lambda a, r: a.write.remote(r, line_seed(run_seed, r.id), sampling), todo)
        with tqdm(total=len(todo), desc="lines (ray)", unit="line", disable=not progress) as bar:
            for request, record in zip(todo, results, strict=True):
                if checker is not None:
                    record = replace(record, warnings=checker(request, record.text, record.detected_emotion))
                output.write(record)
                bar.update(1)
    except ray.exceptions.RayError as exc:
        raise BatchFailed(str(exc)) from exc
    finally:
        ray.shutdown()
    return BatchReport(len(requests), len(requests) - len(todo), len(todo), time.monotonic() - started)
