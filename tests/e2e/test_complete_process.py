"""`couplet run` as its own process against the emulator, with a stub and with the bundled model.

Without a token it opens the sandbox: tests/cli/test_run.py."""

from __future__ import annotations

from pathlib import Path

from bot.sandbox import FakeDiscord
from tests.e2e.conftest import StubBackend, running_stub
from tests.support.cli import couplet_command
from tests.support.discord_env import running_process

WAIT = 120.0
# The installed console script, as a user runs it.
COUPLET_RUN = [*couplet_command(), "run"]


async def test_run_process_answers_a_complete(fake: FakeDiscord, tmp_path: Path) -> None:
    """`python -m bot` against the emulator answers /complete and stops cleanly on SIGTERM."""
    async with running_stub(StubBackend(text="from a separate process")) as stub:
        env = {
            "COMPLETIONS_BASE_URL": stub.base_url,
            "COMPLETIONS_BACKEND": "vllm",
            "DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'run.db'}",
        }
        async with running_process(
            fake, env=env, log_path=str(tmp_path / "run.log"), timeout=WAIT
        ) as proc:
            rec = await fake.slash("complete", prompt="Hello", max_tokens=5)
            message = await rec.wait_final(WAIT)
            assert message["content"].startswith("from a separate process")
        assert proc.process.returncode == 0
        assert stub.requests[0]["prompt"] == "Hello"


async def test_run_without_backend_starts_the_local_model(
    fake: FakeDiscord, tmp_path: Path
) -> None:
    """With no COMPLETIONS_BASE_URL, `couplet run` starts the bundled model, says so, uses it."""
    env = {
        "DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'run.db'}",
        "COMPLETIONS_BASE_URL": "",
        "OPENAI_BASE_URL": "",
    }
    async with running_process(
        fake,
        COUPLET_RUN,
        env=env,
        log_path=str(tmp_path / "run.log"),
        timeout=300,
    ) as proc:
        assert "starting the bundled local model" in proc.output()
        rec = await fake.slash("complete", prompt="Hello", max_tokens=3)
        message = await rec.wait_final(WAIT)
        assert "gemma-3-270m" in message["content"]
    assert proc.process.returncode == 0
    assert "Local model stopped." in proc.output()
