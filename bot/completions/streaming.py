"""Server-sent events from `/v1/completions` with `stream: true`, as text chunks.

Retried like any request (the one loop in pool.py, which may move it to
another server) until the first text has arrived; after that a failure
surfaces as a BackendError (the user has already seen part of it) and the
server that broke off is taken out of the pool. A stream counts as in flight
on its server until it is closed.
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncGenerator, AsyncIterator
from contextlib import AsyncExitStack
from dataclasses import dataclass
from typing import Any

import httpx
from httpx_sse import ServerSentEvent, SSEError, aconnect_sse

from bot.completions.error_bodies import parse_error_body
from bot.completions.http import BackendHTTP, ResponseFailed
from bot.completions.pool import Server, ServerPool
from bot.completions.result import Usage
from bot.completions.stops import StopScanner
from bot.completions.wire import StreamEvent, WireChoice, read
from bot.errors import BackendError, BackendStatusError, MalformedResponse
from bot.i18n import Msg, _

log = logging.getLogger(__name__)


def _error_in_event(backend: str, data: Any) -> BackendError:
    info = parse_error_body(data if isinstance(data, dict) else {"error": str(data)})
    message = info.message if info else str(data)
    status = (
        data.get("error", {}).get("code")
        if isinstance(data, dict) and isinstance(data.get("error"), dict)
        else None
    )
    return BackendStatusError(
        _(
            "The {backend} backend failed while streaming: {message}",
            backend=backend,
            message=message,
        ),
        status=status if isinstance(status, int) else 500,
        error_type=info.error_type if info else None,
    )


def _cut_short(backend: str, delivered: bool) -> BackendError:
    """The stream ended without [DONE] or a finish_reason."""
    if delivered:
        return BackendError(
            _("The {backend} backend stopped in the middle of the stream.", backend=backend)
        )
    return BackendError(
        _(
            "The {backend} backend ended the stream without any text or reason (it does this "
            "when the prompt does not fit its context): try a shorter prompt, or stream off to "
            "see its error.",
            backend=backend,
        )
    )


@dataclass
class StreamChunk:
    """One streamed event's text, and its finish_reason / usage when it has them."""

    text: str
    finish_reason: str | None = None
    usage: Usage | None = None


class _OpenStream:
    """One event-stream response, read event by event.

    `open()` is one attempt of the retry loop: it connects, checks the status
    and reads up to the first text, so a failure before any text is retried
    like any request; what comes after is read outside the loop.
    """

    def __init__(self, http: BackendHTTP) -> None:
        self.http = http
        self.stack = AsyncExitStack()
        self.events: AsyncIterator[ServerSentEvent] | None = None
        self.early: list[StreamChunk] = []  # what was read while opening
        self.delivered = False  # some text arrived
        self.finished = False  # a finish_reason arrived
        self.done = False  # [DONE], or the response ended
        self.server: Server | None = None

    @classmethod
    async def open(cls, server: Server, path: str, body: dict[str, Any]) -> _OpenStream:
        http = server.http
        url = http.url(path)
        stream = cls(http)
        stream.server = server
        server.in_flight += 1
        stream.stack.callback(lambda: setattr(server, "in_flight", server.in_flight - 1))
        try:
            source = await stream.stack.enter_async_context(
                aconnect_sse(http.client, "POST", url, json=body)
            )
            if not source.response.is_success:
                await source.response.aread()
                raise ResponseFailed(source.response)
            stream.events = source.aiter_sse()
            while not stream.delivered and not stream.done:
                stream.early.extend(await stream.next_chunks())
        except BaseException:
            await stream.stack.aclose()
            raise
        return stream

    async def next_chunks(self) -> list[StreamChunk]:
        """The chunks of the next event (often one; none for [DONE] or a bare keep-alive)."""
        assert self.events is not None
        label = self.http.backend_label
        try:
            event = await anext(self.events)
        except StopAsyncIteration:
            self.done = True
            return []
        except SSEError as err:  # an httpx transport error, but not one to retry
            raise MalformedResponse(
                _("The {backend} backend did not answer with an event stream.", backend=label)
            ) from err
        if event.data.strip() == "[DONE]":
            self.done = self.finished = True
            return []
        try:
            data = json.loads(event.data) if event.data.strip() else None
        except ValueError as err:
            raise MalformedResponse(
                _(
                    "The {backend} backend sent a stream event that is not valid JSON.",
                    backend=label,
                )
            ) from err
        if event.event == "error" or (isinstance(data, dict) and "error" in data):
            raise _error_in_event(label, data)
        if not isinstance(data, dict):
            return []
        parsed = read(StreamEvent, data, _("a stream event"))
        usage = parsed.usage.to_usage() if parsed.usage else None
        chunks: list[StreamChunk] = []
        # The last event may carry usage and no choice.
        for choice in parsed.choices or [WireChoice()]:
            text, reason = choice.text, choice.finish_reason
            if text or reason or usage:
                self.delivered = self.delivered or bool(text)
                self.finished = self.finished or bool(reason)
                chunks.append(StreamChunk(text, reason, usage))
        return chunks


async def stream_chunks(
    pool: ServerPool, path: str, payload: dict[str, Any], *, affinity: str | None = None
) -> AsyncGenerator[StreamChunk, None]:
    """POST `payload` with stream on and yield each chunk's text (and finish data)."""
    body = {**payload, "stream": True}
    stream = await pool.with_retries(
        lambda server: _OpenStream.open(server, path, body), affinity=affinity
    )
    http = stream.http
    async with stream.stack:
        for chunk in stream.early:
            yield chunk
        try:
            while not stream.done:
                for chunk in await stream.next_chunks():
                    yield chunk
        except httpx.HTTPError as err:
            if stream.server is not None:
                pool.mark_down(stream.server, f"its stream broke off ({type(err).__name__})")
            raise _cut_short(http.backend_label, stream.delivered) from err
        if not stream.finished:
            # llama-cpp-python answers 200 and then ends the stream with
            # nothing when generation fails (e.g. a prompt over its context).
            raise _cut_short(http.backend_label, stream.delivered)


class CompletionStream:
    """`async for delta in stream` gives text as it arrives; afterwards
    `.finish_reason`, `.usage` and `.text` describe the whole completion.

    Stops are enforced client-side as the text streams (holding back
    max(len(stop)) - 1 characters), so no part of a stop sequence is shown.
    """

    def __init__(
        self,
        chunks: AsyncGenerator[StreamChunk, None] | None,
        *,
        stops: list[str] | None = None,
        lead: str = "",
        warnings: list[str | Msg] | None = None,
        model: str | None = None,
    ) -> None:
        self._chunks = chunks
        self.model = model  # the model asked for (the default one when none was given)
        self._scanner = StopScanner(stops)
        self._pending: list[str] = [lead] if lead else []
        self._done = False
        self.text = ""
        self.finish_reason: str | None = None
        self.usage: Usage | None = None
        self.warnings = list(warnings or [])

    def __aiter__(self) -> CompletionStream:
        return self

    async def __anext__(self) -> str:
        while not self._pending:
            if self._done or self._chunks is None:
                raise StopAsyncIteration
            await self._pull()
        out = self._pending.pop(0)
        self.text += out
        return out

    async def _pull(self) -> None:
        assert self._chunks is not None
        try:
            chunk = await self._chunks.__anext__()
        except StopAsyncIteration:
            self._done = True
            rest = self._scanner.flush()
            if rest:
                self._pending.append(rest)
            return
        out = self._scanner.feed(chunk.text)
        if out:
            self._pending.append(out)
        if chunk.usage:
            self.usage = chunk.usage
        if chunk.finish_reason:
            self.finish_reason = chunk.finish_reason
        if self._scanner.stopped:
            self.finish_reason = "stop"
            self._done = True
            await self.aclose()

    async def aclose(self) -> None:
        """Stop reading (closes the HTTP response, so the server stops generating)."""
        self._done = True
        if self._chunks is not None:
            await self._chunks.aclose()
