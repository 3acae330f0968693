"""The key/value cache of a batch of rows that started at different times.

Rows join with prompts of different lengths and leave at different steps, yet one decode
step must feed them all with one tensor per layer of shape (slots, heads, width, head_dim).
Every row is kept right-aligned: its `length` real positions are the last columns, and
the columns before them are padding that the attention mask hides. A new token is then
always appended as the last column for every row, and

- the attention mask of a step is 1 on each row's last length + 1 columns, 0 before;
- the position id of a row's new token is its own length (not the batch width), so a row
  reads the same positions as it would alone;
- the width never passes the model's context (a row leaves when its own length reaches it).

Masked positions get no weight in the softmax, so with fp32 weights a row decodes bit for
bit as it does alone.

A row lives in a slot (a row of the tensors) from joining to leaving. The tensors are the
arrays the last step returned, so changing their shape copies the whole cache (what that
cost: docs/decisions.md). So a row that leaves only frees its slot, and a row that joins is written into a free slot; a free slot
rides along in the steps (as a row of length 0, attending to its own new column only) until
someone takes it. The tensors are rebuilt only when a join needs more slots or a longer width
than they have, or when free slots (over a quarter of them: the busy rows at the end move
into the free places in front) or padding (over a quarter of the width) would make every step
pay for nothing; free slots at the end are dropped without a copy.
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
    def __init__(self, names: Sequence[str], heads: int, head_dim: int, dtype: np.dtype, max_width: int) -> None:
        self.names = tuple(names)  # the past_key_values.* input names, in the graph's order
        self.max_width = max_width  # the model's context: no step's attention mask is wider
        self.heads = heads
        self.head_dim = head_dim
        self.dtype = dtype
        self.tensors: dict[str, np.ndarray] = {name: self._empty(0, 0) for name in self.names}
        self.lengths = np.zeros(0, np.int64)  # real positions per slot; 0 for a free slot (a row has at least 1)

    def _empty(self, slots: int, width: int) -> np.ndarray:
        return np.zeros((slots, self.heads, width, self.head_dim), self.dtype)

    @property
    def slots(self) -> int:
        return int(self.lengths.size)

    @property
    def busy(self) -> np.ndarray:
        """Per slot, whether a row holds it."""
        return self.lengths > 0

    @property
    def width(self) -> int:
        return next(iter(self.tensors.values())).shape[2]

    def add(self, blocks: Sequence[CacheBlock]) -> list[int]:
        """Puts the blocks' rows into free slots (a block's one row is broadcast to its copies);
        returns the slots taken, in order."""
        if not blocks:
            return []
        needed = sum(block.copies for block in blocks)
        free = np.flatnonzero(~self.busy).tolist()
        width = max(self.width, *(block.length for block in blocks))
        if needed > len(free) or width > self.width:
            self._rebuild(self.slots + max(0, needed - len(free)), width)
            free = np.flatnonzero(~self.busy).tolist()
        taken, start = free[:needed], 0
        for block in blocks:
            slots, start = taken[start : start + block.copies], start + block.copies
            padding = self.width - block.length
            for name, tensor in self.tensors.items():
                tensor[slots, :, :padding] = 0
                tensor[slots, :, padding:] = block.tensors[name]
            self.lengths[slots] = block.length
        return taken

    def release(self, slots: Sequence[int]) -> dict[int, int]:
        """Frees these slots; returns the busy rows that moved to another slot ({old: new})."""
        self.lengths[list(slots)] = 0
        busy = np.flatnonzero(self.busy)
        moves: dict[int, int] = {}
        if (self.slots - busy.size) * 4 > self.slots:
            holes = np.flatnonzero(~self.busy[: busy.size])
            movers = busy[busy >= busy.size]
            if holes.size:
                for tensor in self.tensors.values():
                    tensor[holes] = tensor[movers]
                self.lengths[holes] = self.lengths[movers]
                moves = dict(zip(movers.tolist(), holes.tolist(), strict=True))
            kept = busy.size
        else:
            kept = int(busy[-1]) + 1 if busy.size else 0
        # A prefix of the slots is a contiguous view: dropping the free slots at the end copies nothing.
        self.tensors = {name: tensor[:kept] for name, tensor in self.tensors.items()}
        self.lengths = self.lengths[:kept]
        longest = int(self.lengths.max()) if kept else 0
        if (self.width - longest) * 4 > self.width:
            self._rebuild(kept, longest)
        return moves

    def _rebuild(self, slots: int, width: int) -> None:
        """New tensors of `slots` x `width`, the rows kept in their slots and right-aligned; new slots free."""
        shift, kept = width - self.width, self.slots
        for name, old in self.tensors.items():
            new = np.empty((slots, self.heads, width, self.head_dim), self.dtype)  # zeroed only where needed
            if shift >= 0:
                new[:kept, :, :shift] = 0
                new[:kept, :, shift:] = old
            else:
                new[:kept] = old[:, :, -shift:]
            new[kept:] = 0
            self.tensors[name] = new
        self.lengths = np.concatenate([self.lengths, np.zeros(slots - self.slots, np.int64)])

    def step_inputs(self) -> tuple[np.ndarray, np.ndarray]:
        """(attention_mask (slots, width + 1), position_ids (slots, 1)) for feeding one token per slot.
        Padding left in place would make the step's new column pass the model's context: it is cut first."""
        if self.width >= self.max_width:
            self._rebuild(self.slots, int(self.lengths.max()))
        width = self.width + 1
        columns = np.arange(width)
        mask = (columns[None, :] >= (width - 1 - self.lengths)[:, None]).astype(np.int64)
        return mask, self.lengths[:, None].copy()

    def advance(self, present: Mapping[str, np.ndarray]) -> None:
        """Takes the grown cache a step returned: one more real position per busy slot."""
        self.tensors = {name: present[name] for name in self.names}
        self.lengths = self.lengths + self.busy
