"""One process alone (SQLite, no Redis), stopped in the middle of a generation: the next
start answers the interaction — after a clean stop at once, after kill -9 once its
heartbeat is stale — and an interaction that keeps costing processes is given up with a
sentence."""

from __future__ import annotations

import dataclasses
import os
import signal
from pathlib import Path
from typing import Any

from bot.interaction_jobs import MAX_ATTEMPTS
from bot.sandbox import FakeDiscord
from bot.storage import Database
from bot.storage.jobs import JobStore
from tests.e2e.conftest import make_settings, start_couplet
from tests.e2e.story_support import buttons
from tests.scale.processes import STUB_TEXT, WAIT, ScaleStub
from tests.support.cli import couplet_command
from tests.support.discord_env import running_fake, running_process, wait_until
from tests.support.migrated import migrated_sqlite


def custom_ids(message: dict[str, Any]) -> list[str]:
    return [
        c["custom_id"]
        for row in message.get("components") or []
        for c in row.get("components") or []
        if "custom_id" in c
    ]


def settings_for(fake: FakeDiscord, db_path: Path, stub: ScaleStub):  # type: ignore[no-untyped-def]
    return make_settings(
        fake,
        db_path,
        stub.base_url,
        completions_backend="vllm",
        completions_model="stub-model",
        moderation_classifier=False,
    )


async def test_a_clean_stop_mid_generation_is_answered_by_the_next_start(tmp_path: Path) -> None:
    """The bot closes while a /complete waits for the backend; the next start (same
    database) runs it again at once and answers it once, in the thinking message."""
    db_path = tmp_path / "couplet.db"
    async with running_fake() as fake, ScaleStub().running() as stub:
        gate = stub.hold("interrupted")
        settings = settings_for(fake, db_path, stub)
        async with start_couplet(fake, settings):
            rec = await fake.slash("complete", member="alice", prompt="interrupted")
            await wait_until(lambda: len(stub.with_prompt("interrupted")) == 1, "the request")
        async with start_couplet(fake, settings, wait_sync=False) as run:
            await wait_until(lambda: len(stub.with_prompt("interrupted")) == 2, "it again", WAIT)
            gate.set()
            final = await rec.wait_final(WAIT)
            assert final["content"].startswith(f"{STUB_TEXT} (interrupted)")
            assert [h.action for h in rec.history].count("create") == 1
            assert rec.followup_ids == []
            await wait_until(lambda: run.bot.jobs.resumed == 1, "the resumed job to end")
            # its generation is stored: the removal rides a later write (the heartbeat's)
            store = run.bot.jobs.store
            await wait_until(lambda: not store.removals_waiting, "the removal", WAIT)
            assert await JobStore(run.bot.db).pending() == []


async def test_a_stop_after_the_generation_was_stored_sends_that_one_again(
    tmp_path: Path,
) -> None:
    """The bot closes after the generation is stored but before its answer reached
    Discord (the edit held up by a 429): the next start sends that stored generation
    again — the backend is not asked a second time — and its buttons work."""
    db_path = tmp_path / "couplet.db"
    async with running_fake() as fake, ScaleStub().running() as stub:
        settings = settings_for(fake, db_path, stub)
        async with start_couplet(fake, settings) as first:
            held = fake.inject_rate_limit("/messages/@original", retry_after=600)
            rec = await fake.slash("complete", member="alice", prompt="stored", n=2)
            await wait_until(lambda: held.hits == 1, "the answer to be held up")
            [stored] = await JobStore(first.bot.db).pending()
            assert stored.generation_id is not None
        async with start_couplet(fake, settings, wait_sync=False) as run:
            final = await rec.wait_final(WAIT)
            await wait_until(lambda: run.bot.jobs.resumed == 1, "the resumed job to end")
            assert final["content"].startswith(f"{STUB_TEXT} (stored)")
            assert len(stub.with_prompt("stored")) == 1
            assert [h.action for h in rec.history].count("create") == 1
            gids = {int(custom_id.split(":")[2]) for custom_id in custom_ids(final)}
            assert gids == {stored.generation_id}
            click = await fake.click(final, "Next ▶")
            shown = await click.wait_final(WAIT)
            assert shown["content"].startswith(f"{STUB_TEXT} (stored) #1")
            # the job's removal is written by the next heartbeat at the latest
            store = run.bot.jobs.store
            await wait_until(lambda: not store.removals_waiting, "the removal", WAIT)
            assert await JobStore(run.bot.db).pending() == []


async def test_a_clean_stop_mid_story_round_is_finished_by_the_next_start(
    tmp_path: Path,
) -> None:
    """The bot closes while a story round waits for the backend; the next start runs the
    click again, which continues the same round (no second one): one round message with
    the candidates, and the click answered once."""
    db_path = tmp_path / "couplet.db"
    opening = "The ferry left at dawn"
    async with running_fake() as fake, ScaleStub().running() as stub:
        settings = settings_for(fake, db_path, stub)
        async with start_couplet(fake, settings):
            started = await fake.slash(
                "story start", {"title": "The ferry", "prompt": opening, "candidates": 2},
                member="alice", channel="general",
            )  # fmt: skip
            await started.wait_for(
                lambda r: "Story #" in str((r.original or {}).get("content")), WAIT
            )
            thread = next(t for t in fake.guild.threads if t.name == "The ferry")
            gate = stub.hold(opening)
            newest = [m for m in thread.messages if "Next round" in buttons(m)][-1]
            rec = await fake.click(newest, "Next round", member="alice")
            await wait_until(lambda: len(stub.with_prompt(opening)) == 1, "the request", WAIT)
        async with start_couplet(fake, settings, wait_sync=False) as run:
            await wait_until(lambda: len(stub.with_prompt(opening)) == 2, "it again", WAIT)
            gate.set()
            final = await rec.wait_final(WAIT)
            assert final["content"] == "Round 1 is open: vote below."
            assert len(rec.callbacks) == 1
            await wait_until(lambda: run.bot.jobs.resumed == 1, "the resumed job to end")
            posted = [m for m in thread.messages if m["content"].startswith("**Round 1**")]
            assert len(posted) == 1 and buttons(posted[0])[:2] == ["1", "2"]
            store = run.bot.stories.store
            story = await store.story_in_thread(fake.guild.id, thread.id)
            assert story is not None and story.current_round_id is not None
            assert await store.round_counts([story.id]) == {story.id: 1}
            round_ = await store.round(story.current_round_id)
            assert round_ is not None
            assert (round_.status, round_.message_id) == ("open", int(posted[0]["id"]))
            candidates = [n for n in await store.nodes(story.id) if n.round_id == round_.id]
            assert len(candidates) == 2
            assert all(f"({opening})" in n.text for n in candidates)
            assert await JobStore(run.bot.db).pending() == []


async def test_an_interaction_that_keeps_failing_is_given_up_with_a_sentence(
    tmp_path: Path,
) -> None:
    """A job that has already cost MAX_ATTEMPTS processes is not run again: the member
    is told to run the command again, and the backend is not asked a second time."""
    db_path = tmp_path / "couplet.db"
    async with running_fake() as fake, ScaleStub().running() as stub:
        stub.hold("poison")
        settings = settings_for(fake, db_path, stub)
        async with start_couplet(fake, settings):
            rec = await fake.slash("complete", member="alice", prompt="poison")
            await wait_until(lambda: len(stub.with_prompt("poison")) == 1, "the request")
        db = Database(settings.database_url)
        try:
            store = JobStore(db)
            [job] = await store.pending()
            await store.add(dataclasses.replace(job, attempts=MAX_ATTEMPTS), "a dead process")
            await store.abandon("a dead process")
        finally:
            await db.dispose()
        async with start_couplet(fake, settings, wait_sync=False):
            await rec.wait_for(lambda r: bool(r.followup_ids), WAIT)
            message = rec.followups[-1]
            assert "could not finish it: please run the command again" in message["content"]
            assert int(message.get("flags") or 0) & (1 << 6)  # only the member sees it
        assert len(stub.with_prompt("poison")) == 1


async def test_kill_9_alone_on_sqlite_then_a_restart_answers(tmp_path: Path) -> None:
    """`couplet run` on SQLite without Redis (the default set-up), killed with kill -9 in
    the middle of a generation and started again, answers the interaction once."""
    db_url = f"sqlite+aiosqlite:///{migrated_sqlite(tmp_path / 'alone.db')}"
    async with running_fake() as fake, ScaleStub().running() as stub:
        gate = stub.hold("alone")
        env = alone_env(db_url, stub)
        command = [*couplet_command(), "run", "--require-token"]
        async with running_process(
            fake, command, env=env, log_path=str(tmp_path / "first.log"), timeout=WAIT
        ) as first:
            rec = await fake.slash("complete", member="alice", prompt="alone")
            await wait_until(lambda: len(stub.with_prompt("alone")) == 1, "the request", WAIT)
            os.kill(first.process.pid, signal.SIGKILL)
            first.process.wait()
        since = len(fake.identify_log)
        async with running_process(
            fake, command, env=env, log_path=str(tmp_path / "second.log"), timeout=WAIT,
            wait_sync=False,
        ):  # fmt: skip
            await wait_until(lambda: len(fake.identify_log) > since, "the restart to connect", WAIT)
            await wait_until(lambda: len(stub.with_prompt("alone")) == 2, "it again", WAIT)
            gate.set()
            final = await rec.wait_final(WAIT)
            assert final["content"].startswith(f"{STUB_TEXT} (alone)")
            assert [h.action for h in rec.history].count("create") == 1
            assert rec.followup_ids == []


async def test_kill_9_after_the_generation_was_stored_then_a_restart_sends_it(
    tmp_path: Path,
) -> None:
    """kill -9 after the generation's commit, before its answer reached Discord (held up
    by a 429): the restart sends the stored generation; the backend is asked once."""
    db_url = f"sqlite+aiosqlite:///{migrated_sqlite(tmp_path / 'alone.db')}"
    async with running_fake() as fake, ScaleStub().running() as stub:
        env = alone_env(db_url, stub)
        command = [*couplet_command(), "run", "--require-token"]
        async with running_process(
            fake, command, env=env, log_path=str(tmp_path / "first.log"), timeout=WAIT
        ) as first:
            held = fake.inject_rate_limit("/messages/@original", retry_after=600)
            rec = await fake.slash("complete", member="alice", prompt="sent once")
            await wait_until(lambda: held.hits == 1, "the answer to be held up", WAIT)
            os.kill(first.process.pid, signal.SIGKILL)
            first.process.wait()
        async with running_process(
            fake, command, env=env, log_path=str(tmp_path / "second.log"), timeout=WAIT,
            wait_sync=False,
        ):  # fmt: skip
            final = await rec.wait_final(WAIT)
            assert final["content"].startswith(f"{STUB_TEXT} (sent once)")
            assert len(stub.with_prompt("sent once")) == 1
            assert [h.action for h in rec.history].count("create") == 1


def alone_env(db_url: str, stub: ScaleStub) -> dict[str, str]:
    """`couplet run` on SQLite without Redis, on the stub backend."""
    return {
        "DATABASE_URL": db_url,
        "COMPLETIONS_BASE_URL": stub.base_url,
        "COMPLETIONS_BACKEND": "vllm",
        "MODERATION_CLASSIFIER": "false",
    }
