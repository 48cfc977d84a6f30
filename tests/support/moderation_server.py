"""A loopback moderation server in the shape of OpenAI's `POST /v1/moderations`.

It flags a category when the text contains the category's marker word (the
`markers` mapping, e.g. "hateful" → hate), scores it 0.97 (others 0.001), and
keeps every request body. `mode` makes it fail on demand: "down" answers 503,
"hang" never answers (until the client gives up).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from bot.moderation.categories import OPENAI_CATEGORIES

DEFAULT_MARKERS = {
    "hateful": "hate",
    "menacing": "harassment/threatening",
    "gory": "violence/graphic",
    "bloodshed": "violence",
}


@dataclass
class ModerationServer:
    markers: dict[str, str] = field(default_factory=lambda: dict(DEFAULT_MARKERS))
    mode: str = "ok"  # ok | down | hang
    requests: list[dict[str, Any]] = field(default_factory=list)
    base_url: str = ""
    # Set when the server stops, so that a hanging request ends.
    released: asyncio.Event = field(default_factory=asyncio.Event)

    def result(self, text: str) -> dict[str, Any]:
        found = {cat for word, cat in self.markers.items() if word in text.lower()}
        return {
            "flagged": bool(found),
            "categories": {c: c in found for c in OPENAI_CATEGORIES},
            "category_scores": {c: (0.97 if c in found else 0.001) for c in OPENAI_CATEGORIES},
            "category_applied_input_types": {c: ["text"] for c in OPENAI_CATEGORIES},
        }

    async def moderations(self, request: web.Request) -> web.Response:
        body = await request.json()
        self.requests.append({"body": body, "authorization": request.headers.get("Authorization")})
        if self.mode == "down":
            return web.json_response({"error": {"message": "overloaded"}}, status=503)
        if self.mode == "hang":
            await self.released.wait()
        texts = body["input"] if isinstance(body["input"], list) else [body["input"]]
        return web.json_response(
            {
                "id": "modr-test",
                "model": body.get("model", "omni-moderation-latest"),
                "results": [self.result(t) for t in texts],
            }
        )

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/v1/moderations", self.moderations)
        return app


@contextlib.asynccontextmanager
async def running_moderation_server(
    server: ModerationServer | None = None,
) -> AsyncIterator[ModerationServer]:
    """Serve a ModerationServer on a free loopback port; `base_url` ends in /v1."""
    server = server or ModerationServer()
    runner = web.AppRunner(server.app(), handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    server.base_url = f"http://127.0.0.1:{port}/v1"
    try:
        yield server
    finally:
        server.released.set()
        await runner.cleanup()
