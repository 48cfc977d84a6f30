"""Usage limits, /limits, /usage and the fair queue, end to end: the real bot on the
Discord emulator with a scripted backend whose answers the test releases one by one."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

import pytest

from bot.sandbox import FakeDiscord
from bot.sandbox.interactions import InteractionRecord
from bot.usage.redis_counters import RedisCounters
from tests.e2e.conftest import (
    GatedBackend,
    RecordingProxy,
    StubBackend,
    couplet_on,
    ephemeral_answer,
    make_settings,
    start_couplet,
)
from tests.support.discord_env import wait_until
from tests.support.redis import flush, redis_server, redis_url

__all__ = ["redis_server", "redis_url"]  # fixtures

MANAGE_GUILD = 1 << 5
TIMEOUT = 60.0


async def answer(rec: InteractionRecord) -> str:
    return await ephemeral_answer(rec, TIMEOUT)


async def test_limits_commands_and_a_refusal_that_names_the_limit(
    fake: FakeDiscord, db_path: Path
) -> None:
    """Admins set limits and role overrides; anyone sees them; a member over a limit
    gets one ephemeral sentence naming it; a role with more gets through."""
    guild = fake.guild
    helpers = guild.add_role("Helpers")
    guild.add_member("helper", roles=[helpers])
    stub = StubBackend(text="a reply")
    async with couplet_on(fake, stub, db_path):
        refused = await answer(await fake.slash("limits set", limit="requests_per_minute", value=1))
        assert refused == "You need the Manage Server permission for this."
        done = await answer(
            await fake.slash("limits set", member="admin", limit="requests_per_minute", value=1)
        )
        assert done == "requests_per_minute is now 1 (was no limit)."
        done = await answer(
            await fake.slash(
                "limits role", member="admin", role=helpers.id, limit="requests_per_minute", value=0
            )
        )
        assert done.startswith(
            f"Members with <@&{helpers.id}> now have requests_per_minute no limit"
        )
        shown = await answer(await fake.slash("limits show"))
        assert "`requests_per_minute` 1 — set by the server" in shown
        assert f"<@&{helpers.id}> no limit" in shown
        assert "`in_flight` 1 — the default" in shown

        first = await fake.slash("complete", prompt="one", max_tokens=8)
        assert "a reply" in (await first.wait_final(TIMEOUT))["content"]
        second = await answer(await fake.slash("complete", prompt="two", max_tokens=8))
        assert second.startswith(
            "You reached requests_per_minute (1 request a minute) on this server: try again <t:"
        )
        assert len(stub.requests) == 1
        for prompt in ("three", "four"):
            rec = await fake.slash("complete", member="helper", prompt=prompt, max_tokens=8)
            assert "a reply" in (await rec.wait_final(TIMEOUT))["content"]
        assert len(stub.requests) == 3

        reset = await answer(await fake.slash("limits reset", member="admin"))
        both = f"`requests_per_minute`, `requests_per_minute` <@&{helpers.id}>"
        assert reset == f"Back to the defaults: {both}."
        rec = await fake.slash("complete", prompt="five", max_tokens=8)
        assert "a reply" in (await rec.wait_final(TIMEOUT))["content"]


async def test_usage_me_server_and_csv_read_the_ledger(fake: FakeDiscord, db_path: Path) -> None:
    """/usage me and /usage server count what the backend reported (3 + 7 tokens a
    request); csv:true attaches one row per member per day."""
    fake.guild.add_member("bob")
    async with couplet_on(fake, StubBackend(text="x"), db_path):
        for member in ("alice", "alice", "bob"):
            rec = await fake.slash("complete", member=member, prompt="hi", max_tokens=8)
            await rec.wait_final(TIMEOUT)
        mine = await answer(await fake.slash("usage me"))
        assert "Today: 2 requests · 6 prompt + 14 completion tokens" in mine
        assert "`in_flight` 1 of 1 free — the default" in mine
        refused = await answer(await fake.slash("usage server"))
        assert refused == "You need the Manage Server permission for this."
        rec = await fake.slash("usage server", member="admin", csv=True)
        text = await answer(rec)
        assert "Total: 3 requests · 9 prompt + 21 completion tokens" in text
        assert "`stub-model`: 3 requests · 30 tokens" in text
        [upload] = [f for f in rec.files if f.filename == "usage.csv"]
        rows = list(csv.DictReader(io.StringIO(upload.data.decode())))
        by_name = {row["member_name"]: row for row in rows}
        assert set(by_name) == {"alice", "bob"}
        assert by_name["alice"]["requests"] == "2" and by_name["alice"]["completion_tokens"] == "14"
        assert by_name["bob"]["member_id"] == str(fake.guild.member("bob").id)


async def test_a_second_generation_in_flight_is_refused(fake: FakeDiscord, db_path: Path) -> None:
    """in_flight 1 (the default): a member's second /complete while the first runs is
    refused with one sentence, not queued; the first still completes."""
    backend = GatedBackend()
    async with couplet_on(fake, backend, db_path):
        first = await fake.slash("complete", prompt="first", max_tokens=8)
        await wait_until(lambda: backend.arrived == ["first"], "the first request at the backend")
        second = await answer(await fake.slash("complete", prompt="second", max_tokens=8))
        assert second == (
            "You already have 1 generation running here (in_flight 1): wait until it finishes, "
            "then ask again."
        )
        backend.release()
        assert "gated reply" in (await first.wait_final(TIMEOUT))["content"]
        assert backend.arrived == ["first"]


async def test_the_queue_alternates_servers_and_shows_positions(
    fake: FakeDiscord, db_path: Path
) -> None:
    """One model slot, a busy server with four members and a quiet one with two: the
    backend gets them alternately, and each waiting member's thinking message shows
    how many are ahead."""
    busy, quiet = fake.guild, fake.add_guild("Quiet Server")
    quiet.add_channel("general")
    for name in ("b1", "b2", "b3", "b4"):
        busy.add_member(name)
    for name in ("q1", "q2"):
        quiet.add_member(name)
    backend = GatedBackend()
    async with couplet_on(fake, backend, db_path, completions_concurrency=1) as run:
        arrivals = [
            ("b1", busy),
            ("b2", busy),
            ("b3", busy),
            ("b4", busy),
            ("q1", quiet),
            ("q2", quiet),
        ]
        recs = {}
        for name, guild in arrivals:
            recs[name] = await fake.slash(
                "complete", guild=guild, member=name, prompt=name, max_tokens=8
            )
            # Each one is queued (and told its place) before the next arrives, so
            # the place it hears first is the one it took.
            if name == "b1":
                await wait_until(lambda: backend.arrived == ["b1"], "b1 at the backend")
            else:
                await wait_until(
                    lambda name=name: bool(position_edits(recs[name])),
                    f"{name}'s position",
                    TIMEOUT,
                )
        await wait_until(lambda: run.bot.usage.waiting == 5, "five requests waiting")
        expected_first = {"b2": 0, "b3": 1, "b4": 2, "q1": 1, "q2": 3}
        for name, ahead in expected_first.items():
            assert position_edits(recs[name])[0] == ahead_text(ahead), name
        # q2 hears itself move up as the queue empties ahead of it, down to "you are next".
        for ahead in (2, 1, 0):
            backend.release()
            await wait_until(
                lambda ahead=ahead: position_edits(recs["q2"])[-1] == ahead_text(ahead),
                f"q2 to hear {ahead} ahead",
                TIMEOUT,
            )
        backend.release(3)
        for rec in recs.values():  # every thinking message ends as the answer
            await rec.wait_for(
                lambda r: "gated reply" in str((r.original or {}).get("content")), TIMEOUT
            )
        assert backend.arrived == ["b1", "b2", "q1", "b3", "q2", "b4"]


def ahead_text(ahead: int) -> str:
    if ahead == 0:
        return "⏳ Waiting for the model: you are next."
    unit = "request" if ahead == 1 else "requests"
    return f"⏳ Waiting for the model: {ahead} {unit} ahead of you."


def position_edits(rec: InteractionRecord) -> list[str]:
    return [
        str(h.message.get("content"))
        for h in rec.history
        if h.action == "edit" and str(h.message.get("content")).startswith("⏳")
    ]


@pytest.mark.parametrize("counters", ["memory", "redis"])
async def test_a_restart_keeps_the_counts(
    fake: FakeDiscord, db_path: Path, counters: str, request: pytest.FixtureRequest
) -> None:
    """A bot stopped cleanly and started again on the same database refuses what the first
    one would have: the counters are rebuilt from the ledger (in process), or kept in
    Redis (REDIS_URL; emptied between the runs here, so rebuilt from the ledger too)."""
    stub = StubBackend(text="x")  # reports 3 + 7 tokens a request
    extra: dict[str, Any] = {}
    if counters == "redis":
        extra["redis_url"] = request.getfixturevalue("redis_url")
    async with couplet_on(fake, stub, db_path, **extra) as run:
        if counters == "redis":
            assert isinstance(run.bot.usage.counters, RedisCounters)
        await answer(
            await fake.slash("limits set", member="admin", limit="tokens_per_day", value=15)
        )
        rec = await fake.slash("complete", prompt="hi", max_tokens=8)
        await rec.wait_final(TIMEOUT)
        if counters == "redis":
            assert await run.bot.usage.counters.redis.keys("couplet:usage:*")
            flush(extra["redis_url"])  # Redis lost its data while the bot was down
    async with couplet_on(fake, stub, db_path, **extra):
        refused = await answer(await fake.slash("complete", prompt="hi", max_tokens=8))
        assert refused.startswith(
            "You have 5 of your 15 tokens_per_day left and this request may use up to 11"
        )
        mine = await answer(await fake.slash("usage me"))
        assert "Today: 1 request · 3 prompt + 7 completion tokens" in mine
    assert len(stub.requests) == 1


async def test_the_ledger_matches_what_the_real_model_reported(
    fake: FakeDiscord, recorder: RecordingProxy, db_path: Path
) -> None:
    """On the bundled model: an emulated n=2 is one ledger entry of two requests with the
    usage the backend reported; a streamed reply (no usage from llama-cpp-python) is
    counted with its tokenizer, marked counted, and its prompt counts as the backend's."""
    settings = make_settings(fake, db_path, recorder.base_url)
    async with start_couplet(fake, settings) as run:
        rec = await fake.slash("complete", prompt="The sky is", max_tokens=4, n=2, seed=3)
        await rec.wait_final(TIMEOUT * 3)
        rec = await fake.slash("complete", prompt="The sky is", max_tokens=4, stream=True)
        await rec.wait_for(lambda r: "-# " in str((r.original or {}).get("content")), TIMEOUT * 3)
        bot = run.bot
        await bot.usage.ledger.flush()
        [batch, streamed] = await ledger_rows(bot)
        stored = await bot.generations.get(1)
        assert stored is not None
        reported = stored.result["usage"]
        assert (batch["n"], batch["requests"], batch["tokens_counted"]) == (2, 2, False)
        assert batch["prompt_tokens"] == reported["prompt_tokens"] > 0
        assert batch["completion_tokens"] == reported["completion_tokens"] > 0
        assert (streamed["requests"], streamed["tokens_counted"]) == (1, True)
        assert streamed["prompt_tokens"] * 2 == batch["prompt_tokens"]
        assert 0 < streamed["completion_tokens"] <= 4
        assert {batch["backend"], streamed["backend"]} == {"llama-cpp-python"}
        assert batch["outcome"] == streamed["outcome"] == "ok"
        assert len(recorder.completions()) == 3


async def ledger_rows(bot: Any) -> list[dict[str, Any]]:
    """Every ledger row, oldest first, as column → value."""
    from sqlalchemy import select

    from bot.storage.usage import UsageRow

    async with bot.db.read() as session:
        rows = (await session.scalars(select(UsageRow).order_by(UsageRow.id))).all()
        return [{c.name: getattr(row, c.name) for c in UsageRow.__table__.columns} for row in rows]
