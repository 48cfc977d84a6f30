"""The emulator's AutoMod rules, rule events and member timeouts, with the real
discord.py client: served in Discord's shape and refused where Discord refuses."""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import Any

import discord
import pytest

from bot.sandbox import FakeDiscord
from bot.sandbox.permissions import ADMINISTRATOR, MANAGE_GUILD, MODERATE_MEMBERS
from tests.support.discord_env import running_bot, wait_until


class RuleWatcher(discord.Client):
    """Records the AutoMod rule events it gets."""

    def __init__(self, intents: discord.Intents) -> None:
        super().__init__(intents=intents, guild_ready_timeout=0.1)
        self.events: list[tuple[str, Any]] = []

    async def on_automod_rule_create(self, rule: discord.AutoModRule) -> None:
        self.events.append(("create", rule))

    async def on_automod_rule_update(self, rule: discord.AutoModRule) -> None:
        self.events.append(("update", rule))

    async def on_automod_rule_delete(self, rule: discord.AutoModRule) -> None:
        self.events.append(("delete", rule))


def watcher(*, automod: bool = True) -> RuleWatcher:
    return RuleWatcher(discord.Intents(guilds=True, auto_moderation_configuration=automod))


async def test_rules_are_read_with_manage_server_only(fake: FakeDiscord) -> None:
    """fetch_automod_rules gets the keyword rule with Manage Server, 403 without."""
    await fake.automod.add_rule(
        "Spoilers",
        keyword_filter=["snape*"],
        regex_patterns=[r"ending\s+is"],
        allow_list=["snapes"],
        exempt_roles=[fake.guild.roles[0].id],
    )
    async with running_bot(fake, watcher(), wait_sync=False) as run:
        guild = run.bot.get_guild(fake.guild.id)
        with pytest.raises(discord.Forbidden):
            await guild.fetch_automod_rules()
        fake.guild.bot_role.permissions |= MANAGE_GUILD
        (rule,) = await guild.fetch_automod_rules()
    assert rule.name == "Spoilers"
    assert rule.trigger.keyword_filter == ["snape*"]
    assert rule.trigger.regex_patterns == [r"ending\s+is"]
    assert rule.trigger.allow_list == ["snapes"]
    assert rule.exempt_role_ids == {fake.guild.roles[0].id}


async def test_rule_events_need_the_intent_and_manage_server(fake: FakeDiscord) -> None:
    """Create, update and delete reach a bot with the intent and Manage Server; not others."""
    fake.guild.bot_role.permissions |= MANAGE_GUILD
    async with running_bot(fake, watcher(), wait_sync=False) as run:
        rule = await fake.automod.add_rule("Words", keyword_filter=["cat"])
        await fake.automod.update_rule(rule["id"], keyword_filter=["cat", "dog"])
        await fake.automod.delete_rule(rule["id"])
        await wait_until(lambda: len(run.bot.events) == 3, "three rule events")
        kinds = [kind for kind, _ in run.bot.events]
        assert kinds == ["create", "update", "delete"]
        assert run.bot.events[1][1].trigger.keyword_filter == ["cat", "dog"]
    async with running_bot(fake, watcher(automod=False), wait_sync=False) as run:
        await fake.automod.add_rule("Quiet", keyword_filter=["x"])
        await asyncio.sleep(0.2)  # nothing is expected; give a wrong event time to arrive
        assert run.bot.events == []


async def test_a_rule_off_the_spec_is_refused() -> None:
    """A rule Discord would not store (a name over 100 characters) raises in the test."""
    from tests.support.discord_env import running_fake

    async with running_fake() as fake:
        with pytest.raises(ValueError, match="Discord would refuse"):
            await fake.automod.add_rule("n" * 101, keyword_filter=["x"])


async def test_timeouts_follow_discords_permission_checks(fake: FakeDiscord) -> None:
    """A timeout needs Moderate Members and a target below the bot, not an admin or the
    owner; more than 28 days is refused; it shows on the member."""
    alice = fake.guild.member("alice")
    async with running_bot(fake, watcher(), wait_sync=False) as run:
        guild = run.bot.get_guild(fake.guild.id)
        member = await guild.fetch_member(alice.id)
        with pytest.raises(discord.Forbidden):
            await member.timeout(dt.timedelta(hours=1))
        fake.guild.bot_role.permissions |= MODERATE_MEMBERS
        fake.guild.bot_role.position = 10
        await member.timeout(dt.timedelta(hours=1), reason="held text")
        assert alice.communication_disabled_until is not None
        until = dt.datetime.fromisoformat(alice.communication_disabled_until)
        assert dt.timedelta(minutes=59) < until - dt.datetime.now(dt.UTC) <= dt.timedelta(hours=1)
        with pytest.raises(discord.HTTPException) as caught:
            await member.timeout(dt.timedelta(days=29))
        assert caught.value.status == 400
        run.take_rejections()
        boss = fake.guild.add_member("boss", permissions=ADMINISTRATOR)
        for target in (boss, fake.guild.member("owner")):
            with pytest.raises(discord.Forbidden):
                await (await guild.fetch_member(target.id)).timeout(dt.timedelta(hours=1))
        higher = fake.guild.add_member("higher", roles=[fake.guild.add_role("Top", 0)])
        higher.roles[0].position = 20
        with pytest.raises(discord.Forbidden):
            await (await guild.fetch_member(higher.id)).timeout(dt.timedelta(hours=1))
