"""REST routes of channels: read a channel, type, list, send, edit and delete messages.

Bodies are checked against Discord's OpenAPI schema first, then against the
documented limits; the bot needs the channel permissions Discord would ask for.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from bot.sandbox import limits
from bot.sandbox import permissions as perm
from bot.sandbox.http_util import ApiError, json_response, no_content, read_body
from bot.sandbox.lifecycle import MessageLifecycle
from bot.sandbox.rest_common import (
    channel_of,
    check_files,
    message_errors,
    path_int,
    refuse,
)
from bot.sandbox.state import EmulatorState
from bot.sandbox.world import Channel

THREAD_LOCKED = 50083


class ChannelRoutes:
    """GET/POST /channels/{channel}/… as the bot uses them."""

    def __init__(self, state: EmulatorState, lifecycle: MessageLifecycle) -> None:
        self.state = state
        self.lifecycle = lifecycle

    def routes(self) -> list[tuple[str, str, Any]]:
        return [
            ("GET", "/channels/{channel}", self.get_channel),
            ("POST", "/channels/{channel}/typing", self.typing),
            ("GET", "/channels/{channel}/messages", self.list_messages),
            ("POST", "/channels/{channel}/messages", self.create_message),
            ("GET", "/channels/{channel}/messages/{message}", self.get_message),
            ("PATCH", "/channels/{channel}/messages/{message}", self.edit_message),
            ("DELETE", "/channels/{channel}/messages/{message}", self.delete_message),
        ]

    def _channel(self, request: web.Request) -> Channel:
        return channel_of(self.state, request)

    def _message(self, request: web.Request) -> dict[str, Any]:
        """A message of the channel everyone sees (an ephemeral one is not found)."""
        channel = self._channel(request)
        msg = self.state.messages.get(path_int(request, "message"))
        if (
            msg is None
            or msg["channel_id"] != str(channel.id)
            or int(msg.get("flags") or 0) & limits.EPHEMERAL
        ):
            raise ApiError(404, limits.UNKNOWN_MESSAGE, "Unknown Message")
        return msg

    @staticmethod
    def _require_bot_permission(channel: Channel, bits: int) -> None:
        if channel.guild.app_permissions_in(channel) & bits != bits:
            raise ApiError(403, 50013, "Missing Permissions")

    async def get_channel(self, request: web.Request) -> web.Response:
        return json_response(self._channel(request).payload())

    async def typing(self, request: web.Request) -> web.Response:
        self._channel(request)
        return no_content()

    async def list_messages(self, request: web.Request) -> web.Response:
        channel = self._channel(request)
        self._require_bot_permission(channel, perm.READ_MESSAGE_HISTORY)
        limit = min(int(request.query.get("limit", 50)), 100)
        before = request.query.get("before")
        found = [
            m for m in reversed(channel.messages) if before is None or int(m["id"]) < int(before)
        ]
        return json_response(found[:limit])

    async def create_message(self, request: web.Request) -> web.Response:
        channel = self._channel(request)
        body, files = await read_body(request)
        # In a thread Discord asks for Send Messages in Threads instead of Send Messages.
        send = perm.SEND_MESSAGES_IN_THREADS if channel.is_thread else perm.SEND_MESSAGES
        self._require_bot_permission(channel, perm.VIEW_CHANNEL | send)
        if channel.locked:
            raise ApiError(400, THREAD_LOCKED, "Thread is locked")
        if files:
            self._require_bot_permission(channel, perm.ATTACH_FILES)
        check_files(files)
        errors = message_errors(
            "create_message",
            body,
            allowed_flags=limits.SUPPRESS_EMBEDS | limits.SUPPRESS_NOTIFICATIONS,
            require_content=True,
        )
        if errors:
            refuse(self.state, None, errors, route=request.path)
        if limits.is_empty_message(body, bool(files)):
            refuse(self.state, None, [], limits.EMPTY_MESSAGE)
        msg = self.lifecycle.create(channel, self.state.bot_author(), body, files)
        if channel.is_thread:
            # Posting in a thread makes the poster a member (and unarchives it).
            channel.archived = False
            bot = self.state.world.bot_user
            if bot is not None:
                channel.thread_members.setdefault(bot.id, msg["timestamp"])
        return json_response(msg)

    async def get_message(self, request: web.Request) -> web.Response:
        return json_response(self._message(request))

    async def edit_message(self, request: web.Request) -> web.Response:
        msg = self._message(request)
        if msg["author"]["id"] != self.state.bot_author()["id"]:
            raise ApiError(403, 50005, "Cannot edit a message authored by another user")
        body, files = await read_body(request)
        errors = message_errors(
            "edit_message", body, allowed_flags=limits.SUPPRESS_EMBEDS, require_content=False
        )
        if errors:
            refuse(self.state, None, errors, route=request.path)
        return json_response(self.lifecycle.edit(msg, body, files))

    async def delete_message(self, request: web.Request) -> web.Response:
        self.lifecycle.delete(self._message(request))
        return no_content()
