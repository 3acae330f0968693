"""What a batch writes: one LineRequest per line, with an id that stays the same across runs.

Ids are derived from where a line belongs (graph, beat, character, intent, variant; or the row's
own key), never from its position in a run, so a re-run, a resumed run and a localisation table
all agree on which line is which. Each line's seed is derived from the run's seed and its id, so
the text does not depend on which worker or server wrote it, or in which order.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from narrative.prompting import StoryPrompt


@dataclass(frozen=True)
class LineRequest:
    id: str
    speaker: str  # display name
    prompt: StoryPrompt
    intent: str = ""
    listener: str = ""
    graph_id: str = ""
    beat_id: str = ""
    speaker_id: str = ""  # character id inside a graph; "" for spreadsheet lines
    source_row: int = 0  # 1-based row of the input file; 0 for graph lines


def line_seed(run_seed: int, line_id: str) -> int:
    """A non-zero 63-bit seed from the run's seed and the line's id (0 would ask for a random one)."""
    digest = hashlib.sha256(f"{run_seed}:{line_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") >> 1 or 1


def row_key(*fields: str) -> str:
    """A short stable key for a spreadsheet row without one: a hash of what the line is about."""
    return hashlib.sha256("\x1f".join(fields).encode()).hexdigest()[:12]
