"""`couplet sandbox` end to end: emulator, the real Couplet bot and a stub backend, scripted."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

from bot.sandbox.stub_completions import StubCompletions
from tests.support.cli import couplet_command, settings_env

SCRIPT = (
    '/complete prompt:"hi there" max_tokens:4\nclick Regenerate\n/complete max_tokens:lots\nquit\n'
)


async def test_scripted_sandbox(tmp_path: Path) -> None:
    """A piped script runs /complete, clicks Regenerate and reports a bad option, then exits 0."""
    stub = StubCompletions()
    base_url = await stub.start()
    env = dict(os.environ, COMPLETIONS_BASE_URL=base_url, COMPLETIONS_MODEL="stub-model")
    env.pop("DATABASE_URL", None)
    try:
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-c",
            "import sys; from bot.cli import main; sys.exit(main())",
            "sandbox",
            "--timeout",
            "30",
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env=env,
            cwd=tmp_path,
        )
        out, err = await asyncio.wait_for(proc.communicate(SCRIPT.encode()), 120)
    finally:
        await stub.stop()
    text = out.decode()
    assert proc.returncode == 0, err.decode()[-3000:]
    assert text.count("the quick brown fox") == 2, text
    assert "[Regenerate]" in text
    assert "option 'max_tokens' needs an integer, not 'lots'." in text
    assert "routes the emulator does not know" not in text
    assert "Traceback" not in err.decode()
    assert stub.requests == 2


def _sandbox(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = settings_env(COMPLETIONS_BASE_URL="http://127.0.0.1:9/v1")
    return subprocess.run(
        [*couplet_command(sys.executable), "sandbox", *args],
        input="quit\n",
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_an_unknown_locale_is_refused_in_one_sentence(tmp_path: Path) -> None:
    """`--locale xx-YY` names Discord's locales and exits 2 before anything starts."""
    result = _sandbox("--locale", "xx-YY", cwd=tmp_path)
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.startswith("--locale 'xx-YY' is not a Discord locale: use one of ")
    assert "zh-CN" in result.stderr and result.stderr.count("\n") == 1


def test_an_unknown_member_is_refused_in_one_sentence(tmp_path: Path) -> None:
    """`--as nobody` says the sandbox server has no such member and exits 2, no traceback."""
    result = _sandbox("--as", "nobody", cwd=tmp_path)
    assert result.returncode == 2
    assert (
        result.stderr == "Cannot start the sandbox: guild 'Test Server' has no member 'nobody'.\n"
    )
