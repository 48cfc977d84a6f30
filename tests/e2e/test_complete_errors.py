"""/complete when something is wrong: bad values, server limits, a backend down or rate-limited.

Every case gets one ephemeral sentence, and the interaction is acknowledged
within Discord's 3 seconds (the emulator refuses a late first response).
"""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Any

import pytest

from bot.sandbox import FakeDiscord, OptionError
from tests.e2e.conftest import (
    RecordingProxy,
    StubBackend,
    body_and_footer,
    make_settings,
    running_stub,
    start_couplet,
)
from tests.support.discord_env import BotRun

WAIT = 120.0
EPHEMERAL = 64


def assert_one_ephemeral_sentence(rec: Any, message: dict[str, Any], *words: str) -> None:
    """The answer is ephemeral, a single line, and names what went wrong."""
    assert int(message.get("flags") or 0) & EPHEMERAL, message
    content = message["content"]
    assert "\n" not in content
    assert content.endswith(".")
    for word in words:
        assert word in content, content
    assert rec.callbacks[0]["type"] == 5  # deferred at once
    assert not rec.rejections


@pytest.mark.parametrize(
    ("options", "words"),
    [
        ({"stop": "a|b|c|d|e"}, ("stop", "5 sequences", "1 to 4")),
        ({"stop": '["unclosed"'}, ("stop",)),
        ({"logit_bias": '{"50256": "lots"}'}, ("logit_bias", "'lots'", "-100 to 100")),
        ({"logit_bias": "hello=500"}, ("logit_bias", "500", "-100 to 100")),
        ({"n": 3, "best_of": 2}, ("best_of 2", "n 3")),
        ({"logprobs": 10}, ("logprobs 10", "llama-cpp-python", "0 to 5")),
        ({"preset": "nope"}, ("preset", "'nope'")),
        ({"prompt": "   "}, ("prompt is empty",)),
        ({"model": "nope"}, ("model 'nope'", "not served", "gemma-3-270m")),
    ],
    ids=[
        "stop-count",
        "stop-json",
        "bias-key",
        "bias-value",
        "best_of-n",
        "logprobs",
        "preset",
        "prompt",
        "model-not-served",
    ],
)
async def test_bad_value_gets_its_ephemeral_explanation(
    fake: FakeDiscord,
    couplet: BotRun,
    recorder: RecordingProxy,
    options: dict[str, Any],
    words: tuple[str, ...],
) -> None:
    """A bad option value gets one ephemeral sentence naming it; nothing is generated."""
    values = {"prompt": "Hello", "max_tokens": 2, **options}
    before = len(recorder.completions())
    rec = await fake.slash("complete", values)
    message = await rec.wait_final(WAIT)
    assert_one_ephemeral_sentence(rec, message, *words)
    assert len(recorder.completions()) == before
    assert rec.original is None  # the public "thinking…" message is gone


async def test_server_limit_clamps_and_says_so(
    fake: FakeDiscord, couplet: BotRun, recorder: RecordingProxy
) -> None:
    """Above the server's max_tokens limit the request is lowered and the footer says so."""
    await couplet.bot.server_settings.set(fake.guild.id, "max_tokens_limit", "3", 1)
    rec = await fake.slash("complete", prompt="Hello", max_tokens=50)
    message = await rec.wait_final(WAIT)
    assert recorder.completions()[-1]["max_tokens"] == 3
    _, footer = body_and_footer(message["content"])
    assert "max_tokens 50 was lowered to the server limit of 3." in footer


async def test_model_not_allowed_on_this_server_is_refused(
    fake: FakeDiscord, couplet: BotRun, recorder: RecordingProxy
) -> None:
    """A model outside the server's allowed list gets a sentence listing the allowed ones."""
    await couplet.bot.server_settings.set(fake.guild.id, "allowed_models", "gemma-3-270m", 1)
    rec = await fake.slash("complete", prompt="Hi", model="gpt-4", max_tokens=2)
    message = await rec.wait_final(WAIT)
    assert_one_ephemeral_sentence(rec, message, "model 'gpt-4'", "gemma-3-270m")


def closed_port() -> int:
    """A loopback port with nothing listening (connections are refused)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


async def test_backend_down_gets_a_clear_reply(fake: FakeDiscord, tmp_path: Path) -> None:
    """With the backend unreachable the user is told so, ephemerally, after a prompt defer."""
    settings = make_settings(fake, tmp_path / "db.sqlite", f"http://127.0.0.1:{closed_port()}/v1")
    async with start_couplet(fake, settings):
        rec = await fake.slash("complete", prompt="Hello", max_tokens=2)
        message = await rec.wait_final(WAIT)
    assert_one_ephemeral_sentence(rec, message, "can't be reached", "try again")


async def test_rate_limited_backend_gets_a_clear_reply(fake: FakeDiscord, tmp_path: Path) -> None:
    """A 429 with Retry-After 120 is answered with when to try again, without waiting 120 s."""

    def too_many(body: dict[str, Any]) -> tuple[int, dict[str, Any], dict[str, str]]:
        error = {"message": "Rate limit reached", "type": "requests", "param": None, "code": None}
        return 429, {"error": error}, {"Retry-After": "120"}

    async with running_stub(StubBackend(answer=too_many)) as stub:
        settings = make_settings(fake, tmp_path / "db.sqlite", stub.base_url)
        async with start_couplet(fake, settings):
            rec = await fake.slash("complete", prompt="Hello", max_tokens=2)
            message = await rec.wait_final(WAIT)
    assert_one_ephemeral_sentence(rec, message, "rate-limiting", "120 seconds")
    assert len(stub.requests) == 1  # a wait longer than the cap is not retried


async def test_used_up_quota_says_it_may_not_pass(fake: FakeDiscord, tmp_path: Path) -> None:
    """A 429 for a used-up quota (no Retry-After) says to try later or tell an admin."""

    def quota(body: dict[str, Any]) -> tuple[int, dict[str, Any], dict[str, str]]:
        error = {
            "message": "You exceeded your current quota.",
            "type": "insufficient_quota",
            "param": None,
            "code": "insufficient_quota",
        }
        return 429, {"error": error}, {}

    async with running_stub(StubBackend(answer=quota)) as stub:
        settings = make_settings(fake, tmp_path / "db.sqlite", stub.base_url)
        async with start_couplet(fake, settings):
            rec = await fake.slash("complete", prompt="Hello", max_tokens=2)
            message = await rec.wait_final(WAIT)
    assert_one_ephemeral_sentence(rec, message, "rate-limiting", "admin")


async def test_unexpected_error_is_logged_and_answered_generically(
    fake: FakeDiscord, couplet: BotRun, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A bug inside the flow is logged with its traceback and the user gets a generic sentence."""

    async def broken(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("a bug")

    # A fault no real part produces on demand: a bug in our own code.
    monkeypatch.setattr(couplet.bot.generation, "run", broken)
    rec = await fake.slash("complete", prompt="Hello", max_tokens=2)
    message = await rec.wait_final(WAIT)
    assert_one_ephemeral_sentence(rec, message, "Something went wrong")
    errors = couplet.take_errors()
    assert any(r.exc_info and isinstance(r.exc_info[1], RuntimeError) for r in errors)


@pytest.mark.parametrize(
    ("option", "value"),
    [
        ("max_tokens", -1),
        ("max_tokens", 65537),
        ("temperature", 2.5),
        ("top_p", 1.5),
        ("n", 0),
        ("n", 129),
        ("best_of", 21),
        ("logprobs", 21),
        ("presence_penalty", -2.5),
        ("frequency_penalty", 2.5),
        ("seed", -1),
        ("seed", 2**32 - 1),  # llama.cpp's "random seed"
    ],
)
async def test_out_of_range_number_is_refused_before_the_bot(
    fake: FakeDiscord, couplet: BotRun, option: str, value: float
) -> None:
    """Numbers outside the API's range never reach the bot: the command's min/max refuse them."""
    with pytest.raises(OptionError, match=option):
        await fake.slash("complete", {"prompt": "x", option: value})
