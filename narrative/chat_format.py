"""A chat model's conversation layout, reduced to the text around one system, user and assistant turn.

The trainer writes NPC-line examples in the base model's chat template and the server must build
the very same text at run time, without transformers or Jinja on the serving path. Every prompt
Storyteller sends has one shape (a system message, one user message, the assistant's reply), so
four pieces of literal text describe the template completely for it:

    system_prefix + SYSTEM + system_to_user + USER + user_to_assistant + REPLY + reply_suffix

export/ reads those pieces off the tokenizer's own template (rendering it around sentinels) and
stores them in the bundle's manifest; trainer and server both render through `ChatFormat.render`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

SYSTEM_SENTINEL = "\u2402SYSTEM\u2402"
USER_SENTINEL = "\u2402USER\u2402"
REPLY_SENTINEL = "\u2402REPLY\u2402"


class ChatFormatError(ValueError):
    """A chat template that does not keep a system, user and assistant message in order."""


@dataclass(frozen=True)
class ChatFormat:
    system_prefix: str
    system_to_user: str
    user_to_assistant: str
    reply_suffix: str

    def render(self, system: str, user: str) -> str:
        """The prompt up to where the assistant's reply starts."""
        return f"{self.system_prefix}{system}{self.system_to_user}{user}{self.user_to_assistant}"

    def as_manifest(self) -> dict[str, str]:
        return asdict(self)

    @classmethod
    def from_rendered(cls, prompt: str, conversation: str) -> ChatFormat:
        """From the template rendered twice around the sentinels: (system, user) with the generation
        prompt, and (system, user, reply) without it."""
        try:
            prefix, rest = prompt.split(SYSTEM_SENTINEL)
            system_to_user, user_to_assistant = rest.split(USER_SENTINEL)
            before_reply, reply_suffix = conversation.split(REPLY_SENTINEL)
        except ValueError:
            raise ChatFormatError("the template drops or repeats a message (system, user or reply)") from None
        if before_reply != prompt:
            raise ChatFormatError("the reply does not start where the generation prompt ends")
        return cls(prefix, system_to_user, user_to_assistant, reply_suffix)
