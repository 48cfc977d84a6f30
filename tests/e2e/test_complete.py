"""/complete end to end: emulator + real bot + real local model."""

from __future__ import annotations

from bot.completions import clean_text
from bot.sandbox import FakeDiscord
from tests.e2e.conftest import RecordingProxy
from tests.support.discord_env import BotRun

WAIT = 90.0  # generous: the model is shared with other tests on 2 cores


async def test_couplet_prompt_answers_with_cleaned_text(
    fake: FakeDiscord, couplet: BotRun, recorder: RecordingProxy
) -> None:
    """The seed's `/complete prompt:请随机生成一副对联` answers with the cleaned completion."""
    rec = await fake.slash("complete", prompt="请随机生成一副对联", max_tokens=24)
    message = await rec.wait_final(WAIT)
    body = recorder.completions()[-1]
    assert body["prompt"] == "请随机生成一副对联"
    assert body["max_tokens"] == 24
    assert not rec.ephemeral
    text, _, footer = message["content"].rpartition("\n-# ")
    assert text.strip()
    assert clean_text(text) == text  # what is shown is already clean
    assert footer.startswith(f"{'gemma-3-270m'}") or "tokens" in footer
    assert any(
        c.get("label") == "Regenerate" for row in message["components"] for c in row["components"]
    )
