"""Scripted sandbox sessions print exactly what they printed before the interactive terminal.

The golden files in tests/sandbox/golden/ were recorded with the line-oriented
terminal as it was before prompt_toolkit, colours and paging came in: piped
input and output must stay byte for byte the same (timings aside).
"""

from __future__ import annotations

import asyncio
import re
import sys
from collections.abc import AsyncIterator
from pathlib import Path

from bot.sandbox.rendering import render_message
from bot.sandbox.stub_completions import StubCompletions
from bot.sandbox.terminal import Terminal
from tests.sandbox.minimal_bot import MiniBot
from tests.support.cli import couplet_command, settings_env
from tests.support.discord_env import running_bot, running_fake

GOLDEN = Path(__file__).parent / "golden"
# Footers end with the time the answer took ("· 0.0 s"), which a loaded machine changes.
TIMING = re.compile(r"· \d+\.\d s")


async def _lines(lines: list[str]) -> AsyncIterator[str]:
    for line in lines:
        yield line


async def test_minibot_session_prints_what_it_always_printed() -> None:
    """A session of every kind of line (commands, buttons, a select, a form, member and
    channel switches, each kind of mistake) prints the recorded text line for line."""
    script = (GOLDEN / "minibot_script.txt").read_text().splitlines()
    out: list[str] = []
    async with running_fake() as fake, running_bot(fake, MiniBot()):
        terminal = Terminal(fake, out.append, settle=0.2, reply_timeout=10)
        out.append(terminal.banner())
        await terminal.run(_lines(script))
    assert "\n".join(out) + "\n" == (GOLDEN / "minibot_session.txt").read_text()


async def test_piped_couplet_sandbox_prints_what_it_always_printed(tmp_path: Path) -> None:
    """`couplet sandbox` with piped input and output, on a stub backend, prints the recorded
    session: no prompt, no colour, no paging, every reply and error as before."""
    stub = StubCompletions()
    env = settings_env(COMPLETIONS_BASE_URL=await stub.start(), COMPLETIONS_MODEL="stub-model")
    env.pop("NO_COLOR", None)
    try:
        proc = await asyncio.create_subprocess_exec(
            *couplet_command(sys.executable),
            "sandbox",
            "--timeout",
            "60",
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env=env,
            cwd=tmp_path,
        )
        script = (GOLDEN / "couplet_script.txt").read_bytes()
        out, err = await asyncio.wait_for(proc.communicate(script), 300)
    finally:
        await stub.stop()
    assert proc.returncode == 0, err.decode()[-3000:]
    text = TIMING.sub("· T s", out.decode())
    assert text == (GOLDEN / "couplet_session.txt").read_text()


RICH_MESSAGE = {
    "author": {"username": "Couplet"},
    "flags": 64,
    "content": "Hello <@11>, see <#22>\n-# stub-model · 4 tokens",
    "embeds": [
        {
            "author": {"name": "Couplet presets"},
            "title": "Presets",
            "description": "Two presets\nfor this server",
            "fields": [
                {"name": "short", "value": "max_tokens 5"},
                {"name": "calm", "value": "temperature 0.2"},
            ],
            "footer": {"text": "page 1/1"},
            "color": 0x5865F2,
        }
    ],
    "components": [
        {
            "type": 1,
            "components": [
                {"type": 2, "style": 1, "label": "Regenerate", "custom_id": "r"},
                {"type": 2, "style": 2, "label": "◀ Prev", "custom_id": "p", "disabled": True},
                {"type": 2, "style": 5, "label": "Docs", "url": "https://example.com"},
                {"type": 2, "style": 4, "emoji": {"name": "🗑"}, "custom_id": "d"},
            ],
        },
        {
            "type": 1,
            "components": [
                {
                    "type": 3,
                    "custom_id": "s",
                    "placeholder": "Pick one",
                    "options": [{"label": "A", "value": "a"}, {"label": "B", "value": "b"}],
                }
            ],
        },
    ],
    "attachments": [{"filename": "completion.txt", "size": 1234}],
}


def test_plain_rendering_of_every_part_is_unchanged() -> None:
    """Content, mentions, an embed, buttons (disabled, link, emoji-only), a select and a file
    render as plain text exactly as before colours came in."""
    assert render_message(RICH_MESSAGE, names={11: "alice", 22: "general"}) == (
        "Couplet: (only you can see this)\n"
        "  Hello @alice, see #general\n"
        "  -# stub-model · 4 tokens\n"
        "  | Couplet presets\n"
        "  | Presets\n"
        "  | Two presets\n"
        "  | for this server\n"
        "  | short: max_tokens 5\n"
        "  | calm: temperature 0.2\n"
        "  | -- page 1/1\n"
        "  [Regenerate] [◀ Prev (disabled)] [Docs] [🗑]\n"
        "  <select Pick one: a, b>\n"
        "  file: completion.txt (1234 bytes)"
    )
    assert render_message({"content": "thinking", "flags": 128}) == "bot: is thinking…\n  thinking"
