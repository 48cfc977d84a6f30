"""The sandbox terminal driving a real discord.py bot through the emulator."""

from __future__ import annotations

from collections.abc import AsyncIterator

from bot.sandbox.terminal import Terminal
from tests.sandbox.minimal_bot import MiniBot
from tests.support.discord_env import running_bot, running_fake


async def _lines(*lines: str) -> AsyncIterator[str]:
    for line in lines:
        yield line


async def test_scripted_session() -> None:
    """Commands, a click, a member switch, a modal and errors print as a user would see them."""
    out: list[str] = []
    async with running_fake() as fake, running_bot(fake, MiniBot()):
        terminal = Terminal(fake, out.append, settle=0.2, reply_timeout=10)
        await terminal.run(
            _lines(
                '/echo text:"hi there" times:2',
                "/buttons",
                "as admin",
                "click Again",
                "/ask",
                "modal Nope=1",
                'modal prompt="a long prompt"',
                "/ask",
                r'modal "two\nlines"',
                "/secret",
                "/echo text:x times:many",
                "/nope",
                "in #nowhere",
                "click Missing",
                "quit",
                "/echo text:never",
            )
        )
        assert fake.unknown_routes == []
    text = "\n".join(out)
    assert "Couplet:\n  hi there hi there" in text
    assert "press a button\n  [Again] [Later]\n  <select: a, b, c>" in text
    assert "You are now admin." in text
    assert "  clicked by admin" in text
    assert "The bot opened a form: 'Write a prompt'" in text
    assert "has no field 'Nope' (fields: Prompt)" in text
    assert "  prompt was 'a long prompt'" in text
    assert "  prompt was 'two\\nlines'" in text
    assert "Couplet: (only you can see this)\n  only you" in text
    assert "option 'times' needs an integer, not 'many'." in text
    assert "no slash command 'nope'" in text
    assert "has no channel 'nowhere'" in text
    assert "no button 'Missing'" in text
    assert "never" not in text


async def test_refused_reply_is_reported() -> None:
    """When Discord refuses the bot's reply, the terminal says why instead of hanging."""
    out: list[str] = []
    async with running_fake() as fake, running_bot(fake, MiniBot()) as run:
        terminal = Terminal(fake, out.append, settle=0.2, reply_timeout=2)
        await terminal.execute("/long size:2500")
        await run.expect_errors(1)
    assert any("data.content: Must be 2000 or fewer in length." in line for line in out)
