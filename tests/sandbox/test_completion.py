"""Completion, checks before Enter and the toolbar, against the real Couplet bot.

The bot runs on a stub backend and syncs its commands to the emulator; every
completion comes from those synced definitions or, for options with
autocomplete, from the bot itself through an autocomplete interaction.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import pytest_asyncio
from prompt_toolkit.completion import CompleteEvent, Completion
from prompt_toolkit.document import Document
from prompt_toolkit.validation import ValidationError

from bot.sandbox import FakeDiscord
from bot.sandbox.completion import SandboxCompleter, quoted
from bot.sandbox.interactions import AUTOCOMPLETE
from bot.sandbox.rendering import plain
from bot.sandbox.terminal import SlashLine, Terminal, parse_line
from bot.sandbox.validation import LineValidator, line_problem, toolbar
from tests.e2e.conftest import couplet_on_stub
from tests.support.discord_env import running_fake

pytestmark = pytest.mark.asyncio(loop_scope="module")


@dataclass
class Sandbox:
    fake: FakeDiscord
    terminal: Terminal
    completer: SandboxCompleter
    out: list[str]


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def sandbox(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Sandbox]:
    """The real bot on a stub backend, with two presets made by the admin."""
    db_path = tmp_path_factory.mktemp("completion") / "couplet.db"
    async with running_fake() as fake, couplet_on_stub(fake, db_path):
        out: list[str] = []
        terminal = Terminal(fake, out.append, member="admin", settle=0.2, reply_timeout=30)
        for line in (
            "/preset create name:short max_tokens:5",
            "/preset create name:calm temperature:0.2",
        ):
            await terminal.execute(line)
        assert "Created preset `calm`" in "\n".join(out), out
        yield Sandbox(fake, terminal, SandboxCompleter(terminal, autocomplete_timeout=30), out)


@pytest.fixture
def as_alice(sandbox: Sandbox) -> Terminal:
    """The terminal acting as alice in #general (tests may move it)."""
    terminal = sandbox.terminal
    terminal.member = terminal.guild.member("alice")
    terminal.channel = terminal.guild.channel("general")
    return terminal


async def complete(sandbox: Sandbox, text: str) -> list[Completion]:
    """What Tab offers with the cursor at the end of `text`."""
    event = CompleteEvent(completion_requested=True)
    return [c async for c in sandbox.completer.get_completions_async(Document(text), event)]


def inserted(text: str, completion: Completion) -> str:
    """The line after taking `completion`."""
    return text[: len(text) + completion.start_position] + completion.text


# ------------------------------------------------------------------- names


async def test_slash_lists_exactly_the_synced_commands(
    sandbox: Sandbox, as_alice: Terminal
) -> None:
    """`/` offers every slash command the bot synced, with its description, and nothing else."""
    synced = {c["name"]: c["description"] for c in sandbox.fake.commands() if c["type"] == 1}
    offered = await complete(sandbox, "/")
    assert {c.display_text: c.display_meta_text for c in offered} == {
        f"/{name}": description for name, description in synced.items()
    }


async def test_a_partial_command_name_completes(sandbox: Sandbox, as_alice: Terminal) -> None:
    """`/com` + Tab gives `/complete ` (the space opens its options)."""
    (only,) = await complete(sandbox, "/com")
    assert inserted("/com", only) == "/complete "
    assert only.display_meta_text == "Continue a prompt with the language model."


async def test_completion_follows_a_new_sync(sandbox: Sandbox, as_alice: Terminal) -> None:
    """Commands are read from the emulator each time: a command synced later is offered."""
    registry = sandbox.fake.state.commands
    before = registry.listed(sandbox.terminal.guild.id)
    registry.overwrite(
        [{"name": "haiku", "description": "Write a haiku", "type": 1}], as_alice.guild.id
    )
    try:
        (only,) = await complete(sandbox, "/hai")
        assert only.text == "/haiku " and only.display_meta_text == "Write a haiku"
    finally:
        registry.overwrite(before, as_alice.guild.id)
    assert await complete(sandbox, "/hai") == []


async def test_subcommands_complete(sandbox: Sandbox, as_alice: Terminal) -> None:
    """After `/preset ` come its subcommands, described; `cr` completes to `create `."""
    offered = await complete(sandbox, "/preset ")
    assert [c.display_text for c in offered] == [
        "create",
        "edit",
        "show",
        "list",
        "delete",
        "channel",
    ]
    (only,) = await complete(sandbox, "/preset cr")
    assert inserted("/preset cr", only) == "/preset create "
    assert only.display_meta_text.startswith("Save a set of /complete parameters")


async def test_option_names_complete_with_descriptions(
    sandbox: Sandbox, as_alice: Terminal
) -> None:
    """`/complete te` offers `temperature:` described as synced; an option already given is
    not offered again; a required option comes first, marked."""
    (only,) = await complete(sandbox, "/complete te")
    assert inserted("/complete te", only) == "/complete temperature:"
    assert only.display_meta_text.startswith("Randomness: 0 always picks the likeliest token")
    offered = [c.display_text for c in await complete(sandbox, "/complete max_tokens:5 ")]
    assert "max_tokens" not in offered and "temperature" in offered and "prompt" in offered
    first = (await complete(sandbox, "/preset create "))[0]
    assert first.text == "name:" and first.display_meta_text.startswith("required · ")


# ------------------------------------------------------------------ values


async def test_booleans_complete(sandbox: Sandbox, as_alice: Terminal) -> None:
    """A boolean option offers true and false; `t` completes to `true `."""
    assert [c.text for c in await complete(sandbox, "/complete echo:")] == ["true ", "false "]
    (only,) = await complete(sandbox, "/complete echo:t")
    assert inserted("/complete echo:t", only) == "/complete echo:true "


async def test_choices_complete_by_value_showing_their_names(
    sandbox: Sandbox, as_alice: Terminal
) -> None:
    """/settings set name: offers the synced choices (shown by name, inserted by value)."""
    offered = await complete(sandbox, "/settings set name:tem")
    assert [c.text for c in offered] == ["temperature "]
    assert offered[0].display_text.startswith("temperature — Randomness")
    everything = await complete(sandbox, "/settings set name:")
    synced = sandbox.fake.find_command("settings")[0]["options"][1]["options"][0]["choices"]
    assert [c.text.strip() for c in everything] == [c["value"] for c in synced]


async def test_channels_complete_for_a_channel_option(sandbox: Sandbox, as_alice: Terminal) -> None:
    """A channel option offers the server's channels."""
    offered = await complete(sandbox, "/preset channel channel:")
    assert [c.display_text for c in offered] == ["#general", "#random"]


async def test_autocomplete_asks_the_running_bot(sandbox: Sandbox, as_alice: Terminal) -> None:
    """`model:` offers what the bot answers to an autocomplete interaction (the backend's
    models), sent as the member in the channel, with the value typed so far."""
    before = set(sandbox.fake.interactions)
    offered = await complete(sandbox, "/complete max_tokens:5 model:stu")
    assert [c.text for c in offered] == ["stub-model "]
    assert inserted("/complete max_tokens:5 model:stu", offered[0]).endswith("model:stub-model ")
    (rec,) = [r for i, r in sandbox.fake.interactions.items() if i not in before]
    assert rec.type == AUTOCOMPLETE
    assert rec.payload["member"]["user"]["username"] == "alice"
    options = {o["name"]: o for o in rec.payload["data"]["options"]}
    assert options["model"] == {"type": 3, "name": "model", "value": "stu", "focused": True}
    assert options["max_tokens"]["value"] == 5


async def test_preset_autocomplete_filters_the_servers_presets(
    sandbox: Sandbox, as_alice: Terminal
) -> None:
    """`preset:` offers this server's presets from the bot; `preset:sh` only `short`."""
    assert {c.text for c in await complete(sandbox, "/complete preset:")} == {
        "short ",
        "calm ",
    }
    assert [c.text for c in await complete(sandbox, "/complete preset:sh")] == ["short "]


async def test_terminal_words_and_their_arguments_complete(
    sandbox: Sandbox, as_alice: Terminal
) -> None:
    """An empty line offers the commands and the terminal's words; `as ` the members,
    `in ` the channels, `click ` the buttons of the last bot message."""
    first = {c.text for c in await complete(sandbox, "")}
    assert {"/complete ", "click ", "as ", "in ", "modal ", "help ", "quit "} <= first
    assert [c.text for c in await complete(sandbox, "as ")] == ["alice", "admin", "owner"]
    assert [c.text for c in await complete(sandbox, "in #r")] == ["#random"]
    await as_alice_runs(sandbox, '/complete prompt:"hi" max_tokens:3')
    assert [c.text for c in await complete(sandbox, "click ")] == ["Regenerate"]
    assert [c.text for c in await complete(sandbox, "click re")] == ["Regenerate"]
    assert await complete(sandbox, "click x") == []


async def as_alice_runs(sandbox: Sandbox, line: str) -> None:
    sandbox.out.clear()
    await sandbox.terminal.execute(line)
    assert any("stub reply" in text for text in sandbox.out), sandbox.out


async def test_quoted_values_read_back_as_themselves() -> None:
    """A completed value with spaces, quotes or backslashes is quoted so the line reads it back."""
    for value in ("plain", "two words", 'say "hi"', "back\\slash", ""):
        line = parse_line(f"/complete model:{quoted(value)}")
        assert isinstance(line, SlashLine) and line.options["model"] == value


# ------------------------------------------------------------ before Enter


@pytest.mark.parametrize(
    ("line", "message"),
    [
        (
            "/complete max_tokens:99999",
            "/complete option 'max_tokens': 99999 is above max_value 65536.",
        ),
        (
            "/complete temperature:-1",
            "/complete option 'temperature': -1.0 is below min_value 0.0.",
        ),
        ("/complete temperature:hot", "option 'temperature' needs a number, not 'hot'."),
        ("/preset create max_tokens:5", "/preset create needs the required option 'name'."),
        ("/settings set name:colour value:1", "is not one of the choices ('model', 'max_tokens'"),
        ("/complete nope:1", "/complete has no option 'nope' (options: prompt, suffix,"),
        ("/preset channel channel:nowhere", "option 'channel': no channel 'nowhere'."),
        ("/nope", "no slash command 'nope' is synced for 'Test Server'"),
        (
            "/preset",
            "/preset needs a subcommand: one of create, edit, show, list, delete, channel.",
        ),
        ("hello", "Unknown command 'hello'"),
        ("click", "Say which button: click LABEL"),
    ],
)
async def test_enter_is_refused_with_the_reason(
    sandbox: Sandbox, as_alice: Terminal, line: str, message: str
) -> None:
    """A line that cannot run is refused on Enter with the sentence running it would print,
    and nothing is sent to the bot."""
    before = len(sandbox.fake.interactions)
    with pytest.raises(ValidationError) as caught:
        LineValidator(as_alice).validate(Document(line))
    assert message in caught.value.message
    assert len(sandbox.fake.interactions) == before


async def test_the_cursor_goes_to_the_option_at_fault(sandbox: Sandbox, as_alice: Terminal) -> None:
    """The refused line's cursor lands after the option the message names."""
    line = '/complete max_tokens:99999 prompt:"hi"'
    problem = line_problem(as_alice, line)
    assert problem is not None and problem[1] == len("/complete max_tokens:99999")


@pytest.mark.parametrize(
    "line",
    [
        '/complete prompt:"Once upon a time" max_tokens:16 temperature:0.9 echo:true',
        "/preset create name:fresh temperature:0.5",
        "/preset channel channel:general",
        "/settings set name:temperature value:0.7",
        "as owner",
        "in #random",
        "",
    ],
)
async def test_good_lines_pass(sandbox: Sandbox, as_alice: Terminal, line: str) -> None:
    """Lines that can run are not refused."""
    assert line_problem(as_alice, line) is None


async def test_toolbar_describes_the_focused_option(sandbox: Sandbox, as_alice: Terminal) -> None:
    """While a value is typed the toolbar gives the option's type, range and description,
    and on a second line a value out of range."""
    text = plain(toolbar(as_alice, "/complete max_tokens:12"))
    assert text.startswith("max_tokens: an integer from 0 to 65536, optional — Most tokens")
    assert "\n" not in text
    flagged = plain(toolbar(as_alice, "/complete max_tokens:70000"))
    assert flagged.endswith("\n✗ /complete option 'max_tokens': 70000 is above max_value 65536.")
    # A choice being typed is not flagged while it can still become one.
    assert "✗" not in plain(toolbar(as_alice, "/settings set name:tem"))


async def test_toolbar_names_missing_required_options(sandbox: Sandbox, as_alice: Terminal) -> None:
    """Between options the toolbar shows the command and the required options not given."""
    text = plain(toolbar(as_alice, "/preset create "))
    assert text.startswith("/preset create — Save a set of /complete parameters")
    assert text.endswith(" · needs name")
    assert not plain(toolbar(as_alice, "/preset create name:x ")).endswith(" · needs name")


async def test_a_zh_cn_member_is_sent_in_every_interaction(tmp_path: Path) -> None:
    """With locale zh-CN the commands, clicks and autocompletes the terminal sends carry
    `locale: zh-CN` (the server's own locale stays en-US), the bot answers in Chinese,
    and descriptions a bot localized for zh-CN are shown in Chinese."""
    async with running_fake() as fake, couplet_on_stub(fake, tmp_path / "couplet.db"):
        out: list[str] = []
        terminal = Terminal(fake, out.append, settle=0.2, reply_timeout=30, locale="zh-CN")
        completer = SandboxCompleter(terminal, autocomplete_timeout=30)
        await terminal.execute('/complete prompt:"hi" max_tokens:3')
        await terminal.execute("click 重新生成")  # the buttons come in Chinese too
        event = CompleteEvent(completion_requested=True)
        document = Document("/complete model:")
        assert [c.text async for c in completer.get_completions_async(document, event)]
        assert len(fake.interactions) == 3
        for rec in fake.interactions.values():
            assert rec.payload["locale"] == "zh-CN"
            assert rec.payload["guild_locale"] == "en-US"
        # The bot reads it: its translated answers come in Chinese.
        out.clear()
        await terminal.execute("/usage me")
        assert any("\u4e00" <= ch <= "\u9fff" for ch in "\n".join(out)), out
        # A definition with Chinese descriptions, as a translated bot would sync it.
        fake.state.commands.overwrite(
            [
                {
                    "name": "hello",
                    "type": 1,
                    "description": "Say hello",
                    "description_localizations": {"zh-CN": "打个招呼"},
                }
            ],
            terminal.guild.id,
        )
        (only,) = completer.get_completions(Document("/hel"), event)
        assert only.display_meta_text == "打个招呼"


async def test_toolbar_follows_a_command_name_as_it_is_typed(
    sandbox: Sandbox, as_alice: Terminal
) -> None:
    """`/` lists the commands, `/comp` describes /complete, an unknown name is flagged."""
    synced = [c["name"] for c in sandbox.fake.commands() if c["type"] == 1]
    assert plain(toolbar(as_alice, "/")) == "  ".join("/" + name for name in synced)
    assert plain(toolbar(as_alice, "/comp")).startswith("/complete — Continue a prompt")
    assert plain(toolbar(as_alice, "/nope ")) == "✗ no command /nope is synced (Tab lists them)"
    assert plain(toolbar(as_alice, "")).startswith("Type / for commands")
    assert plain(toolbar(as_alice, "click ")).startswith("click LABEL — click a button")
