"""The "thinking…" response and the backend request go out together, not one after the other.

Discord's acknowledgement is held up with an injected 429 (discord.py waits
and sends it again); the backend already has the request by then. Answers
and errors still come after the acknowledgement.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bot.sandbox import FakeDiscord
from bot.sandbox.interactions import InteractionRecord
from tests.e2e.conftest import StubBackend, make_settings, running_stub, start_couplet

WAIT = 120.0
HELD = 1.0  # seconds the first callback is held up


async def test_the_backend_is_asked_while_the_defer_is_on_its_way(
    fake: FakeDiscord, db_path: Path
) -> None:
    """With the callback held up, the backend gets the request before Discord the ack."""
    records: list[InteractionRecord] = []
    acknowledged_when_asked: list[bool] = []
    backend = StubBackend(text="together")

    def answer(body: dict[str, Any]) -> tuple[int, dict[str, Any], dict[str, str]]:
        acknowledged_when_asked.append(records[0].acknowledged)
        return backend.ok(body)

    backend.answer = answer
    async with running_stub(backend):
        settings = make_settings(fake, db_path, backend.base_url)
        async with start_couplet(fake, settings):
            injection = fake.inject_rate_limit("/callback", retry_after=HELD)
            records.append(await fake.slash("complete", prompt="Hello", max_tokens=3))
            message = await records[0].wait_final(WAIT)
    assert injection.hits == 1  # the first try of the callback was refused
    assert acknowledged_when_asked == [False]
    assert message["content"].startswith("together")
    assert records[0].response_type == 5  # deferred, then edited


async def test_an_error_still_comes_after_the_acknowledgement(
    fake: FakeDiscord, db_path: Path
) -> None:
    """A bad option found while the ack is held up is answered once it is sent: ephemerally."""
    async with running_stub(StubBackend()) as backend:
        settings = make_settings(fake, db_path, backend.base_url)
        async with start_couplet(fake, settings):
            fake.inject_rate_limit("/callback", retry_after=HELD)
            rec = await fake.slash("complete", prompt="Hi", stop="a|b|c|d|e")
            message = await rec.wait_final(WAIT)
    assert rec.response_type == 5
    assert int(message.get("flags") or 0) & 64  # ephemeral
    assert "stop" in message["content"]
    assert backend.requests == []
