"""`couplet run` as a process: the sandbox without a token, the bot on Discord with one."""

from __future__ import annotations

import subprocess
from pathlib import Path

from bot.sandbox.stub_completions import StubCompletions
from tests.support.cli import couplet_command, settings_env
from tests.support.discord_env import running_fake, running_process

SCRIPT = '/complete prompt:"Once upon a time" max_tokens:4\nquit\n'


def run_couplet(
    args: list[str], env: dict[str, str], cwd: Path, stdin: str = ""
) -> subprocess.CompletedProcess[str]:
    # The deadline only bounds a hang: the model answers in seconds.
    return subprocess.run(
        [*couplet_command(), *args],
        input=stdin,
        env=env,
        cwd=cwd,  # a temporary directory: no .env
        capture_output=True,
        text=True,
        timeout=600,
    )


def test_run_without_token_opens_the_sandbox(local_model_url: str, tmp_path: Path) -> None:
    """No DISCORD_TOKEN: a banner says it is the sandbox and how to connect Discord, then
    the scripted /complete is answered by the real bot and model; the configured database
    is left alone."""
    env = settings_env(COMPLETIONS_BASE_URL=local_model_url)
    result = run_couplet(["run"], env, tmp_path, stdin=SCRIPT)
    assert result.returncode == 0, result.stderr[-3000:]
    lines = result.stdout.splitlines()
    assert lines[0].startswith("No DISCORD_TOKEN, so this is the sandbox: ")
    assert lines[1].startswith("To connect a real Discord, put DISCORD_TOKEN=… in .env")
    assert "https://discord.com/developers/applications" in lines[1]
    # The sandbox's own banner, then the bot's answer with its footer.
    assert "Type help for commands." in result.stdout
    assert "-# gemma-3-270m · " in result.stdout, result.stdout
    assert "starting the bundled local model" not in result.stdout  # a backend was set
    assert "Traceback" not in result.stderr
    # The sandbox keeps its data in a temporary database, not data/couplet.db.
    assert not (tmp_path / "data").exists()


def test_require_token_without_token_exits_2(tmp_path: Path) -> None:
    """`couplet run --require-token` without DISCORD_TOKEN prints one sentence and exits 2."""
    result = run_couplet(["run", "--require-token"], settings_env(), tmp_path)
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.startswith("DISCORD_TOKEN is not set: put DISCORD_TOKEN=… in .env")
    assert result.stderr.count("\n") == 1 and result.stderr.endswith(".\n"), result.stderr


async def _run_bot_with_token(tmp_path: Path, **settings: str) -> str:
    """`couplet run --require-token` with a token, against the emulator: answer one
    /complete, stop on SIGTERM; returns the process's output."""
    stub = StubCompletions()
    env = {
        "COMPLETIONS_BASE_URL": await stub.start(),
        "COMPLETIONS_MODEL": "stub-model",
        "DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'run.db'}",
        **settings,
    }
    try:
        async with running_fake() as fake:
            async with running_process(
                fake,
                [*couplet_command(), "run", "--require-token"],
                env=env,
                log_path=str(tmp_path / "run.log"),
                timeout=120,
            ) as proc:
                rec = await fake.slash("complete", prompt="hi", max_tokens=3)
                final = await rec.wait_final(60)
                assert "the quick brown" in final["content"]
            assert proc.process.returncode == 0, proc.output()[-3000:]
            return proc.output()
    finally:
        await stub.stop()


async def test_run_with_token_runs_the_bot_quietly(tmp_path: Path) -> None:
    """With a token the real bot connects and answers; discord.gateway, discord.http and
    httpx stay below WARNING while the bot's own INFO lines show."""
    output = await _run_bot_with_token(tmp_path)
    assert "bot.app: synced" in output or "bot.app: commands unchanged" in output, output
    assert "sandbox" not in output
    for chatty in ("discord.gateway", "discord.http", "httpx", "HTTP Request:"):
        assert chatty not in output, output


async def test_log_level_debug_shows_the_chatty_loggers(tmp_path: Path) -> None:
    """LOG_LEVEL=DEBUG shows discord.gateway, discord.http and httpx's request lines."""
    output = await _run_bot_with_token(tmp_path, LOG_LEVEL="DEBUG")
    for chatty in ("DEBUG discord.gateway", "DEBUG discord.http", "INFO httpx: HTTP Request:"):
        assert chatty in output, chatty
