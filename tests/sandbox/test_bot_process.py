"""`couplet run` as a separate process against the emulator, via the reusable helper."""

from __future__ import annotations

from pathlib import Path

from bot.sandbox.stub_completions import StubCompletions
from tests.support.discord_env import running_fake, running_process


async def test_couplet_run_process_answers(tmp_path: Path) -> None:
    """The helper starts `couplet run`, waits for sync, and the process answers /complete."""
    stub = StubCompletions()
    base_url = await stub.start()
    env = {
        "COMPLETIONS_BASE_URL": base_url,
        "COMPLETIONS_MODEL": "stub-model",
        "DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'bot.db'}",
        "DISCORD_SYNC": "global",
    }
    try:
        async with running_fake() as fake:
            async with running_process(fake, env=env, log_path=str(tmp_path / "bot.log")) as proc:
                assert {c["name"] for c in fake.commands()} >= {"complete"}
                rec = await fake.slash("complete", prompt="hi", max_tokens=3)
                final = await rec.wait_final(30)
                assert "the quick brown" in final["content"]
            assert proc.process.returncode is not None
            assert fake.unknown_routes == []
    finally:
        await stub.stop()
