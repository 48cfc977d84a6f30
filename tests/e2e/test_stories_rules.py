"""/story's rules end to end: moderation withholds what it must (a withheld candidate never
appears), only moderators close and decide (and the server's roles say who), simultaneous
clicks decide once, ties go to the likelier text then a moderator, the approve mode,
idle stories pause and resume, and one server's stories are invisible in another."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from bot.sandbox import FakeDiscord
from bot.sandbox import permissions as perm
from tests.e2e.story_support import (
    Scripted,
    add_members,
    buttons,
    scripted_backend,
    settings_for,
    story_bot,
    wait_for_round,
)
from tests.e2e.test_stories import TIMEOUT, answer, next_round, start_story, stored_story, until

WITHHELD = "The completion was withheld: this server's moderation blocks wordlist."


async def test_a_withheld_candidate_never_appears(fake: FakeDiscord, db_path: Path) -> None:
    """A candidate the word list withholds is not shown, not stored, not exported; when
    every candidate is withheld the round is refused in one sentence and the story stays
    free; a member's own text and a direction are checked before they are used."""
    add_members(fake)
    script = Scripted(texts=lambda i: " by the lantern." if i == 1 or i >= 3 else f" quietly {i}.")
    async with scripted_backend(script) as backend:
        async with story_bot(fake, settings_for(fake, db_path, backend.base_url)) as run:
            words = await fake.slash("moderation words", add="lantern", member="admin")
            assert await answer(words) == "Word list: 1 added, 0 removed."
            thread = await start_story(fake)
            one = await next_round(fake, thread, 1, "bob")
            assert "lantern" not in one["content"]
            assert buttons(one)[:2] == ["1", "2"] and "3" not in buttons(one)
            assert "-# 1 of 3 withheld." in one["content"]
            story, nodes = await stored_story(run, thread.id)
            assert all("lantern" not in n.text for n in nodes)
            assert [n.text for n in nodes[1:]] == [" quietly 0.", " quietly 2."]

            form = await fake.click(one, "Write my own", member="carol")
            await form.wait_modal(TIMEOUT)
            mine = await fake.submit_modal(form, {"": "A lantern swung."})
            assert await answer(mine) == (
                "Your candidate was not added: this server's moderation withholds wordlist."
            )
            await answer(await fake.click(one, "1", member="bob"))
            await answer(await fake.click(one, "Close", member="mod"))
            await until(lambda: "was chosen" in one["content"], "round 1 chosen")

            steered = await fake.slash(
                "story next", direction="bring a lantern", member="bob", channel=thread
            )
            assert await answer(steered) == (
                "Your direction was not used: this server's moderation withholds wordlist."
            )
            refused = await fake.slash("story next", member="bob", channel=thread)
            assert await answer(refused) == WITHHELD
            story, nodes = await stored_story(run, thread.id)
            assert story.current_round_id is None and len(nodes) == 3
            exported = await fake.slash("story export", format="json", channel=thread)
            await exported.wait_final(TIMEOUT)
            assert "lantern" not in exported.files[-1].data.decode()
            assert all("lantern" not in str(m.get("content")) for m in thread.messages)


async def test_only_moderators_close_and_decide(fake: FakeDiscord, db_path: Path) -> None:
    """Without the moderator role nobody but Manage Messages closes or approves; with the
    server's role set, Manage Messages alone is not enough and the role is; the starter
    role keeps others from starting; bad setting values get one sentence."""
    people = add_members(fake)
    keeper_role = fake.guild.add_role("Keeper")
    starter_role = fake.guild.add_role("Storyteller")
    people["alice"].roles.append(starter_role)
    people["erin"].roles.append(keeper_role)
    async with scripted_backend(Scripted()) as backend:
        async with story_bot(fake, settings_for(fake, db_path, backend.base_url)) as run:
            thread = await start_story(fake, mode="vote+approve")
            one = await next_round(fake, thread, 1, "bob")
            for who in ("alice", "bob"):
                assert await answer(await fake.click(one, "Close", member=who)) == (
                    "Only story moderators (members with Manage Messages) can do that."
                )
            bad = await fake.slash(
                "settings set", name="story_moderator_role", value="keepers", member="admin"
            )
            assert (await answer(bad)).startswith("story_moderator_role 'keepers' is not a role")
            changed = await fake.slash(
                "settings set",
                name="story_moderator_role",
                value=f"<@&{keeper_role.id}>",
                member="admin",
            )
            await answer(changed)
            assert await answer(await fake.click(one, "Close", member="mod")) == (
                f"Only story moderators (<@&{keeper_role.id}>) can do that."
            )
            assert await answer(await fake.click(one, "Close", member="erin")) == (
                "Round 1 is closed."
            )
            await until(lambda: "Approve" in buttons(one), "the winner waiting")
            assert await answer(await fake.click(one, "Approve", member="mod")) == (
                f"Only story moderators (<@&{keeper_role.id}>) can do that."
            )
            denied_edit = await fake.click(one, "Edit", member="bob")
            assert await answer(denied_edit) == (
                f"Only story moderators (<@&{keeper_role.id}>) can do that."
            )
            assert denied_edit.modal is None
            assert await answer(await fake.click(one, "Approve", member="erin")) == (
                "Approved: it is in the story."
            )
            starters = await fake.slash(
                "settings set",
                name="story_starter_role",
                value=str(starter_role.id),
                member="admin",
            )
            await answer(starters)
            other = await fake.slash(
                "story start", title="Another", prompt="Once", member="bob", channel="random"
            )
            assert await answer(other) == (
                f"Only members with <@&{starter_role.id}> can start stories on this server."
            )
            assert not [t for t in fake.guild.threads if t.name == "Another"]
            story, _nodes = await stored_story(run, thread.id)
            assert story.head_node_id != story.root_node_id


async def test_simultaneous_clicks_decide_once(fake: FakeDiscord, db_path: Path) -> None:
    """Three moderators clicking Close while the window ends and votes arrive: the round
    closes once, one chosen text is posted, the others are told it is closed."""
    people = add_members(fake)
    for name in ("mod2", "mod3"):
        people[name] = fake.guild.add_member(name, permissions=perm.MANAGE_MESSAGES)
    async with scripted_backend(Scripted()) as backend:
        async with story_bot(fake, settings_for(fake, db_path, backend.base_url)):
            thread = await start_story(fake, window=2)
            one = await next_round(fake, thread, 1, "bob")
            await answer(await fake.click(one, "2", member="carol"))
            fake.clock.advance(3 * 60)  # the sweeper closes it too, any moment now
            clicks = [fake.click(one, "Close", member=m) for m in ("mod", "mod2", "mod3")]
            clicks += [fake.click(one, "3", member=m) for m in ("dave", "erin")]
            said = [await answer(r) for r in await asyncio.gather(*clicks)]
            closes = said[:3]
            assert closes.count("Round 1 is closed.") <= 1
            assert set(closes) <= {"Round 1 is closed.", "This round is closed already."}
            await until(lambda: "was chosen" in one["content"], "round 1 chosen")
            await until(
                lambda: any("after round 1" in m["content"] for m in thread.messages), "post"
            )
            # A round trip, and a few sweeps: a second closer would have posted by now.
            await (await fake.slash("story list", member="bob")).wait_final(TIMEOUT)
            await asyncio.sleep(1.0)
            chosen = [m for m in thread.messages if "after round 1" in m["content"]]
            assert len(chosen) == 1
            winner = "3" if said[3:].count("Your vote: 3.") == 2 else "2"
            assert f"✅ **{winner}** was chosen" in one["content"]


async def test_ties_then_approve_mode(fake: FakeDiscord, db_path: Path) -> None:
    """approve mode: the likeliest candidate waits for a moderator at once; equal scores
    tie and a moderator picks; rejecting every candidate rerolls the round."""
    add_members(fake)
    script = Scripted(logprob=lambda i: -2.0 if i < 2 else -1.0 - (i % 2) / 10)
    async with scripted_backend(script) as backend:
        async with story_bot(fake, settings_for(fake, db_path, backend.base_url)):
            thread = await start_story(fake, mode="approve", candidates=2)
            one = await next_round(fake, thread, 1, "bob")
            assert "⚖️ A tie between 1, 2: a moderator picks one." in one["content"]
            assert buttons(one) == ["Pick 1", "Pick 2", "Reroll"]
            assert await answer(await fake.click(one, "Pick 2", member="mod")) == (
                "Picked: it is in the story."
            )
            await until(lambda: "✅ **2** was chosen" in one["content"], "the pick")
            two = await next_round(fake, thread, 2, "bob")
            # Requests 2 and 3: -1.0 and -1.1, so the first is likelier.
            assert "⏳ **1** won (0 votes)" in two["content"]
            assert buttons(two) == ["Approve", "Edit", "Reject", "Reroll"]
            await answer(await fake.click(two, "Reject", member="mod"))
            await until(lambda: "⏳ **2** won" in two["content"], "the next best")
            rerolled = await fake.click(two, "Reject", member="mod")
            assert await answer(rerolled) == "Round 3 is ready for a moderator below."
            await until(lambda: "🔄 Rerolled" in two["content"], "round 2 rerolled")
            three = await wait_for_round(thread, 3)
            assert "Approve" in buttons(three)


async def test_an_idle_story_pauses_and_next_resumes_it(fake: FakeDiscord, db_path: Path) -> None:
    """With story_idle_minutes 5, a story idle for six minutes pauses and says so;
    /story list shows it paused; Next round resumes it."""
    add_members(fake)
    async with scripted_backend(Scripted()) as backend:
        async with story_bot(fake, settings_for(fake, db_path, backend.base_url)) as run:
            bad = await fake.slash(
                "settings set", name="story_idle_minutes", value="soon", member="admin"
            )
            assert (await answer(bad)).startswith("story_idle_minutes 'soon' is not a duration")
            await answer(
                await fake.slash(
                    "settings set", name="story_idle_minutes", value="5m", member="admin"
                )
            )
            thread = await start_story(fake)
            fake.clock.advance(6 * 60)
            await until(lambda: "is paused" in thread.messages[-1]["content"], "the pause")
            listed = await answer(await fake.slash("story list", member="bob"))
            assert "— paused · 0 rounds" in listed
            one = await next_round(fake, thread, 1, "carol")
            assert buttons(one)[0] == "1"
            story, _nodes = await stored_story(run, thread.id)
            assert story.status == "active"


async def test_one_servers_stories_are_invisible_in_another(
    fake: FakeDiscord, db_path: Path
) -> None:
    """From another server, /story list, show, export and autocomplete see nothing of
    this server's story, and /story next outside a story's thread says where to use it."""
    add_members(fake)
    other = fake.add_guild("Other Server")
    elsewhere = other.add_channel("lobby")
    other.add_member("alice")
    async with scripted_backend(Scripted()) as backend:
        async with story_bot(fake, settings_for(fake, db_path, backend.base_url)) as run:
            thread = await start_story(fake)
            story, _nodes = await stored_story(run, thread.id)
            there: dict[str, Any] = {"member": "alice", "channel": elsewhere, "guild": other}
            listed = await answer(await fake.slash("story list", **there))
            assert listed == "No stories on this server yet: start one with /story start."
            for command in ("story show", "story export"):
                options = {"story": story.id, **({"format": "json"} if "export" in command else {})}
                said = await answer(await fake.slash(command, options, **there))
                assert said == f"There is no story #{story.id} on this server."
            choices = await fake.autocomplete("story show", "story", "", **there)
            assert choices == []
            here = await fake.autocomplete("story show", "story", "", member="alice")
            assert [c["value"] for c in here] == [story.id]
            nowhere = await answer(await fake.slash("story next", **there))
            assert nowhere.startswith("There is no story in this channel")
            shown = await fake.slash("story show", story=story.id, member="bob")
            message = await shown.wait_final(TIMEOUT)
            assert message["content"].endswith("The keeper climbed the stairs")
