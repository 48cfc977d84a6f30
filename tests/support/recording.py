"""An httpx transport that keeps every request body the client sends."""

from __future__ import annotations

import json
from typing import Any

import httpx


class BodyRecorder(httpx.AsyncHTTPTransport):
    """The ordinary transport, keeping (path, JSON body) of every request it sends."""

    def __init__(self) -> None:
        super().__init__()
        self.sent: list[tuple[str, Any]] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content) if request.content else None
        self.sent.append((request.url.path, body))
        return await super().handle_async_request(request)

    def bodies(self, path: str = "/v1/completions") -> list[Any]:
        """The bodies sent to `path`, oldest first."""
        return [body for sent_to, body in self.sent if sent_to == path]
