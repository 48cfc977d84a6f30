"""REST v10: the route table, plus login, the gateway URL, command sync, guilds and users.

Interaction and webhook routes are in `rest_interactions.py`, channel routes in
`rest_channels.py`, AutoMod rules and member timeouts in `rest_guilds.py`;
every group reads and changes the one `EmulatorState`.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from bot.sandbox.command_rules import validate_commands
from bot.sandbox.http_util import ApiError, json_response, read_body
from bot.sandbox.lifecycle import MessageLifecycle
from bot.sandbox.rest_channels import ChannelRoutes
from bot.sandbox.rest_common import body_errors, path_int, refuse, require_bot_auth
from bot.sandbox.rest_guilds import GuildRoutes
from bot.sandbox.rest_interactions import InteractionRoutes
from bot.sandbox.state import EmulatorState

log = logging.getLogger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
API = "/api/v10"


def setup_routes(app: web.Application, state: EmulatorState, lifecycle: MessageLifecycle) -> None:
    """Register every route under /api/v10 plus the attachment CDN and the catch-all."""
    base = AppRoutes(state)
    table: list[tuple[str, str, Handler]] = [
        *base.routes(),
        *InteractionRoutes(state, lifecycle).routes(),
        *ChannelRoutes(state, lifecycle).routes(),
        *GuildRoutes(state).routes(),
    ]
    for method, path, handler in table:
        app.router.add_route(method, API + path, handler)
    app.router.add_get("/attachments/{id}/{filename}", base.get_attachment)
    app.router.add_route("*", "/{tail:.*}", base.unknown)


class AppRoutes:
    """The bot's identity, the gateway URL, its commands, and the guilds and users it reads."""

    def __init__(self, state: EmulatorState) -> None:
        self.state = state

    def routes(self) -> list[tuple[str, str, Any]]:
        return [
            ("GET", "/users/@me", self.get_me),
            ("GET", "/oauth2/applications/@me", self.get_application),
            ("GET", "/gateway", self.get_gateway),
            ("GET", "/gateway/bot", self.get_gateway_bot),
            ("GET", "/applications/{app}/commands", self.get_commands),
            ("PUT", "/applications/{app}/commands", self.put_commands),
            ("GET", "/applications/{app}/guilds/{guild}/commands", self.get_commands),
            ("PUT", "/applications/{app}/guilds/{guild}/commands", self.put_commands),
            ("GET", "/guilds/{guild}", self.get_guild),
            ("GET", "/guilds/{guild}/members/{user}", self.get_member),
            ("GET", "/users/{user}", self.get_user),
        ]

    # --------------------------------------------------------------- login
    async def get_me(self, request: web.Request) -> web.Response:
        require_bot_auth(self.state, request)
        me = {**self.state.bot_author(), "verified": True, "mfa_enabled": False, "flags": 0}
        return json_response({**me, "locale": "en-US"})

    async def get_application(self, request: web.Request) -> web.Response:
        require_bot_auth(self.state, request)
        state = self.state
        return json_response(
            {
                "id": str(state.application_id),
                "name": state.bot_author()["username"],
                "description": "A local emulator's application.",
                "icon": None,
                "bot_public": True,
                "bot_require_code_grant": False,
                "owner": state.world.user("owner").payload(),
                "verify_key": "00" * 32,
                "flags": 0,
                "team": None,
                "summary": "",
            }
        )

    async def get_gateway(self, request: web.Request) -> web.Response:
        return json_response({"url": self.state.gateway_url})

    async def get_gateway_bot(self, request: web.Request) -> web.Response:
        require_bot_auth(self.state, request)
        return json_response(
            {
                "url": self.state.gateway_url,
                "shards": self.state.recommended_shards,
                "session_start_limit": {
                    "total": 1000,
                    "remaining": 999,
                    "reset_after": 86400000,
                    "max_concurrency": self.state.max_concurrency,
                },
            }
        )

    # ------------------------------------------------------------ commands
    def _scope(self, request: web.Request) -> int | None:
        """The guild of a guild-commands route (None for global ones), after the checks."""
        require_bot_auth(self.state, request)
        if path_int(request, "app") != self.state.application_id:
            raise ApiError(404, 10002, "Unknown Application")
        return path_int(request, "guild") if "guild" in request.match_info else None

    async def get_commands(self, request: web.Request) -> web.Response:
        return json_response(self.state.commands.listed(self._scope(request)))

    async def put_commands(self, request: web.Request) -> web.Response:
        guild_id = self._scope(request)
        if guild_id is not None:
            try:
                self.state.world.guild(guild_id)
            except LookupError:
                raise ApiError(403, 50001, "Missing Access") from None
        body, _ = await read_body(request)
        commands = body.get("_root")
        errors = body_errors(
            "bulk_overwrite_commands", commands, lambda: validate_commands(commands)
        )
        if errors:
            refuse(self.state, None, errors, route=request.path)
        stored = self.state.commands.overwrite(commands or [], guild_id)
        return json_response(stored)

    # ------------------------------------------------------- guilds, users
    async def get_guild(self, request: web.Request) -> web.Response:
        require_bot_auth(self.state, request)
        try:
            guild = self.state.world.guild(path_int(request, "guild"))
        except LookupError:
            raise ApiError(404, 10004, "Unknown Guild") from None
        data = guild.payload()
        for key in ("channels", "members", "threads", "presences", "voice_states"):
            data.pop(key, None)
        return json_response(data)

    async def get_member(self, request: web.Request) -> web.Response:
        require_bot_auth(self.state, request)
        try:
            guild = self.state.world.guild(path_int(request, "guild"))
            member = guild.member(path_int(request, "user"))
        except LookupError:
            raise ApiError(404, 10007, "Unknown Member") from None
        return json_response(member.payload())

    async def get_user(self, request: web.Request) -> web.Response:
        require_bot_auth(self.state, request)
        user = self.state.world.user_by_id(path_int(request, "user"))
        if user is None:
            raise ApiError(404, 10013, "Unknown User")
        return json_response(user.payload())

    async def get_attachment(self, request: web.Request) -> web.Response:
        found = self.state.attachments.get(path_int(request, "id"))
        if found is None:
            raise ApiError(404, 0, "404: Not Found")
        return web.Response(body=found.data, headers={"Content-Type": "application/octet-stream"})

    async def unknown(self, request: web.Request) -> web.Response:
        entry = f"{request.method} {request.path}"
        self.state.unknown_routes.append(entry)
        log.warning("emulator: unknown route %s", entry)
        raise ApiError(404, 0, "404: Not Found")
