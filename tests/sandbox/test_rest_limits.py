"""The emulator's REST side, called directly over HTTP: headers and Discord's limits."""

from __future__ import annotations

import json
from typing import Any

import aiohttp
import pytest

from bot.sandbox import FakeDiscord, InteractionRecord, limits

RATE_HEADERS = (
    "X-RateLimit-Limit",
    "X-RateLimit-Remaining",
    "X-RateLimit-Reset",
    "X-RateLimit-Reset-After",
    "X-RateLimit-Bucket",
)


async def callback(
    http: aiohttp.ClientSession, fake: FakeDiscord, rec: InteractionRecord, body: dict[str, Any]
) -> tuple[int, Any]:
    url = f"{fake.api_base}/interactions/{rec.id}/{rec.token}/callback?with_response=1"
    async with http.post(url, json=body) as resp:
        return resp.status, await resp.json(content_type=None)


async def test_json_content_type_and_rate_limit_headers(
    fake: FakeDiscord, http: aiohttp.ClientSession
) -> None:
    """Replies say exactly application/json and carry every X-RateLimit header together."""
    async with http.get(f"{fake.api_base}/gateway") as resp:
        assert resp.headers["Content-Type"] == "application/json"
        assert all(name in resp.headers for name in RATE_HEADERS)
        assert (await resp.json())["url"] == fake.gateway_url


async def test_injected_429_has_via_and_retry_after(
    fake: FakeDiscord, http: aiohttp.ClientSession
) -> None:
    """An injected 429 has a JSON body with retry_after, a Via header, then the route recovers."""
    fake.inject_rate_limit("GET /api/v10/gateway", retry_after=2.5, is_global=True)
    async with http.get(f"{fake.api_base}/gateway") as resp:
        assert resp.status == 429 and resp.headers["Via"] and resp.headers["Retry-After"] == "3"
        assert await resp.json() == {
            "message": "You are being rate limited.",
            "retry_after": 2.5,
            "global": True,
        }
    async with http.get(f"{fake.api_base}/gateway") as resp:
        assert resp.status == 200


async def test_bot_routes_need_a_bot_token(fake: FakeDiscord, http: aiohttp.ClientSession) -> None:
    """/users/@me without a token is 401; the first token is kept and another is refused."""
    async with http.get(f"{fake.api_base}/users/@me") as resp:
        assert resp.status == 401
    ok = {"Authorization": "Bot one"}
    async with http.get(f"{fake.api_base}/users/@me", headers=ok) as resp:
        assert resp.status == 200 and (await resp.json())["bot"] is True
    async with http.get(f"{fake.api_base}/users/@me", headers={"Authorization": "Bot two"}) as resp:
        assert resp.status == 401


@pytest.mark.parametrize(
    ("data", "path"),
    [
        ({"embeds": [{"description": "x" * 4097}]}, "data.embeds.0.description"),
        ({"embeds": [{"title": "t", "description": "x" * 4000}] * 2}, "data.embeds"),
        ({"embeds": [{"title": "t"}] * 11}, "data.embeds"),
        ({"content": "x", "components": [{"type": 1, "components": []}] * 6}, "data.components"),
        (
            {
                "content": "x",
                "components": [
                    {
                        "type": 1,
                        "components": [
                            {"type": 2, "style": 1, "label": "b", "custom_id": f"b{i}"}
                            for i in range(6)
                        ],
                    }
                ],
            },
            "data.components.0.components",
        ),
        (
            {
                "content": "x",
                "components": [
                    {
                        "type": 1,
                        "components": [
                            {"type": 2, "style": 1, "label": "L" * 81, "custom_id": "c" * 101}
                        ],
                    }
                ],
            },
            "data.components.0.components.0.label",
        ),
        ({"content": "x", "flags": 1 << 8}, "data.flags"),
    ],
)
async def test_message_limits(
    fake: FakeDiscord, http: aiohttp.ClientSession, data: dict[str, Any], path: str
) -> None:
    """Embeds, components and flags over Discord's limits get 50035 naming the field."""
    rec = fake.open_interaction()
    status, body = await callback(http, fake, rec, {"type": 4, "data": data})
    assert status == 400 and body["code"] == limits.INVALID_FORM_BODY
    node = body["errors"]
    for part in path.split("."):
        node = node[part]
    assert node["_errors"]
    assert not rec.acknowledged


async def test_empty_message_and_wrong_callback_type(
    fake: FakeDiscord, http: aiohttp.ClientSession
) -> None:
    """An empty message is 50006; a type-6 or type-8 callback on a slash command is refused."""
    rec = fake.open_interaction()
    assert (await callback(http, fake, rec, {"type": 4, "data": {"content": " "}}))[1][
        "code"
    ] == 50006
    for kind in (6, 8, 1):
        status, _ = await callback(http, fake, rec, {"type": kind})
        assert status == 400
    assert not rec.acknowledged and len(rec.rejections) == 4


async def test_modal_limits(fake: FakeDiscord, http: aiohttp.ClientSession) -> None:
    """A modal title over 45 characters or with six inputs is refused."""
    row = {"type": 1, "components": [{"type": 4, "custom_id": "a", "label": "A", "style": 1}]}
    rec = fake.open_interaction()
    status, body = await callback(
        http,
        fake,
        rec,
        {"type": 9, "data": {"custom_id": "m", "title": "T" * 46, "components": [row]}},
    )
    assert status == 400 and "title" in body["errors"]["data"]
    rows = [
        {"type": 1, "components": [{"type": 4, "custom_id": f"f{i}", "label": "A", "style": 1}]}
        for i in range(6)
    ]
    status, body = await callback(
        http, fake, rec, {"type": 9, "data": {"custom_id": "m", "title": "T", "components": rows}}
    )
    assert status == 400 and "components" in body["errors"]["data"]


async def test_without_with_response_the_callback_is_204(
    fake: FakeDiscord, http: aiohttp.ClientSession
) -> None:
    """Without ?with_response the callback answers 204 and no body, as Discord does."""
    rec = fake.open_interaction()
    url = f"{fake.api_base}/interactions/{rec.id}/{rec.token}/callback"
    async with http.post(url, json={"type": 4, "data": {"content": "hi"}}) as resp:
        assert resp.status == 204 and await resp.read() == b""
    assert rec.original["content"] == "hi"


async def test_followup_before_acknowledging_is_unknown_webhook(
    fake: FakeDiscord, http: aiohttp.ClientSession
) -> None:
    """A followup before any callback gets 10015 Unknown Webhook."""
    rec = fake.open_interaction()
    url = f"{fake.api_base}/webhooks/{fake.application_id}/{rec.token}?wait=1"
    async with http.post(url, json={"content": "early"}) as resp:
        assert resp.status == 404 and (await resp.json())["code"] == limits.UNKNOWN_WEBHOOK


async def test_file_over_size_limit_is_refused(
    fake: FakeDiscord, http: aiohttp.ClientSession
) -> None:
    """A file over the 10 MiB attachment limit gets 413 and nothing is stored."""
    rec = fake.open_interaction()
    form = aiohttp.FormData(quote_fields=False)
    payload = {"type": 4, "data": {"content": "big", "attachments": [{"id": 0, "filename": "a"}]}}
    form.add_field("payload_json", json.dumps(payload))
    form.add_field("files[0]", b"x" * (limits.ATTACHMENT_SIZE_LIMIT + 1), filename="a")
    url = f"{fake.api_base}/interactions/{rec.id}/{rec.token}/callback?with_response=1"
    async with http.post(url, data=form) as resp:
        assert resp.status == 413
    assert not rec.acknowledged and fake.attachments == {}
