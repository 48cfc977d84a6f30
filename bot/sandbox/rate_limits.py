"""Rate limits: the X-RateLimit headers on every API reply, and 429s a test injects."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from bot.sandbox.http_util import ApiError, json_response, rate_limit_headers
from bot.sandbox.state import EmulatorState


@dataclass
class RateLimitInjection:
    """Answer the next `count` requests whose 'METHOD /path' contains `match` with a 429."""

    match: str
    retry_after: float
    count: int = 1
    is_global: bool = False
    hits: int = 0


class RateLimits:
    """An aiohttp middleware that logs each API request, answers injected 429s and adds the
    rate-limit headers; also turns an `ApiError` from a handler into Discord's error reply."""

    def __init__(self, state: EmulatorState) -> None:
        self.state = state
        self.injections: list[RateLimitInjection] = []

    def inject(
        self, match: str, retry_after: float, count: int, is_global: bool
    ) -> RateLimitInjection:
        injection = RateLimitInjection(match, retry_after, count, is_global)
        self.injections.append(injection)
        return injection

    @web.middleware
    async def middleware(self, request: web.Request, handler: Any) -> web.StreamResponse:
        is_api = request.path.startswith("/api/")
        if is_api:
            entry = f"{request.method} {request.path}"
            self.state.requests.append(entry)
            injected = self._take(entry)
            if injected is not None:
                self.state.rate_limited.append(entry)
                return _too_many(injected)
        try:
            response = await handler(request)
        except ApiError as err:
            response = err.response()
        if is_api and isinstance(response, web.Response):
            route = request.match_info.route.resource
            bucket = (route.canonical if route is not None else request.path).encode().hex()[:32]
            response.headers.update(rate_limit_headers(bucket))
        return response

    def _take(self, entry: str) -> RateLimitInjection | None:
        for injection in self.injections:
            if injection.count > 0 and injection.match in entry:
                injection.count -= 1
                injection.hits += 1
                return injection
        return None


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
