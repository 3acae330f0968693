"""A generation whose text passes the content filter before it is sent.

Words are checked as they complete; a word above the request's rating is never sent: generation
resamples from the text already sent, with the next seed, up to generation.max_resamples times,
and then ends with what was sent. With a classifier hook, whole texts are judged before release.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import AsyncGenerator
from dataclasses import replace
from typing import TYPE_CHECKING

from server.generation.plan import Call, draw_seed
from server.generation.rerank import read_emotion
from server.generation.safety import Rating, WordScreen, release_points
from server.generation.types import FinishReason, GenerationParams, GenerationResult
from server.models.emotion import EmotionReading

if TYPE_CHECKING:
    from server.generation.generator import StoryGenerator


async def filtered_stream(
    story: StoryGenerator, params: GenerationParams, call: Call
) -> AsyncGenerator[str | GenerationResult]:
    """Text pieces that passed the filter, then the GenerationResult (its figures the generation's own
    when nothing was filtered)."""
    assert story.safety is not None
    safety, allowed = story.safety, Rating(params.rating or Rating.EVERYONE)
    whole_texts = safety.classifier is not None
    seed = draw_seed(params.seed)
    judge = call.judge

    def clean_first(text: str, reading: EmotionReading | None) -> int:
        blocked = 1000 if safety.text_needs(text) > allowed else 0
        return blocked + (judge(text, reading) if judge is not None else 0)

    screen = WordScreen(safety)  # what was sent, screened word by word
    held, first_sent, filtered = "", None, False
    result: GenerationResult | None = None
    for attempt in range(story.settings.max_resamples + 1):
        sent = screen.text
        used = len(story.tokenizer.encode(sent, add_special_tokens=False).ids) if sent else 0
        if used >= params.max_new_tokens:
            break
        attempt_params = replace(
            params, prompt=params.prompt + sent, seed=seed + attempt, max_new_tokens=params.max_new_tokens - used
        )
        held, rejected = "", False
        attempt_call = replace(call, judge=clean_first)
        async with contextlib.aclosing(story.stream_unfiltered(attempt_params, attempt_call)) as items:
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
    reading = await read_emotion(story.emotion, text)
    base = result or GenerationResult("", (), FinishReason.STOP_SEQUENCE, 0, 0, seed, params.style, 0, 0.0)
    ids = tuple(story.tokenizer.encode(text, add_special_tokens=False).ids)
    started = call.started
    yield replace(
        base, text=text, token_ids=ids, completion_tokens=len(ids), seed=seed, detected_emotion=reading,
        content_filtered=filtered, time_to_first_token_ms=((first_sent or started) - started) * 1000,
        prompt_tokens=len(story.prompt.encode(params.prompt, params.style, params.target_emotion)),
    )  # fmt: skip
