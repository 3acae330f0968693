"""The story model as servicers and the CLI use it: params in, text pieces and a result out.

It turns GenerationParams into a scheduler job (prompt layout, seed, candidates), moves
the scheduler's events from its thread into the caller's event loop, and, when a target
emotion asks for several candidates, lets the emotion model pick the one that reads most
like the target. Leaving the async iteration early (the gRPC call was cancelled or its
deadline passed) cancels the job, so its rows leave the batch before the next step.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import time
import weakref
from collections.abc import AsyncGenerator, Callable
from dataclasses import dataclass, field, replace
from typing import Protocol

from server.config import GenerationSettings, LimitSettings
from server.errors import DeadlineExceeded, InvalidArgument, Unavailable
from server.generation.decoder import KVDecoder
from server.generation.mailbox import Mailbox
from server.generation.prompt import PromptEncoder
from server.generation.safety import ContentFilter, Rating, WordScreen, release_points
from server.generation.scheduler import GenerationScheduler, Job
from server.generation.types import Delta, Event, Failed, Finished, FinishReason, GenerationParams, SequenceSpec
from server.models.emotion import BatchedEmotionClassifier, EmotionReading
from server.models.registry import LoadedBundle


def _ending_error(event: Event) -> BaseException | None:
    """The error a call ends with when this event arrives (None for every other event)."""
    if isinstance(event, Failed):
        return event.error
    if isinstance(event, Finished) and event.reason is FinishReason.DEADLINE:
        return DeadlineExceeded("the deadline passed during generation")
    if isinstance(event, Finished) and event.reason is FinishReason.CANCELLED:
        return Unavailable("generation was cancelled: the server is shutting down")
    return None


class GenerationObserver(Protocol):
    """Hears generation figures (server.metrics implements it); called from any thread."""

    def observe_tokens(self, count: int) -> None: ...

    def observe_time_to_first_token(self, seconds: float) -> None: ...


@dataclass
class CandidateText:
    """What one row produced, gathered from its events."""

    deltas: list[str] = field(default_factory=list)
    token_ids: list[int] = field(default_factory=list)
    first_token_at: float | None = None
    finish_reason: FinishReason | None = None
    completion_tokens: int = 0

    @property
    def text(self) -> str:
        return "".join(self.deltas)


@dataclass(frozen=True)
class GenerationResult:
    text: str
    token_ids: tuple[int, ...]  # generated ids of the returned candidate, EOS included
    finish_reason: FinishReason
    prompt_tokens: int
    completion_tokens: int
    seed: int
    style: str
    candidates: int
    time_to_first_token_ms: float
    detected_emotion: EmotionReading | None = None
    content_filtered: bool = False  # a candidate or a continuation was dropped by the content filter


@dataclass(frozen=True)
class Plan:
    """A request made concrete: what the scheduler decodes and how many candidates compete."""

    spec: SequenceSpec
    candidates: int


def emotion_score(reading: EmotionReading, target: str) -> float:
    """How strongly a text carries `target`: its Ekman group probability, or its fine label's."""
    if target in reading.ekman:
        return reading.ekman[target]
    return reading.labels.get(target, 0.0)


Judge = Callable[[str, EmotionReading | None], int]
"""Problems a caller finds in a candidate text (e.g. coherence warnings); fewer wins before emotion."""


class StoryGenerator:
    def __init__(
        self,
        bundle: LoadedBundle,
        settings: GenerationSettings,
        limits: LimitSettings,
        emotion: BatchedEmotionClassifier | None = None,
        observer: GenerationObserver | None = None,
        safety: ContentFilter | None = None,
    ) -> None:
        manifest = bundle.manifest
        self.bundle = bundle
        self.name = manifest.name
        self.settings = settings
        self.limits = limits
        self.emotion = emotion
        self.safety = safety
        self._observer = observer
        tokenizer = bundle.tokenizer
        # The prompt is encoded whole: a tokenizer.json saved with padding or truncation must not apply.
        tokenizer.no_padding()
        tokenizer.no_truncation()
        self.tokenizer = tokenizer
        self.prompt = PromptEncoder(tokenizer, manifest)
        self.max_context = manifest.max_context or limits.max_prompt_tokens + limits.max_new_tokens
        self.scheduler = GenerationScheduler(
            KVDecoder(bundle.session),
            tokenizer,
            max_context=self.max_context,
            eos_id=manifest.special_tokens.get("eos_token_id"),
            max_batch_size=settings.max_batch_size,
            max_waiting=settings.max_waiting,
            on_tokens=observer.observe_tokens if observer is not None else None,
        )
        self._mailboxes: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Mailbox] = weakref.WeakKeyDictionary()

    @property
    def max_candidates(self) -> int:
        """Candidates share one batch, so the batch size bounds them too."""
        return min(self.limits.max_candidates, self.settings.max_batch_size)

    def _candidates(self, params: GenerationParams) -> int:
        """1 unless a target emotion can rerank different texts (greedy ones would all be the same)."""
        if not params.target_emotion or params.sampling.greedy:
            return 1
        wanted = params.num_candidates or min(self.settings.default_candidates, self.max_candidates)
        if wanted > 1 and self.emotion is None:
            if params.num_candidates:
                raise Unavailable("num_candidates: reranking candidates needs an emotion model, and none is loaded")
            return 1
        return wanted

    def plan(self, params: GenerationParams, deadline: float | None = None) -> Plan:
        """Checks what needs the model (control values, prompt length); raises InvalidArgument."""
        prompt_ids = self.prompt.encode(params.prompt, params.style, params.target_emotion)
        limit = min(self.limits.max_prompt_tokens, self.max_context - 1)
        if len(prompt_ids) > limit:
            raise InvalidArgument("prompt", f"{len(prompt_ids)} tokens (with the control tokens); the limit is {limit}")
        if params.num_candidates > self.max_candidates:
            raise InvalidArgument("num_candidates", f"{params.num_candidates}; the limit is {self.max_candidates}")
        seed = params.seed or secrets.randbelow(2**63 - 1) + 1
        candidates = self._candidates(params)
        spec = SequenceSpec(
            prompt_ids=tuple(prompt_ids),
            sampling=params.sampling,
            max_new_tokens=params.max_new_tokens,
            seed=seed,
            rows=candidates,
            stop=params.stop,
            deadline=deadline,
        )
        return Plan(spec, candidates)

    def _mailbox(self) -> Mailbox:
        loop = asyncio.get_running_loop()
        mailbox = self._mailboxes.get(loop)
        if mailbox is None:
            mailbox = self._mailboxes[loop] = Mailbox(loop, self._delivery_interval)
        return mailbox

    def _delivery_interval(self) -> float:
        """Seconds between deliveries of tokens to streams: none while one row decodes alone."""
        return self.settings.stream_interval_ms / 1000 if self.scheduler.active > 1 else 0.0

    async def _event_batches(self, plan: Plan) -> AsyncGenerator[list[Event]]:
        """The job's events in this event loop, in the batches they arrived in; the job is
        cancelled when the iteration stops early."""
        queue: asyncio.Queue[Event] = asyncio.Queue()
        mailbox = self._mailbox()
        text_sent = False

        def emit(event: Event) -> None:
            """A call's first text and its end (any other event) are not held back by the interval."""
            nonlocal text_sent
            is_text = isinstance(event, Delta) and bool(event.text)
            mailbox.post(queue, event, urgent=not isinstance(event, Delta) or (is_text and not text_sent))
            text_sent = text_sent or is_text

        job = Job(plan.spec, emit)
        self.scheduler.submit(job)
        remaining = plan.spec.rows
        try:
            while remaining:
                batch = [await queue.get()]
                while not queue.empty():
                    batch.append(queue.get_nowait())
                for position, event in enumerate(batch):
                    if isinstance(event, Finished):
                        remaining -= 1
                    error = _ending_error(event)
                    if error is not None:
                        if position:
                            yield batch[:position]
                        raise error
                yield batch
        finally:
            job.cancel()

    async def stream(
        self,
        params: GenerationParams,
        deadline: float | None = None,
        started: float | None = None,
        judge: Judge | None = None,
    ) -> AsyncGenerator[str | GenerationResult]:
        """Text pieces as they are generated, then the GenerationResult.

        With several candidates nothing can be sent before all are done and one is chosen;
        the chosen candidate's pieces then follow at once. `deadline` is time.monotonic();
        `started` (time.perf_counter()) is when the request arrived, for time to first token.
        `judge`, when given, counts each candidate's problems: the fewest wins, emotion breaks ties.
        When the content filter restricts the request's rating, text passes it before it is sent
        (see server.generation.safety).
        """
        allowed = Rating(params.rating or Rating.EVERYONE)
        inner = self._stream_once
        if self.safety is not None and self.safety.restricts(allowed):
            inner = self._stream_filtered
        async with contextlib.aclosing(inner(params, deadline, started, judge)) as items:
            async for item in items:
                yield item

    async def _stream_filtered(
        self,
        params: GenerationParams,
        deadline: float | None = None,
        started: float | None = None,
        judge: Judge | None = None,
    ) -> AsyncGenerator[str | GenerationResult]:
        """Words are checked as they complete; a word above the rating is never sent: generation
        resamples from the text already sent, with the next seed, up to generation.max_resamples
        times, and then ends with what was sent. With a classifier hook, whole texts are judged
        before release."""
        assert self.safety is not None
        safety, allowed = self.safety, Rating(params.rating or Rating.EVERYONE)
        whole_texts = safety.classifier is not None
        seed = params.seed or secrets.randbelow(2**62) + 1
        started = time.perf_counter() if started is None else started

        def clean_first(text: str, reading: EmotionReading | None) -> int:
            blocked = 1000 if safety.text_needs(text) > allowed else 0
            return blocked + (judge(text, reading) if judge is not None else 0)

        screen = WordScreen(safety)  # what was sent, screened word by word
        held, first_sent, filtered = "", None, False
        result: GenerationResult | None = None
        for attempt in range(self.settings.max_resamples + 1):
            sent = screen.text
            used = len(self.tokenizer.encode(sent, add_special_tokens=False).ids) if sent else 0
            if used >= params.max_new_tokens:
                break
            attempt_params = replace(
                params, prompt=params.prompt + sent, seed=seed + attempt, max_new_tokens=params.max_new_tokens - used
            )
            held, rejected = "", False
            async with contextlib.aclosing(self._stream_once(attempt_params, deadline, started, clean_first)) as items:
                async for item in items:
                    if isinstance(item, GenerationResult):
                        result = item
                        continue
                    held += item
                    if whole_texts:
                        continue
                    passed = 0  # held[:passed] is clean, checked word by word up to the first blocked one
                    for point in release_points(held):
                        needed = screen.needs(held[passed:point])
                        if needed > allowed:
                            rejected = True
                            break
                        screen.append(held[passed:point], needed)
                        passed = point
                    if passed:
                        first_sent = first_sent or time.perf_counter()
                        yield held[:passed]
                        held = held[passed:]
                    if rejected:
                        break
            if not rejected and safety.text_needs(screen.text + held) <= allowed:
                break
            filtered = True
            held = ""
            if whole_texts:
                result = None
        else:
            held = ""  # every resample was filtered: what was sent stands, nothing more is added
        if held:
            first_sent = first_sent or time.perf_counter()
            yield held
        text = screen.text + held
        if result is not None and not filtered:  # passed at once: the generation's own figures stand
            yield result
            return
        reading = await self._read_emotion(text) if text.strip() else None
        base = result or GenerationResult("", (), FinishReason.STOP_SEQUENCE, 0, 0, seed, params.style, 0, 0.0)
        ids = tuple(self.tokenizer.encode(text, add_special_tokens=False).ids)
        yield replace(
            base, text=text, token_ids=ids, completion_tokens=len(ids), seed=seed, detected_emotion=reading,
            content_filtered=filtered, time_to_first_token_ms=((first_sent or started) - started) * 1000,
            prompt_tokens=len(self.prompt.encode(params.prompt, params.style, params.target_emotion)),
        )  # fmt: skip

    async def _stream_once(
        self,
        params: GenerationParams,
        deadline: float | None = None,
        started: float | None = None,
        judge: Judge | None = None,
    ) -> AsyncGenerator[str | GenerationResult]:
        """One generation (one or several candidates), unfiltered."""
        started = time.perf_counter() if started is None else started
        plan = self.plan(params, deadline)
        rows = [CandidateText() for _ in range(plan.candidates)]
        # aclosing: when our caller stops early, the job is cancelled now, not at garbage collection.
        async with contextlib.aclosing(self._event_batches(plan)) as batches:
            async for batch in batches:
                pieces = []  # what arrived together leaves together: one piece, not one per token
                for event in batch:
                    assert not isinstance(event, Failed), "a failure ends the batches with its error"
                    row = rows[event.row]
                    if isinstance(event, Delta):
                        if event.token_id is not None:
                            row.token_ids.append(event.token_id)
                            if row.first_token_at is None:
                                row.first_token_at = event.at
                        if event.text:
                            row.deltas.append(event.text)
                            pieces.append(event.text)
                    elif isinstance(event, Finished):
                        row.finish_reason, row.completion_tokens = event.reason, event.completion_tokens
                if pieces and plan.candidates == 1:
                    yield "".join(pieces)
        chosen, reading = await self._choose(rows, params.target_emotion, judge)
        if plan.candidates > 1:
            for text in chosen.deltas:
                yield text
        if reading is None:
            reading = await self._read_emotion(chosen.text)
        first = min((r.first_token_at for r in rows if r.first_token_at is not None), default=time.perf_counter())
        ttft = max(first - started, 0.0)
        if self._observer is not None:
            self._observer.observe_time_to_first_token(ttft)
        assert chosen.finish_reason is not None
        yield GenerationResult(
            text=chosen.text,
            token_ids=tuple(chosen.token_ids),
            finish_reason=chosen.finish_reason,
            prompt_tokens=len(plan.spec.prompt_ids),
            completion_tokens=chosen.completion_tokens,
            seed=plan.spec.seed,
            style=params.style,
            candidates=plan.candidates,
            time_to_first_token_ms=ttft * 1000,
            detected_emotion=reading,
        )

    async def generate(
        self,
        params: GenerationParams,
        deadline: float | None = None,
        started: float | None = None,
        judge: Judge | None = None,
    ) -> GenerationResult:
        """The whole text at once: the same pieces as stream(), joined."""
        async with contextlib.aclosing(self.stream(params, deadline, started, judge)) as items:
            async for item in items:
                if isinstance(item, GenerationResult):
                    return item
        raise AssertionError("stream() always ends with a GenerationResult")

    async def _choose(
        self, rows: list[CandidateText], target: str, judge: Judge | None = None
    ) -> tuple[CandidateText, EmotionReading | None]:
        """The candidate with the fewest problems, then reading most like `target`, then the first;
        one candidate is itself."""
        if len(rows) == 1:
            return rows[0], None
        if self.emotion is not None:
            readings: list[EmotionReading | None] = list(
                await self.emotion.classify([row.text if row.text.strip() else " " for row in rows])
            )
        else:
            readings = [None] * len(rows)
        readings = [r if row.text.strip() else None for r, row in zip(readings, rows, strict=True)]
        scores = [emotion_score(r, target) if r is not None else -1.0 for r in readings]
        problems = [judge(row.text, r) if judge is not None else 0 for row, r in zip(rows, readings, strict=True)]
        best = max(range(len(rows)), key=lambda i: (-problems[i], scores[i], -i))
        return rows[best], readings[best]

    async def _read_emotion(self, text: str) -> EmotionReading | None:
        if self.emotion is None or not text.strip():
            return None
        return (await self.emotion.classify([text]))[0]

    async def close(self) -> None:
        await asyncio.to_thread(self.scheduler.close)
