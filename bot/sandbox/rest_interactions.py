"""REST routes of an interaction: the callback, then followups and edits through its webhook.

Every body is checked against Discord's OpenAPI schema first, then against the
documented limits (which assume the types the schema guarantees).
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from bot.sandbox import limits
from bot.sandbox.http_util import ApiError, json_response, no_content, read_body
from bot.sandbox.interactions import AUTOCOMPLETE, COMPONENT, MODAL_SUBMIT, InteractionRecord
from bot.sandbox.lifecycle import MessageLifecycle
from bot.sandbox.limits import FieldError
from bot.sandbox.rest_common import (
    MESSAGE_FLAGS,
    TRUE_WORDS,
    body_errors,
    check_files,
    message_errors,
    path_int,
    refuse,
)
from bot.sandbox.state import EmulatorState

# Which callback types each interaction type accepts (receiving-and-responding.mdx).
ALLOWED_CALLBACKS = {
    2: {4, 5, 9},
    COMPONENT: {4, 5, 6, 7, 9},
    AUTOCOMPLETE: {8},
    MODAL_SUBMIT: {4, 5, 6, 7},
}


class InteractionRoutes:
    """POST /interactions/{id}/{token}/callback and /webhooks/{app}/{token}[/messages/{id}]."""

    def __init__(self, state: EmulatorState, lifecycle: MessageLifecycle) -> None:
        self.state = state
        self.lifecycle = lifecycle

    def routes(self) -> list[tuple[str, str, Any]]:
        return [
            ("POST", "/interactions/{id}/{token}/callback", self.callback),
            ("POST", "/webhooks/{app}/{token}", self.followup),
            ("GET", "/webhooks/{app}/{token}/messages/{message}", self.get_message),
            ("PATCH", "/webhooks/{app}/{token}/messages/{message}", self.edit_message),
            ("DELETE", "/webhooks/{app}/{token}/messages/{message}", self.delete_message),
        ]

    # ------------------------------------------------------------ callback
    async def callback(self, request: web.Request) -> web.Response:
        state = self.state
        rec = state.interactions.get(path_int(request, "id"))
        if rec is None or rec.token != request.match_info["token"]:
            raise ApiError(404, limits.UNKNOWN_INTERACTION, "Unknown interaction")
        if rec.callbacks:
            rec.refuse({"route": "callback", "code": limits.ALREADY_ACKNOWLEDGED})
            raise ApiError(
                400, limits.ALREADY_ACKNOWLEDGED, "Interaction has already been acknowledged."
            )
        if state.clock.now() - rec.created_at > state.response_window:
            rec.refuse({"route": "callback", "code": limits.UNKNOWN_INTERACTION, "why": "late"})
            raise ApiError(404, limits.UNKNOWN_INTERACTION, "Unknown interaction")
        body, files = await read_body(request)
        check_files(files)
        errors = body_errors("interaction_callback", body, lambda: self._callback_errors(rec, body))
        if errors:
            refuse(state, rec, errors, route="callback")
        ctype = int(body["type"])
        data = body.get("data") or {}
        if ctype == 4 and limits.is_empty_message(data, bool(files)):
            refuse(state, rec, [], limits.EMPTY_MESSAGE)
        message = self.lifecycle.apply_callback(rec, ctype, data, files)
        if request.query.get("with_response") not in TRUE_WORDS:
            return no_content()
        info: dict[str, Any] = {"id": str(rec.id), "type": rec.type}
        if message is not None:
            flags = int(message.get("flags") or 0)
            info["response_message_id"] = message["id"]
            info["response_message_loading"] = bool(flags & limits.LOADING)
            info["response_message_ephemeral"] = bool(flags & limits.EPHEMERAL)
        reply: dict[str, Any] = {"interaction": info}
        if ctype in (4, 7) and message is not None:
            reply["resource"] = {"type": ctype, "message": message}
        return json_response(reply)

    def _callback_errors(self, rec: InteractionRecord, body: dict[str, Any]) -> list[FieldError]:
        """The callback type allowed for this interaction, and the documented limits of each."""
        ctype = int(body["type"])
        data = body.get("data") or {}
        if ctype not in ALLOWED_CALLBACKS.get(rec.type, set()):
            why = f"Callback type {ctype} is not allowed for interaction type {rec.type}."
            return [FieldError("type", "INTERACTION_RESPONSE_TYPE_INVALID", why)]
        if ctype == 4:
            return limits.validate_message(
                data, prefix="data", allowed_flags=MESSAGE_FLAGS, require_content=True
            )
        if ctype == 5 and int(data.get("flags") or 0) & ~limits.EPHEMERAL:
            why = "A deferred response may only carry EPHEMERAL."
            return [FieldError("data.flags", "BASE_TYPE_BAD_VALUE", why)]
        if ctype == 7:
            return limits.validate_message(
                data, prefix="data", allowed_flags=limits.SUPPRESS_EMBEDS, require_content=False
            )
        if ctype == 8:
            guild = self.state.world.guild(int(rec.payload["guild_id"]))
            focused = self.state.commands.focused_option(rec.payload.get("data") or {}, guild)
            option_type = focused.get("type", 3) if focused else 3
            return limits.validate_autocomplete(data.get("choices"), option_type)
        if ctype == 9:
            return limits.validate_modal(data)
        return []

    # ------------------------------------------------------------ webhooks
    def _webhook_record(self, request: web.Request) -> InteractionRecord:
        state = self.state
        if path_int(request, "app") != state.application_id:
            raise ApiError(404, limits.UNKNOWN_WEBHOOK, "Unknown Webhook")
        rec = state.interactions_by_token.get(request.match_info["token"])
        if rec is None:
            raise ApiError(404, limits.UNKNOWN_WEBHOOK, "Unknown Webhook")
        if state.clock.now() - rec.created_at > state.token_lifetime:
            rec.refuse({"route": request.path, "code": limits.INVALID_WEBHOOK_TOKEN})
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
            msg = self.state.messages.get(mid) if mid in allowed else None
        if msg is None:
            raise ApiError(404, limits.UNKNOWN_MESSAGE, "Unknown Message")
        return msg

    async def followup(self, request: web.Request) -> web.Response:
        rec = self._webhook_record(request)
        if not rec.callbacks or rec.response_type in (8, 9):
            rec.refuse({"route": "followup", "code": limits.UNKNOWN_WEBHOOK})
            raise ApiError(404, limits.UNKNOWN_WEBHOOK, "Unknown Webhook")
        body, files = await read_body(request)
        check_files(files)
        errors = message_errors(
            "execute_webhook", body, allowed_flags=MESSAGE_FLAGS, require_content=True
        )
        if errors:
            refuse(self.state, rec, errors, route="followup")
        if limits.is_empty_message(body, bool(files)):
            refuse(self.state, rec, [], limits.EMPTY_MESSAGE)
        message = self.lifecycle.followup(rec, body, files)
        if request.query.get("wait") not in TRUE_WORDS:
            return no_content()
        return json_response(message)

    async def get_message(self, request: web.Request) -> web.Response:
        rec = self._webhook_record(request)
        return json_response(self._webhook_message(rec, request))

    async def edit_message(self, request: web.Request) -> web.Response:
        rec = self._webhook_record(request)
        msg = self._webhook_message(rec, request)
        body, files = await read_body(request)
        check_files(files)
        errors = message_errors(
            "edit_webhook_message",
            body,
            allowed_flags=limits.SUPPRESS_EMBEDS,
            require_content=False,
        )
        if errors:
            refuse(self.state, rec, errors, route="edit")
        return json_response(self.lifecycle.edit(msg, body, files, rec=rec))

    async def delete_message(self, request: web.Request) -> web.Response:
        rec = self._webhook_record(request)
        msg = self._webhook_message(rec, request)
        self.lifecycle.delete(msg, rec=rec)
        return no_content()
