"""The emulator refuses what Discord refuses: bodies checked against Discord's OpenAPI spec,
and command localizations checked against Discord's rules.

Each bad body here passes the emulator's documented-limit checks, so only the
spec check (or the localization rules) can refuse it.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import aiohttp
import discord
import pytest
from discord import app_commands
from discord.ext import commands

from bot.sandbox import FakeDiscord, InteractionRecord, limits
from bot.sandbox.command_rules import command_size
from bot.sandbox.openapi import REQUESTS, check_body, extract
from scripts.extract_discord_schemas import extract as regenerate
from tests.support.discord_env import running_bot, running_fake

SPEC_COMMIT = "74fda0fad044407ea280043a03ffc9bc64c4e49e"
BOT = {"Authorization": "Bot spec-test"}


async def send(
    http: aiohttp.ClientSession, method: str, url: str, body: Any, headers: Any = None
) -> tuple[int, Any]:
    async with http.request(method, url, json=body, headers=headers) as resp:
        return resp.status, await resp.json(content_type=None)


def field_errors(body: dict[str, Any], path: str) -> list[dict[str, str]]:
    """The `_errors` Discord nests under `path` (dotted) in a 50035 body."""
    node = body["errors"]
    for part in path.split("."):
        node = node[part]
    return list(node["_errors"])


def assert_refused(status: int, body: Any, path: str) -> list[dict[str, str]]:
    assert status == 400, body
    assert body["code"] == limits.INVALID_FORM_BODY and body["message"] == "Invalid Form Body"
    return field_errors(body, path)


def callback_url(fake: FakeDiscord, rec: InteractionRecord) -> str:
    return f"{fake.api_base}/interactions/{rec.id}/{rec.token}/callback?with_response=1"


def webhook_url(fake: FakeDiscord, rec: InteractionRecord, tail: str = "") -> str:
    return f"{fake.api_base}/webhooks/{fake.application_id}/{rec.token}{tail}"


# ---------------------------------------------------------------- message bodies


async def test_wrong_type_in_a_callback_is_refused(
    fake: FakeDiscord, http: aiohttp.ClientSession
) -> None:
    """`tts: "loud"` is not a boolean: 50035 at data.tts, recorded, nothing sent."""
    rec = fake.open_interaction()
    body = {"type": 4, "data": {"content": "hi", "tts": "loud"}}
    status, reply = await send(http, "POST", callback_url(fake, rec), body)
    assert assert_refused(status, reply, "data.tts")
    assert not rec.acknowledged and rec.original is None
    assert [e.path for e in fake.rejections[-1]["errors"]] == ["data.tts"]
    assert rec.rejections[-1]["errors"] == fake.rejections[-1]["errors"]


async def test_wrong_types_in_followups_and_edits_are_refused(
    fake: FakeDiscord, http: aiohttp.ClientSession
) -> None:
    """A followup and an edit of the original through the webhook are checked too."""
    rec = fake.open_interaction()
    status, _ = await send(
        http, "POST", callback_url(fake, rec), {"type": 4, "data": {"content": "a"}}
    )
    assert status == 200
    url = webhook_url(fake, rec, "?wait=1")
    status, reply = await send(http, "POST", url, {"content": "b", "flags": "loud"})
    assert assert_refused(status, reply, "flags")[0]["code"] == "NUMBER_TYPE_COERCE"
    assert rec.followups == []
    url = webhook_url(fake, rec, "/messages/@original")
    edit = {"content": "c", "allowed_mentions": {"parse": "users"}}
    status, reply = await send(http, "PATCH", url, edit)
    assert assert_refused(status, reply, "allowed_mentions.parse")
    assert rec.original is not None and rec.original["content"] == "a"
    assert len(fake.rejections) == 2


async def test_wrong_types_in_channel_messages_are_refused(
    fake: FakeDiscord, http: aiohttp.ClientSession
) -> None:
    """Creating a channel message with an object for `embeds`, or editing one with a number
    for `content`, is refused; the channel keeps what it had."""
    url = f"{fake.api_base}/channels/{fake.guild.channels[0].id}/messages"
    status, reply = await send(http, "POST", url, {"content": "x", "embeds": {"title": "t"}}, BOT)
    assert "embeds" in reply.get("errors", {}) and status == 400
    assert field_errors(reply, "embeds")[0]["code"] == "LIST_TYPE_CONVERT"
    assert fake.guild.channels[0].messages == []
    status, created = await send(http, "POST", url, {"content": "kept"}, BOT)
    assert status == 200
    status, reply = await send(http, "PATCH", f"{url}/{created['id']}", {"content": 5}, BOT)
    assert assert_refused(status, reply, "content")
    assert fake.messages[int(created["id"])]["content"] == "kept"


async def test_unknown_callback_type_is_refused(
    fake: FakeDiscord, http: aiohttp.ClientSession
) -> None:
    """Callback type 42 does not exist: the spec's choices are named, nothing is acknowledged."""
    rec = fake.open_interaction()
    status, reply = await send(http, "POST", callback_url(fake, rec), {"type": 42, "data": {}})
    errors = assert_refused(status, reply, "type")
    assert errors[0]["code"] == "BASE_TYPE_CHOICES"
    assert "4, 5, 6, 7, 8, 9" in errors[0]["message"]
    assert not rec.acknowledged


async def test_a_button_is_checked_as_a_button(
    fake: FakeDiscord, http: aiohttp.ClientSession
) -> None:
    """In a union of component kinds, the error names the button's bad field, not the union."""
    rec = fake.open_interaction()
    button = {"type": 2, "style": 9, "label": "Go", "custom_id": "go"}
    body = {
        "type": 4,
        "data": {"content": "x", "components": [{"type": 1, "components": [button]}]},
    }
    status, reply = await send(http, "POST", callback_url(fake, rec), body)
    errors = assert_refused(status, reply, "data.components.0.components.0.style")
    assert errors[0]["code"] == "BASE_TYPE_CHOICES"


def test_the_spec_quirks_discord_accepts() -> None:
    """Integers as strings and snowflakes as integers pass; a word for either does not."""
    good = [{"name": "a", "description": "d", "default_member_permissions": "8"}]
    assert check_body("bulk_overwrite_commands", good) == []
    bad = [{"name": "a", "description": "d", "default_member_permissions": "eight"}]
    assert [e.path for e in check_body("bulk_overwrite_commands", bad)] == [
        "0.default_member_permissions"
    ]
    mentions = {"content": "x", "allowed_mentions": {"parse": [], "users": [123, "456"]}}
    assert check_body("create_message", mentions) == []
    mentions["allowed_mentions"]["users"] = ["alice"]
    assert [e.code for e in check_body("create_message", mentions)] == ["NUMBER_TYPE_COERCE"]


# ------------------------------------------------------------- localizations


def command(**extra: Any) -> dict[str, Any]:
    option = {"type": 3, "name": "prompt", "description": "The text", "required": True}
    option.update(extra.pop("option", {}))
    return {"type": 1, "name": "complete", "description": "Complete", "options": [option], **extra}


async def put_commands(
    fake: FakeDiscord, http: aiohttp.ClientSession, commands_: list[dict[str, Any]]
) -> tuple[int, Any]:
    url = f"{fake.api_base}/applications/{fake.application_id}/commands"
    return await send(http, "PUT", url, commands_, BOT)


@pytest.mark.parametrize(
    ("definition", "path"),
    [
        (
            command(description_localizations={"zh-CN": "长" * 101}),
            "0.description_localizations.zh-CN",
        ),
        (
            command(option={"description_localizations": {"zh-CN": "长" * 101}}),
            "0.options.0.description_localizations.zh-CN",
        ),
        (command(description_localizations={"zh-CN": ""}), "0.description_localizations.zh-CN"),
    ],
)
async def test_localized_description_over_100_is_refused(
    fake: FakeDiscord, http: aiohttp.ClientSession, definition: dict[str, Any], path: str
) -> None:
    """A localized description must be 1–100 characters, on a command and on an option."""
    status, reply = await put_commands(fake, http, [definition])
    assert assert_refused(status, reply, path)[0]["code"] == "BASE_TYPE_BAD_LENGTH"
    assert fake.commands() == [] and not fake.commands_synced.is_set()


@pytest.mark.parametrize(
    ("definition", "path"),
    [
        (command(name_localizations={"zh": "补全"}), "0.name_localizations.zh"),
        (command(description_localizations={"cn-ZH": "续写"}), "0.description_localizations.cn-ZH"),
        (
            command(option={"name_localizations": {"xx-XX": "提示"}}),
            "0.options.0.name_localizations.xx-XX",
        ),
    ],
)
async def test_bad_locale_key_is_refused(
    fake: FakeDiscord, http: aiohttp.ClientSession, definition: dict[str, Any], path: str
) -> None:
    """Localization keys must be Discord locales (zh-CN, not zh or cn-ZH)."""
    status, reply = await put_commands(fake, http, [definition])
    assert assert_refused(status, reply, path)[0]["code"] == "BASE_TYPE_CHOICES"
    assert fake.commands() == []


@pytest.mark.parametrize(
    ("definition", "path"),
    [
        (command(name_localizations={"zh-CN": "补 全"}), "0.name_localizations.zh-CN"),
        (command(name_localizations={"en-GB": "Complete"}), "0.name_localizations.en-GB"),
        (
            command(option={"name_localizations": {"zh-CN": "提示!"}}),
            "0.options.0.name_localizations.zh-CN",
        ),
        (
            {"type": 3, "name": "Continue", "name_localizations": {"zh-CN": "续" * 33}},
            "0.name_localizations.zh-CN",
        ),
    ],
)
async def test_localized_name_breaking_the_name_rule_is_refused(
    fake: FakeDiscord, http: aiohttp.ClientSession, definition: dict[str, Any], path: str
) -> None:
    """A localized slash name follows the name rule (no spaces, no capitals, no '!');
    a localized context menu name is 1–32 characters."""
    status, reply = await put_commands(fake, http, [definition])
    assert assert_refused(status, reply, path)
    assert fake.commands() == []


@pytest.mark.parametrize(
    ("localizations", "code"),
    [({"zh-CN": "选" * 101}, "BASE_TYPE_BAD_LENGTH"), ({"zh": "温度"}, "BASE_TYPE_CHOICES")],
)
async def test_bad_choice_name_localization_is_refused(
    fake: FakeDiscord, http: aiohttp.ClientSession, localizations: dict[str, str], code: str
) -> None:
    """A choice's localized name is 1–100 characters under a Discord locale key."""
    choice = {"name": "temperature", "value": "temperature", "name_localizations": localizations}
    status, reply = await put_commands(fake, http, [command(option={"choices": [choice]})])
    path = f"0.options.0.choices.0.name_localizations.{next(iter(localizations))}"
    assert assert_refused(status, reply, path)[0]["code"] == code
    assert fake.commands() == []


def test_command_size_counts_the_longest_localization() -> None:
    """Discord counts each name, description and choice name at its longest localization."""
    choice = {"name": "ab", "value": "abc", "name_localizations": {"zh-CN": "甲乙丙丁"}}
    definition = command(
        description_localizations={"zh-CN": "长" * 50},
        option={"choices": [choice], "name_localizations": {"zh-CN": "提"}},
    )
    # complete + 50 (not "Complete") + prompt + "The text" + 4 (not "ab") + "abc"
    assert command_size(definition) == 8 + 50 + 6 + 8 + 4 + 3


async def test_valid_localizations_are_stored(
    fake: FakeDiscord, http: aiohttp.ClientSession
) -> None:
    """zh-CN and en-US names and descriptions, and a 32-character menu name, are accepted."""
    definitions = [
        command(
            name_localizations={"zh-CN": "补全", "en-US": "complete"},
            description_localizations={"zh-CN": "续写" * 50},
            option={"name_localizations": {"zh-CN": "提示词"}},
        ),
        {
            "type": 3,
            "name": "Continue",
            "name_localizations": {"zh-CN": "用 Couplet 续写".ljust(32, "!")},
        },
    ]
    status, stored = await put_commands(fake, http, definitions)
    assert status == 200, stored
    by_name = {c["name"]: c for c in fake.commands()}
    assert by_name["complete"]["name_localizations"] == {"zh-CN": "补全", "en-US": "complete"}
    assert by_name["complete"]["options"][0]["name_localizations"] == {"zh-CN": "提示词"}
    assert len(by_name["Continue"]["name_localizations"]["zh-CN"]) == 32


# ----------------------------------------------------- through real discord.py


class ChineseTranslator(app_commands.Translator):
    """Translates the strings in `table` into zh-CN, nothing else."""

    def __init__(self, table: dict[str, str]) -> None:
        self.table = table

    async def translate(
        self,
        string: app_commands.locale_str,
        locale: discord.Locale,
        context: app_commands.TranslationContextTypes,
    ) -> str | None:
        return self.table.get(string.message) if locale is discord.Locale.chinese else None


class LocalizedBot(commands.Bot):
    def __init__(self, table: dict[str, str]) -> None:
        super().__init__(
            command_prefix="!", intents=discord.Intents.default(), guild_ready_timeout=0.1
        )
        self.table = table

    async def setup_hook(self) -> None:
        @self.tree.command(name="complete", description="Continue a text")
        @app_commands.describe(prompt="The text to continue")
        async def complete(interaction: discord.Interaction, prompt: str) -> None:
            await interaction.response.send_message(prompt)

        await self.tree.set_translator(ChineseTranslator(self.table))


async def test_discordpy_localized_sync_is_accepted_and_stored() -> None:
    """discord.py's own localized payload (zh-CN names and descriptions) syncs."""
    table = {"complete": "补全", "Continue a text": "续写一段文字", "prompt": "提示词"}
    async with running_fake() as fake:
        bot = LocalizedBot(table)
        async with running_bot(fake, bot, wait_sync=False):
            await bot.tree.sync()
        (stored,) = fake.commands()
        assert stored["name_localizations"] == {"zh-CN": "补全"}
        assert stored["description_localizations"] == {"zh-CN": "续写一段文字"}
        assert stored["options"][0]["name_localizations"] == {"zh-CN": "提示词"}


async def test_discordpy_sync_with_a_long_localized_description_fails() -> None:
    """A 101-character zh-CN description makes tree.sync() fail, as on Discord."""
    table = {"The text to continue": "文" * 101}
    async with running_fake() as fake:
        bot = LocalizedBot(table)
        async with running_bot(fake, bot, wait_sync=False) as run:
            with pytest.raises(app_commands.CommandSyncFailure):
                await bot.tree.sync()
            (refused,) = run.take_rejections()
        assert [e.path for e in refused["errors"]] == [
            "0.options.0.description_localizations.zh-CN"
        ]
        assert fake.commands() == []


async def test_a_refusal_the_bot_swallows_still_fails_running_bot() -> None:
    """The fixture fails at exit when the emulator refused a body, even if no error was logged."""

    class QuietBot(commands.Bot):
        async def setup_hook(self) -> None:
            @self.tree.command()
            async def shout(interaction: discord.Interaction) -> None:
                """Reply with too much."""
                try:
                    await interaction.response.send_message("x" * 2001)
                except discord.HTTPException:
                    pass  # the bug under test: a refusal nobody hears about

            await self.tree.sync()

    async with running_fake() as fake:
        bot = QuietBot(
            command_prefix="!", intents=discord.Intents.default(), guild_ready_timeout=0.1
        )
        with pytest.raises(AssertionError, match="refused what the bot sent") as caught:
            async with running_bot(fake, bot) as run:
                rec = await fake.slash("shout")
                await rec.wait_for(lambda r: bool(r.rejections))
                assert run.errors == []
        assert "data.content" in str(caught.value)


# ------------------------------------------------------------------ the extract


def test_extract_names_its_source_and_holds_every_request() -> None:
    """The vendored extract says where it comes from and has each body the emulator checks."""
    data = extract()
    assert data["source"]["commit"] == SPEC_COMMIT
    assert data["source"]["file"] == "specs/openapi.json"
    assert set(REQUESTS) == set(data["requests"])
    refs = json.dumps(data["requests"])
    assert "#/components/schemas/ApplicationCommandUpdateRequest" in refs


SPEC = Path(
    os.environ.get("DISCORD_OPENAPI_SPEC", "/work/shared/reference/specs/discord-openapi.json")
)


@pytest.mark.skipif(not SPEC.is_file(), reason=f"Discord's OpenAPI spec is not at {SPEC}")
def test_extract_is_what_the_script_makes_from_the_spec() -> None:
    """scripts/extract_discord_schemas.py regenerates exactly the vendored extract."""
    spec = json.loads(SPEC.read_text(encoding="utf-8"))
    assert regenerate(spec, SPEC_COMMIT) == extract()
