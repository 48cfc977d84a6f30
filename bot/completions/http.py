"""The shared HTTP client for one model server, and openai-python's retry policy.

Retries: 2 by default, on 408/409/429/5xx, timeouts and connection errors;
`x-should-retry` wins when present. Delay: the server's `retry-after-ms` /
`Retry-After` when it is at most `max_retry_after` (longer means: give up now
and surface the error), else `min(0.5 * 2**k, 8) * (1 - 0.25 * random())`.
The one retry loop is `ServerPool.with_retries` (pool.py), which also moves
a request to another server when one fails: plain requests and the opening
of streams (until their first text, see streaming.py) both use it. The wait
is injectable (`sleep=`), so tests record the planned delays.
"""

from __future__ import annotations

import json
import logging
import random
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, TypeVar

import httpx
from pydantic import SecretStr

from bot.completions.error_bodies import (
    is_quota_exhausted,
    retry_after_seconds,
)
from bot.completions.transport import AiohttpTransport
from bot.errors import (
    BackendError,
    BackendTimeout,
    BackendUnavailable,
    MalformedResponse,
    RateLimited,
)
from bot.i18n import _

log = logging.getLogger(__name__)

RETRYABLE_STATUSES = frozenset({408, 409, 429})
CONNECT_TIMEOUT = 5.0
# Connections to one model server: at most, and kept open between requests.
LIMITS = httpx.Limits(max_connections=100, max_keepalive_connections=20)

T = TypeVar("T")
Sleep = Callable[[float], Awaitable[None]]


class ResponseFailed(Exception):
    """Raised by an attempt whose answer has an error status (its body already read)."""

    def __init__(self, response: httpx.Response) -> None:
        super().__init__(f"HTTP {response.status_code}")
        self.response = response


def redact_headers(headers: Mapping[str, str]) -> dict[str, str]:
    """Headers safe to log: credentials replaced."""
    hidden = {"authorization", "api-key", "x-api-key", "proxy-authorization"}
    return {k: ("<redacted>" if k.lower() in hidden else v) for k, v in headers.items()}


def backoff_delay(retries_taken: int) -> float:
    """openai-python's backoff: 0.5 s doubling to 8 s, shortened by up to 25 % jitter."""
    return min(0.5 * 2**retries_taken, 8.0) * (1 - 0.25 * random.random())


class BackendHTTP:
    """One `httpx.AsyncClient` for one model server, for the life of the process."""

    def __init__(
        self,
        base_url: str,
        *,
        backend_label: str = "completions",
        api_key: SecretStr | str | None = None,
        timeout: float = 120.0,
        max_retries: int = 2,
        max_retry_after: float = 60.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.backend_label = backend_label
        self.max_retries = max_retries
        self.max_retry_after = max_retry_after
        key = api_key.get_secret_value() if isinstance(api_key, SecretStr) else api_key
        self._secret = key or None
        headers = {"Accept": "application/json"}
        if key:
            headers["Authorization"] = f"Bearer {key}"
        self.client = httpx.AsyncClient(
            headers=headers,
            timeout=httpx.Timeout(timeout, connect=min(CONNECT_TIMEOUT, timeout)),
            transport=transport or AiohttpTransport(LIMITS),
            limits=LIMITS,  # for the transports of proxies taken from the environment
        )

    @property
    def root_url(self) -> str:
        """The server root (base URL without a trailing /v1), where tokenize routes live."""
        return self.base_url[: -len("/v1")] if self.base_url.endswith("/v1") else self.base_url

    def url(self, path: str) -> str:
        return path if path.startswith("http") else f"{self.base_url}/{path.lstrip('/')}"

    def redact(self, text: str) -> str:
        """Remove the API key from text that may be shown or logged."""
        return text.replace(self._secret, "<redacted>") if self._secret else text

    async def aclose(self) -> None:
        await self.client.aclose()

    # -- retry decisions -------------------------------------------------------------

    def retry_plan(
        self, response: httpx.Response, error: BackendError, attempt: int
    ) -> float | None:
        """Seconds to wait before retrying `response`, or None for no retry."""
        if attempt >= self.max_retries:
            return None
        should = response.headers.get("x-should-retry")
        if should == "false":
            return None
        if should != "true":
            status = response.status_code
            if status not in RETRYABLE_STATUSES and status < 500:
                return None
            if is_quota_exhausted(error):
                return None
        asked = error.retry_after if isinstance(error, RateLimited) else None
        if asked is None:
            asked = retry_after_seconds(response.headers)
        if asked is not None and asked > self.max_retry_after:
            log.warning(
                "%s asked to retry after %.0f s, more than the %.0f s cap: not retrying",
                self.backend_label,
                asked,
                self.max_retry_after,
            )
            return None
        if asked is not None and asked > 0:
            return asked
        return backoff_delay(attempt)

    def transport_error(self, err: httpx.HTTPError) -> BackendError:
        """A typed error for a failure below HTTP (no response)."""
        if isinstance(err, httpx.TimeoutException):
            return BackendTimeout(
                _(
                    "The {backend} backend did not answer in time ({detail}).",
                    backend=self.backend_label,
                    detail=type(err).__name__,
                )
            )
        detail = self.redact(str(err)) or type(err).__name__
        return BackendUnavailable(
            _(
                "The {backend} backend could not be reached: {detail}.",
                backend=self.backend_label,
                detail=detail,
            )
        )

    def decode(self, response: httpx.Response) -> Any:
        """The JSON body of a successful response (MalformedResponse when it is not JSON)."""
        try:
            return response.json()
        except (json.JSONDecodeError, UnicodeDecodeError) as err:
            raise MalformedResponse(
                _(
                    "The {backend} backend sent a response that is not valid JSON.",
                    backend=self.backend_label,
                )
            ) from err
