"""Domain errors every layer raises; the command tree turns each into one sentence.

Every error carries one sentence that is safe to show a chat user (no secrets,
no stack traces): `.msg` (a translatable `bot.i18n.Msg`, or plain text) and
`.message`, its English text. `.text(locale)` renders it for a member.
Nothing here imports another part of Couplet but the translation layer.
"""

from __future__ import annotations

import re

from bot.i18n import Localized, Msg, _, render


class CoupletError(Exception):
    """Base class: something the user can be told in one sentence."""

    def __init__(self, message: str | Msg) -> None:
        super().__init__(str(message))
        self.msg: str | Msg = message

    @property
    def message(self) -> str:
        """The sentence in English."""
        return str(self.msg)

    @message.setter
    def message(self, text: str) -> None:
        self.msg = text

    def text(self, locale: str | None = None) -> str:
        """The sentence in `locale` (a Discord locale code such as zh-CN)."""
        return render(self.msg, locale)

    def __str__(self) -> str:
        return self.message


class ParameterError(CoupletError, ValueError):
    """A parameter has a value that is not allowed (a ValueError, so pydantic validators
    can raise it)."""

    def __init__(
        self,
        param: str,
        value: object,
        allowed: str | Localized,
        message: str | Msg | None = None,
    ) -> None:
        self.param = param
        self.value = value
        self.allowed = allowed
        super().__init__(
            message
            or _(
                "{param} {value} is not allowed: use {allowed}.",
                param=param,
                value=show_value(value),
                allowed=allowed,
            )
        )


_NUMERIC_TEXT = re.compile(r"[+-]?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?")


def show_value(value: object) -> str:
    """Render a value inside a sentence: numbers bare, text quoted and shortened."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return f"{value:g}" if isinstance(value, float) else str(value)
    text = str(value)
    if _NUMERIC_TEXT.fullmatch(text.strip()):
        return text.strip()  # "3.5" typed on a command line reads as 3.5
    if len(text) > 40:
        text = text[:37] + "..."
    return repr(text)


class _NamedThingError(CoupletError):
    """An error about one named thing: `kind` ("preset", ...) and `name` say which."""

    def __init__(
        self, message: str | Msg, *, kind: str | None = None, name: str | None = None
    ) -> None:
        super().__init__(message)
        self.kind = kind
        self.name = name


class NotFound(_NamedThingError):
    """A named thing (a preset, a stored generation, ...) does not exist."""


class AlreadyExists(_NamedThingError):
    """A thing with that name exists already."""


class Conflict(_NamedThingError):
    """A write lost a race with another write to the same thing; trying again may work."""


# -- the model backend -----------------------------------------------------------


class BackendError(CoupletError):
    """Base class: the backend could not give a completion."""


class BackendStatusError(BackendError):
    """The backend answered with an HTTP error status."""

    def __init__(
        self,
        message: str | Msg,
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

    def __init__(
        self, message: str | Msg, *, retry_after: float | None = None, **kwargs: object
    ) -> None:
        kwargs.setdefault("status", 429)
        super().__init__(message, **kwargs)  # type: ignore[arg-type]
        self.retry_after = retry_after


class BackendUnavailable(BackendError):
    """The backend could not be reached, or said it is unavailable (503)."""

    def __init__(self, message: str | Msg, *, status: int | None = None) -> None:
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

    def __init__(self, param: str, backend: str, reason: str | Msg) -> None:
        super().__init__(
            _(
                "{param} is not available on {backend}: {reason}",
                param=param,
                backend=backend,
                reason=reason,
            )
        )
        self.param = param
        self.backend = backend
        self.reason = reason
