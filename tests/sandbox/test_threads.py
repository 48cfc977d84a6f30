"""Threads on the emulator with the real discord.py client: started from a message or in
a channel, their messages, members and events, the interactions used inside them, and
what Discord refuses."""

from __future__ import annotations

from typing import Any

import discord
import pytest
from discord import app_commands

from bot.sandbox import FakeDiscord
from bot.sandbox import permissions as perm
from bot.sandbox.world import PUBLIC_THREAD
from tests.support.discord_env import running_bot, wait_until


class ThreadBot(discord.Client):
    """Records thread events; `/where` answers with where it was used, and `/spin`
    answers, then starts a thread from its own answer and posts in it."""

    def __init__(self, *, members_intent: bool = False) -> None:
        intents = discord.Intents(guilds=True, members=members_intent)
        super().__init__(intents=intents, guild_ready_timeout=0.1)
        self.tree = app_commands.CommandTree(self)
        self.events: list[tuple[str, Any]] = []
        self.threads_made: list[discord.Thread] = []

        @self.tree.command()
        async def where(interaction: discord.Interaction) -> None:
            """Say where this was used."""
            channel = interaction.channel
            parent = getattr(channel, "parent_id", None)
            await interaction.response.send_message(f"{type(channel).__name__} parent={parent}")

        @self.tree.command()
        async def spin(interaction: discord.Interaction, name: str) -> None:
            """Start a thread from the answer."""
            await interaction.response.send_message(f"thread: {name}")
            message = await interaction.original_response()
            thread = await message.create_thread(name=name)
            self.threads_made.append(thread)
            await thread.send("first words in the thread")

    async def setup_hook(self) -> None:
        await self.tree.sync()

    async def on_thread_create(self, thread: discord.Thread) -> None:
        self.events.append(("create", thread))

    async def on_thread_join(self, thread: discord.Thread) -> None:
        self.events.append(("join", thread))

    async def on_thread_member_join(self, member: discord.ThreadMember) -> None:
        self.events.append(("member_join", member))


async def test_a_thread_from_a_message_has_its_id_and_takes_messages(fake: FakeDiscord) -> None:
    """A thread started from a message shares its id; the bot posts in it; the message
    carries the thread; the thread's counts follow."""
    async with running_bot(fake, ThreadBot()) as run:
        general = run.bot.get_channel(fake.guild.channel("general").id)
        message = await general.send("a story begins")
        thread = await message.create_thread(name="The story")
        assert thread.id == message.id
        assert thread.parent_id == general.id
        assert thread.type is discord.ChannelType.public_thread
        await thread.send("once upon a time")
        await wait_until(lambda: run.bot.get_guild(fake.guild.id).get_thread(thread.id), "cache")
        refused = await general.send("again")
        await refused.create_thread(name="one")
        with pytest.raises(discord.HTTPException) as twice:
            await refused.create_thread(name="two")
        assert twice.value.code == 160004
    emulated = fake.guild.channel("The story")
    assert emulated.is_thread and emulated.owner_id == fake.state.world.bot_user.id
    assert [m["content"] for m in emulated.messages] == ["once upon a time"]
    assert emulated.message_count == 1
    starter = fake.state.messages[message.id]
    assert starter["thread"]["id"] == str(message.id)
    assert int(starter["flags"]) & (1 << 5)


async def test_a_thread_in_a_channel_leaves_a_notice_and_is_announced(fake: FakeDiscord) -> None:
    """A public thread started without a message: THREAD_CREATE reaches on_thread_create,
    the channel gets Discord's THREAD_CREATED notice (type 18)."""
    async with running_bot(fake, ThreadBot()) as run:
        general = run.bot.get_channel(fake.guild.channel("general").id)
        thread = await general.create_thread(
            name="Side plot", type=discord.ChannelType.public_thread
        )
        await wait_until(lambda: any(e[0] == "create" for e in run.bot.events), "THREAD_CREATE")
        created = next(t for kind, t in run.bot.events if kind == "create")
        assert created.id == thread.id and created.me is not None
    notice = fake.guild.channel("general").messages[-1]
    assert notice["type"] == 18 and notice["content"] == "Side plot"
    assert notice["message_reference"]["channel_id"] == str(thread.id)


async def test_bodies_and_permissions_are_checked(fake: FakeDiscord) -> None:
    """A name over 100 characters is refused (and recorded), an announcement thread in a
    text channel too; without Create Public Threads the bot gets a 403."""
    async with running_bot(fake, ThreadBot()) as run:
        general = run.bot.get_channel(fake.guild.channel("general").id)
        with pytest.raises(discord.HTTPException) as long_name:
            await general.create_thread(name="x" * 101, type=discord.ChannelType.public_thread)
        assert long_name.value.status == 400
        with pytest.raises(discord.HTTPException):
            await general.create_thread(name="news", type=discord.ChannelType.news_thread)
        refused = run.take_rejections()
        assert [e["errors"][0].path for e in refused] == ["name", "type"]
        fake.guild.channel("general").set_permissions(
            fake.guild.everyone, deny=perm.CREATE_PUBLIC_THREADS
        )
        message = await general.send("no threads here")
        with pytest.raises(discord.Forbidden):
            await message.create_thread(name="denied")


async def test_commands_inside_a_thread_and_a_restart(fake: FakeDiscord) -> None:
    """A member's thread reaches the bot; a command used in it sees a Thread and answers
    there; after a restart GUILD_CREATE lists the thread."""
    async with running_bot(fake, ThreadBot()) as run:
        thread = await fake.create_thread("Members' thread", channel="general", member="alice")
        await wait_until(lambda: any(e[0] == "create" for e in run.bot.events), "THREAD_CREATE")
        rec = await fake.slash("where", channel=thread)
        answer = await rec.wait_final()
        parent = fake.guild.channel("general").id
        assert answer["content"] == f"Thread parent={parent}"
        assert answer["channel_id"] == str(thread.id)
        assert thread.messages[-1]["id"] == answer["id"]
        spun = await fake.slash("spin", name="Spun")
        await wait_until(lambda: run.bot.threads_made, "the thread from the answer")
        made = fake.guild.channel("Spun")
        assert made.id == int((await spun.wait_final())["id"])
        await wait_until(lambda: made.messages, "the first message in it")
    async with running_bot(fake, ThreadBot()) as again:
        cached = again.bot.get_guild(fake.guild.id).get_thread(thread.id)
        assert cached is not None and cached.parent_id == parent


async def test_thread_members_join_and_are_listed(fake: FakeDiscord) -> None:
    """The bot joins a member's thread (PUT @me; its `me` is set), a member joining is an
    event only with the members intent, posting joins, and the members list agrees."""
    thread = await fake.create_thread("Club", channel="general", member="alice")
    async with running_bot(fake, ThreadBot(members_intent=True)) as run:
        cached = run.bot.get_guild(fake.guild.id).get_thread(thread.id)
        assert cached is not None and cached.me is None
        await cached.join()
        await wait_until(lambda: cached.me is not None, "THREAD_MEMBER_UPDATE")
        await fake.join_thread(thread, "admin")
        await wait_until(lambda: any(e[0] == "member_join" for e in run.bot.events), "join event")
        await fake.post_message(thread, "owner", "hello")
        listed = await cached.fetch_members()
    names = {fake.state.world.user_by_id(m.id).name for m in listed}
    assert names == {"alice", "Couplet", "admin", "owner"}
    assert thread.type == PUBLIC_THREAD and thread.message_count == 1
    async with running_bot(fake, ThreadBot()) as quiet:
        await fake.join_thread(thread, fake.guild.add_member("bob"))
        # Events arrive in order on the one connection: once this is answered, a
        # THREAD_MEMBERS_UPDATE sent before it would have been handled.
        await (await fake.slash("where", channel=thread)).wait_final()
        assert not any(e[0] == "member_join" for e in quiet.bot.events)
