"""The emulator speaks Discord's session start limit: GET /gateway/bot reports
max_concurrency, and (when asked to enforce it) a second IDENTIFY in the same bucket
within the interval gets INVALID_SESSION, one in another bucket does not."""

from __future__ import annotations

import json
from typing import Any

import aiohttp
import pytest

from bot.sandbox import FakeDiscord
from tests.support.discord_env import BOT_TOKEN, running_fake

INVALID_SESSION, DISPATCH = 9, 0


async def identify(fake: FakeDiscord, shard: int, count: int) -> dict[str, Any]:
    """Open a gateway connection, IDENTIFY as `shard` of `count`; the first answer after HELLO."""
    async with aiohttp.ClientSession() as session, session.ws_connect(fake.gateway_url) as ws:
        await ws.receive_json()  # HELLO
        payload = {"token": BOT_TOKEN, "intents": 1, "properties": {}, "shard": [shard, count]}
        await ws.send_str(json.dumps({"op": 2, "d": payload}))
        return dict(await ws.receive_json())


@pytest.mark.parametrize(("max_concurrency", "second"), [(1, INVALID_SESSION), (2, DISPATCH)])
async def test_identify_too_soon_in_one_bucket_is_refused(
    max_concurrency: int, second: int
) -> None:
    """Shards 0 and 1 identifying at once: refused with max_concurrency 1 (one bucket),
    both accepted with 2 (two buckets); /gateway/bot says which."""
    async with running_fake(identify_interval=60.0, max_concurrency=max_concurrency) as fake:
        async with aiohttp.ClientSession() as session:
            response = await session.get(
                f"{fake.api_base}/gateway/bot", headers={"Authorization": f"Bot {BOT_TOKEN}"}
            )
            limits = (await response.json())["session_start_limit"]
        assert limits["max_concurrency"] == max_concurrency
        assert (await identify(fake, 0, 2))["op"] == DISPATCH  # READY
        assert (await identify(fake, 1, 2))["op"] == second
        assert len(fake.identify_refusals) == (1 if second == INVALID_SESSION else 0)
