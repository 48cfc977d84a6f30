"""Typed errors raised at the backend boundary.

Every error carries `.message`: one sentence that is safe to show a chat user
(no secrets, no stack traces).
"""

from __future__ import annotations


class BackendError(Exception):
    """Base class: the backend could not give a completion."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class BackendStatusError(BackendError):
    """The backend answered with an HTTP error status."""

    def __init__(
        self,
        message: str,
        *,
        status: int,
        error_type: str | None = None,
        code: str | int | None = None,
        param: str | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.error_type = error_type
        self.code = code
        self.param = param


class RateLimited(BackendStatusError):
    """HTTP 429: too many requests, or the account's quota is used up."""

    def __init__(self, message: str, *, retry_after: float | None = None, **kwargs: object) -> None:
        kwargs.setdefault("status", 429)
        super().__init__(message, **kwargs)  # type: ignore[arg-type]
        self.retry_after = retry_after


class BackendUnavailable(BackendError):
    """The backend could not be reached, or said it is unavailable (503)."""

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class BackendTimeout(BackendError):
    """The backend did not answer within the timeout."""


class MalformedResponse(BackendError):
    """The backend answered 2xx with something that is not a completion."""


class UnsupportedParameter(BackendError):
    """The backend cannot honour a parameter and the client cannot emulate it.

    Raised before any HTTP request is made.
    """

    def __init__(self, param: str, backend: str, reason: str) -> None:
        super().__init__(f"{param} is not available on {backend}: {reason}")
        self.param = param
        self.backend = backend
        self.reason = reason
