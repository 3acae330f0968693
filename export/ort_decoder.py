"""Greedy decoding of an optimum-exported decoder with onnxruntime and its KV cache.

The reference the server's own generation loop is held to: each step feeds only the new token,
and the present.N.key/value outputs come back as past_key_values.N.key/value inputs.
"""

from __future__ import annotations

import numpy as np
import onnxruntime as ort

from export.errors import ExportError

PAST = "past_key_values."
PRESENT = "present."


class OrtDecoder:
    def __init__(self, session: ort.InferenceSession) -> None:
        self.session = session
        self.input_names = {i.name for i in session.get_inputs()}
        self.past_inputs = [i for i in session.get_inputs() if i.name.startswith(PAST)]
        if not self.past_inputs:
            raise ExportError("the generation model has no past_key_values.* inputs (exported without a KV cache)")
        shape = self.past_inputs[0].shape  # (batch, heads, past_length, head_dim)
        if not (isinstance(shape[1], int) and isinstance(shape[3], int)):
            raise ExportError(f"{self.past_inputs[0].name}: heads and head size must be static, got shape {shape}")
        self.heads, self.head_dim = shape[1], shape[3]
        self.past_dtype = np.float16 if self.past_inputs[0].type == "tensor(float16)" else np.float32
        self.output_names = [o.name for o in session.get_outputs()]

    def empty_past(self, batch: int) -> dict[str, np.ndarray]:
        return {i.name: np.zeros((batch, self.heads, 0, self.head_dim), self.past_dtype) for i in self.past_inputs}

    def step(self, input_ids: np.ndarray, past: dict[str, np.ndarray]) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """Logits (batch, new, vocab) as float32, and the cache grown by the new tokens."""
        batch, new = input_ids.shape
        past_length = next(iter(past.values())).shape[2]
        feeds = {"input_ids": input_ids, **past}
        if "attention_mask" in self.input_names:
            feeds["attention_mask"] = np.ones((batch, past_length + new), np.int64)
        if "position_ids" in self.input_names:
            feeds["position_ids"] = np.tile(np.arange(past_length, past_length + new, dtype=np.int64), (batch, 1))
        values = dict(zip(self.output_names, self.session.run(None, feeds), strict=True))
        present = {PAST + name.removeprefix(PRESENT): v for name, v in values.items() if name.startswith(PRESENT)}
        return values["logits"].astype(np.float32), present

    def greedy(self, input_ids: np.ndarray, new_tokens: int) -> list[int]:
        """`new_tokens` argmax tokens after a (1, n) prompt; EOS does not stop it, so runs compare."""
        logits, past = self.step(input_ids, self.empty_past(1))
        tokens = [int(logits[0, -1].argmax())]
        while len(tokens) < new_tokens:
            logits, past = self.step(np.array([[tokens[-1]]], np.int64), past)
            tokens.append(int(logits[0, -1].argmax()))
        return tokens
