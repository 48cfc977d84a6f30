"""/sampling through the local Discord emulator with the real bot and the real model.

The chart arrives as an attached PNG with the caption as its alt text and the
table in the message; Sample it and Next token redraw it in place, also after
a restart; a backend without logprobs, a disallowed model, a click from
another server and a pruned chart each get one ephemeral sentence.
"""

from __future__ import annotations

import copy
import io
import re
from pathlib import Path
from typing import Any

import pytest
from PIL import Image
from sqlalchemy import text

from bot.sandbox import FakeDiscord
from cogs.sampling import GONE
from tests.e2e.conftest import (
    RecordingProxy,
    StubBackend,
    ephemeral_answer,
    labels,
    make_settings,
    running_stub,
    start_couplet,
)
from tests.support.discord_env import BotRun

WAIT = 180.0
EPHEMERAL = 64
PROMPT = "Monday, Tuesday, Wednesday,"


def chart_of(rec: Any) -> Image.Image:
    """The PNG the interaction's message carries, decoded."""
    uploads = [f for f in rec.files if f.filename == "sampling.png"]
    assert uploads, "no chart was attached"
    image = Image.open(io.BytesIO(uploads[-1].data))
    image.load()
    return image


async def ephemeral_followup(rec: Any) -> str:
    """The ephemeral sentence sent after a click was deferred (the chart stays as it was)."""
    await rec.wait_for(lambda r: bool(r.followups), WAIT)
    [message] = rec.followups
    assert int(message.get("flags") or 0) & EPHEMERAL, message
    return str(message["content"])


def table_rows(content: str) -> dict[str, list[str]]:
    """The text fallback's rows: first cell → the other cells."""
    block = content.split("```\n", 1)[1].split("\n```", 1)[0]
    rows = {}
    for line in block.split("\n")[1:]:
        if line.startswith("other (unlisted)"):
            rows["other"] = line[len("other (unlisted)") :].split()
        else:
            token, rest = re.match(r'^(".*?")\s+(.*)$', line).groups()  # type: ignore[union-attr]
            rows[token] = rest.split()
    return rows


async def test_sampling_answers_with_the_chart_attached(
    fake: FakeDiscord, couplet: BotRun, recorder: RecordingProxy
) -> None:
    """The reply carries a real PNG, the caption as alt text, the table and both buttons."""
    rec = await fake.slash("sampling", prompt=PROMPT, temperature=0.5, top_p=0.9)
    message = await rec.wait_final(WAIT)
    sent = recorder.completions()[-1]
    assert sent["max_tokens"] == 1 and sent["logprobs"] == 5 and sent["prompt"] == PROMPT
    image = chart_of(rec)
    assert image.format == "PNG" and 600 <= image.width <= 1600 and 300 <= image.height <= 1200
    [attachment] = message["attachments"]
    assert attachment["filename"] == "sampling.png"
    assert attachment["content_type"] == "image/png"
    assert attachment["description"].startswith("top_p 0.9 keeps")
    assert "at temperature 0.5 the likeliest token" in attachment["description"]
    assert attachment["description"] in message["content"]
    assert labels(message) == ["Sample it", "Next token"]
    rows = table_rows(message["content"])
    assert '" Thursday"' in rows and "other" in rows
    assert message["mentions"] == []


async def test_sample_it_marks_what_came_out(
    fake: FakeDiscord, couplet: BotRun, recorder: RecordingProxy
) -> None:
    """At temperature 0 all ten one-token samples are the likeliest token, and the chart says so."""
    rec = await fake.slash("sampling", prompt=PROMPT, temperature=0)
    message = await rec.wait_final(WAIT)
    before = len(recorder.completions())
    click = await fake.click(message, "Sample it")
    after = await click.wait_final(WAIT)
    assert after["id"] == message["id"]  # redrawn in place
    samples = recorder.completions()[before:]
    assert len(samples) == 10  # llama-cpp-python: n is ten requests
    assert all(s["max_tokens"] == 1 and s["temperature"] == 0 for s in samples)
    # The server's own samplers are switched off (sampling api, the default).
    assert all(s["top_k"] == 0 and s["min_p"] == 0 for s in samples)
    assert '10 samples at temperature 0, top_p 1: " Thursday" ×10' in after["content"]
    assert "sampling is server" not in after["content"]
    rows = table_rows(after["content"])
    assert rows['" Thursday"'][-1] == "10"
    assert rows["other"][-1] == "0"
    assert chart_of(click).size[1] > 0
    assert labels(after) == ["Sample it", "Next token"]


async def test_sample_it_with_sampling_server_keeps_the_servers_samplers(
    fake: FakeDiscord, couplet: BotRun, recorder: RecordingProxy
) -> None:
    """With the server's sampling at server, the samples go out without the neutral values
    and the chart's footer says the backend's own samplers act too."""
    said = await ephemeral_answer(
        await fake.slash("settings set", member="admin", name="sampling", value="server"), WAIT
    )
    assert said == "`sampling` is now server (was api)."
    message = await (await fake.slash("sampling", prompt=PROMPT, temperature=0)).wait_final(WAIT)
    before = len(recorder.completions())
    after = await (await fake.click(message, "Sample it")).wait_final(WAIT)
    samples = recorder.completions()[before:]
    assert len(samples) == 10
    assert not any("top_k" in s or "min_p" in s for s in samples)
    assert after["content"].endswith(
        "\n-# sampling is server: llama-cpp-python's own samplers apply as well "
        "(top_k 40, min_p 0.05 and repeat_penalty 1.1)."
    )


async def test_next_token_charts_the_following_position(
    fake: FakeDiscord, couplet: BotRun, recorder: RecordingProxy
) -> None:
    """Next token appends the likeliest token to the prompt and charts what follows it."""
    rec = await fake.slash("sampling", prompt=PROMPT, temperature=0.7, top_p=0.5)
    message = await rec.wait_final(WAIT)
    click = await fake.click(message, "Next token")
    after = await click.wait_final(WAIT)
    assert recorder.completions()[-1]["prompt"] == PROMPT + " Thursday"
    assert after["id"] == message["id"]
    assert "> Monday, Tuesday, Wednesday, Thursday" in after["content"]
    assert "top_p 0.5 keeps" in after["content"]
    assert "at temperature 0.7" in after["content"]
    # The buttons now refer to the new position.
    assert after["components"] != message["components"]


async def test_buttons_work_after_a_restart(
    fake: FakeDiscord, recorder: RecordingProxy, db_path: Path
) -> None:
    """A chart made before a restart still samples and steps (its state is in the database)."""
    settings = make_settings(fake, db_path, recorder.base_url)
    async with start_couplet(fake, settings):
        rec = await fake.slash("sampling", prompt=PROMPT, temperature=0)
        message = await rec.wait_final(WAIT)
    async with start_couplet(fake, settings):
        click = await fake.click(message, "Next token")
        stepped = await click.wait_final(WAIT)
        assert recorder.completions()[-1]["prompt"] == PROMPT + " Thursday"
        click = await fake.click(stepped, "Sample it")
        sampled = await click.wait_final(WAIT)
        assert "10 samples at temperature 0" in sampled["content"]


async def test_a_click_from_another_server_is_refused(
    fake: FakeDiscord, couplet: BotRun, recorder: RecordingProxy
) -> None:
    """The same button copied into another server does not reach this server's chart."""
    rec = await fake.slash("sampling", prompt=PROMPT, temperature=0)
    message = await rec.wait_final(WAIT)
    other = fake.add_guild("Other Server")
    channel = other.add_channel("chat")
    other.add_member("bob")
    copied = copy.deepcopy(fake.messages[int(message["id"])])
    copied["id"] = str(fake.state.ids.next())
    copied["channel_id"] = str(channel.id)
    copied.pop("interaction_metadata", None)
    fake.messages[int(copied["id"])] = copied
    before = len(recorder.completions())
    click = await fake.click(copied, "Next token", member="bob")
    assert await ephemeral_followup(click) == str(GONE)
    assert len(recorder.completions()) == before


async def test_a_pruned_chart_says_it_is_gone(
    fake: FakeDiscord, couplet: BotRun, recorder: RecordingProxy
) -> None:
    """When the stored chart is gone, its buttons answer with one ephemeral sentence."""
    rec = await fake.slash("sampling", prompt=PROMPT, temperature=0)
    message = await rec.wait_final(WAIT)
    async with couplet.bot.db.write() as session:
        await session.execute(text("DELETE FROM sampling_charts"))
    click = await fake.click(message, "Sample it")
    assert await ephemeral_followup(click) == str(GONE)
    assert fake.messages[int(message["id"])]["content"] == message["content"]


async def test_a_model_the_server_does_not_allow_is_refused(
    fake: FakeDiscord, couplet: BotRun, recorder: RecordingProxy
) -> None:
    """allowed_models applies as for /complete: one ephemeral sentence, no request."""
    await couplet.bot.server_settings.set(fake.guild.id, "allowed_models", "tiny", 1)
    rec = await fake.slash("sampling", prompt=PROMPT, model="gemma-3-270m")
    answer = await ephemeral_answer(rec, WAIT)
    assert answer == "model 'gemma-3-270m' is not allowed on this server: use one of tiny."
    assert recorder.completions() == []


@pytest.mark.parametrize("backend", ["ollama", "tgi"])
async def test_a_backend_without_logprobs_gets_one_sentence(
    fake: FakeDiscord, db_path: Path, backend: str
) -> None:
    """On Ollama or TGI the command says in one sentence why it can't chart; nothing is sent."""
    async with running_stub(StubBackend()) as stub:
        settings = make_settings(fake, db_path, stub.base_url, completions_backend=backend)
        async with start_couplet(fake, settings):
            rec = await fake.slash("sampling", prompt=PROMPT)
            answer = await ephemeral_answer(rec, WAIT)
    assert answer.startswith("/sampling needs the next token's probabilities, which this backend")
    assert "returns no logprobs." in answer
    assert "\n" not in answer
    assert stub.requests == []


async def test_model_option_autocompletes_like_complete(fake: FakeDiscord, couplet: BotRun) -> None:
    """/sampling's model option offers the same names as /complete's."""
    mine = await fake.autocomplete("sampling", focused="model", value="gem")
    theirs = await fake.autocomplete("complete", focused="model", value="gem")
    assert [c["value"] for c in mine] == [c["value"] for c in theirs] == ["gemma-3-270m"]
    assert await fake.autocomplete("sampling", focused="model", value="zzz") == []


async def test_options_are_complete_s_options(fake: FakeDiscord, couplet: BotRun) -> None:
    """temperature, top_p and model reach Discord with /complete's ranges and descriptions."""
    synced = {command["name"]: command for command in fake.commands()}

    def option(command: str, name: str) -> dict[str, Any]:
        return next(o for o in synced[command]["options"] if o["name"] == name)

    for name in ("temperature", "top_p", "model"):
        mine, theirs = option("sampling", name), option("complete", name)
        for key in ("type", "description", "min_value", "max_value", "autocomplete", "required"):
            assert mine.get(key) == theirs.get(key), (name, key)
    assert option("sampling", "prompt")["required"] is True
