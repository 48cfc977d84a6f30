"""A tiny OpenAI-compatible completions server on loopback that answers instantly.

For benchmarks and sandbox tests that measure or exercise the bot, not a model.
It echoes a fixed text, honours `n`, `max_tokens` (in words), `echo` and `stream`,
and can add a fixed delay to stand in for model time.

As its own process (one server of a pool a test can kill -9 and start again):
`python -m bot.sandbox.stub_completions --port 8001 --text " from one" --delay 0.2`.
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

from aiohttp import web

MODEL = "stub-model"
WORDS = "the quick brown fox jumps over the lazy dog".split()


class StubCompletions:
    """`await stub.start()` → base URL like http://127.0.0.1:PORT/v1."""

    def __init__(
        self, *, delay: float = 0.0, text: str | None = None, host: str = "127.0.0.1", port: int = 0
    ) -> None:
        self.delay = delay
        self.text = text
        self.host, self.port = host, port
        self.requests = 0
        self._runner: web.AppRunner | None = None
        self.base_url = ""

    async def start(self) -> str:
        app = web.Application()
        app.router.add_post("/v1/completions", self._complete)
        app.router.add_get("/v1/models", self._models)
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.base_url = f"http://{self.host}:{port}/v1"
        return self.base_url

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def _models(self, request: web.Request) -> web.Response:
        return web.json_response({"object": "list", "data": [{"id": MODEL, "object": "model"}]})

    def _text(self, body: dict[str, Any]) -> str:
        if self.text is not None:
            return self.text
        count = int(body.get("max_tokens") or 16)
        return " " + " ".join(WORDS[i % len(WORDS)] for i in range(count))

    async def _complete(self, request: web.Request) -> web.StreamResponse:
        self.requests += 1
        body = await request.json()
        if self.delay:
            await asyncio.sleep(self.delay)
        n = int(body.get("n") or 1)
        text = self._text(body)
        prompt = body.get("prompt") or ""
        if body.get("echo"):
            text = str(prompt) + text
        created = int(time.time())
        if body.get("stream"):
            response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
            await response.prepare(request)
            for index in range(n):
                for piece in text.split(" "):
                    chunk = {
                        "id": "cmpl-stub",
                        "object": "text_completion",
                        "created": created,
                        "model": MODEL,
                        "choices": [
                            {
                                "index": index,
                                "text": piece + " ",
                                "finish_reason": None,
                                "logprobs": None,
                            }
                        ],
                    }
                    await response.write(f"data: {json.dumps(chunk)}\n\n".encode())
            await response.write(b"data: [DONE]\n\n")
            return response
        tokens = len(text.split())
        return web.json_response(
            {
                "id": "cmpl-stub",
                "object": "text_completion",
                "created": created,
                "model": body.get("model") or MODEL,
                "choices": [
                    {"index": i, "text": text, "finish_reason": "length", "logprobs": None}
                    for i in range(n)
                ],
                "usage": {
                    "prompt_tokens": len(str(prompt).split()),
                    "completion_tokens": tokens * n,
                    "total_tokens": len(str(prompt).split()) + tokens * n,
                },
            }
        )


def main(argv: list[str] | None = None) -> None:
    """Serve until killed (see the module docstring)."""
    import argparse

    parser = argparse.ArgumentParser(description="A stub completions server.")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--text", default=None)
    parser.add_argument("--delay", type=float, default=0.0)
    args = parser.parse_args(argv)

    async def serve() -> None:
        stub = StubCompletions(delay=args.delay, text=args.text, host=args.host, port=args.port)
        print(f"serving {await stub.start()}", flush=True)
        await asyncio.Event().wait()

    asyncio.run(serve())


if __name__ == "__main__":
    main()
