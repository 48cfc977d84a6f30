"""Turn any backend error body into a message and a typed error.

Shapes seen in the wild (shared/reference/completions-api.md §5.7):
OpenAI/vLLM/llama.cpp/Ollama `{"error": {"message", "type", "param", "code"}}`,
TGI `{"error": "...", "error_type": "..."}`, old vLLM `{"object": "error",
"message": ...}`, FastAPI `{"detail": [...]}` or `{"detail": "..."}`, and
plain text.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

import httpx

from bot.errors import (
    BackendError,
    BackendStatusError,
    BackendUnavailable,
    RateLimited,
)
from bot.i18n import _

MAX_MESSAGE_CHARS = 400


@dataclass
class ErrorInfo:
    """What an error body says, whatever its shape."""

    message: str
    error_type: str | None = None
    code: str | int | None = None
    param: str | None = None


def _shorten(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= MAX_MESSAGE_CHARS else text[: MAX_MESSAGE_CHARS - 3] + "..."


def _fastapi_detail(detail: Any) -> str:
    if isinstance(detail, str):
        return detail
    if isinstance(detail, list):
        parts = []
        for item in detail:
            if isinstance(item, dict):
                loc = [str(p) for p in item.get("loc", []) if p != "body"]
                msg = str(item.get("msg", "invalid value"))
                parts.append(f"{'.'.join(loc)}: {msg}" if loc else msg)
            else:
                parts.append(str(item))
        return "; ".join(parts)
    return json.dumps(detail)


def parse_error_body(data: Any) -> ErrorInfo | None:
    """Read an already-decoded JSON error body; None when it has no recognisable error."""
    if not isinstance(data, dict):
        return None
    error = data.get("error")
    if isinstance(error, dict):
        message = error.get("message") or error.get("msg") or json.dumps(error)
        return ErrorInfo(
            _shorten(str(message)), error.get("type"), error.get("code"), error.get("param")
        )
    if isinstance(error, str) and error:
        return ErrorInfo(_shorten(error), data.get("error_type"))
    if data.get("object") == "error" and data.get("message"):
        return ErrorInfo(_shorten(str(data["message"])), data.get("type"), data.get("code"))
    if "detail" in data:
        return ErrorInfo(_shorten(_fastapi_detail(data["detail"])), "validation_error")
    if isinstance(data.get("message"), str):
        return ErrorInfo(_shorten(data["message"]), data.get("type"), data.get("code"))
    return None


def error_info(response: httpx.Response) -> ErrorInfo:
    """The server's own message, from a body of any known shape (read body first)."""
    text = response.text
    try:
        parsed = parse_error_body(json.loads(text)) if text.strip() else None
    except ValueError:
        parsed = None
    if parsed is not None:
        return parsed
    if text.strip() and not text.lstrip().startswith("<"):
        return ErrorInfo(_shorten(text))
    return ErrorInfo(f"HTTP {response.status_code} {response.reason_phrase}".strip())


def retry_after_seconds(headers: httpx.Headers) -> float | None:
    """The delay the server asked for: retry-after-ms, then Retry-After (seconds or date)."""
    ms = headers.get("retry-after-ms")
    if ms:
        try:
            return max(float(ms) / 1000.0, 0.0)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if not value:
        return None
    try:
        return max(float(value), 0.0)
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None

    return max((when - datetime.now(UTC)).total_seconds(), 0.0)


def error_from_response(response: httpx.Response, backend: str) -> BackendError:
    """A typed error for an HTTP error response (the body must have been read)."""
    info = error_info(response)
    status = response.status_code
    message = _("The {backend} backend said: {message}", backend=backend, message=info.message)
    kwargs = {
        "status": status,
        "error_type": info.error_type,
        "code": info.code,
        "param": info.param,
    }
    if status == 429:
        return RateLimited(message, retry_after=retry_after_seconds(response.headers), **kwargs)
    if status == 503:
        return BackendUnavailable(message, status=status)
    return BackendStatusError(message, **kwargs)  # type: ignore[arg-type]


def is_quota_exhausted(error: BackendError) -> bool:
    """A 429 that retrying cannot fix (OpenAI's insufficient_quota)."""
    return isinstance(error, RateLimited) and "insufficient_quota" in (
        str(error.code or ""),
        str(error.error_type or ""),
    )
