"""REST routes of threads: start one from a message or in a channel, and its members.

Bodies are checked against the spec; the bot needs what Discord asks for: Create
Public (or Private) Threads in the parent, plus Read Message History to start
one from a message. A message holds at most one thread; threads live in text
channels only.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from bot.sandbox import limits
from bot.sandbox import permissions as perm
from bot.sandbox.http_util import ApiError, json_response, no_content, read_body
from bot.sandbox.rest_common import body_errors, channel_of, path_int, refuse
from bot.sandbox.state import EmulatorState
from bot.sandbox.threads import Threads
from bot.sandbox.world import GUILD_TEXT, PRIVATE_THREAD, PUBLIC_THREAD, Channel, User

WRONG_CHANNEL_TYPE = 50024  # "Cannot execute action on this channel type"
THREAD_ALREADY_CREATED = 160004  # "A thread has already been created for this message"
UNKNOWN_MEMBER = 10007
# Thread types a text channel can hold (announcement threads need an announcement channel).
TEXT_THREAD_TYPES = (PUBLIC_THREAD, PRIVATE_THREAD)


class ThreadRoutes:
    """POST …/threads, POST …/messages/{message}/threads and …/thread-members."""

    def __init__(self, state: EmulatorState, threads: Threads) -> None:
        self.state = state
        self.threads = threads

    def routes(self) -> list[tuple[str, str, Any]]:
        return [
            ("POST", "/channels/{channel}/threads", self.start_without_message),
            ("POST", "/channels/{channel}/messages/{message}/threads", self.start_from_message),
            ("GET", "/channels/{channel}/thread-members", self.list_members),
            ("GET", "/channels/{channel}/thread-members/{user}", self.get_member),
            ("PUT", "/channels/{channel}/thread-members/{user}", self.add_member),
            ("DELETE", "/channels/{channel}/thread-members/{user}", self.remove_member),
        ]

    # ------------------------------------------------------------ lookups
    def _channel(self, request: web.Request) -> Channel:
        return channel_of(self.state, request)

    def _parent(self, request: web.Request) -> Channel:
        channel = self._channel(request)
        if channel.type != GUILD_TEXT:
            raise ApiError(400, WRONG_CHANNEL_TYPE, "Cannot execute action on this channel type")
        return channel

    def _thread(self, request: web.Request) -> Channel:
        channel = self._channel(request)
        if not channel.is_thread:
            raise ApiError(400, WRONG_CHANNEL_TYPE, "Cannot execute action on this channel type")
        return channel

    def _user(self, request: web.Request, thread: Channel) -> User:
        """The path's user: `@me` is the bot; anyone else must be a member of the guild."""
        raw = request.match_info["user"]
        bot = self.state.world.bot_user
        if raw == "@me":
            assert bot is not None
            return bot
        try:
            return thread.guild.member(path_int(request, "user")).user
        except LookupError:
            raise ApiError(404, UNKNOWN_MEMBER, "Unknown Member") from None

    @staticmethod
    def _require(channel: Channel, bits: int) -> None:
        if channel.guild.app_permissions_in(channel) & bits != bits:
            raise ApiError(403, 50013, "Missing Permissions")

    def _bot(self) -> User:
        assert self.state.world.bot_user is not None
        return self.state.world.bot_user

    # ------------------------------------------------------------ starting
    async def start_without_message(self, request: web.Request) -> web.Response:
        parent = self._parent(request)
        body, _ = await read_body(request)
        errors = body_errors("start_thread_without_message", body, lambda: _type_errors(body))
        if errors:
            refuse(self.state, None, errors, route=request.path)
        # Discord's documented default is a private thread.
        thread_type = int(body.get("type") or PRIVATE_THREAD)
        create = perm.CREATE_PUBLIC_THREADS if thread_type == PUBLIC_THREAD else 0
        create |= perm.CREATE_PRIVATE_THREADS if thread_type == PRIVATE_THREAD else 0
        self._require(parent, perm.VIEW_CHANNEL | create)
        thread = await self.threads.start(
            parent,
            body["name"],
            self._bot(),
            thread_type=thread_type,
            auto_archive_duration=int(body.get("auto_archive_duration") or 1440),
        )
        data = self.threads.response(thread, "start_thread_without_message", self._bot().id)
        return json_response(data, status=201)

    async def start_from_message(self, request: web.Request) -> web.Response:
        parent = self._parent(request)
        message = self.state.messages.get(path_int(request, "message"))
        if (
            message is None
            or message["channel_id"] != str(parent.id)
            or int(message.get("flags") or 0) & limits.EPHEMERAL
        ):
            raise ApiError(404, limits.UNKNOWN_MESSAGE, "Unknown Message")
        body, _ = await read_body(request)
        errors = body_errors("start_thread_with_message", body, list)
        if errors:
            refuse(self.state, None, errors, route=request.path)
        self._require(
            parent, perm.VIEW_CHANNEL | perm.READ_MESSAGE_HISTORY | perm.CREATE_PUBLIC_THREADS
        )
        if int(message["id"]) in self.state.world.channels:
            raise ApiError(
                400,
                THREAD_ALREADY_CREATED,
                "A thread has already been created for this message",
            )
        thread = await self.threads.start(
            parent,
            body["name"],
            self._bot(),
            message=message,
            auto_archive_duration=int(body.get("auto_archive_duration") or 1440),
        )
        data = self.threads.response(thread, "start_thread_with_message", self._bot().id)
        return json_response(data, status=201)

    # ------------------------------------------------------------ members
    async def list_members(self, request: web.Request) -> web.Response:
        return json_response(self.threads.members(self._thread(request)))

    async def get_member(self, request: web.Request) -> web.Response:
        thread = self._thread(request)
        user = self._user(request, thread)
        if user.id not in thread.thread_members:
            raise ApiError(404, UNKNOWN_MEMBER, "Unknown Member")
        return json_response(thread.thread_member_payload(user.id))

    async def add_member(self, request: web.Request) -> web.Response:
        thread = self._thread(request)
        user = self._user(request, thread)
        if thread.locked or thread.archived:
            raise ApiError(400, 50083, "Thread is archived")
        if user.id != self._bot().id:
            self._require(thread, perm.SEND_MESSAGES_IN_THREADS)
        await self.threads.join(thread, user)
        return no_content()

    async def remove_member(self, request: web.Request) -> web.Response:
        thread = self._thread(request)
        user = self._user(request, thread)
        if user.id != self._bot().id:
            self._require(thread, perm.MANAGE_THREADS)
        await self.threads.leave(thread, user)
        return no_content()


def _type_errors(body: dict[str, Any]) -> list[limits.FieldError]:
    """A text channel holds public and private threads only."""
    kind = body.get("type")
    if kind is not None and int(kind) not in TEXT_THREAD_TYPES:
        why = "A text channel can only hold public (11) or private (12) threads."
        return [limits.FieldError("type", "BASE_TYPE_CHOICES", why)]
    return []
