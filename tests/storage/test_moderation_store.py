"""Moderation storage on SQLite and PostgreSQL: its migration up and down, policies,
word lists, events, and held texts decided exactly once."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import inspect

from bot.storage import Database
from bot.storage.audit import AuditRepository
from bot.storage.moderation import EventRecord, HeldText, ListFull, ModerationStore, WordEntry

TABLES = {"moderation_policies", "moderation_words", "moderation_events", "moderation_held"}
GUILD = 4242


async def table_names(db: Database) -> set[str]:
    async with db.engine.connect() as conn:
        return set(await conn.run_sync(lambda sync: inspect(sync).get_table_names()))


async def test_migration_up_down_up(db_url: str) -> None:
    """The moderation revision creates its four tables, drops them going down to 0004, and
    creates them again."""
    db = Database(db_url)
    try:
        await db.upgrade("0004")
        assert not TABLES & await table_names(db)
        await db.upgrade("0005")
        assert TABLES <= await table_names(db)
        await db.downgrade("0004")
        assert await db.current() == "0004"
        assert not TABLES & await table_names(db)
        await db.upgrade("0005")
        assert TABLES <= await table_names(db)
    finally:
        await db.dispose()


async def test_policy_overrides_merge_and_are_audited(db: Database) -> None:
    """Policy changes merge per category, keep the channel, and each writes an audit entry."""
    store = ModerationStore(db)
    assert (await store.policy(GUILD)).actions == {}
    await store.update_policy(GUILD, 1, "hate", actions={"hate": "block"})
    await store.update_policy(GUILD, 1, "channel", channel_id=77)
    before, after = await store.update_policy(GUILD, 2, "profanity", actions={"profanity": "hold"})
    assert before.actions == {"hate": "block"}
    assert after.actions == {"hate": "block", "profanity": "hold"}
    assert after.channel_id == 77
    _, reset = await store.update_policy(GUILD, 2, "hate", actions={"hate": None})
    assert reset.actions == {"profanity": "hold"}
    async with db.read() as session:
        entries = await AuditRepository(session).recent(GUILD, 10, prefix="moderation.")
    assert [(e.target, e.old, e.new) for e in entries][:2] == [
        ("hate", "block", None),
        ("profanity", None, "hold"),
    ]


async def test_words_add_remove_and_limit(db: Database) -> None:
    """Entries are added once, removed by value, and a change past the limit writes nothing."""
    store = ModerationStore(db)
    added, _ = await store.change_words(
        GUILD, 1, [WordEntry("keyword", "cat*"), WordEntry("regex", "b(a|o)t")]
    )
    assert len(added) == 2
    again, _ = await store.change_words(GUILD, 1, [WordEntry("keyword", "cat*")])
    assert again == []
    with pytest.raises(ListFull):
        await store.change_words(
            GUILD, 1, [WordEntry("regex", "x"), WordEntry("keyword", "y")], limits={"regex": 1}
        )
    assert await store.words(GUILD) == [WordEntry("keyword", "cat*"), WordEntry("regex", "b(a|o)t")]
    _, removed = await store.change_words(GUILD, 1, remove=["cat*"])
    assert removed == [WordEntry("keyword", "cat*")]
    assert await store.words(GUILD) == [WordEntry("regex", "b(a|o)t")]
    assert await store.words(GUILD + 1) == []


async def test_events_are_listed_newest_first_per_server(db: Database) -> None:
    """Recorded verdicts come back newest first, only for their server."""
    store = ModerationStore(db)
    await store.record(
        [
            EventRecord(5, "input", "wordlist", "block", GUILD, 9, {"wordlist": 1.0}),
            EventRecord(5, "output", "openai", "flag", GUILD, 9, {"hate": 0.91}),
            EventRecord(6, "output", "openai", "flag", GUILD + 1, 9, {"hate": 0.5}),
        ]
    )
    events = await store.recent_events(GUILD)
    assert [(e.stage, e.action, e.categories) for e in events] == [
        ("output", "flag", {"hate": 0.91}),
        ("input", "block", {"wordlist": 1.0}),
    ]


async def test_concurrent_decisions_on_one_held_text_win_once(db: Database) -> None:
    """Ten decisions racing on one held text: exactly one wins, and one review event is kept."""
    store = ModerationStore(db)
    held_id = await store.hold(HeldText(GUILD, 9, 5, "prompt", "text", {"hate": 0.9}))
    results = await asyncio.gather(
        *(store.decide(held_id, "approved", 100 + i, "approve") for i in range(10))
    )
    assert results.count(True) == 1
    item = await store.held(held_id)
    assert item is not None and item.status == "approved"
    assert item.decided_by == 100 + results.index(True)
    reviews = [e for e in await store.recent_events(GUILD) if e.stage == "review"]
    assert len(reviews) == 1 and reviews[0].held_id == held_id
    assert not await store.decide(held_id, "rejected", 1, "reject")
