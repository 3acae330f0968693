"""The brief a chat-tuned story model gets for one NPC line, and its text: one layout for trainer and server.

The story model learns NPC lines from the corpus's quoted dialogue (export/npc_examples.py) and
the server asks for them from a session's state; both turn a `LineBrief` into chat messages here,
so what the model reads at run time is what it was trained on, field for field. Fields without a
value are left out rather than written empty, because the corpus rarely knows a place or a fact
and the model must not learn that an empty field means anything.

The reply is the spoken words alone: no quotation marks, no "she said", no other speaker.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from narrative.chat_format import ChatFormat
from narrative.context import GenerationContext
from narrative.emotions import EkmanLabel
from narrative.graph import PlotGraph
from narrative.prompting import MOOD, PLAYER_IN_PROSE, QUOTE, Intent, StoryPrompt
from narrative.state import SessionState
from narrative.vocabulary import PLAYER_ID

MAX_EARLIER = 4  # lines of the conversation so far that a brief carries, the latest last
# A line is one paragraph and is never quoted (the corpus's lines are the words inside the quotes):
# a new line or a quotation mark means the model went on past the line.
LINE_STOPS = ("\n", QUOTE)
_SPEECH_VERBS = r"(?:said|says|asked|asks|replied|replies|answered|cried|exclaimed|whispered|shouted|muttered|added)"
# Narration around speech: ", she said" / ", said the constable" / "He said, ..." (a line may say "I said").
_WHO = r"(?:[Hh]e|[Ss]he|[Tt]hey|(?!You\b|I\b)[A-Z][a-z]+|the [a-z]+)"
_ATTRIBUTION = re.compile(
    rf"[,.!?]\s*{_WHO} {_SPEECH_VERBS}\b|[,.!?]\s*{_SPEECH_VERBS} {_WHO}\b|^{_WHO} {_SPEECH_VERBS}[,:]"
)
_SPEAKER_TAG = re.compile(r"(?:^|\n)\s*[A-Z][\w .']{0,30}:\s")


@dataclass(frozen=True)
class Spoken:
    """A line said earlier in the conversation."""

    speaker: str
    text: str


@dataclass(frozen=True)
class LineBrief:
    speaker: str
    listener: str = ""
    scene: str = ""  # where, and what just happened
    feeling: EkmanLabel | None = None
    knows: tuple[str, ...] = ()
    intent: Intent = ""
    earlier: tuple[Spoken, ...] = ()
    style: str = ""

    def system(self) -> str:
        story = f"a {self.style.replace('_', ' ')} story" if self.style else "a story"
        return f"You write the next line {self.speaker} says in {story}. Reply with the spoken words only."

    def user(self) -> str:
        lines = [f"Speaker: {self.speaker}"]
        if self.listener:
            lines.append(f"Listener: {self.listener}")
        if self.scene:
            lines.append(f"Scene: {self.scene}")
        if self.feeling is not None:
            lines.append(f"{self.speaker} feels: {MOOD[self.feeling]}")
        if self.knows:
            lines.append(f"{self.speaker} knows: " + " ".join(fact.rstrip(".") + "." for fact in self.knows))
        if self.intent:
            lines.append(f"Intent: {self.intent}")
        if self.earlier:
            lines.append("Conversation so far:")
            lines += [f'{line.speaker}: "{line.text}"' for line in self.earlier[-MAX_EARLIER:]]
        return "\n".join(lines)

    def prompt(self, chat: ChatFormat) -> str:
        """The text up to where the line starts, in the model's chat layout."""
        return chat.render(self.system(), self.user())


def is_single_utterance(text: str) -> bool:
    """Whether a written NPC line is the spoken words alone: not empty, one paragraph, no quotation
    marks (narration around speech), no "she said" attribution, no "Name:" turn of another speaker."""
    stripped = text.strip()
    if not stripped or "\n" in stripped or '"' in stripped:
        return False
    return not (_ATTRIBUTION.search(stripped) or _SPEAKER_TAG.search(stripped))


def _spoken_name(graph: PlotGraph, character: str) -> str:
    return PLAYER_IN_PROSE.capitalize() if character == PLAYER_ID else graph.character(character).name


def conversation(graph: PlotGraph, state: SessionState, listener: str, situation: str = "") -> tuple[Spoken, ...]:
    """The session's latest lines said aloud, then what the listener has just said (`situation`)."""
    earlier = [Spoken(_spoken_name(graph, line.speaker), line.text) for line in state.lines]
    if situation.strip():
        earlier.append(Spoken(_spoken_name(graph, listener), situation.strip()))
    return tuple(earlier[-MAX_EARLIER:])


def chat_line_prompt(
    context: GenerationContext, chat: ChatFormat, intent: Intent = "", earlier: tuple[Spoken, ...] = (),
    max_chars: int = 400,
) -> StoryPrompt:
    """An NPC line for a chat-tuned model: the brief in its chat layout. The line ends with the turn
    (the model's end of text), or at LINE_STOPS."""
    brief = brief_from_context(context, intent, earlier, max_scene_chars=max_chars)
    return StoryPrompt(brief.prompt(chat), context.style, context.target_emotion, LINE_STOPS)


def chat_situation_prompt(
    speaker: str, situation: str, chat: ChatFormat, listener: str = "", intent: Intent = "",
    emotion: EkmanLabel | None = None, style: str = "", max_chars: int = 400,
) -> StoryPrompt:
    """A line outside any plot graph (a spreadsheet row) for a chat-tuned model: the situation is the scene."""
    brief = LineBrief(
        speaker=speaker, listener=listener or PLAYER_IN_PROSE, scene=situation.strip()[-max_chars:] if max_chars else "",
        feeling=emotion, intent=intent, style=style,
    )  # fmt: skip
    return StoryPrompt(brief.prompt(chat), style, emotion, LINE_STOPS)


def brief_from_context(
    context: GenerationContext,
    intent: Intent = "",
    earlier: tuple[Spoken, ...] = (),
    max_scene_chars: int = 400,
) -> LineBrief:
    """A session's context as a brief: the beat's place and summary as the scene, the speaker's facts."""
    if context.speaker is None:
        raise ValueError("an NPC line needs a speaker in its context")
    listener = PLAYER_IN_PROSE if context.listener in (None, "the player") else context.listener
    scene = f"{context.location.rstrip('.')}. {context.summary}".strip()
    return LineBrief(
        speaker=context.speaker,
        listener=listener,
        scene=scene[:max_scene_chars],
        feeling=context.target_emotion,
        knows=context.knowledge,
        intent=intent,
        earlier=earlier,
        style=context.style,
    )
