"""The exceptions servicers raise; the status interceptor turns each into its status code.

One class per status code, so a servicer says what went wrong (``raise NotFound(...)``)
and never touches the gRPC context. Messages are written for the client developer who
reads them: they name the field, the id or the limit.
"""

from __future__ import annotations

import grpc


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
