"""Domain exceptions.

One class per way a request can be wrong, so that the server maps each to a gRPC status without
inspecting messages: `UnknownReferenceError` -> NOT_FOUND, `ChoiceUnavailableError` ->
FAILED_PRECONDITION, `InvalidEventError` / `GraphLoadError` / `ExpressionError` -> INVALID_ARGUMENT.
The attributes (`kind`, `field`, `column`, `diagnostics`) let the server name the offending input.
"""

from __future__ import annotations

from collections.abc import Iterable

from narrative.diagnostics import Diagnostic


class NarrativeError(Exception):
    """Base of every error raised on purpose by `narrative`."""


class GraphLoadError(NarrativeError):
    """A plot graph that has at least one error; nothing of it was loaded."""

    def __init__(self, diagnostics: Iterable[Diagnostic]) -> None:
        self.diagnostics: tuple[Diagnostic, ...] = tuple(diagnostics)
        shown = "\n".join(d.format() for d in self.diagnostics[:10])
        more = len(self.diagnostics) - 10
        suffix = f"\n... and {more} more" if more > 0 else ""
        super().__init__(f"{len(self.diagnostics)} error(s) in plot graph:\n{shown}{suffix}")


class UnknownReferenceError(NarrativeError, LookupError):
    """An id (of a `kind` such as "choice", "beat", "character") that the graph does not define."""

    def __init__(self, kind: str, ref_id: str, field: str | None = None) -> None:
        self.kind = kind
        self.ref_id = ref_id
        self.field = field
        super().__init__(f"unknown {kind} {ref_id!r}")


class ChoiceUnavailableError(NarrativeError):
    """A choice that exists but cannot be taken from the current state."""

    def __init__(self, choice_id: str, reason: str) -> None:
        self.choice_id = choice_id
        self.reason = reason
        super().__init__(f"choice {choice_id!r} is not available: {reason}")


class InvalidEventError(NarrativeError, ValueError):
    """A reported game event whose `field` holds a value the graph cannot accept."""

    def __init__(self, field: str, message: str) -> None:
        self.field = field
        self.message = message
        super().__init__(f"{field}: {message}")


class ExpressionError(NarrativeError, ValueError):
    """A condition that does not parse or type-check; `column` is a 0-based offset into its text."""

    def __init__(self, message: str, column: int) -> None:
        self.message = message
        self.column = column
        super().__init__(f"column {column + 1}: {message}")
