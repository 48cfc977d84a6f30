"""What every REST route group needs: ids from the path, the bot's token, refusals, file sizes."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NoReturn

from aiohttp import web

from bot.sandbox import limits
from bot.sandbox.http_util import ApiError
from bot.sandbox.interactions import InteractionRecord
from bot.sandbox.openapi import check_body
from bot.sandbox.state import EmulatorState
from bot.sandbox.world import Channel

# Query values discord.py sends for ?wait= and ?with_response=.
TRUE_WORDS = {"1", "true", "True"}
MESSAGE_FLAGS = limits.EPHEMERAL | limits.SUPPRESS_EMBEDS | limits.SUPPRESS_NOTIFICATIONS


def path_int(request: web.Request, key: str) -> int:
    """An id from the URL; a non-number is a 404, as on Discord."""
    try:
        return int(request.match_info[key])
    except ValueError:
        raise ApiError(404, 0, "404: Not Found") from None


def require_bot_auth(state: EmulatorState, request: web.Request) -> None:
    """`Authorization: Bot <token>`; the first token seen is the bot's, any other is refused."""
    header = request.headers.get("Authorization", "")
    if not header.startswith("Bot ") or len(header) <= 4:
        raise ApiError(401, 0, "401: Unauthorized")
    token = header[4:]
    if state.bot_token is None:
        state.bot_token = token
    elif token != state.bot_token:
        raise ApiError(401, 0, "401: Unauthorized")


def channel_of(state: EmulatorState, request: web.Request) -> Channel:
    """The {channel} of the URL, for the bot; an unknown one is Discord's 10003."""
    require_bot_auth(state, request)
    channel = state.world.channels.get(path_int(request, "channel"))
    if channel is None:
        raise ApiError(404, limits.UNKNOWN_CHANNEL, "Unknown Channel")
    return channel


def body_errors(
    request: str, body: Any, documented: Callable[[], list[limits.FieldError]]
) -> list[limits.FieldError]:
    """What is wrong with a body: against the spec's schema for `request`, and against the
    `documented` limits, all listed together as Discord does.

    The documented checks assume the schema's types; on a body that breaks them
    they may raise, and then the schema's errors say what is wrong.
    """
    found = check_body(request, body)
    try:
        found += documented()
    except (TypeError, ValueError, KeyError, AttributeError):
        if not found:
            raise
    return list(dict.fromkeys(found))


def message_errors(
    request: str, body: dict[str, Any], *, allowed_flags: int, require_content: bool
) -> list[limits.FieldError]:
    """`body_errors` for a message create or edit body outside a callback."""
    return body_errors(
        request,
        body,
        lambda: limits.validate_message(
            body, allowed_flags=allowed_flags, require_content=require_content
        ),
    )


def refuse(
    state: EmulatorState,
    rec: InteractionRecord | None,
    errors: list[limits.FieldError],
    code: int = limits.INVALID_FORM_BODY,
    route: str | None = None,
) -> NoReturn:
    """Answer 400 for a body Discord refuses, recorded on the state (and the interaction)."""
    entry: dict[str, Any] = {"code": code, "errors": errors}
    if route is not None:
        entry["route"] = route
    if rec is not None:
        rec.refuse(dict(entry))
    state.rejections.append(entry)
    if code == limits.EMPTY_MESSAGE:
        raise ApiError(400, code, "Cannot send an empty message")
    raise ApiError(400, code, "Invalid Form Body", errors)


def check_files(files: list[Any]) -> None:
    """413 for a file over the attachment limit or a request over the total."""
    for upload in files:
        if len(upload.data) > limits.ATTACHMENT_SIZE_LIMIT:
            raise ApiError(413, limits.REQUEST_TOO_LARGE, "Request entity too large")
    if sum(len(f.data) for f in files) > limits.REQUEST_SIZE_LIMIT:
        raise ApiError(413, limits.REQUEST_TOO_LARGE, "Request entity too large")
