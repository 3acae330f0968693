"""Continuous batching: every generating request shares each decode step of one session.

A decode step of a small model costs nearly the same for 1 row as for 8, so concurrent
requests should not take turns: they should ride the same step. The scheduler owns the
onnxruntime session and runs one loop in a dedicated thread:

1. Between steps, rows whose request was cancelled or whose deadline passed leave the
   batch, and waiting requests are admitted first come first served while rows are free
   (a request with several emotion candidates needs that many rows at once).
2. An admitted request is prefilled on its own (batch of one, so a prompt is never
   padded) and its first token sampled; its cache is written into free slots of the batch
   cache (server.generation.kv_cache keeps rows right-aligned with per-row positions, so a
   row decodes as it would alone). Candidates share that one prefill: its cache is
   broadcast to their rows.
3. One step feeds the last token of every slot and samples the next one per row, with
   that row's settings and generator (server.generation.sampling).
4. A row that produced EOS, a stop string, its max tokens, or filled the context leaves
   at once and frees its slot.

Each row turns its tokens into text itself (server.generation.detokenize, .stopping) and
sends events (types.Delta, types.Finished) to its request through the `emit` callback the
request gave, from this thread; the asyncio side forwards them into the event loop.

With fp32 weights a row's tokens are the same batched or alone. int8 bundles quantize
activations dynamically per tensor, i.e. over the whole batch, so the company a row keeps
nudges its logits slightly; greedy outputs then agree almost always, not always.
"""

from __future__ import annotations

import collections
import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
from tokenizers import Tokenizer

from server.errors import ResourceExhausted, Unavailable
from server.generation.decoder import KVDecoder
from server.generation.detokenize import IncrementalDetokenizer
from server.generation.kv_cache import CacheBlock
from server.generation.sampling import Sampler, sample
from server.generation.stopping import StopMatcher
from server.generation.types import Delta, Event, Failed, Finished, FinishReason, SequenceSpec

log = logging.getLogger("storyteller.generation")


class Job:
    """One request's rows, from submission to its last Finished event; the handle its caller keeps."""

    def __init__(self, spec: SequenceSpec, emit: Callable[[Event], None]) -> None:
        self.spec = spec
        self._emit = emit
        # Set from any thread; the scheduler reads it between steps (a bool write is atomic).
        self.cancelled = False
        self.reserved = 0  # rows held for it between leaving the queue and joining the batch

    def cancel(self) -> None:
        """The rows leave the batch before the next step; idempotent, harmless once finished."""
        self.cancelled = True

    def expired(self, now: float) -> bool:
        return self.spec.deadline is not None and now >= self.spec.deadline

    def emit(self, event: Event) -> None:
        try:
            self._emit(event)
        except RuntimeError:  # the caller's event loop is gone: nobody is listening any more
            self.cancelled = True


class _Row:
    """One sequence being generated: its tokens so far, its sampler and its text state."""

    def __init__(self, job: Job, index: int, tokenizer: Tokenizer, max_context: int) -> None:
        spec = job.spec
        self.job = job
        self.index = index
        self.ids = np.zeros(max_context, np.int64)  # prompt + generated
        self.length = len(spec.prompt_ids)
        self.ids[: self.length] = spec.prompt_ids
        self.generated = 0
        self.pending = -1  # the last sampled token: what the next step feeds
        self.slot = -1  # its row in the batch cache
        self.sampler = Sampler(spec.sampling, np.random.default_rng((spec.seed, index)))
        self.detokenizer = IncrementalDetokenizer(tokenizer, spec.prompt_ids)
        self.stopper = StopMatcher(spec.stop)
        self.finished: FinishReason | None = None

    @property
    def history(self) -> np.ndarray:
        return self.ids[: self.length]


def _sample(rows: list[_Row], logits: np.ndarray, never: np.ndarray) -> list[int]:
    """The next token of each row from its logits (len(rows), vocab, an array of its own: sampling writes
    the penalties into it), all rows at once; the `never` ids are not drawn."""
    logits[:, never] = -np.inf
    return sample(logits, [row.sampler for row in rows], [row.history for row in rows])


@dataclass
class SchedulerStats:
    steps: int = 0
    prefills: int = 0
    tokens: int = 0
    largest_batch: int = 0  # most rows one step has fed
    finished: collections.Counter[FinishReason] = field(default_factory=collections.Counter)


class GenerationScheduler:
    def __init__(
        self,
        decoder: KVDecoder,
        tokenizer: Tokenizer,
        *,
        max_context: int,
        eos_id: int | None,
        never_ids: Sequence[int] = (),
        max_batch_size: int = 8,
        max_waiting: int = 64,
        on_tokens: Callable[[int], None] | None = None,
    ) -> None:
        """`never_ids`: tokens that steer and are never written (control tokens): a model whose control
        embeddings started at their words' may otherwise put one where the word belongs, and it would
        vanish from the text."""
        self.decoder = decoder
        self.max_context = max_context
        self.max_batch_size = max_batch_size
        self.max_waiting = max_waiting
        self.stats = SchedulerStats()
        self._tokenizer = tokenizer
        self._eos_id = eos_id
        self._never = np.asarray(sorted(set(never_ids) - {eos_id}), np.int64)
        self._on_tokens = on_tokens
        self._cond = threading.Condition()
        self._waiting: collections.deque[Job] = collections.deque()
        self._rows: list[_Row] = []  # in the batch, in no order (each knows its slot); only the worker changes it
        # Rows of jobs taken from the queue and being prefilled: in neither _waiting nor _rows yet.
        self._reserved = 0
        self._cache = decoder.new_cache(max_context)
        self._closed = False
        self._thread: threading.Thread | None = None

    @property
    def active(self) -> int:
        """Rows generating now, each holding one of max_batch_size slots. A row that has sent its
        Finished event no longer counts, though the worker may drop it from the batch a moment later."""
        return sum(1 for row in list(self._rows) if row.finished is None)

    @property
    def waiting(self) -> int:
        """Requests waiting for free rows."""
        return len(self._waiting)

    def submit(self, job: Job) -> None:
        """Queues a request; raises ResourceExhausted when it cannot even wait for a slot."""
        if job.spec.rows > self.max_batch_size:
            raise ValueError(f"{job.spec.rows} rows cannot fit a batch of {self.max_batch_size}")
        if not 0 < len(job.spec.prompt_ids) < self.max_context:
            raise ValueError(f"a prompt of {len(job.spec.prompt_ids)} tokens leaves no room in {self.max_context}")
        with self._cond:
            if self._closed:
                raise Unavailable("the generation loop is shut down")
            # Waiting jobs that fit the free rows take them at the next step boundary (first come, first
            # served); only the ones left over are really waiting, and only they count against max_waiting.
            free = self.max_batch_size - self.active - self._reserved
            queued = 0
            for waiting in self._waiting:
                if not queued and waiting.spec.rows <= free:
                    free -= waiting.spec.rows
                else:
                    queued += 1
            if (queued or job.spec.rows > free) and queued >= self.max_waiting:
                raise ResourceExhausted(
                    f"generation is at capacity ({self.max_batch_size} rows, {queued} requests waiting);"
                    " retry with back-off"
                )
            self._waiting.append(job)
            if self._thread is None:
                self._thread = threading.Thread(target=self._work, name="storyteller-generation", daemon=True)
                self._thread.start()
            self._cond.notify()

    def close(self) -> None:
        """Stops the loop (blocking until it has); unfinished rows end CANCELLED."""
        with self._cond:
            self._closed = True
            self._cond.notify()
            thread = self._thread
        if thread is not None:
            thread.join()

    # ------------------------------------------------------------------ the worker thread

    def _work(self) -> None:
        while True:
            admitted = self._take_admissions()
            if admitted is None:
                break
            self._drop_ended()
            self._admit(admitted)
            if not self._rows:
                continue
            try:
                self._step()
            except Exception as exc:  # the loop must outlive one failed run
                log.exception("generation step failed; the requests in the batch end with an error")
                self._fail_all(exc)
        for row in self._rows:
            self._finish(row, FinishReason.CANCELLED)
        self._rows = []
        with self._cond:
            waiting, self._waiting = list(self._waiting), collections.deque()
        for job in waiting:
            self._end_unadmitted(job, FinishReason.CANCELLED)

    def _take_admissions(self) -> list[Job] | None:
        """Jobs to prefill before the next step; waits while there is nothing to do; None once closed."""
        with self._cond:
            while not self._rows and not self._waiting and not self._closed:
                self._cond.wait()
            if self._closed:
                return None
            now = time.monotonic()
            admitted: list[Job] = []
            free = self.max_batch_size - len(self._rows)
            while self._waiting:
                job = self._waiting[0]
                if job.cancelled or job.expired(now):
                    self._waiting.popleft()
                    self._end_unadmitted(job, FinishReason.CANCELLED if job.cancelled else FinishReason.DEADLINE)
                elif job.spec.rows <= free:
                    admitted.append(self._waiting.popleft())
                    free -= job.spec.rows
                    self._reserved += job.spec.rows
                    job.reserved = job.spec.rows
                else:
                    break  # first come, first served: a big request is not overtaken for ever
            return admitted

    def _end_unadmitted(self, job: Job, reason: FinishReason) -> None:
        for index in range(job.spec.rows):
            self.stats.finished[reason] += 1
            job.emit(Finished(index, reason, 0))

    def _drop_ended(self) -> None:
        """Rows of cancelled or expired requests leave before the next step."""
        now = time.monotonic()
        for row in self._rows:
            if row.job.cancelled:
                self._finish(row, FinishReason.CANCELLED)
            elif row.job.expired(now):
                self._finish(row, FinishReason.DEADLINE)
        self._compact()

    def _compact(self) -> None:
        ended = [row.slot for row in self._rows if row.finished is not None]
        if ended:
            moves = self._cache.release(ended)
            self._rows = [row for row in self._rows if row.finished is None]
            for row in self._rows:
                row.slot = moves.get(row.slot, row.slot)

    def _release(self, job: Job, rows: list[_Row] | None = None) -> None:
        """The job's reserved rows join the batch (`rows`), or never will; one step, so that `submit`
        never counts them twice or not at all."""
        with self._cond:
            if rows:
                self._rows.extend(rows)
            self._reserved -= job.reserved
            job.reserved = 0

    def _admit(self, jobs: list[Job]) -> None:
        """Prefills each job on its own, then writes all their rows into free slots of the batch cache."""
        joining: list[tuple[Job, np.ndarray, dict[str, np.ndarray]]] = []  # (job, first logits, prompt cache)
        for job in jobs:
            if job.cancelled:
                self._release(job)
                self._end_unadmitted(job, FinishReason.CANCELLED)
                continue
            try:
                logits, cache = self.decoder.prefill(job.spec.prompt_ids)
            except Exception as exc:  # one bad prompt must not end the others
                log.exception("generation prefill failed; its request ends with an error")
                self._fail(job, exc)
                continue
            joining.append((job, logits, cache))
        if not joining:
            return
        self.stats.prefills += len(joining)
        at = time.perf_counter()
        # In the batch before their first token is sent, so `active` never misses a row its caller has heard of.
        blocks = [CacheBlock(cache, len(job.spec.prompt_ids), job.spec.rows) for job, _, cache in joining]
        slots = iter(self._cache.add(blocks))
        first_tokens: list[tuple[Job, np.ndarray, list[_Row]]] = []
        for job, logits, _ in joining:
            rows = [_Row(job, i, self._tokenizer, self.max_context) for i in range(job.spec.rows)]
            for row in rows:
                row.slot = next(slots)
            self._release(job, rows)  # counted as active from here on
            first_tokens.append((job, logits, rows))
        # Counted before the events: a caller that has its text sees them counted.
        self._count_tokens(sum(job.spec.rows for job, _, _ in joining))
        for job, logits, rows in first_tokens:
            try:
                # A request's rows (its emotion candidates) share its prompt, so its first logits too.
                for row, token in zip(rows, _sample(rows, np.repeat(logits[None], len(rows), axis=0), self._never), strict=True):
                    self._accept(row, token, at)
            except Exception as exc:  # e.g. a sampler that cannot sample these logits
                log.exception("generation failed on a first token; its request ends with an error")
                self._fail(job, exc)
        self._compact()

    def _fail(self, job: Job, error: BaseException) -> None:
        """Ends one request with an error; its rows (if any joined) leave before the next step."""
        job.cancel()
        self._release(job)
        job.emit(Failed(error))
        for row in self._rows:
            if row.job is job and row.finished is None:
                row.finished = FinishReason.CANCELLED
        self._compact()

    def _step(self) -> None:
        rows = self._rows
        self.stats.largest_batch = max(self.stats.largest_batch, len(rows))
        tokens = np.zeros(self._cache.slots, np.int64)  # a free slot feeds token 0 and its logits are ignored
        for row in rows:
            tokens[row.slot] = row.pending
        logits = self.decoder.step(tokens, self._cache)
        self.stats.steps += 1
        at = time.perf_counter()
        self._count_tokens(len(rows))
        for row, token in zip(rows, _sample(rows, logits[[row.slot for row in rows]], self._never), strict=True):
            self._accept(row, token, at)
        self._compact()

    def _count_tokens(self, count: int) -> None:
        self.stats.tokens += count
        if self._on_tokens is not None:
            self._on_tokens(count)

    def _accept(self, row: _Row, token: int, at: float) -> None:
        """Appends a sampled token to its row, sends its text, and ends the row if it is done."""
        row.ids[row.length] = token
        row.length += 1
        row.generated += 1
        row.pending = token
        if token == self._eos_id:
            row.job.emit(Delta(row.index, "", token, at))
            self._finish(row, FinishReason.END_OF_TEXT)
            return
        text, stopped = row.stopper.push(row.detokenizer.push(token))
        row.job.emit(Delta(row.index, text, token, at))
        if stopped:
            self._finish(row, FinishReason.STOP_SEQUENCE)
        elif row.generated >= row.job.spec.max_new_tokens:
            self._finish(row, FinishReason.LENGTH)
        elif row.length >= self.max_context:
            self._finish(row, FinishReason.CONTEXT_FULL)

    def _finish(self, row: _Row, reason: FinishReason) -> None:
        """Releases the text a row still holds (unless it ends early) and tells its request."""
        if reason not in (FinishReason.STOP_SEQUENCE, FinishReason.CANCELLED, FinishReason.DEADLINE):
            text, stopped = row.stopper.push(row.detokenizer.flush())
            if stopped:
                reason = FinishReason.STOP_SEQUENCE
            else:
                text += row.stopper.flush()
            if text:
                row.job.emit(Delta(row.index, text, None, time.perf_counter()))
        row.finished = reason
        self.stats.finished[reason] += 1
        row.job.emit(Finished(row.index, reason, row.generated))

    def _fail_all(self, error: BaseException) -> None:
        jobs = {id(row.job): row.job for row in self._rows}
        for job in jobs.values():
            job.cancel()
            job.emit(Failed(error))
        self._rows = []
        self._cache = self.decoder.new_cache(self.max_context)
