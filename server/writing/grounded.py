"""Narration and NPC lines written from a session's state, checked against the story, fed back into it.

The pieces are narrative's (context, prose prompt, coherence checks, emotion rules) and the story
generator's; this module puts them in order for one request: build the prompt from the session,
let the generator write candidates and prefer the one with the fewest coherence problems (then the
one closest to the target emotion), report what is still wrong with the chosen text, and, for a
delivered NPC line, move the speaker (and a character listener) by the emotion it carries.

Style and emotion a request names are checked strictly (INVALID_ARGUMENT when the model lacks the
control). The ones derived from the story (the beat's style, a character's mood) are used when the
model has a control token for them and otherwise dropped, with a warning, rather than failing a
game's call over a graph written for another model.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncGenerator, Callable
from dataclasses import dataclass, replace
from typing import cast

from narrative.coherence import CoherenceWarning, check
from narrative.context import build_context
from narrative.emotions import EKMAN_AXES, EkmanLabel, EmotionVector
from narrative.graph import PlotGraph
from narrative.line_brief import chat_line_prompt, conversation
from narrative.prompting import Intent, StoryPrompt, narration_prompt, npc_line_prompt
from narrative.session import deliver_line
from narrative.state import SessionState
from narrative.vocabulary import PLAYER_ID
from server.errors import InvalidArgument
from server.generation.generator import GenerationResult, StoryGenerator
from server.generation.prompt import char_budget
from server.generation.safety import Rating
from server.generation.types import GenerationParams
from server.models.emotion import EmotionReading
from server.sessions.manager import SessionManager

UNSUPPORTED_CONTROL = "control-unavailable"
PROMPT_CHARS = 400  # ~100 tokens of scene at most: the line matters more than a long preamble


@dataclass(frozen=True)
class Written:
    """The chosen text's generation result and what the story says about it."""

    result: GenerationResult
    warnings: tuple[CoherenceWarning, ...]
    step: int  # the session's step after the text was written (and, if asked, applied)


@dataclass(frozen=True)
class LineAsk:
    """An NPC line request, validated except for what needs the session or the model."""

    session_id: str
    character_id: str
    listener_id: str = PLAYER_ID
    intent: Intent = ""
    target_emotion: str = ""
    style: str = ""
    situation: str = ""
    apply_to_state: bool = False


def _top_ekman(reading: EmotionReading | None) -> EkmanLabel | None:
    return reading.top_ekman if reading is not None else None  # type: ignore[return-value]


class GroundedWriter:
    def __init__(self, sessions: SessionManager) -> None:
        self._sessions = sessions

    async def narrate(
        self,
        story: StoryGenerator,
        session_id: str,
        params: GenerationParams,
        deadline: float | None = None,
        started: float | None = None,
    ) -> AsyncGenerator[str | Written]:
        """Prose for the session's current beat; `params` carries sampling and the request's style."""
        session = self._sessions.get(session_id)
        async with contextlib.aclosing(
            narration_in_state(story, session.graph, session.state, params, deadline, started)
        ) as items:
            async for item in items:
                yield item

    async def npc_line(
        self,
        story: StoryGenerator,
        ask: LineAsk,
        params: GenerationParams,
        deadline: float | None = None,
        started: float | None = None,
    ) -> AsyncGenerator[str | Written]:
        """A line by `ask.character_id`; delivered (fed back into the state) when `apply_to_state`."""
        if not ask.character_id:
            raise InvalidArgument("character_id", "required")
        session = self._sessions.get(ask.session_id)
        state = session.state
        listener = ask.listener_id or PLAYER_ID
        async with contextlib.aclosing(line_in_state(story, session.graph, state, ask, params, deadline, started)) as items:
            async for item in items:
                if not isinstance(item, Written):
                    yield item
                    continue
                result = item.result
                if ask.apply_to_state and result.detected_emotion is not None and result.text.strip():
                    heard = EmotionVector.of(result.detected_emotion.ekman)
                    after = await self._sessions.change(
                        ask.session_id,
                        state.step,
                        # the lambda is applied within this iteration (B023)
                        lambda g, s: deliver_line(g, s, ask.character_id, listener, heard, result.text.strip())[0],  # noqa: B023
                    )
                    item = replace(item, step=after.state.step)
                yield item


def _fit(story: StoryGenerator, build: Callable[[int], StoryPrompt], max_new_tokens: int) -> StoryPrompt:
    """The longest prompt (by its scene budget) whose tokens leave room for the text in the context."""
    budget = char_budget(story.max_context, max_new_tokens, PROMPT_CHARS)
    room = max(1, story.max_context - max_new_tokens)
    prompt = build(budget)
    while budget > 0 and len(story.tokenizer.encode(prompt.text, add_special_tokens=False).ids) + 3 > room:
        budget = budget * 3 // 4
        prompt = build(budget)
    return prompt


def _controls(
    story: StoryGenerator, style: str, derived_style: str, emotion: str, derived_emotion: str
) -> tuple[str, str, list[CoherenceWarning]]:
    """The request's own values win (the generator checks them); derived ones only if the model has them."""
    warnings = []
    if not style and derived_style and derived_style not in story.prompt.styles:
        warnings.append(CoherenceWarning(UNSUPPORTED_CONTROL, f"the story model has no style {derived_style!r}"))
        derived_style = ""
    if not emotion and derived_emotion and derived_emotion not in story.prompt.emotions:
        warnings.append(CoherenceWarning(UNSUPPORTED_CONTROL, f"the story model has no emotion {derived_emotion!r}"))
        derived_emotion = ""
    return style or derived_style, emotion or derived_emotion, warnings


async def _write(
    story: StoryGenerator,
    graph: PlotGraph,
    state: SessionState,
    prompt: StoryPrompt,
    params: GenerationParams,
    speaker: str | None,
    warnings: list[CoherenceWarning],
    deadline: float | None,
    started: float | None,
) -> AsyncGenerator[str | Written]:
    """Candidates ranked by coherence problems, then emotion; the chosen text's warnings at the end."""

    def problems(text: str, reading: EmotionReading | None) -> int:
        return len(check(graph, state, text, speaker, _top_ekman(reading)))

    # A request's rating may only narrow the story's: UNSPECIFIED (0) takes the story's.
    rating = min(params.rating or Rating.MATURE, Rating.parse(graph.story.rating))
    stop = tuple(dict.fromkeys((*prompt.stop, *params.stop)))
    params = replace(params, prompt=prompt.text, stop=stop, rating=rating)
    async with contextlib.aclosing(story.stream(params, deadline, started, problems)) as items:
        async for item in items:
            if isinstance(item, GenerationResult):
                found = check(graph, state, item.text.strip(), speaker, _top_ekman(item.detected_emotion))
                yield Written(item, tuple(warnings + found), state.step)
            else:
                yield item


async def line_in_state(
    story: StoryGenerator,
    graph: PlotGraph,
    state: SessionState,
    ask: LineAsk,
    params: GenerationParams,
    deadline: float | None = None,
    started: float | None = None,
) -> AsyncGenerator[str | Written]:
    """An NPC line for `ask` in `state` (no session, nothing applied): the NpcLine RPC's writing step,
    and what tools that write lines for arbitrary beats use."""
    if ask.target_emotion and ask.target_emotion not in EKMAN_AXES:
        raise InvalidArgument("target_emotion", f"{ask.target_emotion!r}; expected one of {', '.join(EKMAN_AXES)}")
    if ask.character_id not in graph.index.characters:
        raise InvalidArgument("character_id", f"{ask.character_id!r} is not a character of {graph.story.id!r}")
    if not state.is_present(ask.character_id):
        raise InvalidArgument("character_id", f"{ask.character_id!r} is not present in beat {state.current_beat!r}")
    listener = ask.listener_id or PLAYER_ID
    if listener != PLAYER_ID and listener not in graph.index.characters:
        raise InvalidArgument("listener_id", f"{listener!r} is not a character of {graph.story.id!r} or 'player'")
    if listener == ask.character_id:
        raise InvalidArgument("listener_id", "a character cannot speak to itself")
    context = build_context(graph, state, speaker=ask.character_id, listener=listener)
    style, emotion, warnings = _controls(story, ask.style, context.style, ask.target_emotion, context.target_emotion or "")
    line_context = replace(context, target_emotion=ask.target_emotion or context.target_emotion)
    # A chat-tuned model reads a brief with the conversation so far; a prose model, a scene to continue.
    chat = story.bundle.manifest.chat()
    earlier = conversation(graph, state, listener, ask.situation) if chat is not None else ()

    def build(chars: int) -> StoryPrompt:
        if chat is not None:
            return chat_line_prompt(line_context, chat, ask.intent, earlier, chars)
        return npc_line_prompt(line_context, ask.intent, ask.situation, chars)

    prompt = _fit(story, build, params.max_new_tokens)
    params = replace(params, style=style, target_emotion=emotion)
    async with contextlib.aclosing(
        _write(story, graph, state, prompt, params, ask.character_id, warnings, deadline, started)
    ) as items:
        async for item in items:
            yield item


async def narration_in_state(
    story: StoryGenerator,
    graph: PlotGraph,
    state: SessionState,
    params: GenerationParams,
    deadline: float | None = None,
    started: float | None = None,
) -> AsyncGenerator[str | Written]:
    """Prose for `state`'s beat (no session): the Narrate RPC's writing step, and what tools that
    narrate arbitrary beats use. The beat's style and arc emotion steer unless `params` names others."""
    context = build_context(graph, state)
    beat = graph.beat(state.current_beat)
    arc = [beat.target_emotion[c] for c in state.present if c in beat.target_emotion]
    style, emotion, warnings = _controls(story, params.style, context.style, "", arc[0] if arc else "")
    prompt = _fit(story, lambda chars: narration_prompt(context, cast(EkmanLabel | None, emotion or None), chars), params.max_new_tokens)
    params = replace(params, style=style, target_emotion=emotion)
    async with contextlib.aclosing(
        _write(story, graph, state, prompt, params, None, warnings, deadline, started)
    ) as items:
        async for item in items:
            yield item
