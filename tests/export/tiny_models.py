"""Tiny random-weight Hugging Face models with tokenizers trained on a few sentences.

A few hundred KB each and built in well under a second, so tests export real models
without downloading any. Also usable by other test packages that need a real bundle.
"""

from __future__ import annotations

from pathlib import Path

SENTENCES = [
    "The knight drew his sword and faced the dragon.",
    "She laughed at the joke until she cried.",
    "I am so angry that you lied to me again!",
    "What a lovely morning it is in the village.",
    "The old lighthouse keeper watched the dark sea.",
    "Thank you, this means the world to me.",
    "Something is moving in the shadows; I am scared.",
    "Why would anyone leave the castle gate open at night?",
]
EMOTION_LABELS = ["joy", "anger", "sadness", "neutral"]  # GoEmotions names, not in GoEmotions order
CONTROL_TOKENS = ["<|style:fantasy|>", "<|style:horror|>", "<|emotion:joy|>", "<|emotion:fear|>"]


def build_tiny_bert(folder: Path, labels: list[str] = EMOTION_LABELS, seed: int = 0) -> Path:
    """BERT-style multi-label classifier: 2 layers x 32 wide, a WordPiece vocabulary of ~200.

    Its tokenizer.json pads every text to 64 tokens, as sentence-transformers checkpoints do.
    """
    import torch
    from tokenizers import Tokenizer, normalizers, pre_tokenizers, processors, trainers
    from tokenizers.models import WordPiece
    from transformers import BertConfig, BertForSequenceClassification, PreTrainedTokenizerFast

    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    tokenizer = Tokenizer(WordPiece(unk_token="[UNK]"))
    tokenizer.normalizer = normalizers.BertNormalizer(lowercase=True)
    tokenizer.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tokenizer.train_from_iterator(SENTENCES, trainers.WordPieceTrainer(vocab_size=200, special_tokens=specials))
    cls, sep = tokenizer.token_to_id("[CLS]"), tokenizer.token_to_id("[SEP]")
    tokenizer.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B:1 [SEP]:1", special_tokens=[("[CLS]", cls), ("[SEP]", sep)]
    )
    tokenizer.enable_padding(pad_id=tokenizer.token_to_id("[PAD]"), pad_token="[PAD]", length=64)
    tokenizer.enable_truncation(64)
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tokenizer, unk_token="[UNK]", pad_token="[PAD]", cls_token="[CLS]", sep_token="[SEP]",
        mask_token="[MASK]", model_max_length=64,
    )  # fmt: skip
    config = BertConfig(
        vocab_size=tokenizer.get_vocab_size(), hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
        intermediate_size=64, max_position_embeddings=64, num_labels=len(labels),
        problem_type="multi_label_classification",
        id2label=dict(enumerate(labels)), label2id={label: i for i, label in enumerate(labels)},
    )  # fmt: skip
    torch.manual_seed(seed)
    BertForSequenceClassification(config).save_pretrained(folder)
    fast.save_pretrained(folder)
    return folder


def build_tiny_gpt2(folder: Path, seed: int = 0, fit_steps: int = 0) -> Path:
    """GPT-2-style causal LM: 2 layers x 32 wide, byte-level BPE of ~300 with control tokens.

    `fit_steps` > 0 first trains it on SENTENCES (see build_tiny_llama)."""
    import torch
    from tokenizers import Tokenizer, decoders, pre_tokenizers, trainers
    from tokenizers.models import BPE
    from transformers import GPT2Config, GPT2LMHeadModel, PreTrainedTokenizerFast

    tokenizer = Tokenizer(BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=300, special_tokens=["<|endoftext|>", *CONTROL_TOKENS],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
    )  # fmt: skip
    tokenizer.train_from_iterator(SENTENCES, trainer)
    # Without model_input_names, transformers adds token_type_ids that GPT-2's ONNX graph has no input for.
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tokenizer, bos_token="<|endoftext|>", eos_token="<|endoftext|>",
        model_input_names=["input_ids", "attention_mask"], model_max_length=128,
    )  # fmt: skip
    config = GPT2Config(
        vocab_size=tokenizer.get_vocab_size(), n_positions=128, n_embd=32, n_layer=2, n_head=2,
        bos_token_id=0, eos_token_id=0,
    )  # fmt: skip
    torch.manual_seed(seed)
    model = GPT2LMHeadModel(config)
    if fit_steps:
        fit(model, [fast(text)["input_ids"] for text in SENTENCES], fit_steps)
    model.save_pretrained(folder)
    fast.save_pretrained(folder)
    return folder


def _byte_level_tokenizer(vocab_size: int, special_tokens: list[str]):
    from tokenizers import Tokenizer, decoders, pre_tokenizers, trainers
    from tokenizers.models import BPE

    tokenizer = Tokenizer(BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size, special_tokens=special_tokens, initial_alphabet=pre_tokenizers.ByteLevel.alphabet()
    )
    tokenizer.train_from_iterator(SENTENCES, trainer)
    return tokenizer


def build_tiny_llama(folder: Path, seed: int = 0, fit_steps: int = 0) -> Path:
    """Llama-style causal LM: 2 layers x 64 wide, 4 query heads sharing 2 key/value heads (GQA),
    rotary positions, RMSNorm, tied input and output embeddings; byte-level BPE of ~300.

    64 wide, so each linear layer has whole 32-weight quantization blocks (as real models do).
    `fit_steps` > 0 first trains it on SENTENCES, so it predicts them and a damaged quantization
    shows in its bits per byte (random weights predict nothing that could be lost).
    """
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    tokenizer = _byte_level_tokenizer(300, ["<|endoftext|>", *CONTROL_TOKENS])
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tokenizer, bos_token="<|endoftext|>", eos_token="<|endoftext|>",
        model_input_names=["input_ids", "attention_mask"], model_max_length=128,
    )  # fmt: skip
    config = LlamaConfig(
        vocab_size=tokenizer.get_vocab_size(), hidden_size=64, intermediate_size=128, num_hidden_layers=2,
        num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=128, rope_theta=10000.0,
        tie_word_embeddings=True, bos_token_id=0, eos_token_id=0, pad_token_id=0,
    )  # fmt: skip
    torch.manual_seed(seed)
    model = LlamaForCausalLM(config)
    if fit_steps:
        fit(model, [fast(text)["input_ids"] for text in SENTENCES], fit_steps)
    model.save_pretrained(folder)
    fast.save_pretrained(folder)
    return folder


def fit(model, sequences: list[list[int]], steps: int, lr: float = 3e-3) -> None:
    """Full-batch AdamW on the sequences (right-padded, padding ignored): under a second for tiny models."""
    import torch

    width = max(len(s) for s in sequences)
    ids = torch.tensor([s + [0] * (width - len(s)) for s in sequences])
    mask = torch.tensor([[1] * len(s) + [0] * (width - len(s)) for s in sequences])
    labels = ids.masked_fill(mask == 0, -100)
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr)
    model.train()
    for _ in range(steps):
        loss = model(input_ids=ids, attention_mask=mask, labels=labels).loss
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    model.eval()
