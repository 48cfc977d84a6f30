"""FakeDiscord: a local Discord (REST v10 + gateway) with an injection API for tests."""

from __future__ import annotations

import logging
import math
from typing import Any

from aiohttp import web

from bot.sandbox.gateway import gateway_handler
from bot.sandbox.http_util import ApiError, json_response, rate_limit_headers
from bot.sandbox.injection import Injection
from bot.sandbox.rest import setup_routes
from bot.sandbox.state import ComponentError, RateLimitInjection, UnknownCommand

log = logging.getLogger(__name__)

__all__ = ["ComponentError", "FakeDiscord", "RateLimitInjection", "UnknownCommand"]


class FakeDiscord(Injection):
    """A Discord the real discord.py client connects to over loopback.

    Start it, point the bot at `api_base` and `gateway_url`, then drive it with
    `slash`, `click`, `select`, `submit_modal`, `autocomplete`, `context_menu`
    and `post_message`, and read the bot's answers from the returned records.
    Constructor options are in `EmulatorState`.
    """

    # ------------------------------------------------------------ server
    async def start(self) -> FakeDiscord:
        """Listen on a free loopback port."""
        app = web.Application(middlewares=[self._middleware], client_max_size=64 * 1024 * 1024)

        async def gateway(request: web.Request) -> web.StreamResponse:
            return await gateway_handler(self, request)

        app.router.add_get("/gateway", gateway)
        setup_routes(app, self)
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self._port)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.base_url = f"http://{self.host}:{port}"
        return self

    async def stop(self) -> None:
        for session in list(self.sessions):
            if not session.ws.closed:
                await session.ws.close(code=1001)
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> FakeDiscord:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    @property
    def api_base(self) -> str:
        return f"{self.base_url}/api/v10"

    @property
    def gateway_url(self) -> str:
        return f"{self.base_url.replace('http://', 'ws://')}/gateway"

    @web.middleware
    async def _middleware(self, request: web.Request, handler: Any) -> web.StreamResponse:
        is_api = request.path.startswith("/api/")
        if is_api:
            entry = f"{request.method} {request.path}"
            self.requests.append(entry)
            injected = self._take_injection(entry)
            if injected is not None:
                self.rate_limited.append(entry)
                return self._too_many(injected)
        try:
            response = await handler(request)
        except ApiError as err:
            response = err.response()
        if is_api and isinstance(response, web.Response):
            route = request.match_info.route.resource
            bucket = (route.canonical if route is not None else request.path).encode().hex()[:32]
            response.headers.update(rate_limit_headers(bucket))
        return response

    def _take_injection(self, entry: str) -> RateLimitInjection | None:
        for injection in self._injections:
            if injection.count > 0 and injection.match in entry:
                injection.count -= 1
                injection.hits += 1
                return injection
        return None

    @staticmethod
    def _too_many(injection: RateLimitInjection) -> web.Response:
        headers = rate_limit_headers("injected", remaining=0, reset_after=injection.retry_after)
        headers.update(
            {
                # Without Via, discord.py takes a 429 for a Cloudflare ban and gives up.
                "Via": "1.1 google",
                "Retry-After": str(math.ceil(injection.retry_after)),
                "X-RateLimit-Scope": "user",
            }
        )
        if injection.is_global:
            headers["X-RateLimit-Global"] = "true"
        body = {
            "message": "You are being rate limited.",
            "retry_after": injection.retry_after,
            "global": injection.is_global,
        }
        return json_response(body, status=429, headers=headers)

    def inject_rate_limit(
        self,
        route_substring: str,
        retry_after: float = 0.1,
        *,
        count: int = 1,
        is_global: bool = False,
    ) -> RateLimitInjection:
        """Answer the next `count` API requests matching 'METHOD /path' substring with a 429."""
        injection = RateLimitInjection(route_substring, retry_after, count, is_global)
        self._injections.append(injection)
        return injection
