"""How long or tricky completions arrive: split, attached, never pinging anyone.

A loopback stub backend supplies exact text the real model cannot be made to
write on demand.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.sandbox import FakeDiscord
from tests.e2e.conftest import (
    StubBackend,
    body_and_footer,
    labels,
    make_settings,
    running_stub,
    start_couplet,
)
from tests.support.discord_env import BotRun

WAIT = 30.0


@pytest.fixture
async def stub() -> AsyncIterator[StubBackend]:
    async with running_stub(StubBackend()) as backend:
        yield backend


@pytest.fixture
async def stub_bot(fake: FakeDiscord, stub: StubBackend, tmp_path: Path) -> AsyncIterator[BotRun]:
    settings = make_settings(fake, tmp_path / "db.sqlite", stub.base_url)
    async with start_couplet(fake, settings) as run:
        yield run


def paragraphs(total: int) -> str:
    """Numbered paragraphs adding up to about `total` characters."""
    out, i = [], 0
    while sum(len(p) + 2 for p in out) < total:
        out.append(f"Paragraph {i}: " + " ".join(f"word{i}_{j}" for j in range(12)))
        i += 1
    return "\n\n".join(out)


async def test_3000_characters_arrive_whole(
    fake: FakeDiscord, stub: StubBackend, stub_bot: BotRun
) -> None:
    """A 3,000-character completion arrives as two messages that together hold all of it."""
    stub.text = paragraphs(3000)
    assert 3000 <= len(stub.text) < 3200
    rec = await fake.slash("complete", prompt="Write a lot", max_tokens=900)
    await rec.wait_final(WAIT)
    await rec.wait_for(lambda r: len(r.messages) == 2, WAIT)
    contents = [m["content"] for m in rec.messages]
    assert all(len(c) <= 2000 for c in contents)
    text, footer = body_and_footer("\n\n".join(contents))
    assert text.split() == stub.text.split()
    assert footer[0].startswith("stub-model · 7 tokens · stop")
    assert labels(rec.messages[-1]) == ["Regenerate"]  # finish "stop": no Continue
    assert not rec.messages[0].get("components")


async def test_code_block_split_keeps_fences_balanced(
    fake: FakeDiscord, stub: StubBackend, stub_bot: BotRun
) -> None:
    """A long code block is closed and re-opened across messages, so each renders as code."""
    code = "\n".join(f"    print('line {i:03d} of a long program')" for i in range(90))
    stub.text = "Here:\n```python\n" + code + "\n```\nDone."
    rec = await fake.slash("complete", prompt="code please", max_tokens=900)
    await rec.wait_final(WAIT)
    await rec.wait_for(lambda r: len(r.messages) >= 2, WAIT)
    for message in rec.messages:
        fences = [line for line in message["content"].split("\n") if line.startswith("```")]
        assert len(fences) % 2 == 0, message["content"]
    assert rec.messages[1]["content"].startswith("```python\n")


async def test_past_three_messages_the_text_is_attached(
    fake: FakeDiscord, stub: StubBackend, stub_bot: BotRun
) -> None:
    """A 9,000-character completion is one message: the beginning, and the whole text as a file."""
    stub.text = paragraphs(9000)
    rec = await fake.slash("complete", prompt="Write even more", max_tokens=3000)
    message = await rec.wait_final(WAIT)
    assert len(rec.messages) == 1
    assert len(message["content"]) <= 2000
    assert "is in the attached file" in message["content"]
    assert [a["filename"] for a in message["attachments"]] == ["completion.txt"]
    assert rec.files[0].data.decode() == stub.text


async def test_everyone_in_a_completion_pings_nobody(
    fake: FakeDiscord, stub: StubBackend, stub_bot: BotRun
) -> None:
    """`@everyone` and a user mention in generated text are sent with allowed_mentions none."""
    stub.text = f"Hey @everyone and <@{fake.guild.member('alice').id}>, look!"
    rec = await fake.slash("complete", prompt="Say hi", max_tokens=10)
    message = await rec.wait_final(WAIT)
    assert "@everyone" in message["content"]
    assert message["allowed_mentions"] == {"parse": []}
    assert message["mention_everyone"] is False
    assert message["mentions"] == []


async def test_stream_edits_are_throttled(
    fake: FakeDiscord, stub: StubBackend, stub_bot: BotRun
) -> None:
    """30 streamed pieces arriving 0.1 s apart fill the message in a few edits, not 30."""
    stub.text = " ".join(f"w{i}" for i in range(30))
    stub.stream_chunks, stub.stream_delay = 30, 0.1
    rec = await fake.slash("complete", prompt="go", max_tokens=50, stream=True)
    await rec.wait_for(lambda r: "Regenerate" in labels(r.original or {}), WAIT)
    edits = [h.message["content"] for h in rec.history if h.action == "edit"]
    partial = [c for c in edits if c.endswith("▌")]
    assert 1 <= len(partial) <= 10
    final, _ = body_and_footer(rec.original["content"])  # type: ignore[index]
    assert final == stub.text


async def test_stream_dying_midway_gets_a_clear_reply(
    fake: FakeDiscord, stub: StubBackend, stub_bot: BotRun
) -> None:
    """A stream cut off after some text is answered with one ephemeral sentence."""
    stub.text = " ".join(f"w{i}" for i in range(30))
    stub.stream_chunks, stub.stream_delay, stub.stream_dies_after = 30, 0.05, 5
    rec = await fake.slash("complete", prompt="go", max_tokens=50, stream=True)
    message = await rec.wait_final(WAIT)
    await rec.wait_for(lambda r: bool(r.followups), WAIT)
    message = rec.followups[-1]
    assert int(message.get("flags") or 0) & 64
    assert message["content"] == (
        "The llama-cpp-python backend stopped in the middle of the stream. "
        "Try again, or tell a server admin if it keeps happening."
    )
    assert rec.original is None  # the half-written public message was withdrawn


async def test_long_candidates_page_with_their_own_files(
    fake: FakeDiscord, stub: StubBackend, stub_bot: BotRun
) -> None:
    """n:2 with 3,000-character candidates: one message per page, each page's text attached."""
    stub.text = paragraphs(3000)
    rec = await fake.slash("complete", prompt="Two long ones", max_tokens=900, n=2)
    first = await rec.wait_final(WAIT)
    assert len(rec.messages) == 1 and len(first["content"]) <= 2000
    assert [a["filename"] for a in first["attachments"]] == ["completion-1.txt"]
    click = await fake.click(first, "Next ▶")
    second = await click.wait_final(WAIT)
    assert [a["filename"] for a in second["attachments"]] == ["completion-2.txt"]
    assert click.files[0].data.decode() == stub.text
    assert any(line.startswith("candidate 2/2") for line in body_and_footer(second["content"])[1])


async def test_reply_is_cleaned_by_the_servers_clean_mode(
    fake: FakeDiscord, stub: StubBackend, stub_bot: BotRun
) -> None:
    """Control characters, trailing spaces and blank runs are cleaned: preserve, then seed."""
    stub.text = "上联：\t春风\x01送暖  \n\n\n\n\n下联：瑞雪\x1f迎春"
    rec = await fake.slash("complete", prompt="对联", max_tokens=20)
    text, _ = body_and_footer((await rec.wait_final(WAIT))["content"])
    assert text == "上联：\t春风送暖\n\n下联：瑞雪迎春"

    await stub_bot.bot.server_settings.set(fake.guild.id, "clean_mode", "seed", 1)
    rec = await fake.slash("complete", prompt="对联", max_tokens=20)
    text, _ = body_and_footer((await rec.wait_final(WAIT))["content"])
    assert text == "上联： 春风 送暖 下联：瑞雪 迎春"
