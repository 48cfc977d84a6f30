"""`couplet sandbox` in a real terminal (a pty), read from the screen as a person would.

Each test starts the sandbox process (emulator, the real bot, a stub backend) on
a pseudo-terminal, types keys and reads the screen through a VT100 emulator.
"""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.sandbox.stub_completions import StubCompletions
from tests.sandbox.pty_screen import PtyScreen, pty_screen
from tests.support.cli import couplet_command, settings_env

# Screen lines are read right-trimmed: the prompt's trailing space is not there.
PROMPT = "alice in #general >"


@pytest.fixture
async def stub() -> AsyncIterator[StubCompletions]:
    backend = StubCompletions()
    await backend.start()
    try:
        yield backend
    finally:
        await backend.stop()


def sandbox_env(stub: StubCompletions, home: Path, **more: str) -> dict[str, str]:
    env = settings_env(
        COMPLETIONS_BASE_URL=stub.base_url,
        COMPLETIONS_MODEL="stub-model",
        HOME=str(home),
        XDG_DATA_HOME=str(home / "data"),
        **more,
    )
    if "NO_COLOR" not in more:
        env.pop("NO_COLOR", None)
    return env


def sandbox(env: dict[str, str], home: Path, **size: int) -> pty_screen:  # type: ignore[valid-type]
    return pty_screen(
        [*couplet_command(sys.executable), "sandbox", "--timeout", "60"],
        env,
        home,
        stderr_path=home / "stderr.txt",
        **size,
    )


def prompt_line(screen: PtyScreen) -> str:
    """The last line that shows the prompt."""
    return [line for line in screen.text().split("\n") if line.startswith(PROMPT)][-1]


async def leave(screen: PtyScreen) -> int:
    """Ctrl-D at a fresh prompt (keys typed while the bot works go to the terminal's line
    discipline, where Ctrl-D is not a key); the exit code."""
    await screen.wait_for(lambda _: prompt_line(screen) == PROMPT)
    screen.send("ctrl-d")
    return await screen.wait_exit()


async def test_tab_completes_and_a_bad_value_is_stopped_before_enter(
    stub: StubCompletions, tmp_path: Path
) -> None:
    """Tab completes a partial command and option name; a value out of range is flagged
    while typed and Enter does not send it; fixed, Enter runs it and the reply shows with
    the bot's name in colour; Ctrl-D leaves with exit code 0."""
    async with sandbox(sandbox_env(stub, tmp_path), tmp_path) as screen:
        await screen.wait_for(PROMPT)
        screen.send("/com")
        await screen.wait_for(PROMPT + " /com")
        screen.send("tab")
        await screen.wait_for(lambda _: prompt_line(screen) == PROMPT + " /complete")
        screen.send("max_t")
        await screen.wait_for(PROMPT + " /complete max_t")
        screen.send("tab")
        await screen.wait_for(PROMPT + " /complete max_tokens:")
        screen.send("99999")
        problem = "✗ /complete option 'max_tokens': 99999 is above max_value 65536."
        await screen.wait_for(problem)
        screen.send("enter")
        # The refusal shows above the toolbar and the line stays to be fixed.
        await screen.wait_for(lambda text: text.count("99999 is above max_value 65536") == 2)
        assert prompt_line(screen) == PROMPT + " /complete max_tokens:99999"
        assert stub.requests == 0
        screen.send(*["backspace"] * 5, '4 prompt:"hi"', "enter")
        text = await screen.wait_for("[Regenerate]")
        assert "stub-model · 4 tokens" in text
        assert stub.requests == 1
        author = screen.cell("Couplet:", "Couplet")
        assert author.fg == "brightmagenta" and author.bold
        assert await leave(screen) == 0
    assert "Traceback" not in (tmp_path / "stderr.txt").read_text()


async def test_up_recalls_the_last_command_of_an_earlier_run(
    stub: StubCompletions, tmp_path: Path
) -> None:
    """A command typed in one run is kept in $XDG_DATA_HOME/couplet/sandbox-history; in the
    next run Up brings it back and Enter runs it again."""
    line = '/complete prompt:"first run" max_tokens:2'
    env = sandbox_env(stub, tmp_path)
    async with sandbox(env, tmp_path) as first:
        await first.wait_for(PROMPT)
        first.send(line, "enter")
        await first.wait_for("[Regenerate]")
        assert await leave(first) == 0
    history = tmp_path / "data" / "couplet" / "sandbox-history"
    assert line in history.read_text()
    async with sandbox(env, tmp_path) as second:
        await second.wait_for(PROMPT)
        assert prompt_line(second) == PROMPT
        second.send("up")
        await second.wait_for(lambda _: prompt_line(second) == PROMPT + " " + line)
        second.send("enter")
        await second.wait_for("stub-model · 2 tokens")
        assert stub.requests == 2
        assert await leave(second) == 0


async def test_long_output_is_paged_and_no_color_keeps_it_uncoloured(
    stub: StubCompletions, tmp_path: Path
) -> None:
    """On a 20-row terminal a 400-word reply stops after a screenful and asks for more;
    q skips the rest and the prompt comes back. With NO_COLOR nothing is coloured."""
    env = sandbox_env(stub, tmp_path, NO_COLOR="1")
    async with sandbox(env, tmp_path, rows=20, columns=80) as screen:
        await screen.wait_for(PROMPT)
        screen.send("/complete prompt:x max_tokens:400", "enter")
        text = await screen.wait_for("Space or Enter for the next page, q to skip")
        assert "[Regenerate]" not in text  # the end of the reply is on a later page
        author = screen.cell("Couplet:", "Couplet")
        assert author.fg == "default"
        screen.send("q")
        await screen.wait_for(lambda text: "more lines skipped)" in text and PROMPT in text)
        assert "[Regenerate]" not in screen.text()
        assert await leave(screen) == 0


async def test_ctrl_c_stops_waiting_for_a_slow_bot(tmp_path: Path) -> None:
    """While the bot is awaited the screen says so; Ctrl-C stops waiting and gives the prompt
    back (the sandbox keeps running), and Ctrl-C at the prompt only clears the line."""
    slow = StubCompletions(delay=600)
    await slow.start()
    try:
        async with sandbox(sandbox_env(slow, tmp_path), tmp_path) as screen:
            await screen.wait_for(PROMPT)
            screen.send('/complete prompt:"hi"', "enter")
            await screen.wait_for("waiting for Couplet… (Ctrl-C stops waiting)")
            screen.send("ctrl-c")
            await screen.wait_for("Stopped waiting for the bot.")
            await screen.wait_for(lambda _: prompt_line(screen) == PROMPT)
            assert "waiting for Couplet" not in screen.text()
            screen.send("/models")
            await screen.wait_for(PROMPT + " /models")
            screen.send("ctrl-c")
            await screen.wait_for(lambda _: prompt_line(screen) == PROMPT)
            assert screen.process.poll() is None
            assert await leave(screen) == 0
    finally:
        await slow.stop()
    assert "Traceback" not in (tmp_path / "stderr.txt").read_text()
