"""The Discord emulator against the real discord.py client over loopback sockets."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import discord
import pytest
from discord import app_commands
from discord.ext import commands

from bot.sandbox import FakeDiscord, OptionError, UnknownCommand, limits
from bot.sandbox import permissions as perm
from tests.sandbox.minimal_bot import MiniBot
from tests.support.discord_env import BotRun, running_bot, running_fake, wait_until


@pytest.fixture
async def fake() -> AsyncIterator[FakeDiscord]:
    async with running_fake() as server:
        yield server
        assert server.unknown_routes == [], "the bot called routes the emulator does not know"


@pytest.fixture
async def run(fake: FakeDiscord) -> AsyncIterator[BotRun]:
    async with running_bot(fake, MiniBot()) as bot_run:
        yield bot_run


async def test_login_and_global_sync(fake: FakeDiscord, run: BotRun) -> None:
    """Login, application info, gateway identify and a global bulk overwrite all succeed."""
    names = {c["name"]: c for c in fake.commands()}
    assert {"echo", "slow", "preset", "Quote message"} <= set(names)
    assert all(c["id"].isdigit() and c["version"] and c["application_id"] for c in names.values())
    assert names["Quote message"]["type"] == 3
    assert run.bot.application_id == fake.application_id
    assert run.bot.user.id == fake.world.bot_user.id
    assert fake.identifies and fake.identifies[0]["token"] == "<redacted>"
    assert run.bot.get_guild(fake.guild.id).name == "Test Server"


async def test_guild_sync_sets_guild_id_and_routes(fake: FakeDiscord) -> None:
    """Guild-scoped commands are stored per guild and interactions carry data.guild_id."""
    async with running_bot(fake, MiniBot(sync_guilds=[fake.guild.id])):
        assert fake.commands() == []
        stored = fake.commands(fake.guild)
        assert stored and all(c["guild_id"] == str(fake.guild.id) for c in stored)
        rec = await fake.slash("echo", text="scoped")
        assert rec.payload["data"]["guild_id"] == str(fake.guild.id)
        assert (await rec.wait_final())["content"] == "scoped"


async def test_slash_with_options(fake: FakeDiscord, run: BotRun) -> None:
    """Options reach the command typed as declared: string, integer, choice, number, boolean."""
    rec = await fake.slash("echo", {"text": "hi", "times": 3})
    assert (await rec.wait_final())["content"] == "hi hi hi"
    rec = await fake.slash("paint", colour="blue", ratio=0.25, loud=True)
    assert (await rec.wait_final())["content"] == "blue 0.25 True"
    assert rec.response_type == 4


async def test_subcommand_group(fake: FakeDiscord, run: BotRun) -> None:
    """`preset create` is sent as a nested subcommand option and dispatched to it."""
    rec = await fake.slash("preset create", name="calm", temperature=0.2)
    assert rec.payload["data"]["options"][0]["type"] == 1
    assert (await rec.wait_final())["content"] == "created calm at 0.2"


async def test_defer_then_followups(fake: FakeDiscord, run: BotRun) -> None:
    """After a type-5 defer the first followup replaces 'thinking…'; the second is a new message."""
    rec = await fake.slash("slow", text="x")
    final = await rec.wait_final()
    assert rec.response_type == 5
    assert final["content"] == "slow x" and not final["flags"] & limits.LOADING
    await rec.wait_for(lambda r: len(r.followups) == 1)
    assert rec.followups[0]["content"] == "second followup"
    assert [h.action for h in rec.history] == ["create", "edit", "create"]


async def test_edit_original(fake: FakeDiscord, run: BotRun) -> None:
    """PATCH and GET of @original work and every version is kept in the history."""
    rec = await fake.slash("edits")
    await rec.wait_for(
        lambda r: r.original is not None and r.original["content"].startswith("third")
    )
    assert rec.original["content"] == "third (was second)"
    assert [h.message["content"] for h in rec.history] == ["first", "second", "third (was second)"]


async def test_ephemeral_reply(fake: FakeDiscord, run: BotRun) -> None:
    """An ephemeral answer carries flag 64 and does not appear in the channel."""
    rec = await fake.slash("secret")
    msg = await rec.wait_final()
    assert rec.ephemeral and msg["flags"] & limits.EPHEMERAL
    assert msg["id"] not in [m["id"] for m in fake.guild.channel("general").messages]


async def test_button_click_edits_message(fake: FakeDiscord, run: BotRun) -> None:
    """Clicking a button by label routes to the view and a type-7 update edits that message."""
    rec = await fake.slash("buttons")
    msg = await rec.wait_final()
    assert [c["label"] for c in msg["components"][0]["components"]] == ["Again", "Later"]
    click = await fake.click(msg, label="Again", member="admin")
    edited = await click.wait_final()
    assert click.response_type == 7
    assert edited["id"] == msg["id"] and edited["content"] == "clicked by admin"


async def test_deferred_update_then_edit(fake: FakeDiscord, run: BotRun) -> None:
    """A type-6 defer on a button, then PATCH @original, edits the clicked message."""
    msg = await (await fake.slash("buttons")).wait_final()
    click = await fake.click(msg, custom_id="later")
    edited = await click.wait_final()
    assert click.response_type == 6
    assert edited["id"] == msg["id"] and edited["content"] == "edited after a deferred update"
    assert edited["components"] == []


async def test_select_menu(fake: FakeDiscord, run: BotRun) -> None:
    """Choosing a select option reaches the select callback with the values."""
    msg = await (await fake.slash("buttons")).wait_final()
    rec = await fake.select(msg, ["b"])
    assert (await rec.wait_final())["content"] == "picked b"


async def test_modal(fake: FakeDiscord, run: BotRun) -> None:
    """A type-9 callback opens a modal; submitting it reaches on_submit with the value."""
    rec = await fake.slash("ask")
    modal = await rec.wait_modal()
    assert modal["title"] == "Write a prompt"
    submitted = await fake.submit_modal(rec, {"prompt": "Once upon a time"})
    assert (await submitted.wait_final())["content"] == "prompt was 'Once upon a time'"


async def test_autocomplete(fake: FakeDiscord, run: BotRun) -> None:
    """Typing into an autocomplete option returns the bot's filtered choices."""
    choices = await fake.autocomplete("pick_model", focused="model", value="gem")
    assert [c["value"] for c in choices] == ["gemma-3-270m", "gemma-2b"]


async def test_autocomplete_over_25_choices_is_refused(fake: FakeDiscord, run: BotRun) -> None:
    """More than 25 autocomplete choices get a 50035 error, as on Discord."""
    rec = await fake.autocomplete_record("greedy", focused="thing", value="")
    await rec.wait_for(lambda r: bool(r.rejections))
    assert rec.choices is None
    assert rec.rejections[0]["errors"][0].path == "data.choices"
    assert await run.expect_errors(1), "discord.py should log the failed autocomplete"
    assert run.take_rejections()


async def test_message_context_menu(fake: FakeDiscord, run: BotRun) -> None:
    """A message command receives the target message from resolved.messages."""
    target = await fake.post_message("general", "alice", "roses are red")
    rec = await fake.context_menu("Quote message", target, member="admin")
    assert (await rec.wait_final())["content"] == "alice said: roses are red"


async def test_files_sent_by_bot(fake: FakeDiscord, run: BotRun) -> None:
    """A multipart reply stores the file; its bytes and attachment metadata are readable."""
    rec = await fake.slash("upload", name="notes")
    msg = await rec.wait_final()
    assert msg["attachments"][0]["filename"] == "notes.txt"
    assert [(f.filename, f.data) for f in rec.files] == [("notes.txt", b"file notes")]


async def test_attachment_option(fake: FakeDiscord, run: BotRun) -> None:
    """An attachment option is resolved and downloadable by the bot from the emulator."""
    rec = await fake.slash("measure", file=("prompt.txt", b"0123456789"))
    assert (await rec.wait_final())["content"] == "prompt.txt: 10 bytes"


async def test_content_over_2000_is_refused(fake: FakeDiscord, run: BotRun) -> None:
    """2000 characters pass; 2001 get 50035 and the interaction stays unanswered."""
    ok = await fake.slash("long", size=2000)
    assert len((await ok.wait_final())["content"]) == 2000
    rec = await fake.slash("long", size=2001)
    await rec.wait_for(lambda r: bool(r.rejections))
    assert not rec.acknowledged
    assert rec.rejections[0]["errors"][0].path == "data.content"
    errors = await run.expect_errors(1)
    assert "50035" in str(errors[0].exc_info[1])
    assert run.take_rejections()


async def test_three_second_rule(fake: FakeDiscord, run: BotRun) -> None:
    """A first response after the 3-second window gets 10062 Unknown interaction."""
    rec = await fake.slash("wait")
    await wait_until(lambda: run.bot.seen, "the bot to receive the interaction")
    fake.clock.advance(3.5)
    run.bot.gate.set()
    await rec.wait_for(lambda r: bool(r.rejections))
    assert rec.rejections[0]["code"] == limits.UNKNOWN_INTERACTION and not rec.acknowledged
    errors = await run.expect_errors(1)
    assert isinstance(errors[0].exc_info[1].original, discord.NotFound)


async def test_token_expires_after_15_minutes(fake: FakeDiscord, run: BotRun) -> None:
    """A followup after the 15-minute token lifetime gets 401 Invalid Webhook Token."""
    rec = await fake.slash("echo", text="x")
    await rec.wait_final()
    fake.clock.advance(15 * 60 + 1)
    interaction = discord.Interaction(data=rec.payload, state=run.bot._connection)  # type: ignore[arg-type]
    interaction.response._response_type = discord.InteractionResponseType.channel_message
    with pytest.raises(discord.HTTPException) as caught:
        await interaction.followup.send("too late")
    assert caught.value.code == limits.INVALID_WEBHOOK_TOKEN


async def test_already_acknowledged(fake: FakeDiscord, run: BotRun) -> None:
    """A second callback for one interaction gets 40060."""
    rec = await fake.slash("twice")
    final = await rec.wait_final()
    assert final["content"] == "refused 40060"
    assert rec.rejections[0]["code"] == limits.ALREADY_ACKNOWLEDGED


async def test_injected_429_is_retried(fake: FakeDiscord, run: BotRun) -> None:
    """A 429 with Retry-After and Via on the callback is retried by discord.py and succeeds."""
    injection = fake.inject_rate_limit("/callback", retry_after=0.05)
    rec = await fake.slash("echo", text="after 429")
    assert (await rec.wait_final())["content"] == "after 429"
    assert injection.hits == 1 and len(fake.rate_limited) == 1


async def test_bad_option_values_are_refused(fake: FakeDiscord, run: BotRun) -> None:
    """The injection API refuses values a Discord client could not send."""
    bad = [
        dict(text="hi", times="3"),  # string for an integer
        dict(text="hi", times=9),  # above max_value 5
        dict(text="hi", times=True),  # bool is not an integer
        dict(times=2),  # missing required option
        dict(text="hi", colour="red"),  # unknown option
    ]
    for options in bad:
        with pytest.raises(OptionError):
            await fake.slash("echo", options)
    with pytest.raises(OptionError, match="choices"):
        await fake.slash("paint", colour="green")
    with pytest.raises(OptionError, match="not a number"):
        await fake.slash("paint", colour="red", ratio="high")
    with pytest.raises(UnknownCommand):
        await fake.slash("nope")
    assert fake.interactions == {}


async def test_permissions_from_roles(fake: FakeDiscord, run: BotRun) -> None:
    """Member permissions follow roles (Administrator implies all); app_permissions the bot's."""
    guild = fake.guild
    mod = guild.add_member("mod", roles=[guild.add_role("Mods", perm.MANAGE_GUILD)])
    answers = {}
    for who in ("alice", "admin", mod):
        rec = await fake.slash("perms", member=who)
        answers[getattr(who, "name", who)] = (await rec.wait_final())["content"]
    assert answers["alice"].startswith("manage_guild=False administrator=False")
    assert answers["admin"].startswith("manage_guild=True administrator=True")
    assert answers["mod"].startswith("manage_guild=True administrator=False")
    assert answers["alice"].endswith("app_send=True app_admin=False")


async def test_channel_overwrites(fake: FakeDiscord, run: BotRun) -> None:
    """Channel overwrites change the member's and the bot's permissions in that channel only."""
    guild = fake.guild
    random = guild.channel("random")
    random.set_permissions(guild.everyone, deny=perm.SEND_MESSAGES)
    random.set_permissions(guild.member("alice"), allow=perm.SEND_MESSAGES)
    answers = {}
    for who, where in (("alice", "general"), ("alice", "random"), ("owner", "random")):
        rec = await fake.slash("perms", member=who, channel=where)
        answers[who, where] = (await rec.wait_final())["content"]
    assert "send=True app_send=True" in answers["alice", "general"]
    assert "send=True app_send=False" in answers["alice", "random"]
    assert "administrator=True send=True app_send=False" in answers["owner", "random"]


async def test_runtime_permission_check(fake: FakeDiscord, run: BotRun) -> None:
    """A has_permissions check refuses alice and allows admin; hiding is opt-in."""
    defn = next(c for c in fake.commands() if c["name"] == "admin_only")
    assert defn["default_member_permissions"] == str(perm.MANAGE_GUILD)
    denied = await fake.slash("admin_only", member="alice")
    assert (await denied.wait_final())["content"] == "refused: MissingPermissions"
    allowed = await fake.slash("admin_only", member="admin")
    assert (await allowed.wait_final())["content"] == "allowed"
    fake.enforce_default_permissions = True
    with pytest.raises(OptionError, match="cannot see"):
        await fake.slash("admin_only", member="alice")


async def test_pings_follow_allowed_mentions(fake: FakeDiscord, run: BotRun) -> None:
    """With AllowedMentions.none(), neither the reply nor a channel message pings anyone."""
    rec = await fake.slash("ping_all")
    msg = await rec.wait_final()
    assert "@everyone" in msg["content"]
    assert msg["mentions"] == [] and msg["mention_everyone"] is False
    general = fake.guild.channel("general")
    await wait_until(lambda: len(general.messages) >= 2, "the bot's channel message")
    channel_msg = general.messages[-1]
    assert channel_msg["content"] == msg["content"] and channel_msg["mentions"] == []


async def test_two_guilds() -> None:
    """Interactions in a second server reach the bot with that server and channel."""
    async with running_fake() as fake:
        second = fake.add_guild("Second Server")
        second.add_channel("lab")
        second.add_member("bob")
        async with running_bot(fake, MiniBot(sync_guilds=[fake.guild.id, second.id])) as run:
            assert {g.name for g in run.bot.guilds} == {"Test Server", "Second Server"}
            rec = await fake.slash("where", guild=second, member="bob")
            assert (await rec.wait_final())["content"].startswith("Second Server #lab")
            with pytest.raises(LookupError):
                await fake.slash("where", guild=second, member="carol")
        assert fake.unknown_routes == []


class ShardedMiniBot(commands.AutoShardedBot):
    """MiniBot's commands on an AutoShardedBot."""

    def __init__(self) -> None:
        super().__init__(
            command_prefix="!", intents=discord.Intents.default(), guild_ready_timeout=0.1
        )

        @self.tree.command()
        async def where(interaction: discord.Interaction) -> None:
            """Report the shard."""
            assert interaction.guild is not None
            await interaction.response.send_message(f"shard={interaction.guild.shard_id}")

    async def setup_hook(self) -> None:
        await self.tree.sync()


async def test_autosharded_two_shards() -> None:
    """AutoShardedBot asks /gateway/bot, opens two shards; each guild's events go to its shard."""
    async with running_fake(recommended_shards=2) as fake:
        guilds = [fake.guild]
        while len({(g.id >> 22) % 2 for g in guilds}) < 2:
            guild = fake.add_guild(f"Server {len(guilds)}")
            guild.add_channel("general")
            guild.add_member("alice")
            guilds.append(guild)
        async with running_bot(fake, ShardedMiniBot()) as run:
            assert sorted(i["shard"][0] for i in fake.identifies) == [0, 1]
            assert run.bot.shard_count == 2
            for guild in (guilds[0], guilds[-1]):
                rec = await fake.slash("where", guild=guild)
                assert (await rec.wait_final())["content"] == f"shard={(guild.id >> 22) % 2}"
        assert fake.unknown_routes == []


async def test_invalid_command_definition_fails_sync() -> None:
    """A command with 26 choices is refused (50035): discord.py raises CommandSyncFailure."""

    class BadBot(commands.Bot):
        async def setup_hook(self) -> None:
            @self.tree.command()
            @app_commands.choices(n=[app_commands.Choice(name=str(i), value=i) for i in range(26)])
            async def big(interaction: discord.Interaction, n: int) -> None:
                """Too many choices."""

    async with running_fake() as fake:
        bot = BadBot(command_prefix="!", intents=discord.Intents.default(), guild_ready_timeout=0.1)
        async with running_bot(fake, bot, wait_sync=False) as run:
            with pytest.raises(app_commands.CommandSyncFailure):
                await bot.tree.sync()
            assert run.take_rejections()
        assert fake.commands() == []


async def test_unknown_routes_are_recorded(fake: FakeDiscord, run: BotRun) -> None:
    """A route the emulator does not implement answers 404 and is recorded for the test to see."""
    with pytest.raises(discord.NotFound):
        await run.bot.http.request(discord.http.Route("GET", "/voice/regions"))
    assert fake.unknown_routes == ["GET /api/v10/voice/regions"]
    fake.unknown_routes.clear()


async def test_member_chunking_with_members_intent() -> None:
    """With the members intent the bot requests members (op 8) and caches the chunk's members."""
    async with running_fake() as fake:
        intents = discord.Intents.default()
        intents.members = True
        async with running_bot(fake, MiniBot(intents=intents)) as run:
            guild = run.bot.get_guild(fake.guild.id)
            assert guild.chunked
            assert {m.name for m in guild.members} == {m.name for m in fake.guild.members}
        assert fake.unknown_routes == []


async def test_resume_after_dropped_connection(fake: FakeDiscord, run: BotRun) -> None:
    """A gateway close with 4000 makes discord.py RESUME; interactions keep working."""
    await fake.drop_connections(4000)
    await wait_until(
        lambda: fake.resumes and fake.sessions and fake.sessions[-1].identified.is_set(),
        "discord.py to resume",
    )
    assert fake.resumes == 1 and len(fake.identifies) == 1
    rec = await fake.slash("echo", text="still here")
    assert (await rec.wait_final())["content"] == "still here"


async def test_followup_edit_and_delete(fake: FakeDiscord, run: BotRun) -> None:
    """Followups can be edited and deleted, and the original deleted; history keeps each step."""
    rec = await fake.slash("lifecycle")
    await rec.wait_for(
        lambda r: [h.action for h in r.history][-1:] == ["delete"] and r.original is None
    )
    assert [m["content"] for m in rec.messages] == ["kept (edited)"]
    assert [(h.action, h.message["content"]) for h in rec.history] == [
        ("create", "original"),
        ("create", "kept"),
        ("create", "to delete"),
        ("edit", "kept (edited)"),
        ("delete", "to delete"),
        ("delete", "original"),
    ]


async def test_running_bot_fails_fast_when_the_bot_dies() -> None:
    """A malformed event that kills discord.py interrupts the test with the bot's exception."""
    async with running_fake() as fake:
        with pytest.raises(AssertionError, match="bot task died") as caught:
            async with running_bot(fake, MiniBot()):
                payload = dict(fake.open_interaction().payload)
                del payload["token"]  # discord.py's parser raises KeyError and bot.start() ends
                await fake.dispatch("INTERACTION_CREATE", payload)
                await asyncio.sleep(30)
        assert isinstance(caught.value.__cause__, KeyError)


async def test_running_bot_fails_on_logged_errors() -> None:
    """An ERROR logged by a command that the test did not take fails the block at exit."""
    async with running_fake() as fake:
        with pytest.raises(AssertionError, match="errors were logged"):
            async with running_bot(fake, MiniBot()) as run:
                await fake.slash("long", size=2001)
                await wait_until(lambda: run.errors, "the refused reply to be logged")
                assert run.errors
