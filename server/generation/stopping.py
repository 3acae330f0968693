"""Stop strings that may straddle token boundaries: text is held back while it could be one.

A stop string such as "\\n\\n" or "THE END" can arrive split over several tokens. Text that
ends with the beginning of a stop string is therefore held back until the next pieces
show whether the stop string completes (then it and everything after it are dropped) or
not (then the held text is released). The stop string itself is never part of the text.
"""

from __future__ import annotations

from collections.abc import Iterable


class StopMatcher:
    def __init__(self, stops: Iterable[str]) -> None:
        self.stops = tuple(s for s in stops if s)
        self._held = ""

    def push(self, text: str) -> tuple[str, bool]:
        """(text safe to release, stopped). Once stopped, the caller ends the row."""
        if not self.stops:
            return text, False
        self._held += text
        found = [i for i in (self._held.find(s) for s in self.stops) if i >= 0]
        if found:
            released, self._held = self._held[: min(found)], ""
            return released, True
        keep = self._partial_stop_length()
        released = self._held[: len(self._held) - keep]
        self._held = self._held[len(self._held) - keep :]
        return released, False

    def _partial_stop_length(self) -> int:
        """Length of the longest end of the held text that some stop string starts with."""
        longest = min(len(self._held), max(len(s) for s in self.stops) - 1)
        for length in range(longest, 0, -1):
            tail = self._held[-length:]
            if any(s.startswith(tail) for s in self.stops):
                return length
        return 0

    def flush(self) -> str:
        """The held text, when the row ends for another reason: it was not a stop string."""
        held, self._held = self._held, ""
        return held
