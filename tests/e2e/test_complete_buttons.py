"""Buttons on /complete replies, clicked through the emulator: pages, Regenerate, Continue, Tokens.

Also: buttons keep working after the bot restarts, and say so when their
generation is gone.
"""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

from bot.sandbox import FakeDiscord
from cogs.completions._cog import GONE
from tests.e2e.conftest import (
    RecordingProxy,
    body_and_footer,
    labels,
    make_settings,
    start_couplet,
)
from tests.support.discord_env import BotRun

WAIT = 120.0
EPHEMERAL = 64


def button(message: dict, label: str) -> dict:
    return next(
        c for row in message["components"] for c in row["components"] if c.get("label") == label
    )


async def test_paging_through_candidates(
    fake: FakeDiscord, couplet: BotRun, recorder: RecordingProxy
) -> None:
    """With n:2, Next shows candidate 2/2 in the same message and Prev goes back to 1/2."""
    rec = await fake.slash("complete", prompt="Name a fruit:", max_tokens=3, n=2)
    first = await rec.wait_final(WAIT)
    assert body_and_footer(first["content"])[1][0].startswith("candidate 1/2")
    assert button(first, "◀ Prev").get("disabled") is True

    click = await fake.click(first, "Next ▶")
    second = await click.wait_final(WAIT)
    assert click.response_type == 7  # edited in place
    assert second["id"] == first["id"]
    assert body_and_footer(second["content"])[1][0].startswith("candidate 2/2")
    assert button(second, "Next ▶").get("disabled") is True

    back = await fake.click(second, "◀ Prev")
    again = await back.wait_final(WAIT)
    assert again["content"] == first["content"]


async def test_regenerate_sends_the_same_request_again(
    fake: FakeDiscord, couplet: BotRun, recorder: RecordingProxy
) -> None:
    """Regenerate answers in a new message with the very same request body."""
    rec = await fake.slash("complete", prompt="Roses are red,", max_tokens=3, temperature=0.9)
    message = await rec.wait_final(WAIT)
    sent = recorder.completions()[-1]
    click = await fake.click(message, "Regenerate")
    again = await click.wait_final(WAIT)
    assert again["id"] != message["id"]
    assert recorder.completions()[-1] == sent
    assert "Regenerate" in labels(again)


async def test_continue_appends_the_completion_and_generates_more(
    fake: FakeDiscord, couplet: BotRun, recorder: RecordingProxy
) -> None:
    """Continue (offered when cut by max_tokens) sends prompt + completion, shows more text."""
    rec = await fake.slash("complete", prompt="Once upon a time", max_tokens=4, temperature=0)
    message = await rec.wait_final(WAIT)
    text, footer = body_and_footer(message["content"])
    assert " length " in f" {footer[0]} "
    click = await fake.click(message, "Continue")
    more = await click.wait_final(WAIT)
    sent = recorder.completions()[-1]
    assert sent["prompt"].startswith("Once upon a time")
    assert len(sent["prompt"]) > len("Once upon a time")
    assert not sent.get("echo")
    longer, _ = body_and_footer(more["content"])
    assert longer.startswith(text)
    assert len(longer) > len(text)


async def test_tokens_view_shows_probabilities_within_limits(
    fake: FakeDiscord, couplet: BotRun, recorder: RecordingProxy
) -> None:
    """With logprobs:2 the Tokens button opens an ephemeral shaded view with alternatives."""
    rec = await fake.slash("complete", prompt="The sky is", max_tokens=3, logprobs=2)
    message = await rec.wait_final(WAIT)
    assert recorder.completions()[-1]["logprobs"] == 2
    click = await fake.click(message, "Tokens")
    view = await click.wait_final(WAIT)
    assert int(view.get("flags") or 0) & EPHEMERAL
    assert view["content"].startswith("```ansi\n\x1b[0;")
    assert "tokens 1–3 of 3" in view["content"]
    assert len(view["content"]) <= 2000
    # One table row per generated token: position, quoted token, its chance, then the
    # other top alternatives (at least one of the two the backend returned per position).
    rows = [line for line in view["content"].split("\n") if re.match(r"^\s+\d+ \"", line)]
    assert [int(row.split()[0]) for row in rows] == [1, 2, 3]
    for row in rows:
        assert re.search(r"\d+%\s+\".*\" \d+%", row), row


async def test_buttons_work_after_a_restart(
    fake: FakeDiscord, recorder: RecordingProxy, db_path: Path
) -> None:
    """A message from before a restart still regenerates; unchanged commands are not re-synced."""
    settings = make_settings(fake, db_path, recorder.base_url)
    async with start_couplet(fake, settings):
        rec = await fake.slash("complete", prompt="Hello there", max_tokens=3)
        message = await rec.wait_final(WAIT)
    syncs = [r for r in fake.requests if r.startswith("PUT ") and r.endswith("/commands")]
    assert len(syncs) == 1

    async with start_couplet(fake, settings) as second:
        click = await fake.click(message, "Regenerate")
        again = await click.wait_final(WAIT)
        assert "Regenerate" in labels(again)
        assert second.bot.synced_scopes == []
    syncs = [r for r in fake.requests if r.startswith("PUT ") and r.endswith("/commands")]
    assert len(syncs) == 1


async def test_button_of_a_pruned_generation_says_it_is_gone(
    fake: FakeDiscord, couplet: BotRun
) -> None:
    """When the stored generation was pruned, its buttons answer with one ephemeral sentence."""
    rec = await fake.slash("complete", prompt="Hi", max_tokens=2)
    message = await rec.wait_final(WAIT)
    assert await couplet.bot.generations.prune(timedelta(0)) == 1
    click = await fake.click(message, "Regenerate")
    answer = await click.wait_final(WAIT)
    assert answer["content"] == str(GONE)
    assert int(answer.get("flags") or 0) & EPHEMERAL
