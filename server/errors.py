"""The exceptions servicers raise, and the status code of each error a call may end with.

One class per status code, so a servicer says what went wrong (``raise NotFound(...)``)
and never touches the gRPC context. Messages are written for the client developer who
reads them: they name the field, the id or the limit. narrative/ knows nothing of gRPC, so
its errors get their codes here too (`DOMAIN_ERRORS`), beside ours, in the one place the
status interceptor reads.
"""

from __future__ import annotations

import grpc

from narrative.errors import (
    ChoiceUnavailableError,
    ExpressionError,
    GraphLoadError,
    InvalidEventError,
    NarrativeError,
    UnknownReferenceError,
)


class ServiceError(Exception):
    """Base of the errors a call may end with; never INTERNAL."""

    code: grpc.StatusCode = grpc.StatusCode.UNKNOWN

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidArgument(ServiceError):
    code = grpc.StatusCode.INVALID_ARGUMENT

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field


class NotFound(ServiceError):
    code = grpc.StatusCode.NOT_FOUND

    def __init__(self, kind: str, ref_id: str) -> None:
        super().__init__(f"{kind} {ref_id!r} not found")
        self.kind = kind
        self.ref_id = ref_id


class FailedPrecondition(ServiceError):
    code = grpc.StatusCode.FAILED_PRECONDITION


class ResourceExhausted(ServiceError):
    code = grpc.StatusCode.RESOURCE_EXHAUSTED


class Unavailable(ServiceError):
    code = grpc.StatusCode.UNAVAILABLE


class DeadlineExceeded(ServiceError):
    """The call's deadline passed while the server was still working on it (e.g. mid-generation)."""

    code = grpc.StatusCode.DEADLINE_EXCEEDED


DOMAIN_ERRORS: dict[type[Exception], grpc.StatusCode] = {
    GraphLoadError: grpc.StatusCode.INVALID_ARGUMENT,
    InvalidEventError: grpc.StatusCode.INVALID_ARGUMENT,
    ExpressionError: grpc.StatusCode.INVALID_ARGUMENT,
    UnknownReferenceError: grpc.StatusCode.NOT_FOUND,
    ChoiceUnavailableError: grpc.StatusCode.FAILED_PRECONDITION,
    # Last, as the first match wins: narrative raises on purpose only over what a request asked,
    # so an error class not listed above is still the client's, never INTERNAL.
    NarrativeError: grpc.StatusCode.INVALID_ARGUMENT,
}
"""Status code of each narrative error class (and its subclasses), matched in this order."""
