"""The sandbox terminal driving a real discord.py bot through the emulator."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from bot.sandbox.emulator import ComponentError
from bot.sandbox.terminal import Terminal, match_button
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
                "click ag",  # a unique prefix, any case
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
    assert "No button 'Missing' on the last bot message (buttons: 'Again', 'Later')." in text
    assert "never" not in text


async def test_refused_reply_is_reported() -> None:
    """When Discord refuses the bot's reply, the terminal says why instead of hanging."""
    out: list[str] = []
    async with running_fake() as fake, running_bot(fake, MiniBot()) as run:
        terminal = Terminal(fake, out.append, settle=0.2, reply_timeout=2)
        await terminal.execute("/long size:2500")
        await run.expect_errors(1)
        assert run.take_rejections()
    assert any("data.content: Must be 2000 or fewer in length." in line for line in out)


PAGER = [
    {"type": 2, "custom_id": "prev", "label": "◀ Prev", "disabled": True},
    {"type": 2, "custom_id": "next", "label": "Next ▶"},
    {"type": 2, "custom_id": "regen", "label": "Regenerate"},
    {"type": 2, "custom_id": "cont", "label": "Continue"},
    {"type": 2, "custom_id": "tokens", "label": "🔍 Tokens"},
    {"type": 2, "custom_id": "star", "emoji": {"name": "⭐"}},
]


@pytest.mark.parametrize(
    ("typed", "custom_id"),
    [
        ("Next ▶", "next"),
        ("Next", "next"),
        ("  next  ", "next"),
        ("NEXT", "next"),
        ("prev", "prev"),
        ("◀ Prev", "prev"),
        ("tokens", "tokens"),
        ("re", "regen"),
        ("Cont", "cont"),
        ("⭐", "star"),
    ],
)
def test_click_label_ignores_case_symbols_and_takes_a_unique_prefix(
    typed: str, custom_id: str
) -> None:
    """A label matches ignoring case, emoji/symbols and surrounding spaces, or by unique prefix."""
    assert match_button(PAGER, typed)["custom_id"] == custom_id


def test_click_prefers_an_exact_match_to_a_prefix() -> None:
    """'Re' names the button labelled exactly 'Re', not every button starting with it."""
    buttons = [{"type": 2, "custom_id": "a", "label": "Re"}, *PAGER]
    assert match_button(buttons, "re")["custom_id"] == "a"


def test_click_reports_an_ambiguous_prefix() -> None:
    """A prefix shared by several buttons names them and asks for more of the label."""
    buttons = [*PAGER, {"type": 2, "custom_id": "redo", "label": "Redo"}]
    with pytest.raises(ComponentError) as caught:
        match_button(buttons, "re")
    assert str(caught.value) == (
        "'re' could be any of 'Regenerate', 'Redo': type more of the label."
    )


@pytest.mark.parametrize("typed", ["Nope", "▶", "Nextt"])
def test_click_reports_no_match_with_the_labels(typed: str) -> None:
    """Nothing matching (or only symbols typed) says so and lists the buttons."""
    with pytest.raises(ComponentError) as caught:
        match_button(PAGER, typed)
    assert "(buttons: '◀ Prev', 'Next ▶', 'Regenerate', 'Continue', '🔍 Tokens', '⭐')" in str(
        caught.value
    )
