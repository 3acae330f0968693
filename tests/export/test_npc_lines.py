"""NPC-line examples from quoted dialogue, and the chat layout that trainer and server share."""

from __future__ import annotations

import pytest

from export.npc_examples import corpus_examples, with_feelings, work_examples
from export.story_base import chat_format_of
from export.story_corpus import Work
from narrative.chat_format import ChatFormat, ChatFormatError
from narrative.line_brief import MAX_EARLIER, LineBrief, Spoken
from tests.export.tiny_chat_llama import build_tiny_chat_llama

WORK = """\
CHAPTER I.

The rain had not stopped for three days, and the inn at the crossroads was full of wet travellers.
Maren stood by the fire and watched the door.

"You should not have come here tonight," warned Maren.

"Why not?" Tobias asked. "The road is closed behind me."

"Because the river is rising," he said, "and the bridge will not hold."

Tobias said, "Then I will wait for the morning, as everyone else does."

A long silence followed, broken only by the wind against the shutters and the hiss of the fire.
"""


@pytest.fixture(scope="module")
def tokenizer(tmp_path_factory):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(build_tiny_chat_llama(tmp_path_factory.mktemp("chat")))


def test_chat_format_renders_what_the_template_renders(tokenizer):
    chat = chat_format_of(tokenizer)
    assert chat is not None
    brief = LineBrief(speaker="Maren", listener="Tobias", scene="An inn.", intent="warn")
    messages = [{"role": "system", "content": brief.system()}, {"role": "user", "content": brief.user()}]
    expected = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    assert brief.prompt(chat) == expected
    whole = tokenizer.apply_chat_template([*messages, {"role": "assistant", "content": "Go home."}], tokenize=False)
    assert whole == expected + "Go home." + chat.reply_suffix
    assert ChatFormat(**chat.as_manifest()) == chat


def test_a_template_that_drops_the_system_message_is_refused():
    prompt = "<user>\u2402USER\u2402</user><bot>"
    with pytest.raises(ChatFormatError, match="drops or repeats"):
        ChatFormat.from_rendered(prompt, prompt + "\u2402REPLY\u2402</bot>")


def test_brief_leaves_out_what_it_does_not_know_and_keeps_the_latest_lines():
    bare = LineBrief(speaker="Maren")
    assert bare.user() == "Speaker: Maren"
    earlier = tuple(Spoken("Tobias", f"line {i}") for i in range(MAX_EARLIER + 2))
    full = LineBrief(
        speaker="Maren", listener="Tobias", scene="An inn.", feeling="fear", knows=("The bridge is old",),
        intent="warn", earlier=earlier, style="horror",
    )  # fmt: skip
    text = full.user()
    assert "Maren feels: afraid" in text and "Maren knows: The bridge is old." in text and "Intent: warn" in text
    assert 'Tobias: "line 0"' not in text and text.endswith(f'Tobias: "line {MAX_EARLIER + 1}"')
    assert "horror story" in full.system() and "a story" in bare.system()


def test_examples_name_speaker_listener_scene_intent_and_earlier_lines(tmp_path):
    path = tmp_path / "horror" / "inn.txt"
    path.parent.mkdir()
    path.write_text(WORK)
    examples = list(work_examples(Work("horror", "inn", path), "horror"))
    assert [(e.brief.speaker, e.line) for e in examples] == [
        ("Maren", "You should not have come here tonight."),
        ("Tobias", "Why not? The road is closed behind me."),
        ("Tobias", "Then I will wait for the morning, as everyone else does."),
    ]
    warn, ask, wait = examples
    assert warn.brief.intent == "warn" and ask.brief.intent == "ask" and wait.brief.intent == ""
    assert warn.brief.scene.startswith("The rain had not stopped") and warn.brief.listener == ""
    assert ask.brief.listener == "Maren" and ask.brief.earlier == (Spoken("Maren", warn.line),)
    # The pronoun-attributed line is heard, but nobody is taught to say it.
    assert wait.brief.earlier[-1] == Spoken("Someone", "Because the river is rising, and the bridge will not hold.")
    assert all(e.brief.style == "horror" for e in examples)
    felt = with_feelings(examples, ["fear", "surprise", "neutral"])
    assert [e.brief.feeling for e in felt] == ["fear", "surprise", "neutral"]
    assert corpus_examples([Work("horror", "inn", path)]) == examples


def test_a_template_without_a_system_role_leaves_the_bundle_on_prose_prompts(tokenizer):
    from export.pipeline import _chat_format

    strict = tokenizer.__class__.from_pretrained(tokenizer.name_or_path)
    strict.chat_template = (
        "{% for m in messages %}{% if m['role'] == 'system' %}{{ raise_exception('no system role') }}{% endif %}"
        "{{ m['content'] }}{% endfor %}"
    )
    with pytest.warns(UserWarning, match="prose prompts"):
        assert _chat_format(strict) is None
    assert _chat_format(tokenizer) == chat_format_of(tokenizer).as_manifest()
