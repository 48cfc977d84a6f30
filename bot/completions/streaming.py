"""Server-sent events from `/v1/completions` with `stream: true`, as text deltas.

Retried like any request until the first chunk has arrived; after that a
failure surfaces as a BackendError (the user has already seen part of it).
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncGenerator
from typing import Any

import httpx
from httpx_sse import SSEError, aconnect_sse

from bot.completions.error_bodies import error_from_response, parse_error_body
from bot.completions.errors import BackendError, BackendStatusError, MalformedResponse
from bot.completions.http import BackendHTTP, backoff_delay

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


async def stream_deltas(
    http: BackendHTTP, path: str, payload: dict[str, Any]
) -> AsyncGenerator[str, None]:
    """POST `payload` with stream on and yield each chunk's text."""
    url = http.url(path)
    body = {**payload, "stream": True}
    attempt = 0
    delivered = False
    while True:
        try:
            async with aconnect_sse(http.client, "POST", url, json=body) as source:
                response = source.response
                if not response.is_success:
                    await response.aread()
                    error = error_from_response(response, http.backend_label)
                    error.message = http.redact(error.message)
                    delay = http.retry_plan(response, error, attempt)
                    if delay is None:
                        raise error
                    await http.sleep_before_retry(delay, attempt, f"HTTP {response.status_code}")
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
                    for choice in data.get("choices") or []:
                        text = choice.get("text") if isinstance(choice, dict) else None
                        if text:
                            delivered = True
                            yield text
                return
        except SSEError as err:
            raise MalformedResponse(
                f"The {http.backend_label} backend did not answer with an event stream."
            ) from err
        except httpx.HTTPError as err:
            error = http.transport_error(err)
            if delivered:
                raise BackendError(
                    f"The {http.backend_label} backend stopped in the middle of the stream."
                ) from err
            if attempt >= http.max_retries:
                raise error from err
            await http.sleep_before_retry(backoff_delay(attempt), attempt, error.message)
            attempt += 1
