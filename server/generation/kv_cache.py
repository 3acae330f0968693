"""The key/value cache of a batch of rows that started at different times.

Rows join with prompts of different lengths and leave at different steps, yet one decode
step must feed them all with one tensor per layer of shape (rows, heads, width, head_dim).
Every row is kept right-aligned: its `length` real positions are the last columns, and
the columns before them are zero padding that the attention mask hides. A new token is
then always appended as the last column for every row, and

- the attention mask of a step is 1 on each row's last length + 1 columns, 0 before;
- the position id of a row's new token is its own length (not the batch width), so a row
  reads the same positions as it would alone;
- the width is trimmed to the longest remaining row whenever rows leave, so padding
  never accumulates and the width stays within the model's context.

Masked positions get -inf before the softmax (weight exactly 0), so with fp32 weights a
row decodes bit for bit as it does alone.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class CacheBlock:
    """One prefill's cache (one row of `length` positions), joining the batch as `copies` rows."""

    tensors: Mapping[str, np.ndarray]
    length: int
    copies: int = 1


class KVCache:
    def __init__(self, names: Sequence[str], heads: int, head_dim: int, dtype: np.dtype) -> None:
        self.names = tuple(names)  # the past_key_values.* input names, in the graph's order
        self.heads = heads
        self.head_dim = head_dim
        self.dtype = dtype
        self.tensors: dict[str, np.ndarray] = {name: self._empty(0, 0) for name in self.names}
        self.lengths = np.zeros(0, np.int64)  # real positions per row

    def _empty(self, rows: int, width: int) -> np.ndarray:
        return np.zeros((rows, self.heads, width, self.head_dim), self.dtype)

    @property
    def rows(self) -> int:
        return int(self.lengths.size)

    @property
    def width(self) -> int:
        return next(iter(self.tensors.values())).shape[2]

    def add(self, blocks: Sequence[CacheBlock]) -> None:
        """Appends the blocks' rows. The grown tensors are written once, each block into place:
        joining is one copy of the batch however many requests join at once."""
        if not blocks:
            return
        width = max(self.width, *(block.length for block in blocks))
        rows = self.rows + sum(block.copies for block in blocks)
        for name in self.names:
            grown = self._empty(rows, width)
            old = self.tensors[name]
            grown[: self.rows, :, width - old.shape[2] :] = old
            start = self.rows
            for block in blocks:  # a block's one row is broadcast to its copies
                grown[start : start + block.copies, :, width - block.length :] = block.tensors[name]
                start += block.copies
            self.tensors[name] = grown
        self.lengths = np.concatenate([self.lengths, *(np.full(b.copies, b.length, np.int64) for b in blocks)])

    def keep(self, rows: Sequence[int]) -> None:
        """Only these rows (by index, in this order) stay; the width shrinks to the longest."""
        index = np.asarray(rows, np.int64)
        self.lengths = self.lengths[index]
        width = int(self.lengths.max()) if self.lengths.size else 0
        for name in self.names:
            tensor = self.tensors[name]
            self.tensors[name] = np.take(tensor[:, :, tensor.shape[2] - width :, :], index, axis=0)

    def step_inputs(self) -> tuple[np.ndarray, np.ndarray]:
        """(attention_mask (rows, width + 1), position_ids (rows, 1)) for feeding one token per row."""
        width = self.width + 1
        columns = np.arange(width)
        mask = (columns[None, :] >= (width - 1 - self.lengths)[:, None]).astype(np.int64)
        return mask, self.lengths[:, None].copy()

    def advance(self, present: Mapping[str, np.ndarray]) -> None:
        """Takes the grown cache a step returned: one more real position per row."""
        self.tensors = {name: present[name] for name in self.names}
        self.lengths = self.lengths + 1

