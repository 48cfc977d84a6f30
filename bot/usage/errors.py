"""Why a request was not sent: a usage limit, or the queue to the backend.

Each is one sentence for the member (the command tree shows it ephemerally).
Reset times are Discord timestamps (`<t:…:R>`), which each reader's client
shows in their own language and time zone ("in 3 hours").
"""

from __future__ import annotations

from bot.errors import CoupletError
from bot.i18n import Msg, _


def when(at: float) -> str:
    """A moment as a relative Discord timestamp."""
    return f"<t:{int(at) + (0 if at == int(at) else 1)}:R>"


class LimitReached(CoupletError):
    """A usage limit refused the request; `limit` names it, `resets_at` says when it frees."""

    def __init__(self, message: Msg, *, limit: str, resets_at: float | None) -> None:
        super().__init__(message)
        self.limit = limit
        self.resets_at = resets_at


class QueueFull(CoupletError):
    """Too many requests already wait for the backend."""


class QueueExpired(CoupletError):
    """A request waited so long that its answer could no longer be sent."""


class QueueUnavailable(CoupletError):
    """The queue shared by every process (in Redis) could not be reached."""

    @classmethod
    def because(cls, error: BaseException) -> QueueUnavailable:
        return cls(
            _(
                "The queue to the model cannot be reached right now (its shared store is "
                "unreachable), so nothing was sent; try again in a minute."
            )
        )
