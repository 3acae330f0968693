"""One onnxruntime session of a decoder exported with its KV cache: prefill, then steps.

optimum's text-generation-with-past export has one graph for both phases: inputs
input_ids, attention_mask, position_ids (most architectures), past_key_values.N.key/value
of shape (batch, heads, past_length, head_dim); outputs logits and present.N.key/value,
the cache grown by the tokens just fed. A prefill feeds a whole prompt against an empty
cache (batch of one: no padding inside a prompt); a step feeds one token per row of the
batch cache (server.generation.kv_cache) and takes the grown cache back.

No IOBinding: on CPU the present tensors come back as numpy arrays that are the next step's
inputs without a copy, and the cache grows a column a step, so there is no fixed buffer to
bind (what binding would buy, measured: docs/decisions.md).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import onnxruntime as ort

from server.generation.kv_cache import KVCache
from server.models.bundle import BundleError

PAST = "past_key_values."
PRESENT = "present."
DTYPES: dict[str, np.dtype] = {"tensor(float)": np.dtype(np.float32), "tensor(float16)": np.dtype(np.float16)}


class KVDecoder:
    def __init__(self, session: ort.InferenceSession) -> None:
        self.session = session
        inputs = {i.name: i for i in session.get_inputs()}
        self.past_names = [name for name in inputs if name.startswith(PAST)]
        if not self.past_names or "input_ids" not in inputs:
            raise BundleError("the generation model needs input_ids and past_key_values.* inputs (export with past)")
        first = inputs[self.past_names[0]]
        heads, head_dim = first.shape[1], first.shape[3]
        if not (isinstance(heads, int) and isinstance(head_dim, int)):
            raise BundleError(f"{first.name}: heads and head size must be static, got shape {first.shape}")
        if first.type not in DTYPES:
            raise BundleError(f"{first.name}: cache type {first.type} is not float or float16")
        self.heads, self.head_dim, self.dtype = heads, head_dim, DTYPES[first.type]
        self.has_mask = "attention_mask" in inputs
        self.has_positions = "position_ids" in inputs
        self.output_names = [o.name for o in session.get_outputs()]
        # present.N.key comes back as the next step's past_key_values.N.key.
        self._past_of = {
            name: PAST + name.removeprefix(PRESENT) for name in self.output_names if name.startswith(PRESENT)
        }
        if sorted(self._past_of.values()) != sorted(self.past_names):
            raise BundleError("the generation model's present.* outputs do not match its past_key_values.* inputs")

    def new_cache(self, max_context: int) -> KVCache:
        return KVCache(self.past_names, self.heads, self.head_dim, self.dtype, max_context)

    def _run(
        self, input_ids: np.ndarray, past: dict[str, np.ndarray], mask: np.ndarray, positions: np.ndarray
    ) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        feeds = {"input_ids": input_ids, **past}
        if self.has_mask:
            feeds["attention_mask"] = mask
        if self.has_positions:
            feeds["position_ids"] = positions
        values = dict(zip(self.output_names, self.session.run(self.output_names, feeds), strict=True))
        present = {self._past_of[name]: value for name, value in values.items() if name in self._past_of}
        return values["logits"][:, -1, :].astype(np.float32, copy=False), present

    def prefill(self, prompt_ids: Sequence[int]) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """(logits of the next token (vocab,), the prompt's cache, one row of len(prompt_ids) positions)."""
        length = len(prompt_ids)
        # One row with no positions yet: a fused attention node wants the cache's batch to match.
        empty = {name: np.zeros((1, self.heads, 0, self.head_dim), self.dtype) for name in self.past_names}
        logits, present = self._run(
            np.asarray([prompt_ids], np.int64),
            empty,
            np.ones((1, length), np.int64),
            np.arange(length, dtype=np.int64)[None, :],
        )
        return logits[0], present

    def step(self, tokens: np.ndarray, cache: KVCache) -> np.ndarray:
        """Feeds one token per slot of `cache` (same order); returns next-token logits (slots, vocab)."""
        mask, positions = cache.step_inputs()
        logits, present = self._run(tokens.astype(np.int64).reshape(-1, 1), cache.tensors, mask, positions)
        cache.advance(present)
        return logits
