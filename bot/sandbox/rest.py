"""REST v10 routes: login, command sync, interaction callbacks, webhooks and channel messages."""

from __future__ import annotations

import copy
import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from aiohttp import web

from bot.sandbox import limits
from bot.sandbox import permissions as perm
from bot.sandbox.command_rules import validate_commands
from bot.sandbox.http_util import ApiError, json_response, no_content, read_body
from bot.sandbox.interactions import AUTOCOMPLETE, COMPONENT, MODAL_SUBMIT, InteractionRecord

if TYPE_CHECKING:
    from bot.sandbox.emulator import FakeDiscord

log = logging.getLogger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

MESSAGE_FLAGS = limits.EPHEMERAL | limits.SUPPRESS_EMBEDS | limits.SUPPRESS_NOTIFICATIONS
# Which callback types each interaction type accepts (receiving-and-responding.mdx).
ALLOWED_CALLBACKS = {
    2: {4, 5, 9},
    COMPONENT: {4, 5, 6, 7, 9},
    AUTOCOMPLETE: {8},
    MODAL_SUBMIT: {4, 5, 6, 7},
}
TRUE_WORDS = {"1", "true", "True"}


def setup_routes(app: web.Application, fake: FakeDiscord) -> None:
    """Register every route under /api/v10 plus the attachment CDN and the catch-all."""
    api = Rest(fake)
    r = app.router
    base = "/api/v10"
    table: list[tuple[str, str, Handler]] = [
        ("GET", "/users/@me", api.get_me),
        ("GET", "/oauth2/applications/@me", api.get_application),
        ("GET", "/gateway", api.get_gateway),
        ("GET", "/gateway/bot", api.get_gateway_bot),
        ("GET", "/applications/{app}/commands", api.get_commands),
        ("PUT", "/applications/{app}/commands", api.put_commands),
        ("GET", "/applications/{app}/guilds/{guild}/commands", api.get_commands),
        ("PUT", "/applications/{app}/guilds/{guild}/commands", api.put_commands),
        ("POST", "/interactions/{id}/{token}/callback", api.callback),
        ("POST", "/webhooks/{app}/{token}", api.followup),
        ("GET", "/webhooks/{app}/{token}/messages/{message}", api.get_webhook_message),
        ("PATCH", "/webhooks/{app}/{token}/messages/{message}", api.edit_webhook_message),
        ("DELETE", "/webhooks/{app}/{token}/messages/{message}", api.delete_webhook_message),
        ("GET", "/channels/{channel}", api.get_channel),
        ("POST", "/channels/{channel}/typing", api.typing),
        ("GET", "/channels/{channel}/messages", api.list_messages),
        ("POST", "/channels/{channel}/messages", api.create_channel_message),
        ("GET", "/channels/{channel}/messages/{message}", api.get_channel_message),
        ("PATCH", "/channels/{channel}/messages/{message}", api.edit_channel_message),
        ("DELETE", "/channels/{channel}/messages/{message}", api.delete_channel_message),
        ("GET", "/guilds/{guild}", api.get_guild),
        ("GET", "/guilds/{guild}/members/{user}", api.get_member),
        ("GET", "/users/{user}", api.get_user),
    ]
    for method, path, handler in table:
        r.add_route(method, base + path, handler)
    r.add_get("/attachments/{id}/{filename}", api.get_attachment)
    r.add_route("*", "/{tail:.*}", api.unknown)


def _int(request: web.Request, key: str) -> int:
    try:
        return int(request.match_info[key])
    except ValueError:
        raise ApiError(404, 0, "404: Not Found") from None


class Rest:
    """The handlers; all state lives on the FakeDiscord."""

    def __init__(self, fake: FakeDiscord) -> None:
        self.fake = fake

    # ------------------------------------------------------------ login
    def _require_bot_auth(self, request: web.Request) -> None:
        header = request.headers.get("Authorization", "")
        if not header.startswith("Bot ") or len(header) <= 4:
            raise ApiError(401, 0, "401: Unauthorized")
        token = header[4:]
        if self.fake.bot_token is None:
            self.fake.bot_token = token
        elif token != self.fake.bot_token:
            raise ApiError(401, 0, "401: Unauthorized")

    async def get_me(self, request: web.Request) -> web.Response:
        self._require_bot_auth(request)
        user = self.fake.world.bot_user
        assert user is not None
        return json_response(
            {
                **user.payload(),
                "verified": True,
                "mfa_enabled": False,
                "flags": 0,
                "locale": "en-US",
            }
        )

    async def get_application(self, request: web.Request) -> web.Response:
        self._require_bot_auth(request)
        owner = self.fake.world.user("owner")
        return json_response(
            {
                "id": str(self.fake.application_id),
                "name": self.fake.world.bot_user.name if self.fake.world.bot_user else "bot",
                "description": "A local emulator's application.",
                "icon": None,
                "bot_public": True,
                "bot_require_code_grant": False,
                "owner": owner.payload(),
                "verify_key": "00" * 32,
                "flags": 0,
                "team": None,
                "summary": "",
            }
        )

    async def get_gateway(self, request: web.Request) -> web.Response:
        return json_response({"url": self.fake.gateway_url})

    async def get_gateway_bot(self, request: web.Request) -> web.Response:
        self._require_bot_auth(request)
        return json_response(
            {
                "url": self.fake.gateway_url,
                "shards": self.fake.recommended_shards,
                "session_start_limit": {
                    "total": 1000,
                    "remaining": 999,
                    "reset_after": 86400000,
                    "max_concurrency": 1,
                },
            }
        )

    # --------------------------------------------------------- commands
    def _check_app(self, request: web.Request) -> None:
        if _int(request, "app") != self.fake.application_id:
            raise ApiError(404, 10002, "Unknown Application")

    async def get_commands(self, request: web.Request) -> web.Response:
        self._require_bot_auth(request)
        self._check_app(request)
        guild_id = _int(request, "guild") if "guild" in request.match_info else None
        return json_response(self.fake.commands(guild_id))

    async def put_commands(self, request: web.Request) -> web.Response:
        self._require_bot_auth(request)
        self._check_app(request)
        guild_id = _int(request, "guild") if "guild" in request.match_info else None
        if guild_id is not None:
            try:
                self.fake.world.guild(guild_id)
            except LookupError:
                raise ApiError(403, 50001, "Missing Access") from None
        body, _ = await read_body(request)
        commands = body.get("_root")
        errors = validate_commands(commands)
        if errors:
            self.fake.rejections.append({"route": request.path, "errors": errors})
            raise ApiError(400, limits.INVALID_FORM_BODY, "Invalid Form Body", errors)
        stored = self.fake._store_commands(commands or [], guild_id)
        return json_response(stored)

    # ------------------------------------------------------ interactions
    async def callback(self, request: web.Request) -> web.Response:
        fake = self.fake
        rec = fake.interactions.get(_int(request, "id"))
        if rec is None or rec.token != request.match_info["token"]:
            raise ApiError(404, limits.UNKNOWN_INTERACTION, "Unknown interaction")
        if rec.callbacks:
            rec.rejections.append({"route": "callback", "code": limits.ALREADY_ACKNOWLEDGED})
            rec._notify()
            raise ApiError(
                400, limits.ALREADY_ACKNOWLEDGED, "Interaction has already been acknowledged."
            )
        if fake.clock.now() - rec.created_at > fake.response_window:
            rec.rejections.append(
                {"route": "callback", "code": limits.UNKNOWN_INTERACTION, "why": "late"}
            )
            rec._notify()
            raise ApiError(404, limits.UNKNOWN_INTERACTION, "Unknown interaction")
        body, files = await read_body(request)
        ctype = int(body.get("type") or 0)
        data = body.get("data") or {}
        if ctype not in ALLOWED_CALLBACKS.get(rec.type, set()):
            self._reject(
                rec,
                [
                    limits.FieldError(
                        "type",
                        "INTERACTION_RESPONSE_TYPE_INVALID",
                        f"Callback type {ctype} is not allowed for interaction type {rec.type}.",
                    )
                ],
            )
        self._validate_callback(rec, ctype, data, files)
        message = fake._apply_callback(rec, ctype, data, files)
        if request.query.get("with_response") not in TRUE_WORDS:
            return no_content()
        info: dict[str, Any] = {"id": str(rec.id), "type": rec.type}
        if message is not None:
            info["response_message_id"] = message["id"]
            info["response_message_loading"] = bool(int(message.get("flags") or 0) & limits.LOADING)
            info["response_message_ephemeral"] = bool(
                int(message.get("flags") or 0) & limits.EPHEMERAL
            )
        reply: dict[str, Any] = {"interaction": info}
        if ctype in (4, 7) and message is not None:
            reply["resource"] = {"type": ctype, "message": message}
        return json_response(reply)

    def _reject(
        self,
        rec: InteractionRecord | None,
        errors: list[limits.FieldError],
        code: int = limits.INVALID_FORM_BODY,
    ) -> None:
        if rec is not None:
            rec.rejections.append({"code": code, "errors": errors})
            rec._notify()
        self.fake.rejections.append({"code": code, "errors": errors})
        if code == limits.EMPTY_MESSAGE:
            raise ApiError(400, code, "Cannot send an empty message")
        raise ApiError(400, code, "Invalid Form Body", errors)

    def _validate_callback(
        self, rec: InteractionRecord, ctype: int, data: dict[str, Any], files: list[Any]
    ) -> None:
        self._check_files(files)
        if ctype == 4:
            errors = limits.validate_message(
                data, prefix="data", allowed_flags=MESSAGE_FLAGS, require_content=True
            )
            if not errors and limits.is_empty_message(data, bool(files)):
                self._reject(rec, [], limits.EMPTY_MESSAGE)
        elif ctype == 5:
            errors = []
            if int(data.get("flags") or 0) & ~limits.EPHEMERAL:
                errors.append(
                    limits.FieldError(
                        "data.flags",
                        "BASE_TYPE_BAD_VALUE",
                        "A deferred response may only carry EPHEMERAL.",
                    )
                )
        elif ctype == 7:
            errors = limits.validate_message(
                data, prefix="data", allowed_flags=limits.SUPPRESS_EMBEDS, require_content=False
            )
        elif ctype == 8:
            focused = self.fake._focused_option(rec)
            errors = limits.validate_autocomplete(
                data.get("choices"), focused.get("type", 3) if focused else 3
            )
        elif ctype == 9:
            errors = limits.validate_modal(data)
        else:
            errors = []
        if errors:
            self._reject(rec, errors)

    def _check_files(self, files: list[Any]) -> None:
        for upload in files:
            if len(upload.data) > limits.ATTACHMENT_SIZE_LIMIT:
                raise ApiError(413, limits.REQUEST_TOO_LARGE, "Request entity too large")
        if sum(len(f.data) for f in files) > limits.REQUEST_SIZE_LIMIT:
            raise ApiError(413, limits.REQUEST_TOO_LARGE, "Request entity too large")

    # ---------------------------------------------------------- webhooks
    def _webhook_record(self, request: web.Request) -> InteractionRecord:
        fake = self.fake
        if _int(request, "app") != fake.application_id:
            raise ApiError(404, limits.UNKNOWN_WEBHOOK, "Unknown Webhook")
        rec = fake.interactions_by_token.get(request.match_info["token"])
        if rec is None:
            raise ApiError(404, limits.UNKNOWN_WEBHOOK, "Unknown Webhook")
        if fake.clock.now() - rec.created_at > fake.token_lifetime:
            rec.rejections.append({"route": request.path, "code": limits.INVALID_WEBHOOK_TOKEN})
            rec._notify()
            raise ApiError(401, limits.INVALID_WEBHOOK_TOKEN, "Invalid Webhook Token")
        return rec

    def _webhook_message(self, rec: InteractionRecord, request: web.Request) -> dict[str, Any]:
        ref = request.match_info["message"]
        if ref == "@original":
            msg = rec.original
        else:
            try:
                mid = int(ref)
            except ValueError:
                mid = -1
            allowed = {rec.original_id, *rec.followup_ids}
            msg = self.fake.messages.get(mid) if mid in allowed else None
        if msg is None:
            raise ApiError(404, limits.UNKNOWN_MESSAGE, "Unknown Message")
        return msg

    async def followup(self, request: web.Request) -> web.Response:
        rec = self._webhook_record(request)
        if not rec.callbacks or rec.response_type in (8, 9):
            rec.rejections.append({"route": "followup", "code": limits.UNKNOWN_WEBHOOK})
            rec._notify()
            raise ApiError(404, limits.UNKNOWN_WEBHOOK, "Unknown Webhook")
        body, files = await read_body(request)
        self._check_files(files)
        errors = limits.validate_message(body, allowed_flags=MESSAGE_FLAGS, require_content=True)
        if errors:
            self._reject(rec, errors)
        if limits.is_empty_message(body, bool(files)):
            self._reject(rec, [], limits.EMPTY_MESSAGE)
        message = self.fake._followup(rec, body, files)
        if request.query.get("wait") not in TRUE_WORDS:
            return no_content()
        return json_response(message)

    async def get_webhook_message(self, request: web.Request) -> web.Response:
        rec = self._webhook_record(request)
        return json_response(self._webhook_message(rec, request))

    async def edit_webhook_message(self, request: web.Request) -> web.Response:
        rec = self._webhook_record(request)
        msg = self._webhook_message(rec, request)
        body, files = await read_body(request)
        self._check_files(files)
        errors = limits.validate_message(
            body, allowed_flags=limits.SUPPRESS_EMBEDS, require_content=False
        )
        if errors:
            self._reject(rec, errors)
        edited = self.fake._edit_message(msg, body, files, rec=rec)
        return json_response(edited)

    async def delete_webhook_message(self, request: web.Request) -> web.Response:
        rec = self._webhook_record(request)
        msg = self._webhook_message(rec, request)
        self.fake._delete_message(msg, rec=rec)
        return no_content()

    # ---------------------------------------------------------- channels
    def _channel(self, request: web.Request):  # type: ignore[no-untyped-def]
        channel = self.fake.world.channels.get(_int(request, "channel"))
        if channel is None:
            raise ApiError(404, limits.UNKNOWN_CHANNEL, "Unknown Channel")
        return channel

    def _channel_message(self, request: web.Request) -> dict[str, Any]:
        channel = self._channel(request)
        msg = self.fake.messages.get(_int(request, "message"))
        if (
            msg is None
            or msg["channel_id"] != str(channel.id)
            or int(msg.get("flags") or 0) & limits.EPHEMERAL
        ):
            raise ApiError(404, limits.UNKNOWN_MESSAGE, "Unknown Message")
        return msg

    def _require_bot_permission(self, channel: Any, bits: int) -> None:
        if channel.guild.app_permissions_in(channel) & bits != bits:
            raise ApiError(403, 50013, "Missing Permissions")

    async def get_channel(self, request: web.Request) -> web.Response:
        self._require_bot_auth(request)
        return json_response(self._channel(request).payload())

    async def typing(self, request: web.Request) -> web.Response:
        self._require_bot_auth(request)
        self._channel(request)
        return no_content()

    async def list_messages(self, request: web.Request) -> web.Response:
        self._require_bot_auth(request)
        channel = self._channel(request)
        self._require_bot_permission(channel, perm.READ_MESSAGE_HISTORY)
        limit = min(int(request.query.get("limit", 50)), 100)
        before = request.query.get("before")
        found = [
            m for m in reversed(channel.messages) if before is None or int(m["id"]) < int(before)
        ]
        return json_response(found[:limit])

    async def create_channel_message(self, request: web.Request) -> web.Response:
        self._require_bot_auth(request)
        channel = self._channel(request)
        body, files = await read_body(request)
        self._require_bot_permission(channel, perm.VIEW_CHANNEL | perm.SEND_MESSAGES)
        if files:
            self._require_bot_permission(channel, perm.ATTACH_FILES)
        self._check_files(files)
        errors = limits.validate_message(
            body,
            allowed_flags=limits.SUPPRESS_EMBEDS | limits.SUPPRESS_NOTIFICATIONS,
            require_content=True,
        )
        if errors:
            self._reject(None, errors)
        if limits.is_empty_message(body, bool(files)):
            self._reject(None, [], limits.EMPTY_MESSAGE)
        bot_user = self.fake.world.bot_user
        assert bot_user is not None
        msg = self.fake._create_message(channel, bot_user.payload(), body, files)
        return json_response(msg)

    async def get_channel_message(self, request: web.Request) -> web.Response:
        self._require_bot_auth(request)
        return json_response(self._channel_message(request))

    async def edit_channel_message(self, request: web.Request) -> web.Response:
        self._require_bot_auth(request)
        msg = self._channel_message(request)
        bot_user = self.fake.world.bot_user
        if bot_user is None or msg["author"]["id"] != str(bot_user.id):
            raise ApiError(403, 50005, "Cannot edit a message authored by another user")
        body, files = await read_body(request)
        errors = limits.validate_message(
            body, allowed_flags=limits.SUPPRESS_EMBEDS, require_content=False
        )
        if errors:
            self._reject(None, errors)
        return json_response(self.fake._edit_message(msg, body, files))

    async def delete_channel_message(self, request: web.Request) -> web.Response:
        self._require_bot_auth(request)
        msg = self._channel_message(request)
        self.fake._delete_message(msg)
        return no_content()

    # ------------------------------------------------------ guilds/users
    async def get_guild(self, request: web.Request) -> web.Response:
        self._require_bot_auth(request)
        try:
            guild = self.fake.world.guild(_int(request, "guild"))
        except LookupError:
            raise ApiError(404, 10004, "Unknown Guild") from None
        data = guild.payload()
        for key in ("channels", "members", "threads", "presences", "voice_states"):
            data.pop(key, None)
        return json_response(data)

    async def get_member(self, request: web.Request) -> web.Response:
        self._require_bot_auth(request)
        try:
            member = self.fake.world.guild(_int(request, "guild")).member(_int(request, "user"))
        except LookupError:
            raise ApiError(404, 10007, "Unknown Member") from None
        return json_response(member.payload())

    async def get_user(self, request: web.Request) -> web.Response:
        self._require_bot_auth(request)
        user = self.fake.world.user_by_id(_int(request, "user"))
        if user is None:
            raise ApiError(404, 10013, "Unknown User")
        return json_response(user.payload())

    async def get_attachment(self, request: web.Request) -> web.Response:
        found = self.fake.attachments.get(_int(request, "id"))
        if found is None:
            raise ApiError(404, 0, "404: Not Found")
        return web.Response(body=found.data, headers={"Content-Type": "application/octet-stream"})

    async def unknown(self, request: web.Request) -> web.Response:
        entry = f"{request.method} {request.path}"
        self.fake.unknown_routes.append(entry)
        log.warning("emulator: unknown route %s", entry)
        raise ApiError(404, 0, "404: Not Found")


def snapshot(message: dict[str, Any]) -> dict[str, Any]:
    return copy.deepcopy(message)
