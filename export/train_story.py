"""Training the story model on public-domain fiction, with style and emotion control: a pretrained LM
fine-tuned (`base`, export.story_base) or a small GPT-2 from scratch, through the same loop.

Why it is built this way:
- Each segment is written as `<|endoftext|><|style:S|><|emotion:E|>text`, the layout the server's
  generation loop builds from a request. Each control token is dropped at random (per segment and
  epoch), so the same model also writes without control: the baseline control is judged against.
- Genres are unbalanced (mystery is 4x adventure); every epoch samples segments with genre weight
  proportional to size**balance, so small genres are seen more often without copying any text.
- Segments are packed into full blocks of `context` tokens: no padding. Every token trains, except
  an NPC-line example's brief (read, not learned: the model should write the line, not briefs).
- With a base model, NPC-line examples (export.npc_examples) in its chat layout are mixed into the
  prose at `npc_share` of the examples, so one model continues prose and speaks lines.
- The epoch's order comes from (seed, epoch), so a checkpoint only needs the step to resume exactly.
- Early stopping watches dev loss on held-out works; OUT/best always holds the best model so far,
  a Hugging Face folder that `storyteller export --task generation` takes as it is.

Outputs: OUT/corpus/ (segments, labels, summary), OUT/tokenizer.json, OUT/best/, OUT/checkpoint.pt,
OUT/training.json.
"""

from __future__ import annotations

import json
import logging
import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
from tokenizers import Tokenizer
from tqdm import tqdm

from export.emotion_labeller import EkmanLabeller
from export.errors import ExportError
from export.npc_examples import LineExample, corpus_examples, with_feelings
from export.story_corpus import (
    Segment,
    Work,
    dev_works,
    find_works,
    read_jsonl,
    read_segments,
    summary,
    write_jsonl,
)
from export.story_tokenizer import (
    END_OF_TEXT,
    control_tokens,
    emotion_token,
    save_for_transformers,
    style_token,
    train_tokenizer,
)
from narrative.chat_format import ChatFormat

log = logging.getLogger("storyteller.train.story")


@dataclass
class StoryTrainConfig:
    data: Path
    out: Path
    emotion_bundle: Path
    vocab_size: int = 8192
    context: int = 256
    layers: int = 6
    width: int = 384
    heads: int = 6
    dropout: float = 0.1
    batch_size: int = 16
    learning_rate: float = 8e-4
    weight_decay: float = 0.1
    warmup_steps: int = 200
    min_lr_ratio: float = 0.1
    epochs: float = 4.0
    max_minutes: float | None = None
    eval_every: int = 250
    eval_blocks: int = 192
    patience: int = 4
    control_dropout: float = 0.15
    balance: float = 0.5
    seed: int = 7
    bf16: bool = True
    threads: int | None = None
    work_limit: int | None = None  # smoke runs: only the first N works of each genre
    base: Path | None = None  # a pretrained causal LM folder to fine-tune; None: a GPT-2 from scratch
    lora_rank: int = 0  # with a base: 0 trains every weight, r > 0 trains LoRA deltas of rank r
    npc_share: float = 0.3  # with a base: the share of training examples that are NPC lines


@dataclass
class History:
    evals: list[dict] = field(default_factory=list)
    best_step: int = -1
    best_dev_loss: float = math.inf


# --- corpus -----------------------------------------------------------------------------------


def corpus_works(config: StoryTrainConfig) -> list[Work]:
    """The works training reads: all of them, or the first `work_limit` of each genre (smoke runs)."""
    works = find_works(config.data)
    if config.work_limit:
        works = [w for w in works if [x.title for x in works if x.genre == w.genre].index(w.title) < config.work_limit]
    return works


def prepare_corpus(config: StoryTrainConfig, progress: bool = True) -> tuple[list[Segment], list[Segment]]:
    """Segments with emotion labels, split by work; built once into OUT/corpus and reused."""
    folder = config.out / "corpus"
    if (folder / "summary.json").is_file():
        log.info("reusing the prepared corpus in %s", folder)
        return read_jsonl(folder / "train.jsonl"), read_jsonl(folder / "dev.jsonl")
    works = corpus_works(config)
    held = dev_works(works)
    segments = read_segments(works)
    labeller = EkmanLabeller(config.emotion_bundle, threads=config.threads or 2)
    emotions = labeller.label([s.text for s in segments], progress=progress)
    labelled = [Segment(s.work, s.style, s.text, e) for s, e in zip(segments, emotions, strict=True)]
    train = [s for s in labelled if s.work not in held]
    dev = [s for s in labelled if s.work in held]
    if not train or not dev:
        raise ExportError(f"--data {config.data}: need at least two works in some genre to hold one out for dev")
    folder.mkdir(parents=True, exist_ok=True)
    write_jsonl(folder / "train.jsonl", train)
    write_jsonl(folder / "dev.jsonl", dev)
    stats = summary(train, dev) | {"emotion_bundle": labeller.name}
    (folder / "summary.json").write_text(json.dumps(stats, indent=2))
    return train, dev


def prepare_tokenizer(config: StoryTrainConfig, train: list[Segment]) -> Tokenizer:
    path = config.out / "tokenizer.json"
    if path.is_file():
        return Tokenizer.from_file(str(path))
    tokenizer = train_tokenizer((s.text for s in train), sorted({s.style for s in train}), config.vocab_size)
    tokenizer.save(str(path))
    return tokenizer


# --- blocks -----------------------------------------------------------------------------------


@dataclass
class EncodedCorpus:
    """Training texts as token ids; the first `prompt_lengths[i]` tokens of text i are read, not learned
    (an NPC line's brief), so the loss is on what the model should write."""

    texts: list[list[int]]
    style_ids: list[int]
    emotion_ids: list[int]
    genres: list[str]
    eot: int
    prompt_lengths: list[int] = field(default_factory=list)  # empty: every token is learned

    def prompt_length(self, i: int) -> int:
        return self.prompt_lengths[i] if self.prompt_lengths else 0

    def __add__(self, other: EncodedCorpus) -> EncodedCorpus:
        lengths = [self.prompt_length(i) for i in range(len(self.texts))]
        lengths += [other.prompt_length(i) for i in range(len(other.texts))]
        return EncodedCorpus(
            self.texts + other.texts, self.style_ids + other.style_ids, self.emotion_ids + other.emotion_ids,
            self.genres + other.genres, self.eot, lengths,
        )  # fmt: skip


@dataclass(frozen=True)
class Blocks:
    """Packed token ids (blocks, context) and whether each position is a training target."""

    ids: np.ndarray
    learned: np.ndarray

    def __len__(self) -> int:
        return len(self.ids)

    def labels(self) -> np.ndarray:
        """Hugging Face labels: the ids, -100 where nothing is learned."""
        return np.where(self.learned, self.ids, -100)


def token_ids(tokenizer: Tokenizer, texts: list[str]) -> list[list[int]]:
    return [e.ids for e in tokenizer.encode_batch(texts, add_special_tokens=False)]


def control_ids(tokenizer: Tokenizer, segments: list[Segment]) -> tuple[list[int], list[int], int]:
    """(style token ids, emotion token ids, end-of-text id) for the segments."""

    def token(text: str) -> int:
        found = tokenizer.token_to_id(text)
        if found is None:
            raise ExportError(f"the tokenizer has no token {text!r}; delete OUT/tokenizer.json to retrain it")
        return found

    styles = [token(style_token(s.style)) for s in segments]
    return styles, [token(emotion_token(s.emotion)) for s in segments], token(END_OF_TEXT)


def encode(tokenizer: Tokenizer, segments: list[Segment]) -> EncodedCorpus:
    styles, emotions, eot = control_ids(tokenizer, segments)
    return EncodedCorpus(token_ids(tokenizer, [s.text for s in segments]), styles, emotions, [s.style for s in segments], eot)


def _segment_tokens(
    corpus: EncodedCorpus, i: int, rng: np.random.Generator | None, dropout: float
) -> tuple[list[int], list[bool]]:
    prefix = [corpus.eot]
    if rng is None or rng.random() >= dropout:
        prefix.append(corpus.style_ids[i])
    if rng is None or rng.random() >= dropout:
        prefix.append(corpus.emotion_ids[i])
    text, prompt = corpus.texts[i], corpus.prompt_length(i)
    return prefix + text, [True] * len(prefix) + [False] * prompt + [True] * (len(text) - prompt)


def _pack(items: list[tuple[list[int], list[bool]]], context: int) -> Blocks:
    ids = [token for tokens, _ in items for token in tokens]
    learned = [flag for _, flags in items for flag in flags]
    usable = len(ids) // context * context
    return Blocks(
        np.asarray(ids[:usable], np.int64).reshape(-1, context), np.asarray(learned[:usable], bool).reshape(-1, context)
    )


def epoch_order(corpus: EncodedCorpus, config: StoryTrainConfig, rng: np.random.Generator) -> np.ndarray:
    """A genre-balanced sample of text indices, as many as there are texts (mass ~ genre size**balance)."""
    genres, counts = np.unique(corpus.genres, return_counts=True)
    per_genre = dict(zip(genres, counts**config.balance / counts, strict=True))
    weights = np.array([per_genre[g] for g in corpus.genres])
    return rng.choice(len(corpus.texts), size=len(corpus.texts), replace=True, p=weights / weights.sum())


def epoch_blocks(
    corpus: EncodedCorpus, config: StoryTrainConfig, epoch: int, lines: EncodedCorpus | None = None
) -> Blocks:
    """One epoch's blocks: genre-balanced prose, NPC-line examples mixed in at `npc_share` of the
    examples, controls dropped at random."""
    rng = np.random.default_rng([config.seed, epoch])
    mixed = corpus
    order = epoch_order(corpus, config, rng).tolist()
    if lines is not None and lines.texts and config.npc_share > 0:
        count = round(len(order) * config.npc_share / (1 - config.npc_share))
        order += (len(corpus.texts) + rng.choice(len(lines.texts), size=count, replace=True)).tolist()
        rng.shuffle(order)
        mixed = corpus + lines
    return _pack([_segment_tokens(mixed, int(i), rng, config.control_dropout) for i in order], config.context)


def epoch_batches(
    corpus: EncodedCorpus, config: StoryTrainConfig, epoch: int, steps: int, lines: EncodedCorpus | None = None
) -> Blocks:
    """Exactly `steps` batches of blocks for the epoch. Sampling with replacement makes each epoch's
    stream a little longer or shorter; a fixed count keeps step -> (epoch, batch) exact for --resume."""
    blocks = epoch_blocks(corpus, config, epoch, lines)
    shape = (steps * config.batch_size, config.context)
    return Blocks(np.resize(blocks.ids, shape), np.resize(blocks.learned, shape))


def dev_blocks(corpus: EncodedCorpus, config: StoryTrainConfig) -> Blocks:
    """A fixed, evenly spread subset of dev blocks, every text with both controls."""
    blocks = _pack([_segment_tokens(corpus, i, None, 0.0) for i in range(len(corpus.texts))], config.context)
    if len(blocks) <= config.eval_blocks:
        return blocks
    keep = np.linspace(0, len(blocks) - 1, config.eval_blocks).astype(int)
    return Blocks(blocks.ids[keep], blocks.learned[keep])


# --- model and optimisation -------------------------------------------------------------------


def build_model(config: StoryTrainConfig, tokenizer: Tokenizer):
    from transformers import GPT2Config, GPT2LMHeadModel

    eot = tokenizer.token_to_id(END_OF_TEXT)
    model_config = GPT2Config(
        vocab_size=tokenizer.get_vocab_size(), n_positions=config.context, n_embd=config.width,
        n_layer=config.layers, n_head=config.heads, resid_pdrop=config.dropout, embd_pdrop=config.dropout,
        attn_pdrop=config.dropout, bos_token_id=eot, eos_token_id=eot, pad_token_id=eot,
    )  # fmt: skip
    return GPT2LMHeadModel(model_config)


def build_optimizer(model, config: StoryTrainConfig) -> torch.optim.AdamW:
    """Weight decay on matrices only: decaying biases and LayerNorm gains only hurts."""
    trained = [p for p in model.parameters() if p.requires_grad]  # LoRA: the deltas and new rows only
    decay = [p for p in trained if p.dim() >= 2]
    rest = [p for p in trained if p.dim() < 2]
    groups = [{"params": decay, "weight_decay": config.weight_decay}, {"params": rest, "weight_decay": 0.0}]
    return torch.optim.AdamW(groups, lr=config.learning_rate, betas=(0.9, 0.95))


def lr_lambda(config: StoryTrainConfig, total_steps: int):
    """Linear warm-up, then cosine decay to min_lr_ratio of the peak at the last step."""

    def factor(step: int) -> float:
        if step < config.warmup_steps:
            return (step + 1) / config.warmup_steps
        progress = min(1.0, (step - config.warmup_steps) / max(1, total_steps - config.warmup_steps))
        return config.min_lr_ratio + (1 - config.min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * progress))

    return factor


@torch.no_grad()
def dev_loss(model, blocks: Blocks, bf16: bool, batch_size: int = 32) -> float:
    """Mean next-token cross-entropy (nats) over the learned positions of the dev blocks."""
    model.eval()
    total, count = 0.0, 0
    labels = blocks.labels()
    for start in range(0, len(blocks), batch_size):
        ids = torch.from_numpy(blocks.ids[start : start + batch_size])
        targets = torch.from_numpy(labels[start : start + batch_size])[:, 1:]
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            logits = model(input_ids=ids).logits
        loss = torch.nn.functional.cross_entropy(
            logits[:, :-1].float().reshape(-1, logits.shape[-1]), targets.reshape(-1), reduction="sum", ignore_index=-100
        )
        total += loss.item()
        count += int((targets != -100).sum())
    model.train()
    return total / max(1, count)


# --- the loop ---------------------------------------------------------------------------------


@dataclass
class Setup:
    """What one run trains: the model, its data, and how its best state is saved."""

    model: torch.nn.Module
    train: EncodedCorpus
    dev: Blocks
    lines: EncodedCorpus | None
    save_best: Callable[[], None]


def _scratch_setup(config: StoryTrainConfig, train: list[Segment], dev: list[Segment]) -> Setup:
    tokenizer = prepare_tokenizer(config, train)
    model = build_model(config, tokenizer)

    def save_best() -> None:
        model.save_pretrained(config.out / "best")
        save_for_transformers(tokenizer, config.out / "best", config.context)

    return Setup(model, encode(tokenizer, train), dev_blocks(encode(tokenizer, dev), config), None, save_best)


def prepare_lines(config: StoryTrainConfig, progress: bool) -> tuple[list[LineExample], list[LineExample]]:
    """NPC-line examples split by work like the prose, each line's feeling read by the emotion bundle
    once and kept in OUT/corpus/line_feelings.json (the examples themselves are rebuilt from the works)."""
    works = corpus_works(config)
    examples = corpus_examples(works)
    path = config.out / "corpus" / "line_feelings.json"
    feelings = json.loads(path.read_text()) if path.is_file() else None
    if feelings is None or len(feelings) != len(examples):
        labeller = EkmanLabeller(config.emotion_bundle, threads=config.threads or 2)
        feelings = labeller.label([e.line for e in examples], progress=progress)
        path.write_text(json.dumps(feelings))
    held = dev_works(works)
    labelled = with_feelings(examples, feelings)
    return [e for e in labelled if e.work not in held], [e for e in labelled if e.work in held]


def encode_lines(tokenizer: Tokenizer, chat: ChatFormat, examples: list[LineExample], eot: int, end: int) -> EncodedCorpus:
    """Brief in the chat layout (read), then the line and the end of the turn (learned)."""
    prompts = token_ids(tokenizer, [e.brief.prompt(chat) for e in examples])
    lines = token_ids(tokenizer, [e.line for e in examples])
    segments = [Segment(e.work, e.brief.style, e.line, e.brief.feeling or "neutral") for e in examples]
    styles, emotions, _ = control_ids(tokenizer, segments)
    return EncodedCorpus(
        [p + t + [end] for p, t in zip(prompts, lines, strict=True)], styles, emotions,
        [e.brief.style for e in examples], eot, [len(p) for p in prompts],
    )  # fmt: skip


def _base_setup(config: StoryTrainConfig, train: list[Segment], dev: list[Segment], progress: bool) -> Setup:
    from export.story_base import (
        END_OF_TURN,
        chat_format_of,
        load_base_model,
        load_base_tokenizer,
        save_model,
        with_lora,
    )

    assert config.base is not None
    hf_tokenizer = load_base_tokenizer(config.base, sorted({s.style for s in train}))
    chat = chat_format_of(hf_tokenizer)
    tokenizer = hf_tokenizer.backend_tokenizer
    base_vocab = len(hf_tokenizer) - len(control_tokens(sorted({s.style for s in train})))
    model = load_base_model(config.base, hf_tokenizer, config.dropout)
    if config.lora_rank:
        model = with_lora(model, config.lora_rank, config.dropout, range(base_vocab, len(hf_tokenizer)))
    train_corpus, dev_corpus = encode(tokenizer, train), encode(tokenizer, dev)
    lines = None
    if chat is not None and config.npc_share > 0:
        end = hf_tokenizer.convert_tokens_to_ids(END_OF_TURN)
        if end is None or end == hf_tokenizer.unk_token_id:
            raise ExportError(f"--base {config.base}: the chat template's turns end without {END_OF_TURN}")
        train_lines, dev_lines = prepare_lines(config, progress)
        lines = encode_lines(tokenizer, chat, train_lines, train_corpus.eot, end)
        dev_corpus = dev_corpus + encode_lines(tokenizer, chat, dev_lines, dev_corpus.eot, end)
    return Setup(
        model, train_corpus, dev_blocks(dev_corpus, config), lines,
        lambda: save_model(model, hf_tokenizer, config.base, config.out / "best"),
    )  # fmt: skip


def train_story(config: StoryTrainConfig, resume: bool = False, progress: bool = True) -> dict:
    started = time.monotonic()
    if config.threads:
        torch.set_num_threads(config.threads)
    config.out.mkdir(parents=True, exist_ok=True)
    train, dev = prepare_corpus(config, progress)
    torch.manual_seed(config.seed)
    setup = _base_setup(config, train, dev, progress) if config.base else _scratch_setup(config, train, dev)
    model, train_corpus, held_out, lines = setup.model, setup.train, setup.dev, setup.lines
    optimizer = build_optimizer(model, config)
    steps_per_epoch = len(epoch_blocks(train_corpus, config, 0, lines)) // config.batch_size
    total_steps = max(1, int(config.epochs * steps_per_epoch))
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lr_lambda(config, total_steps))
    history, step = History(), 0

    checkpoint_path = config.out / "checkpoint.pt"
    if resume and checkpoint_path.exists():
        state = torch.load(checkpoint_path, weights_only=False)
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        history, step = History(**state["history"]), state["step"]
        torch.set_rng_state(state["torch_rng"])
        log.info("resuming at step %d of %d", step, total_steps)

    def evaluate_and_save() -> bool:
        """Dev loss, best model, checkpoint; False when patience has run out."""
        loss = dev_loss(model, held_out, config.bf16)
        history.evals.append({"step": step, "dev_loss": loss, "dev_perplexity": math.exp(loss), "tokens": step * tokens_per_step})
        log.info("step %d: dev loss %.4f (perplexity %.2f)", step, loss, math.exp(loss))
        if loss < history.best_dev_loss:
            history.best_step, history.best_dev_loss = step, loss
            setup.save_best()
        state = {"step": step, "model": model.state_dict(), "optimizer": optimizer.state_dict(),
                 "scheduler": scheduler.state_dict(), "history": asdict(history), "torch_rng": torch.get_rng_state()}  # fmt: skip
        torch.save(state, checkpoint_path)
        return step - history.best_step < config.patience * config.eval_every

    tokens_per_step = config.batch_size * config.context
    model.train()
    bar = tqdm(total=total_steps, initial=step, desc="story", unit="step", disable=not progress)
    deadline = started + config.max_minutes * 60 if config.max_minutes else math.inf
    running, window_start, window_tokens = None, time.monotonic(), 0
    stop_reason = ""
    while not stop_reason and step < total_steps:
        epoch, offset = divmod(step, steps_per_epoch)
        blocks = epoch_batches(train_corpus, config, epoch, steps_per_epoch, lines)
        labels = blocks.labels()
        for batch in range(offset, steps_per_epoch):
            rows = slice(batch * config.batch_size, (batch + 1) * config.batch_size)
            ids = torch.from_numpy(blocks.ids[rows])
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=config.bf16):
                loss = model(input_ids=ids, labels=torch.from_numpy(labels[rows])).loss
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad(set_to_none=True)
            step += 1
            window_tokens += ids.numel()
            running = loss.item() if running is None else 0.98 * running + 0.02 * loss.item()
            rate = window_tokens / max(1e-9, time.monotonic() - window_start)
            bar.update(1)
            bar.set_postfix(loss=f"{running:.3f}", tok_s=f"{rate:,.0f}", lr=f"{scheduler.get_last_lr()[0]:.1e}")
            if step % config.eval_every == 0 or step == total_steps:
                if not evaluate_and_save():
                    stop_reason = f"early stop: no dev improvement in {config.patience} evaluations"
                window_start, window_tokens = time.monotonic(), 0
            elif time.monotonic() > deadline:
                evaluate_and_save()
                stop_reason = f"time budget of {config.max_minutes} minutes reached"
            if stop_reason or step >= total_steps:
                break
    stop_reason = stop_reason or "schedule finished"
    bar.close()
    log.info("%s at step %d", stop_reason, step)

    report = {
        "config": {k: str(v) if isinstance(v, Path) else v for k, v in asdict(config).items()},
        "parameters": sum(p.numel() for p in model.parameters()),
        "trainable_parameters": sum(p.numel() for p in model.parameters() if p.requires_grad),
        "steps": step,
        "total_steps": total_steps,
        "tokens_seen": step * tokens_per_step,
        "train_tokens_per_epoch": steps_per_epoch * tokens_per_step,
        "dev_blocks": len(held_out),
        "stop_reason": stop_reason,
        "best_dev_loss": history.best_dev_loss,
        "best_dev_perplexity": math.exp(history.best_dev_loss),
        "history": asdict(history),
        "corpus": json.loads((config.out / "corpus" / "summary.json").read_text()),
        "minutes": (time.monotonic() - started) / 60,
    }
    (config.out / "training.json").write_text(json.dumps(report, indent=2))
    return report
