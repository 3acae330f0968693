"""Fine-tuning the story model from a pretrained chat LM: control tokens, NPC-line examples, LoRA and full."""

from __future__ import annotations

import json

import numpy as np
import pytest

from export.npc_examples import LineExample
from export.story_base import chat_format_of, load_base_model, load_base_tokenizer
from export.story_tokenizer import END_OF_TEXT, control_tokens, emotion_token, style_token
from export.train_story import StoryTrainConfig, _segment_tokens, encode_lines, train_story
from narrative.emotions import EKMAN_AXES
from narrative.line_brief import LineBrief
from tests.export.test_story_training import emotion_bundle, prose  # noqa: F401 (fixture)
from tests.export.tiny_chat_llama import build_tiny_chat_llama

STYLES = ("fairy_tale", "horror")


def _dialogue_work(path, seed: int) -> None:
    import random

    rng = random.Random(seed)
    blocks = []
    for _ in range(24):
        blocks.append(prose(rng, rng.randint(2, 4)))
        blocks.append(f'"{prose(rng, 1)}" said Maren.')
        blocks.append(f'"{prose(rng, 1)[:-1]}?" asked Tobias.')
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n\n".join(blocks) + "\n")


@pytest.fixture(scope="module")
def dialogue_stories(tmp_path_factory):
    root = tmp_path_factory.mktemp("dialogue")
    for genre in STYLES:
        for title in ("a", "b"):
            _dialogue_work(root / genre / f"{genre}_{title}.txt", seed=len(genre) * 7 + ord(title))
    return root


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    return build_tiny_chat_llama(tmp_path_factory.mktemp("base") / "model")


def test_control_tokens_are_special_and_start_at_their_words(base):
    import torch

    tokenizer = load_base_tokenizer(base, STYLES)
    model = load_base_model(base, tokenizer, dropout=0.1)
    embeddings = model.get_input_embeddings().weight
    for token in control_tokens(STYLES):
        assert tokenizer(f"x{token}y", add_special_tokens=False)["input_ids"][1] == tokenizer.convert_tokens_to_ids(token)
        words = tokenizer(" " + token.strip("<|>").split(":")[1].replace("_", " "), add_special_tokens=False)["input_ids"]
        torch.testing.assert_close(embeddings[tokenizer.convert_tokens_to_ids(token)], embeddings[words].mean(0))
    assert embeddings.shape[0] == len(tokenizer)
    assert tokenizer.bos_token == tokenizer.eos_token == END_OF_TEXT
    assert model.config.eos_token_id == tokenizer.convert_tokens_to_ids(END_OF_TEXT)
    assert model.config.attention_dropout == 0.1


def test_npc_examples_learn_the_line_not_the_brief(base):
    tokenizer = load_base_tokenizer(base, STYLES)
    chat = chat_format_of(tokenizer)
    brief = LineBrief(speaker="Maren", listener="Tobias", feeling="fear", intent="warn", style="horror")
    example = LineExample("inn", brief, "Go home.")
    end = tokenizer.convert_tokens_to_ids("<|im_end|>")
    corpus = encode_lines(tokenizer.backend_tokenizer, chat, [example], tokenizer.convert_tokens_to_ids(END_OF_TEXT), end)
    tokens, learned = _segment_tokens(corpus, 0, None, 0.0)
    text = tokenizer.decode(tokens)
    assert text.startswith(END_OF_TEXT + style_token("horror") + emotion_token("fear") + brief.prompt(chat))
    taught = tokenizer.decode([t for t, flag in zip(tokens, learned, strict=True) if flag])
    assert taught == END_OF_TEXT + style_token("horror") + emotion_token("fear") + "Go home.<|im_end|>"


@pytest.mark.parametrize("lora_rank", [0, 4])
def test_tiny_fine_tune_runs_resumes_and_saves_a_plain_model(base, dialogue_stories, emotion_bundle, tmp_path, lora_rank):  # noqa: F811
    from transformers import AutoModelForCausalLM, AutoTokenizer

    config = StoryTrainConfig(
        data=dialogue_stories, out=tmp_path / "run", emotion_bundle=emotion_bundle, base=base, lora_rank=lora_rank,
        context=64, batch_size=2, epochs=0.5, eval_every=3, eval_blocks=4, warmup_steps=1, learning_rate=1e-3,
        threads=1, npc_share=0.4,
    )  # fmt: skip
    report = train_story(config, progress=False)
    assert report["steps"] == report["total_steps"] > 0
    assert report["best_dev_loss"] < report["history"]["evals"][0]["dev_loss"] or len(report["history"]["evals"]) == 1
    trainable, total = report["trainable_parameters"], report["parameters"]
    assert (trainable < total / 2) if lora_rank else (trainable == total)
    feelings = json.loads((config.out / "corpus" / "line_feelings.json").read_text())
    assert feelings and set(feelings) <= set(EKMAN_AXES)

    config.epochs = 1.0
    resumed = train_story(config, resume=True, progress=False)
    assert resumed["steps"] == resumed["total_steps"] > report["steps"]

    best = config.out / "best"
    model = AutoModelForCausalLM.from_pretrained(best)  # merged: no adapter files needed
    assert not (best / "adapter_config.json").exists()
    tokenizer = AutoTokenizer.from_pretrained(best)
    assert model.get_input_embeddings().weight.shape[0] == len(tokenizer)
    assert set(control_tokens(STYLES)) <= set(tokenizer.get_added_vocab())
    assert chat_format_of(tokenizer) == chat_format_of(load_base_tokenizer(base, STYLES))
    assert np.isfinite(model.lm_head.weight.detach().numpy()).all()
