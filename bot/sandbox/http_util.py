"""JSON replies with the exact headers discord.py expects, and request body parsing."""

from __future__ import annotations

import json
import time
from typing import Any

from aiohttp import BodyPartReader, web

from bot.sandbox.limits import FieldError, form_error_body
from bot.sandbox.messages import IncomingFile


class ApiError(Exception):
    """An error reply: HTTP status plus Discord's JSON error body."""

    def __init__(
        self, status: int, code: int, message: str, errors: list[FieldError] | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        if errors:
            self.body: dict[str, Any] = form_error_body(errors)
        else:
            self.body = {"code": code, "message": message}

    def response(self) -> web.Response:
        return json_response(self.body, status=self.status)


def json_response(
    body: Any, status: int = 200, headers: dict[str, str] | None = None
) -> web.Response:
    """A JSON reply whose Content-Type is exactly `application/json`.

    discord.py only parses JSON when the header is exactly that; aiohttp's
    `json_response` would append `; charset=utf-8`.
    """
    all_headers = {"Content-Type": "application/json"}
    all_headers.update(headers or {})
    return web.Response(body=json.dumps(body).encode(), status=status, headers=all_headers)


def no_content() -> web.Response:
    return web.Response(status=204)


def rate_limit_headers(
    bucket: str, *, remaining: int = 49, limit: int = 50, reset_after: float = 1.0
) -> dict[str, str]:
    """All the X-RateLimit-* headers together: discord.py raises KeyError if some are missing."""
    return {
        "X-RateLimit-Limit": str(limit),
        "X-RateLimit-Remaining": str(remaining),
        "X-RateLimit-Reset": f"{time.time() + reset_after:.3f}",
        "X-RateLimit-Reset-After": f"{reset_after:.3f}",
        "X-RateLimit-Bucket": bucket,
    }


async def read_body(request: web.Request) -> tuple[dict[str, Any], list[IncomingFile]]:
    """The JSON body, or `payload_json` plus `files[n]` parts of a multipart body."""
    if not request.can_read_body:
        return {}, []
    ctype = request.headers.get("Content-Type", "")
    if ctype.startswith("multipart/"):
        payload: dict[str, Any] = {}
        files: list[IncomingFile] = []
        reader = await request.multipart()
        while True:
            part = await reader.next()
            if part is None:
                break
            if not isinstance(part, BodyPartReader):
                continue
            name = part.name or ""
            if name == "payload_json":
                payload = json.loads(await part.text())
            elif name.startswith("files["):
                index = int(name[len("files[") : -1])
                data = await part.read()
                files.append(
                    IncomingFile(
                        index,
                        part.filename or f"file{index}",
                        bytes(data),
                        part.headers.get("Content-Type"),
                    )
                )
        return payload, files
    raw = await request.read()
    if not raw:
        return {}, []
    try:
        body = json.loads(raw)
    except ValueError as err:
        raise ApiError(400, 50109, "The request body contains invalid JSON.") from err
    return (body if isinstance(body, dict) else {"_root": body}), []
