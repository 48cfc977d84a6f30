"""Moderation end to end: the real bot on the Discord emulator, a loopback backend with
scripted text, a loopback moderation server in OpenAI's shape, the real classifier.

Members: alice (nothing special), admin (Administrator), mod (Manage Server and Manage
Messages), mod2 (Manage Messages). Couplet's role has Manage Server and Moderate
Members, above everyone's.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from bot.sandbox import Channel, FakeDiscord
from bot.sandbox.interactions import InteractionRecord
from bot.sandbox.permissions import MANAGE_GUILD, MANAGE_MESSAGES, MODERATE_MEMBERS
from bot.settings import Settings
from tests.e2e.conftest import (
    StubBackend,
    body_and_footer,
    ephemeral_answer,
    labels,
    make_settings,
    running_stub,
    start_couplet,
)
from tests.support.discord_env import BotRun, wait_until
from tests.support.moderation_server import ModerationServer, running_moderation_server

WAIT = 30.0


@dataclass
class World:
    fake: FakeDiscord
    backend: StubBackend
    openai: ModerationServer
    settings: Settings
    mods: Channel
    general: Channel

    async def answer(self, rec: InteractionRecord) -> str:
        return await ephemeral_answer(rec, WAIT)

    async def admin(self, command: str, **options: Any) -> str:
        """Run a /moderation command as the admin; its ephemeral answer."""
        return await self.answer(await self.fake.slash(command, options, member="admin"))

    def bot_posts(self, channel: Channel) -> list[dict[str, Any]]:
        """Messages the bot posted in a channel outside interactions."""
        return [
            m
            for m in channel.messages
            if m["author"].get("bot") and not m.get("interaction_metadata")
        ]

    async def post_count(self, channel: Channel, count: int) -> list[dict[str, Any]]:
        await wait_until(lambda: len(self.bot_posts(channel)) >= count, f"{count} posts", WAIT)
        return self.bot_posts(channel)


@contextlib.asynccontextmanager
async def moderated_bot(world: World) -> AsyncIterator[BotRun]:
    async with start_couplet(world.fake, world.settings) as run:
        yield run


@pytest.fixture
async def world(fake: FakeDiscord, tmp_path: Path) -> AsyncIterator[World]:
    guild = fake.guild
    guild.bot_role.permissions |= MANAGE_GUILD | MODERATE_MEMBERS
    guild.bot_role.position = 50
    mods = guild.add_channel("mods")
    guild.add_member("mod", permissions=MANAGE_GUILD | MANAGE_MESSAGES)
    guild.add_member("mod2", permissions=MANAGE_MESSAGES)
    guild.add_role("Readers")  # known to the bot from the start, as roles are on Discord
    async with running_stub(StubBackend()) as backend, running_moderation_server() as openai:
        settings = make_settings(
            fake,
            tmp_path / "couplet.db",
            backend.base_url,
            moderation_base_url=openai.base_url,
            moderation_timeout=2.0,
        )
        yield World(fake, backend, openai, settings, mods, guild.channel("general"))


@pytest.fixture
async def bot(world: World) -> AsyncIterator[BotRun]:
    async with moderated_bot(world) as run:
        yield run


async def complete(world: World, prompt: str = "Go on", **options: Any) -> InteractionRecord:
    return await world.fake.slash("complete", {"prompt": prompt, **options}, member="alice")


async def review_message(world: World, count: int = 1) -> dict[str, Any]:
    """The newest review message in #mods (with its buttons)."""
    posts = await world.post_count(world.mods, count)
    return posts[count - 1]


# -- input -------------------------------------------------------------------------------


async def test_input_blocked_before_the_backend_sees_anything(world: World, bot: BotRun) -> None:
    """A prompt with a listed word, or one OpenAI finds graphic, is refused naming the
    category; the backend gets no request; /moderation history lists both."""
    said = await world.admin("moderation words", add="zorblax*")
    assert said == "Word list: 1 added, 0 removed."
    refusal = await world.answer(await complete(world, "Tell me about Zorblaxians"))
    assert "withholds wordlist" in refusal and "orblax" not in refusal
    refusal = await world.answer(await complete(world, "describe something gory"))
    assert "violence/graphic" in refusal
    assert world.backend.requests == []
    history = await world.admin("moderation history")
    assert history.count("input by <@") == 2
    assert "**block** by openai `violence/graphic` 0.97" in history


# -- output --------------------------------------------------------------------------------


async def test_output_blocked_flagged_and_reported(world: World, bot: BotRun) -> None:
    """Graphic text is withheld with one sentence (the thinking message withdrawn);
    hateful text is shown and reported, behind a spoiler, in the moderation channel."""
    world.backend.text = "and then a gory scene unfolded"
    rec = await complete(world)
    refusal = await world.answer(rec)
    assert (
        refusal == "The completion was withheld: this server's moderation blocks violence/graphic."
    )
    assert not [m for m in rec.messages if not int(m.get("flags") or 0) & 64]

    await world.admin("moderation channel", channel=world.mods)
    world.backend.text = "a hateful remark about Mondays"
    message = await (await complete(world)).wait_final(WAIT)
    assert body_and_footer(message["content"])[0] == world.backend.text
    (report,) = await world.post_count(world.mods, 1)
    assert report["content"].startswith("**Flagged** (output) — <@")
    assert f"||{world.backend.text}||" in report["content"]
    assert "`hate` 0.97" in report["content"]


async def test_one_of_three_withheld(world: World, bot: BotRun) -> None:
    """Of three candidates the graphic one is dropped: two pages, the footer says 1 of 3."""
    texts = iter(["a calm first one", "a gory second one", "a calm third one"])

    def answer(body: dict[str, Any]) -> tuple[int, dict[str, Any], dict[str, str]]:
        world.backend.text = next(texts)
        return world.backend.ok(body)

    world.backend.answer = answer
    rec = await complete(world, n=3, seed=1)
    first = await rec.wait_final(WAIT)
    text, footer = body_and_footer(first["content"])
    assert text == "a calm first one"
    assert "1 of 3 withheld." in footer
    assert any(line.startswith("candidate 1/2") for line in footer)
    second = await (await world.fake.click(first, "Next ▶")).wait_final(WAIT)
    assert body_and_footer(second["content"])[0] == "a calm third one"
    assert "gory" not in second["content"]


async def test_streaming_never_shows_a_withheld_word(world: World, bot: BotRun) -> None:
    """Streamed text with a listed word: no edit ever holds any of the word, and the end
    is one sentence; a clean stream ends with its whole text."""
    await world.admin("moderation words", add="zorblax*")
    before = "The harbour was busy that morning, with ships coming and going all day. " * 3
    after = " Sailors ran along the quays and the bells rang out over the water." * 4
    world.backend.text = before + "Then the Zorblaxian fleet arrived." + after
    # Spread over about 3 s, so that the reply is edited while the word is in the text.
    world.backend.stream_chunks, world.backend.stream_delay = 60, 0.05
    rec = await complete(world, stream=True)
    await rec.wait_for(lambda r: bool(r.followups), WAIT)
    refusal = rec.followups[-1]["content"]
    assert int(rec.followups[-1].get("flags") or 0) & 64
    assert "withheld" in refusal and "wordlist" in refusal
    shown = [h.message.get("content") or "" for h in rec.history]
    assert all("zor" not in text.lower() for text in shown), shown

    world.backend.text = before + "Then the fleet arrived."
    clean = await complete(world, stream=True)
    await clean.wait_for(lambda r: "Regenerate" in labels(r.original or {}), WAIT)
    assert body_and_footer(clean.original["content"])[0] == world.backend.text.strip()  # type: ignore[index]


# -- the review queue ------------------------------------------------------------------------


async def hold_hate(world: World) -> None:
    await world.admin("moderation channel", channel=world.mods)
    said = await world.admin("moderation set", category="hate", action="hold")
    assert said == "`hate` is now hold (was the default)."


async def held_completion(world: World, text: str, count: int) -> dict[str, Any]:
    """alice's completion `text` is held: she is told so; the review message is returned."""
    world.backend.text = text
    said = await world.answer(await complete(world, "Write a poem"))
    assert said.startswith("The completion was held for a moderator's review (hate)")
    return await review_message(world, count)


async def test_held_then_approved_is_posted_where_asked(world: World, bot: BotRun) -> None:
    """A held text waits in #mods with who, where, prompt, spoilered text and buttons;
    alice can't decide; mod's Approve posts it in #general, saying it was approved."""
    await hold_hate(world)
    review = await held_completion(world, "a hateful little poem", 1)
    alice = world.fake.guild.member("alice")
    assert f"<@{alice.id}> in <#{world.general.id}>" in review["content"]
    assert "> Write a poem" in review["content"]
    assert "||a hateful little poem||" in review["content"]
    assert labels(review) == ["Approve", "Reject", "Time out 1 h", "Time out 24 h"]
    assert world.bot_posts(world.general) == []

    refused = await world.answer(await world.fake.click(review, "Approve", member="alice"))
    assert "Manage Messages" in refused
    click = await world.fake.click(review, "Approve", member="mod")
    (posted,) = await world.post_count(world.general, 1)
    assert posted["content"].startswith("a hateful little poem\n-# Approved by a moderator")
    assert posted["allowed_mentions"] == {"parse": []}
    decided = await click.wait_final(WAIT)
    assert "Approved by <@" in decided["content"] and not decided.get("components")
    history = await world.admin("moderation history")
    assert "decided **approve** on held text #" in history


async def test_held_then_rejected_or_timed_out(world: World, bot: BotRun) -> None:
    """Reject posts nothing; Time out 1 h also times alice out for an hour."""
    await hold_hate(world)
    review = await held_completion(world, "a hateful verse", 1)
    decided = await (await world.fake.click(review, "Reject", member="mod")).wait_final(WAIT)
    assert "Rejected by <@" in decided["content"]
    review = await held_completion(world, "another hateful verse", 2)
    click = await world.fake.click(review, "Time out 1 h", member="mod")
    decided = await click.wait_final(WAIT)
    assert "out for 1 hour" in decided["content"]
    assert world.fake.guild.member("alice").communication_disabled_until is not None
    assert world.bot_posts(world.general) == []


async def test_two_moderators_approving_at_once_post_once(world: World, bot: BotRun) -> None:
    """Two Approve clicks at the same moment: the text is posted once, one is told it was
    already decided."""
    await hold_hate(world)
    review = await held_completion(world, "a hateful limerick", 1)
    clicks = await asyncio.gather(
        world.fake.click(review, "Approve", member="mod"),
        world.fake.click(review, "Approve", member="mod2"),
    )
    await world.post_count(world.general, 1)
    for click in clicks:
        await click.wait_for(lambda r: r.answered, WAIT)
    await wait_until(
        lambda: any(
            "already decided" in (m.get("content") or "") for c in clicks for m in c.followups
        ),
        "the second moderator to be told",
        WAIT,
    )
    await asyncio.sleep(0.3)  # a second post, if there were one, would have arrived by now
    assert len(world.bot_posts(world.general)) == 1


async def test_restart_with_a_held_text_then_approve(world: World) -> None:
    """A held text's buttons work in a new bot process after a restart."""
    async with moderated_bot(world):
        await hold_hate(world)
        review = await held_completion(world, "a hateful sonnet", 1)
    async with moderated_bot(world):
        await world.fake.click(review, "Approve", member="mod")
        (posted,) = await world.post_count(world.general, 1)
    assert posted["content"].startswith("a hateful sonnet")


# -- AutoMod ------------------------------------------------------------------------------------


async def test_automod_rules_are_honoured_and_refreshed(world: World, bot: BotRun) -> None:
    """The server's keyword and regex rules withhold generated text; an update event
    refreshes them; an exempt role is let through."""
    rule = await world.fake.automod.add_rule(
        "Spoilers", keyword_filter=["snape*"], regex_patterns=[r"dumbledore\s+dies"]
    )
    for text in ("Snape was the one", "and then Dumbledore   dies"):
        world.backend.text = text
        refusal = await world.answer(await complete(world))
        assert "blocks automod" in refusal, refusal

    reads = world.fake.requests.count(
        f"GET /api/v10/guilds/{world.fake.guild.id}/auto-moderation/rules"
    )
    await world.fake.automod.update_rule(rule["id"], keyword_filter=["voldemort"])
    await wait_until(
        lambda: (
            world.fake.requests.count(
                f"GET /api/v10/guilds/{world.fake.guild.id}/auto-moderation/rules"
            )
            > reads
        ),
        "the rules to be read again",
        WAIT,
    )
    world.backend.text = "Snape was the one"
    message = await (await complete(world)).wait_final(WAIT)
    assert body_and_footer(message["content"])[0] == "Snape was the one"

    readers = world.fake.guild.role("Readers")
    world.fake.guild.member("alice").roles.append(readers)
    await world.fake.automod.update_rule(rule["id"], exempt_roles=[readers.id])
    await wait_until(
        lambda: (
            world.fake.requests.count(
                f"GET /api/v10/guilds/{world.fake.guild.id}/auto-moderation/rules"
            )
            > reads + 1
        ),
        "the rules to be read again",
        WAIT,
    )
    world.backend.text = "voldemort returns"
    message = await (await complete(world)).wait_final(WAIT)
    assert body_and_footer(message["content"])[0] == "voldemort returns"


async def test_reading_automod_rules_leaves_no_rate_limit_bucket_per_server(
    world: World, bot: BotRun
) -> None:
    """Each server's rules are read once: discord.py's rate-limit bucket for that read
    (about 0.9 KB, kept five minutes) is dropped afterwards; the rules still apply,
    and are read again on an update."""
    rules = f"GET /api/v10/guilds/{world.fake.guild.id}/auto-moderation/rules"
    rule = await world.fake.automod.add_rule("Spoilers", keyword_filter=["snape*"])
    world.backend.text = "Snape was the one"
    refusal = await world.answer(await complete(world))
    assert "blocks automod" in refusal, refusal
    assert world.fake.requests.count(rules) == 1

    def server_buckets() -> list[str]:
        return [k for k in bot.bot.http._buckets if k.endswith(f":{world.fake.guild.id}")]

    assert server_buckets() == []
    await world.fake.automod.update_rule(rule["id"], keyword_filter=["voldemort"])
    await wait_until(
        lambda: world.fake.requests.count(rules) == 2, "the rules to be read again", WAIT
    )
    world.backend.text = "voldemort returns"
    refusal = await world.answer(await complete(world))
    assert "blocks automod" in refusal, refusal
    assert server_buckets() == []


async def test_show_lists_defaults_and_says_when_automod_cannot_be_read(
    world: World, bot: BotRun
) -> None:
    """/moderation show: every default, the missing channel, and a note without Manage Server."""
    world.fake.guild.bot_role.permissions &= ~MANAGE_GUILD
    shown = await world.admin("moderation show")
    for line in (
        "`hate/threatening` block — default",
        "`hate` flag — default",
        "`profanity` flag — default",
        "`wordlist` block — default",
        "`automod` block — default",
        "No moderation channel is set: `hold` acts as `block`",
        "When a provider is down: closed — default",
        "Providers on: openai, classifier, wordlist, automod.",
        "Couplet can't read this server's AutoMod rules",
    ):
        assert line in shown, line


# -- bad input, failures ------------------------------------------------------------------------


async def test_bad_and_catastrophic_patterns_are_answered(world: World, bot: BotRun) -> None:
    """A pattern RE2 can't compile gets one sentence; `(a+)+$` is accepted and a long run
    of a's is checked without hanging."""
    said = await world.admin("moderation words", regex="(unclosed")
    assert said.startswith("The pattern '(unclosed' can't be used: missing )")
    assert await world.admin("moderation words", regex="(a+)+$") == "Word list: 1 added, 0 removed."
    world.backend.text = "a" * 1500 + "!"
    message = await (await complete(world)).wait_final(WAIT)
    assert body_and_footer(message["content"])[0] == world.backend.text
    tested = await world.admin("moderation test", text="a" * 1500)
    assert "Under this server's policy: **block** (wordlist)." in tested


async def test_provider_down_closed_by_default_then_open(world: World, bot: BotRun) -> None:
    """OpenAI down: the default (closed) refuses before the backend, saying why; with
    on_failure open the completion is shown with a note."""
    world.openai.mode = "down"
    refusal = await world.answer(await complete(world))
    assert "openai unavailable" in refusal
    assert world.backend.requests == []
    assert await world.admin("moderation set", on_failure="open") == (
        "When a provider is down: open."
    )
    message = await (await complete(world)).wait_final(WAIT)
    _, footer = body_and_footer(message["content"])
    assert any("The openai check was unavailable" in line for line in footer)
    assert len(world.backend.requests) == 1


async def test_members_without_manage_server_cant_change_moderation(
    world: World, bot: BotRun
) -> None:
    """alice is refused /moderation set, words and channel at run time."""
    for command, options in (
        ("moderation set", {"category": "hate", "action": "allow"}),
        ("moderation words", {"add": "x"}),
        ("moderation channel", {}),
    ):
        refusal = await world.answer(await world.fake.slash(command, options, member="alice"))
        assert "Manage Server" in refusal
    shown = await world.admin("moderation show")
    assert "`hate` flag — default" in shown


async def test_every_way_in_is_checked(world: World, bot: BotRun) -> None:
    """The form's text and a message continued from the menu are checked before the
    backend; a Regenerate whose new text is graphic is withheld."""
    await world.admin("moderation words", add="zorblax")
    form = await world.fake.slash("complete", member="alice")
    await form.wait_modal(WAIT)
    submitted = await world.fake.submit_modal(form, {"Prompt": "All about\nzorblax"})
    assert "withholds wordlist" in await world.answer(submitted)
    posted = await world.fake.post_message("general", "alice", "the zorblax said hello")
    menu = await world.fake.context_menu("Continue with Couplet", posted, member="alice")
    assert "withholds wordlist" in await world.answer(menu)
    assert world.backend.requests == []

    world.backend.text = "a calm reply"
    first = await (await complete(world)).wait_final(WAIT)
    world.backend.text = "now a gory reply"
    again = await world.fake.click(first, "Regenerate", member="alice")
    assert "blocks violence/graphic" in await world.answer(again)
