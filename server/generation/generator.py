"""The story model as servicers and the CLI use it: params in, text pieces and a result out.

It plans a request against the model (prompt layout, limits, seed, candidates), submits it to the
scheduler, gathers each row's events as they reach this event loop (server.generation.events), and
lets server.generation.rerank pick among candidates; when the content filter restricts a request's
rating, server.generation.filtered screens the text before it is sent.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import weakref
from collections.abc import AsyncGenerator
from typing import Protocol

from server.config import GenerationSettings, LimitSettings
from server.errors import InvalidArgument, Unavailable
from server.generation.decoder import KVDecoder
from server.generation.events import event_batches
from server.generation.filtered import filtered_stream
from server.generation.mailbox import Mailbox
from server.generation.plan import Call, Plan, draw_seed
from server.generation.prompt import PromptEncoder
from server.generation.rerank import CandidateText, Judge, choose, read_emotion
from server.generation.safety import ContentFilter, Rating
from server.generation.scheduler import GenerationScheduler
from server.generation.types import Delta, GenerationParams, GenerationResult, SequenceSpec
from server.models.emotion import BatchedEmotionClassifier
from server.models.registry import LoadedBundle

__all__ = ["GenerationObserver", "GenerationResult", "StoryGenerator"]


class GenerationObserver(Protocol):
    """Hears generation figures (server.metrics implements it); called from any thread."""

    def observe_tokens(self, count: int) -> None: ...

    def observe_time_to_first_token(self, seconds: float) -> None: ...


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
            never_ids=self.prompt.control_ids,
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
        candidates = self._candidates(params)
        spec = SequenceSpec(
            prompt_ids=tuple(prompt_ids),
            sampling=params.sampling,
            max_new_tokens=params.max_new_tokens,
            seed=draw_seed(params.seed),
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
        (see server.generation.filtered).
        """
        call = Call(deadline, time.perf_counter() if started is None else started, judge)
        allowed = Rating(params.rating or Rating.EVERYONE)
        if self.safety is not None and self.safety.restricts(allowed):
            items = filtered_stream(self, params, call)
        else:
            items = self.stream_unfiltered(params, call)
        async with contextlib.aclosing(items) as pieces:
            async for item in pieces:
                yield item

    async def stream_unfiltered(self, params: GenerationParams, call: Call) -> AsyncGenerator[str | GenerationResult]:
        """One generation (one or several candidates), with no content filter."""
        plan = self.plan(params, call.deadline)
        rows = [CandidateText() for _ in range(plan.candidates)]
        # aclosing: when our caller stops early, the job is cancelled now, not at garbage collection.
        async with contextlib.aclosing(event_batches(self.scheduler, self._mailbox(), plan)) as batches:
            async for batch in batches:
                pieces = []  # what arrived together leaves together: one piece, not one per token
                for event in batch:
                    row = rows[event.row]
                    if isinstance(event, Delta):
                        if event.token_id is not None:
                            row.token_ids.append(event.token_id)
                            if row.first_token_at is None:
                                row.first_token_at = event.at
                        if event.text:
                            row.deltas.append(event.text)
                            pieces.append(event.text)
                    else:
                        row.finish_reason, row.completion_tokens = event.reason, event.completion_tokens
                if pieces and plan.candidates == 1:
                    yield "".join(pieces)
        chosen, reading = await choose(rows, params.target_emotion, self.emotion, call.judge)
        if plan.candidates > 1:
            for text in chosen.deltas:
                yield text
        if reading is None:
            reading = await read_emotion(self.emotion, chosen.text)
        first = min((r.first_token_at for r in rows if r.first_token_at is not None), default=time.perf_counter())
        ttft = max(first - call.started, 0.0)
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

    async def close(self) -> None:
        await asyncio.to_thread(self.scheduler.close)
