"""A misbehaving OpenAI-compatible server on loopback, for faults the real
model server cannot produce on demand (429s, 5xx, hangs, broken streams).

Each request to a scripted path takes the next behaviour from its queue; when
the queue is empty a well-formed default answer is given. Every request is
recorded so tests can count retries and inspect what the client sent.
"""

from __future__ import annotations

import asyncio
import json
import socket
from collections import defaultdict, deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

Behaviour = Callable[[web.Request, dict[str, Any]], Awaitable[web.StreamResponse]]


@dataclass
class Seen:
    """One request the fault server received."""

    method: str
    path: str
    headers: dict[str, str]
    body: dict[str, Any] = field(default_factory=dict)


def reply(
    status: int, body: Any = None, *, text: str | None = None, headers: dict[str, str] | None = None
) -> Behaviour:
    """Answer with a status and a JSON body (or raw text)."""

    async def handler(request: web.Request, _: dict[str, Any]) -> web.StreamResponse:
        if text is not None:
            return web.Response(
                status=status, text=text, headers=headers, content_type="text/plain"
            )
        return web.json_response(body, status=status, headers=headers)

    return handler


def hang(seconds: float = 30.0) -> Behaviour:
    """Never answer within any sensible client timeout."""

    async def handler(request: web.Request, _: dict[str, Any]) -> web.StreamResponse:
        await asyncio.sleep(seconds)
        return web.json_response({})

    return handler


def sse(events: list[str], *, abort: bool = False) -> Behaviour:
    """Stream raw SSE frames (each a complete `data: ...` or `event: ...` block)."""

    async def handler(request: web.Request, _: dict[str, Any]) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        for frame in events:
            await response.write(frame.encode())
            await asyncio.sleep(0.01)
        if abort:
            # Drop the connection without finishing the chunked body.
            assert request.transport is not None
            request.transport.close()
            return response
        await response.write_eof()
        return response

    return handler


def chunk(text: str, finish_reason: str | None = None) -> str:
    """One streamed completion chunk as an SSE frame."""
    body = {
        "object": "text_completion",
        "choices": [{"index": 0, "text": text, "finish_reason": finish_reason}],
    }
    return f"data: {json.dumps(body)}\n\n"


DONE = "data: [DONE]\n\n"


def default_completion(body: dict[str, Any], *, chat_logprobs: bool = False) -> dict[str, Any]:
    """A well-formed completion whose text and logprobs depend on the seed sent."""
    seed = body.get("seed", 0) or 0
    n = body.get("n", 1) or 1
    prompt = body.get("prompt", "")
    choices = []
    for i in range(n):
        tokens = [" sample", f" {seed}", f".{i}"]
        text = "".join(tokens)
        if body.get("echo"):
            text = prompt + text
        logprobs: Any = None
        if body.get("logprobs") is not None:
            # Distinct, seed-dependent scores so best_of has something to rank.
            values = [-0.5 - ((seed * 7 + i * 3 + k) % 5) / 4 for k in range(len(tokens))]
            if chat_logprobs:
                logprobs = {
                    "content": [
                        {
                            "id": k,
                            "token": t,
                            "logprob": v,
                            "bytes": list(t.encode()),
                            "top_logprobs": [{"token": t, "logprob": v}],
                        }
                        for k, (t, v) in enumerate(zip(tokens, values, strict=True))
                    ]
                }
            else:
                offsets, pos = [], len(prompt)
                for t in tokens:
                    offsets.append(pos)
                    pos += len(t)
                logprobs = {
                    "tokens": tokens,
                    "token_logprobs": values,
                    "top_logprobs": [{t: v} for t, v in zip(tokens, values, strict=True)],
                    "text_offset": offsets,
                }
        choices.append({"index": i, "text": text, "logprobs": logprobs, "finish_reason": "length"})
    return {
        "id": "cmpl-fault",
        "object": "text_completion",
        "created": 1700000000,
        "model": body.get("model") or "fault-model",
        "choices": choices,
        "usage": {"prompt_tokens": 3, "completion_tokens": 3 * n, "total_tokens": 3 + 3 * n},
    }


class FaultServer:
    """aiohttp app on 127.0.0.1:0; `base_url` ends in /v1 like a real backend."""

    def __init__(self, *, owned_by: str = "fault", chat_logprobs: bool = False) -> None:
        self.owned_by = owned_by
        self.chat_logprobs = chat_logprobs
        self.seen: list[Seen] = []
        self.queues: dict[str, deque[Behaviour]] = defaultdict(deque)
        self.tokens: dict[str, list[int]] = {}
        self._runner: web.AppRunner | None = None
        self.port = 0

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def script(self, path: str, *behaviours: Behaviour) -> None:
        """Queue behaviours for `path` (e.g. "/v1/completions"), used in order."""
        self.queues[path].extend(behaviours)

    def requests(self, path: str = "/v1/completions") -> list[Seen]:
        return [s for s in self.seen if s.path == path]

    async def start(self) -> str:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        # Cancel a handler (e.g. a hang) as soon as the client goes away.
        self._runner = web.AppRunner(app, handler_cancellation=True, shutdown_timeout=0.5)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        sock = site._server.sockets[0]  # type: ignore[union-attr]
        self.port = sock.getsockname()[1]
        return self.base_url

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        raw = await request.read()
        try:
            body = json.loads(raw) if raw else {}
        except ValueError:
            body = {"_raw": raw.decode(errors="replace")}
        self.seen.append(Seen(request.method, request.path, dict(request.headers), body))
        queue = self.queues.get(request.path)
        if queue:
            return await queue.popleft()(request, body)
        return await self._default(request, body)

    async def _default(self, request: web.Request, body: dict[str, Any]) -> web.StreamResponse:
        path = request.path
        if path == "/v1/models":
            return web.json_response(
                {
                    "object": "list",
                    "data": [{"id": "fault-model", "object": "model", "owned_by": self.owned_by}],
                }
            )
        if path == "/v1/completions":
            if body.get("stream"):
                return await sse([chunk(" sample"), chunk(" text", "length"), DONE])(request, body)
            return web.json_response(default_completion(body, chat_logprobs=self.chat_logprobs))
        if path in ("/tokenize", "/extras/tokenize"):
            text = body.get("prompt", body.get("content", body.get("input", "")))
            ids = list(self.tokens.get(text, [100 + len(text)]))
            if path == "/extras/tokenize":
                ids = [2, *ids] if text else [2]
            return web.json_response({"tokens": ids})
        return web.json_response(
            {"error": {"message": f"no route {path}", "type": "not_found"}}, status=404
        )


def closed_port() -> int:
    """A loopback port with nothing listening (connection refused)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
