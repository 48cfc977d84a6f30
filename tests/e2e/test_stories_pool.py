"""/story in front of a pool of two model servers: a story's rounds keep to one server (its
prompt cache holds the story's text), while requests without a key spread over both."""

from __future__ import annotations

from pathlib import Path

from bot.sandbox import FakeDiscord
from bot.services.stories import affinity_key
from tests.e2e.story_support import (
    Scripted,
    add_members,
    scripted_backend,
    settings_for,
    story_bot,
)
from tests.e2e.test_stories import answer, next_round, start_story, stored_story, until

ROUNDS = 3


async def test_a_storys_rounds_stay_on_one_model_server(fake: FakeDiscord, db_path: Path) -> None:
    """Three rounds of two candidates (six requests: `n` is emulated) all go to the server
    the story's key prefers; two /complete in a row go one to each server."""
    add_members(fake)
    async with (
        scripted_backend(Scripted()) as one,
        scripted_backend(Scripted()) as two,
    ):
        urls = f"{one.base_url},{two.base_url}"
        async with story_bot(fake, settings_for(fake, db_path, urls)) as run:
            thread = await start_story(fake, candidates=2)
            for number in range(1, ROUNDS + 1):
                message = await next_round(fake, thread, number, "bob")
                await answer(await fake.click(message, "1", member="carol"))
                await answer(await fake.click(message, "Close", member="mod"))
                await until(
                    lambda m=message: "was chosen" in fake.state.message(m)["content"],
                    f"round {number} to be decided",
                )
            story, _ = await stored_story(run, thread.id)
            counts = [len(one.requests), len(two.requests)]
            assert sorted(counts) == [0, 2 * ROUNDS], counts
            pool = run.bot.completions.http
            home = pool.servers[0 if counts[0] else 1]
            assert pool.pick(affinity_key(story.id)) is home

            for prompt in ("first", "second"):
                rec = await fake.slash("complete", member="alice", prompt=prompt)
                await rec.wait_final(60)
            assert [len(one.requests), len(two.requests)] == [c + 1 for c in counts]
