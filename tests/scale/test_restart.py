"""One process alone (SQLite, no Redis), stopped in the middle of a generation: the next
start answers the interaction — after a clean stop at once, after kill -9 once its
heartbeat is stale — and an interaction that keeps costing processes is given up with a
sentence."""

from __future__ import annotations

import dataclasses
import os
import signal
from pathlib import Path

from bot.interaction_jobs import MAX_ATTEMPTS
from bot.sandbox import FakeDiscord
from bot.storage import Database
from bot.storage.jobs import JobStore
from tests.e2e.conftest import make_settings, start_couplet
from tests.scale.processes import STUB_TEXT, WAIT, ScaleStub
from tests.support.cli import couplet_command
from tests.support.discord_env import running_fake, running_process, wait_until
from tests.support.migrated import migrated_sqlite


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
        env = {
            "DATABASE_URL": db_url,
            "COMPLETIONS_BASE_URL": stub.base_url,
            "COMPLETIONS_BACKEND": "vllm",
            "MODERATION_CLASSIFIER": "false",
        }
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
