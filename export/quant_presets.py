"""What each architecture family quantizes, and how: one frozen preset per (family, scheme).

A preset is the whole recipe, so the manifest can record it and a bundle can be rebuilt from it:
which linear layers become block-wise weight-only (com.microsoft MatMulNBits) or dynamic int8,
the block size and compute accuracy, and what happens to the tied embedding / LM head pair.
The invariant every preset keeps: only MatMuls with a constant weight are quantized. A MatMul
of two activations (attention scores QK^T, attention x V, rotary frequencies) stays float in
every scheme, because quantizing its run-time operands costs an LLM most of its answers
(SmolLM2-135M: top-1 agreement 0.49 with them quantized dynamically, see docs/decisions.md).

Families:
- `llama` (Llama, SmolLM, Mistral, Qwen2...: RMSNorm decoders with RoPE, GQA, usually tied
  embeddings) and `gpt2`: weight-only, block 32, symmetric, accuracy level 4 (int8 compute on
  CPUs with VNNI); under int4, the layers int4 hurts most stay int8 (LLAMA_INT8_LAYERS); the LM
  head int8 and the embedding reading the head's quantized weight (`shared`): see TiedWeights
  for the figures behind that default.
- `encoder` (BERT, MiniLM, RoBERTa...: the emotion classifier): dynamic int8, per channel,
  embeddings included (MiniLM cosine to fp32 0.993 per channel vs 0.967 per tensor); it has no
  int4 preset (a 22M encoder is compute-bound: weight-only int4 saves memory, not time).
- `generic`: any other decoder, with the llama recipe but no layer names to keep at int8 (node
  names differ by architecture); any other encoder, with the encoder's.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from typing import Any, Literal

from export.errors import ExportError

Scheme = Literal["int4", "int8", "none"]
Family = Literal["llama", "gpt2", "encoder", "generic"]
HeadFormat = Literal["fp32", "int8", "int4"]
EmbeddingFormat = Literal["fp32", "shared"]

LLAMA_TYPES = frozenset(
    {"llama", "mistral", "qwen2", "qwen3", "smollm3", "gemma", "gemma2", "phi3", "olmo", "granite"}
)
GPT2_TYPES = frozenset({"gpt2", "gpt_neo", "gptj", "gpt_bigcode"})
ENCODER_TYPES = frozenset(
    {"bert", "roberta", "xlm-roberta", "distilbert", "deberta", "deberta-v2", "electra", "mpnet"}
)


@dataclass(frozen=True)
class BlockWise:
    """Weight-only block-wise quantization of the linear layers (MatMulNBits).

    Each block of `block_size` weights along the input dimension gets its own scale; symmetric
    means no zero points (a default of 2^(bits-1)). accuracy_level 4 lets onnxruntime quantize the
    activations to int8 per block at run time and use integer dot products (VNNI); it falls back
    to float compute where the CPU lacks them.
    """

    bits: Literal[4, 8]
    block_size: int = 32
    symmetric: bool = True
    accuracy_level: int = 4
    # Layers kept at 8 bits when `bits` is 4: regular expressions searched in MatMul node names,
    # and every linear layer of the first and last `int8_edge_layers` decoder layers (of models with
    # more than 4x as many: a 2-layer test model keeps none, so its int4 is still int4).
    int8_layers: tuple[str, ...] = ()
    int8_edge_layers: int = 0
    # "rtn": round to nearest with the block's max |weight| as scale; "k_quant": llama.cpp's search
    # for the scale (and minimum) that minimise each block's error (onnxruntime's k_quant).
    algorithm: Literal["rtn", "k_quant"] = "rtn"


@dataclass(frozen=True)
class DynamicInt8:
    """Dynamic int8: weights per output channel, activations quantized per tensor at run time."""

    per_channel: bool = True
    embeddings: bool = True  # Gather of the embedding tables too


@dataclass(frozen=True)
class TiedWeights:
    """The vocabulary-sized pair: the LM head MatMul and the token-embedding Gather.

    `head`: how the LM head's weight is stored; `fp32` keeps it float. `embedding`: `fp32` keeps
    the Gather's table float; `shared` makes the Gather read the head's quantized weight
    (com.microsoft GatherBlockQuantized on the same initializer), so a tied model holds the table
    once, quantized. `shared` needs a quantized head and tied weights; an untied model keeps its
    embedding float and the manifest says so.

    Measured on SmolLM2-135M (vocab 49,152 x 576; int4 layers; docs/decisions.md): the float table
    is 113 MB on disk, and a float head reading it through a Transpose makes onnxruntime fold a
    second copy at load (session memory 382 MB against 237 MB shared). An int8 head with the shared
    table stores both in 35 MB, an int4 one in 21 MB; but an int4 head costs 2.5 points of bits per
    byte where int8 costs none, so int4 layers get an int8 head by default.
    """

    head: HeadFormat
    embedding: EmbeddingFormat


@dataclass(frozen=True)
class QuantPreset:
    family: Family
    scheme: Literal["int4", "int8"]
    linear: BlockWise | DynamicInt8
    tied: TiedWeights | None  # None: the graph has no LM head (encoders)

    @property
    def method(self) -> str:
        return "weight-only" if isinstance(self.linear, BlockWise) else "dynamic"

    def with_tied(self, head: HeadFormat | None = None, embedding: EmbeddingFormat | None = None) -> QuantPreset:
        """The preset with the CLI's --lm-head / --embedding choices applied."""
        if self.tied is None:
            if head or embedding:
                raise ExportError(f"--lm-head/--embedding: the {self.family} preset has no LM head to set")
            return self
        tied = TiedWeights(head=head or self.tied.head, embedding=embedding or self.tied.embedding)
        if tied.embedding == "shared" and tied.head == "fp32":
            raise ExportError(
                "--embedding shared reads the LM head's quantized weight: it needs --lm-head int8 or int4"
            )
        return replace(self, tied=tied)

    def as_manifest(self) -> dict[str, Any]:
        return {"family": self.family, "scheme": self.scheme, "method": self.method, **asdict(self)}


# The layers int4 hurts most, kept at int8: each layer's value projection and MLP output (as
# llama.cpp's Q4_K_M keeps them wider), and the first and last two decoder layers whole. On
# SmolLM2-135M that is 32% of the linear weights and takes int4 from +6.4% to +2.4% bits per byte
# over fp32, at 123 MB instead of 103 (docs/decisions.md). GPT-2's value projection is part of its
# fused c_attn; its choice follows by analogy, unmeasured, and the export's own gate checks it.
LLAMA_INT8_LAYERS = ("/self_attn/v_proj/", "/mlp/down_proj/")
GPT2_INT8_LAYERS = ("/attn/c_attn/", "/mlp/c_proj/")
EDGE_LAYERS = 2
# The LM head int8 under int4 layers (int4 costs SmolLM2 2.5 points of bits per byte more), and the
# embedding reading the head's weight (the table stored once).
_TIED = TiedWeights(head="int8", embedding="shared")

_DECODER_PRESETS: dict[tuple[Family, str], QuantPreset] = {
    ("llama", "int4"): QuantPreset(
        "llama", "int4", BlockWise(bits=4, int8_layers=LLAMA_INT8_LAYERS, int8_edge_layers=EDGE_LAYERS), _TIED
    ),
    ("llama", "int8"): QuantPreset("llama", "int8", BlockWise(bits=8), _TIED),
    ("gpt2", "int4"): QuantPreset(
        "gpt2", "int4", BlockWise(bits=4, int8_layers=GPT2_INT8_LAYERS, int8_edge_layers=EDGE_LAYERS), _TIED
    ),
    ("gpt2", "int8"): QuantPreset("gpt2", "int8", BlockWise(bits=8), _TIED),
    ("generic", "int4"): QuantPreset("generic", "int4", BlockWise(bits=4), _TIED),
    ("generic", "int8"): QuantPreset("generic", "int8", BlockWise(bits=8), _TIED),
}


def family_of(model_type: str, task: str) -> Family:
    if model_type in LLAMA_TYPES:
        return "llama"
    if model_type in GPT2_TYPES:
        return "gpt2"
    if model_type in ENCODER_TYPES:
        return "encoder"
    return "generic"


def preset_for(model_type: str, task: str, scheme: Scheme) -> QuantPreset | None:
    """The preset of this model's family for `scheme`; None for `none`."""
    if scheme == "none":
        return None
    family = family_of(model_type, task)
    if task == "emotion":
        if scheme == "int4":
            raise ExportError(
                f"--quantize int4: weight-only int4 is for decoders; the {model_type} classifier takes int8 or none"
            )
        return QuantPreset("encoder" if family == "encoder" else "generic", "int8", DynamicInt8(), None)
    return _DECODER_PRESETS[(family if family != "encoder" else "generic", scheme)]
