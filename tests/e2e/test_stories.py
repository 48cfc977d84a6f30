"""/story end to end: the real bot on the local Discord, a scripted backend where the test
needs fixed text (and the real model where the text matters, at the end).

The whole story: start, three rounds with five members voting at once (double clicks,
changed votes), a written candidate, quorum close, window close on the emulator's clock,
a restart in the middle of a round (and a round due while Couplet was down), approve,
edit and reject, branch, undo, end — and the export parsed back equals the stored tree.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

from bot.sandbox import FakeDiscord
from bot.stories.tree import node_dict, path, text_of
from tests.e2e.conftest import ephemeral_answer
from tests.e2e.story_support import (
    Scripted,
    add_members,
    buttons,
    scripted_backend,
    settings_for,
    story_bot,
    story_thread,
    wait_for_round,
)
from tests.e2e.test_usage import ledger_rows
from tests.support.discord_env import BotRun, wait_until

TIMEOUT = 60.0
TITLE = "The lighthouse"
OPENING = "The keeper climbed the stairs"


def texts(i: int) -> str:
    """Round r's candidate k is request 3(r-1)+k (three candidates a round)."""
    return f" and saw light number {i}."


async def start_story(fake: FakeDiscord, **options: Any) -> Any:
    rec = await fake.slash(
        "story start", {"title": TITLE, "prompt": OPENING, **options}, member="alice",
        channel="general",
    )  # fmt: skip
    await wait_until(
        lambda: "Story #" in str((rec.original or {}).get("content")), "the story", TIMEOUT
    )
    return story_thread(fake, TITLE)


async def answer(rec: Any) -> str:
    return await ephemeral_answer(rec, TIMEOUT)


async def next_round(fake: FakeDiscord, thread: Any, number: int, member: str) -> dict[str, Any]:
    """Click the newest Next round button in the thread and wait for round `number`."""
    with_next = [m for m in thread.messages if "Next round" in buttons(m)]
    rec = await fake.click(with_next[-1], "Next round", member=member)
    await rec.wait_final(TIMEOUT)
    return await wait_for_round(thread, number)


async def until(predicate: Any, what: str) -> None:
    await wait_until(predicate, what, TIMEOUT)


def edits_within_budget(fake: FakeDiscord, message_id: int) -> bool:
    """No five-second window holds more than five edits of the message."""
    times = sorted(at for mid, at in fake.edits if mid == message_id)
    return all(sum(1 for t in times if start <= t < start + 5) <= 5 for start in times)


async def stored_story(run: BotRun, thread_id: int) -> tuple[Any, list[Any]]:
    """The thread's story and its nodes, as the database has them."""
    store = run.bot.stories.store
    story = await store.story_in_thread(run.fake.guild.id, thread_id)
    assert story is not None
    return story, await store.nodes(story.id)


async def test_a_whole_story(fake: FakeDiscord, db_path: Path) -> None:
    """Start, three rounds (votes at once with double clicks and changes, a written
    candidate, quorum and window closes, a restart mid-round and a round due while down),
    approve / reject / edit, branch, undo, end; the exports equal the stored tree."""
    people = add_members(fake)
    async with scripted_backend(Scripted(texts=texts)) as backend:
        settings = settings_for(fake, db_path, backend.base_url)
        async with story_bot(fake, settings) as run:
            thread = await start_story(fake, mode="vote+approve", quorum=5)
            opening = thread.messages[0]
            assert opening["content"].endswith(OPENING) and buttons(opening) == ["Next round"]

            # Round 1: five members at once, double clicks and a changed vote; quorum 5.
            one = await next_round(fake, thread, 1, "bob")
            assert buttons(one) == ["1", "2", "3", "Write my own", "Reroll", "Close"]
            first = [("bob", "1"), ("carol", "2"), ("dave", "2"), ("dave", "2"), ("erin", "1")]
            recs = await asyncio.gather(*(fake.click(one, n, member=m) for m, n in first))
            said = [await answer(r) for r in recs]
            assert (
                said.count("Your vote: 2.")
                + said.count("You already voted for 2: nothing changed.")
                == 3
            )
            assert "You already voted for 2: nothing changed." in said
            assert await answer(await fake.click(one, "2", member="erin")) == (
                "Your vote moved from 1 to 2."
            )
            await until(lambda: "**2.** 3 votes" in one["content"], "the tally")
            assert "**1.** 1 vote\n" in one["content"]
            # Not a moderator: alice can't approve (nothing to approve yet, nor close).
            refused = await answer(await fake.click(one, "Close", member="alice"))
            assert refused == "Only story moderators (members with Manage Messages) can do that."
            await answer(await fake.click(one, "3", member="alice"))  # the fifth voter
            await until(lambda: "Approve" in buttons(one), "the winner waiting for approval")
            assert "⏳ **2** won (3 votes)" in one["content"]
            assert await answer(await fake.click(one, "Approve", member="alice")) == (
                "Only story moderators (members with Manage Messages) can do that."
            )
            assert await answer(await fake.click(one, "Approve", member="mod")) == (
                "Approved: it is in the story."
            )
            await until(lambda: "✅ **2** was chosen (3 votes)." in one["content"], "chosen")
            assert buttons(one) == []

            # Round 2: a written candidate wins the votes, the window closes on the
            # emulator's clock, a moderator rejects it, then edits the next best.
            two = await next_round(fake, thread, 2, "carol")
            form = await fake.click(two, "Write my own", member="carol")
            await form.wait_modal(TIMEOUT)
            written = await fake.submit_modal(form, {"": "Then the lamp went out."})
            assert await answer(written) == "Your candidate is number 4: it is up for votes."
            await until(lambda: "4" in buttons(two), "the written candidate's button")
            assert "*written by <@" in two["content"]
            for member in ("bob", "dave"):
                await answer(await fake.click(two, "4", member=member))
            fake.clock.advance(11 * 60)
            await until(lambda: "Approve" in buttons(two), "the window closing the round")
            assert "⏳ **4** won (2 votes)" in two["content"]
            assert await answer(await fake.click(two, "Reject", member="mod")) == (
                "Rejected: the next best waits for a decision."
            )
            # The next best: no votes among the model's three, so the likeliest (the first).
            await until(lambda: "⏳ **1** won (0 votes)" in two["content"], "the next best")
            edit = await fake.click(two, "Edit", member="mod")
            modal = await edit.wait_modal(TIMEOUT)
            field = modal["components"][0]["components"][0]
            assert field["value"] == texts(3).strip()
            edited = await fake.submit_modal(edit, {"": "and saw the lamp, steady."}, member="mod")
            assert await answer(edited) == "Edited: your version is in the story."
            await until(lambda: "✅ Chosen as edited by" in two["content"], "the edit chosen")

            # Round 3 begins; two votes; then Couplet restarts.
            three = await next_round(fake, thread, 3, "dave")
            for member in ("erin", "alice"):
                await answer(await fake.click(three, "3", member=member))
            await until(lambda: "**3.** 2 votes" in three["content"], "round 3's tally")
            assert edits_within_budget(fake, int(one["id"]))
        async with story_bot(fake, settings) as run:
            # Votes keep working on the same message after the restart.
            assert await answer(await fake.click(three, "1", member="bob")) == "Your vote: 1."
            await until(lambda: "**1.** 1 vote" in three["content"], "a vote after the restart")
        # The round's window ends while Couplet is down: it closes on start.
        fake.clock.advance(11 * 60)
        async with story_bot(fake, settings) as run:
            await until(lambda: "Approve" in buttons(three), "the due round closed on start")
            assert "⏳ **3** won (2 votes)" in three["content"]
            await answer(await fake.click(three, "Approve", member="mod"))
            await until(lambda: "✅ **3** was chosen" in three["content"], "round 3 chosen")

            story, nodes = await stored_story(run, thread.id)
            expected = OPENING + texts(1) + " and saw the lamp, steady." + texts(8)
            assert text_of(path(nodes, story.head_node_id)) == expected
            assert [m["content"] for m in thread.messages if "after round 3" in m["content"]]

            # Branch back to a losing candidate of round 1, undo it, then end.
            loser = next(n for n in nodes if n.text == texts(0))
            branched = await fake.slash("story branch", node=loser.id, member="mod", channel=thread)
            assert await answer(branched) == "Done."
            await until(
                lambda: "continued the story from node" in thread.messages[-1]["content"], "branch"
            )
            story, nodes = await stored_story(run, thread.id)
            assert text_of(path(nodes, story.head_node_id)) == OPENING + texts(0)
            undone = await fake.slash("story undo", member="mod", channel=thread)
            assert await answer(undone) == "Done."
            story, nodes = await stored_story(run, thread.id)
            assert story.head_node_id == story.root_node_id
            assert await answer(await fake.slash("story undo", member="bob", channel=thread)) == (
                "Only story moderators (members with Manage Messages) can do that."
            )
            ended = await fake.slash("story end", member="mod", channel=thread)
            assert await answer(ended) == "The story has ended."
            late = await fake.slash("story next", member="bob", channel=thread)
            assert await answer(late) == "This story has ended: start a new one with /story start."

            # The exports, parsed back, are the stored tree.
            story, nodes = await stored_story(run, thread.id)
            exported = await fake.slash(
                "story export", format="json", member="erin", channel=thread
            )
            await exported.wait_final(TIMEOUT)
            document = json.loads(exported.files[-1].data)
            assert document["nodes"] == [node_dict(n) for n in nodes]
            assert document["story"]["head_id"] == story.head_node_id
            assert document["story"]["status"] == "ended"
            sources = {n["source"] for n in document["nodes"]}
            assert sources == {"opening", "model", "member", "edit"}
            assert {n["status"] for n in document["nodes"]} == {"chosen", "discarded"}
            lines = await fake.slash("story export", format="jsonl", member="erin", channel=thread)
            await lines.wait_final(TIMEOUT)
            rows = [json.loads(line) for line in lines.files[-1].data.decode().splitlines()]
            assert rows == document["nodes"]
            md = await fake.slash("story export", format="md", member="erin", channel="general",
                                  story=story.id)  # fmt: skip
            await md.wait_final(TIMEOUT)
            assert md.files[-1].data.decode() == f"# {TITLE}\n\n{OPENING}\n"

            # Every round was charged to the member who asked for it, for this story.
            await run.bot.usage.ledger.flush()
            rows = [r for r in await ledger_rows(run.bot) if r["command"] == "story"]
            assert {r["story_id"] for r in rows} == {story.id}
            asked = [people[name].id for name in ("bob", "carol", "dave")]
            assert [r["user_id"] for r in rows] == asked
            assert all(r["n"] == 3 and r["requests"] == 3 for r in rows)
