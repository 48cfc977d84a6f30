"""Server-sent events from `/v1/completions` with `stream: true`, as text chunks.

Retried like any request until the first chunk has arrived; after that a
failure surfaces as a BackendError (the user has already seen part of it).
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncGenerator
from dataclasses import dataclass
from typing import Any

import httpx
from httpx_sse import SSEError, aconnect_sse

from bot.completions.error_bodies import parse_error_body
from bot.completions.http import BackendHTTP, backoff_delay
from bot.completions.result import Usage
from bot.completions.stops import StopScanner
from bot.completions.wire import StreamEvent, WireChoice, read
from bot.errors import BackendError, BackendStatusError, MalformedResponse

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
        f"The {backend} backend failed while streaming: {message}",
        status=status if isinstance(status, int) else 500,
        error_type=info.error_type if info else None,
    )


def _cut_short(backend: str, delivered: bool) -> BackendError:
    """The stream ended without [DONE] or a finish_reason."""
    if delivered:
        return BackendError(f"The {backend} backend stopped in the middle of the stream.")
    return BackendError(
        f"The {backend} backend ended the stream without any text or reason (it does this "
        "when the prompt does not fit its context): try a shorter prompt, or stream off to "
        "see its error."
    )


@dataclass
class StreamChunk:
    """One streamed event's text, and its finish_reason / usage when it has them."""

    text: str
    finish_reason: str | None = None
    usage: Usage | None = None


async def stream_chunks(
    http: BackendHTTP, path: str, payload: dict[str, Any]
) -> AsyncGenerator[StreamChunk, None]:
    """POST `payload` with stream on and yield each chunk's text (and finish data)."""
    url = http.url(path)
    body = {**payload, "stream": True}
    attempt = 0
    delivered = False
    finished = False  # a finish_reason arrived
    while True:
        try:
            async with aconnect_sse(http.client, "POST", url, json=body) as source:
                response = source.response
                if not response.is_success:
                    await response.aread()
                    await http.retry_or_raise(response, attempt)
                    attempt += 1
                    continue
                async for event in source.aiter_sse():
                    if event.data.strip() == "[DONE]":
                        return
                    try:
                        data = json.loads(event.data) if event.data.strip() else None
                    except ValueError as err:
                        raise MalformedResponse(
                            f"The {http.backend_label} backend sent a stream event that is not "
                            "valid JSON."
                        ) from err
                    if event.event == "error" or (isinstance(data, dict) and "error" in data):
                        raise _error_in_event(http.backend_label, data)
                    if not isinstance(data, dict):
                        continue
                    parsed = read(StreamEvent, data, "a stream event")
                    usage = parsed.usage.to_usage() if parsed.usage else None
                    # The last event may carry usage and no choice.
                    for choice in parsed.choices or [WireChoice()]:
                        text, reason = choice.text, choice.finish_reason
                        if text or reason or usage:
                            delivered = delivered or bool(text)
                            finished = finished or bool(reason)
                            yield StreamChunk(text, reason, usage)
                if not finished:
                    # llama-cpp-python answers 200 and then ends the stream with
                    # nothing when generation fails (e.g. a prompt over its context).
                    raise _cut_short(http.backend_label, delivered)
                return
        except SSEError as err:
            raise MalformedResponse(
                f"The {http.backend_label} backend did not answer with an event stream."
            ) from err
        except httpx.HTTPError as err:
            error = http.transport_error(err)
            if delivered:
                raise _cut_short(http.backend_label, delivered) from err
            if attempt >= http.max_retries:
                raise error from err
            await http.sleep_before_retry(backoff_delay(attempt), attempt, error.message)
            attempt += 1


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
        warnings: list[str] | None = None,
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
