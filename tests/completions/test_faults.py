"""Retries, timeouts and error normalisation against the fault-injecting server.

The client's sleep is replaced by `Waits`, which records each planned wait
and returns at once: the tests check the delays themselves and take no time
waiting for them.
"""

from __future__ import annotations

import json
import logging

import pytest

from bot.completions import CompletionRequest, CompletionsClient, Usage
from bot.errors import (
    BackendError,
    BackendStatusError,
    BackendTimeout,
    BackendUnavailable,
    MalformedResponse,
    ParameterError,
    RateLimited,
)
from tests.completions.fault_server import DONE, FaultServer, chunk, closed_port, hang, reply, sse

COMPLETIONS = "/v1/completions"
REQ = CompletionRequest.build(prompt="Hello", max_tokens=4)


class Waits:
    """Stands in for asyncio.sleep: records each wait the client plans, returns at once."""

    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)


def client_for(fault: FaultServer, waits: Waits | None = None, **kwargs) -> CompletionsClient:
    kwargs.setdefault("backend", "vllm")
    return CompletionsClient(fault.base_url, sleep=waits or Waits(), **kwargs)


def error_429(headers: dict[str, str] | None = None, code: str = "rate_limit_exceeded"):
    body = {"error": {"message": "Slow down", "type": "requests", "param": None, "code": code}}
    return reply(429, body, headers=headers)


def assert_backoff(delays: list[float]) -> None:
    """openai-python's backoff: 0.5 s, 1 s, … each shortened by at most 25 % jitter."""
    for k, delay in enumerate(delays):
        full = min(0.5 * 2**k, 8.0)
        assert 0.75 * full <= delay <= full, (k, delay)


async def test_429_with_retry_after_is_retried_then_succeeds(fault: FaultServer) -> None:
    """A 429 with Retry-After is retried after that delay and the next answer is used."""
    fault.script(COMPLETIONS, error_429({"Retry-After": "0.1"}))
    waits = Waits()
    async with client_for(fault, waits) as client:
        result = await client.complete(REQ)
    assert result.choices[0].text == " sample 0.0"
    assert len(fault.requests()) == 2
    assert waits.delays == [pytest.approx(0.1)]


async def test_429_with_retry_after_exhausts_retries(fault: FaultServer) -> None:
    """Three 429s in a row give RateLimited carrying the server's Retry-After, after 2 retries."""
    fault.script(COMPLETIONS, *[error_429({"Retry-After": "0.05"})] * 3)
    waits = Waits()
    async with client_for(fault, waits) as client:
        with pytest.raises(RateLimited) as info:
            await client.complete(REQ)
    assert info.value.retry_after == pytest.approx(0.05)
    assert "Slow down" in info.value.message
    assert len(fault.requests()) == 3
    assert waits.delays == [pytest.approx(0.05)] * 2


async def test_429_without_retry_after_uses_backoff(fault: FaultServer) -> None:
    """A 429 without Retry-After is retried twice with backoff, then raised as RateLimited."""
    fault.script(COMPLETIONS, *[error_429()] * 3)
    waits = Waits()
    async with client_for(fault, waits) as client:
        with pytest.raises(RateLimited) as info:
            await client.complete(REQ)
    assert info.value.retry_after is None
    assert len(fault.requests()) == 3
    # 0.5 s then 1 s, each shortened by at most 25 % jitter.
    first, second = waits.delays
    assert 0.375 <= first <= 0.5
    assert 0.75 <= second <= 1.0


async def test_retry_after_ms_is_honoured(fault: FaultServer) -> None:
    """retry-after-ms is read (before Retry-After) and the request retried after 30 ms."""
    fault.script(COMPLETIONS, error_429({"retry-after-ms": "30", "Retry-After": "9999"}))
    waits = Waits()
    async with client_for(fault, waits) as client:
        await client.complete(REQ)
    assert len(fault.requests()) == 2
    assert waits.delays == [pytest.approx(0.03)]


async def test_retry_after_above_cap_fails_fast(fault: FaultServer) -> None:
    """A Retry-After longer than the cap is not waited for: one request, RateLimited at once."""
    fault.script(COMPLETIONS, error_429({"Retry-After": "3600"}))
    waits = Waits()
    async with client_for(fault, waits) as client:
        with pytest.raises(RateLimited) as info:
            await client.complete(REQ)
    assert info.value.retry_after == 3600
    assert len(fault.requests()) == 1
    assert waits.delays == []


async def test_quota_exhausted_429_is_not_retried(fault: FaultServer) -> None:
    """OpenAI's insufficient_quota 429 cannot be fixed by waiting, so it is not retried."""
    fault.script(COMPLETIONS, error_429(code="insufficient_quota"))
    waits = Waits()
    async with client_for(fault, waits) as client:
        with pytest.raises(RateLimited):
            await client.complete(REQ)
    assert len(fault.requests()) == 1
    assert waits.delays == []


async def test_500_is_retried_twice_then_raised(fault: FaultServer) -> None:
    """Three 500s give BackendStatusError(500) with the server's message after 3 requests."""
    body = {"error": {"message": "kaboom", "type": "server_error", "param": None, "code": None}}
    fault.script(COMPLETIONS, *[reply(500, body)] * 3)
    waits = Waits()
    async with client_for(fault, waits) as client:
        with pytest.raises(BackendStatusError) as info:
            await client.complete(REQ)
    assert info.value.status == 500
    assert "kaboom" in info.value.message
    assert len(fault.requests()) == 3
    assert len(waits.delays) == 2
    assert_backoff(waits.delays)


async def test_500_then_success(fault: FaultServer) -> None:
    """One 500 followed by a good answer returns the good answer after 2 requests."""
    fault.script(COMPLETIONS, reply(500, {"error": {"message": "blip"}}))
    async with client_for(fault) as client:
        result = await client.complete(REQ)
    assert result.choices[0].text
    assert len(fault.requests()) == 2


async def test_503_gives_backend_unavailable(fault: FaultServer) -> None:
    """Persistent 503s end as BackendUnavailable(status=503) after 2 retries."""
    fault.script(
        COMPLETIONS,
        *[
            reply(
                503,
                {"error": {"message": "Loading model", "type": "unavailable_error", "code": 503}},
            )
        ]
        * 3,
    )
    async with client_for(fault) as client:
        with pytest.raises(BackendUnavailable) as info:
            await client.complete(REQ)
    assert info.value.status == 503
    assert "Loading model" in info.value.message
    assert len(fault.requests()) == 3


async def test_x_should_retry_false_wins_over_status(fault: FaultServer) -> None:
    """x-should-retry: false stops retries even on a 500."""
    fault.script(
        COMPLETIONS, reply(500, {"error": {"message": "no"}}, headers={"x-should-retry": "false"})
    )
    async with client_for(fault) as client:
        with pytest.raises(BackendStatusError):
            await client.complete(REQ)
    assert len(fault.requests()) == 1


async def test_x_should_retry_true_retries_a_400(fault: FaultServer) -> None:
    """x-should-retry: true makes even a 400 retryable."""
    fault.script(
        COMPLETIONS,
        reply(400, {"error": {"message": "try again"}}, headers={"x-should-retry": "true"}),
    )
    async with client_for(fault) as client:
        await client.complete(REQ)
    assert len(fault.requests()) == 2


async def test_400_is_not_retried(fault: FaultServer) -> None:
    """A plain 400 is surfaced at once with the server's message."""
    body = {
        "error": {
            "message": "suffix is not currently supported",
            "type": "BadRequestError",
            "param": None,
            "code": 400,
        }
    }
    fault.script(COMPLETIONS, reply(400, body))
    async with client_for(fault) as client:
        with pytest.raises(BackendStatusError) as info:
            await client.complete(REQ)
    assert info.value.status == 400
    assert "suffix is not currently supported" in info.value.message
    assert len(fault.requests()) == 1


async def test_hang_past_timeout_gives_backend_timeout(fault: FaultServer) -> None:
    """A server that never answers gives BackendTimeout after 3 attempts, backing off between."""
    fault.script(COMPLETIONS, hang(), hang(), hang())
    waits = Waits()
    async with client_for(fault, waits, timeout=0.3) as client:
        with pytest.raises(BackendTimeout):
            await client.complete(REQ)
    assert len(fault.requests()) == 3
    assert len(waits.delays) == 2
    assert_backoff(waits.delays)


async def test_connection_refused_gives_backend_unavailable(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Connection refused is retried twice with backoff (and logged) and ends as
    BackendUnavailable."""
    caplog.set_level(logging.INFO, logger="bot.completions.http")
    waits = Waits()
    url = f"http://127.0.0.1:{closed_port()}/v1"
    async with CompletionsClient(url, backend="vllm", sleep=waits) as client:
        with pytest.raises(BackendUnavailable):
            await client.complete(REQ)
    assert len(waits.delays) == 2
    assert_backoff(waits.delays)
    retries = [r for r in caplog.records if r.getMessage().startswith("retrying")]
    assert len(retries) == 2


async def test_malformed_json_is_not_retried(fault: FaultServer) -> None:
    """A 200 whose body is not JSON gives MalformedResponse after one request."""
    fault.script(COMPLETIONS, reply(200, text='{"choices": [ oops'))
    async with client_for(fault) as client:
        with pytest.raises(MalformedResponse):
            await client.complete(REQ)
    assert len(fault.requests()) == 1


@pytest.mark.parametrize(
    ("status", "behaviour", "expected"),
    [
        (
            400,
            reply(
                400,
                {
                    "error": {
                        "message": "nested shape",
                        "type": "invalid_request_error",
                        "param": "n",
                        "code": None,
                    }
                },
            ),
            "nested shape",
        ),
        (
            422,
            reply(
                422,
                {
                    "error": "Input validation error: `top_p` must be > 0.0 and < 1.0",
                    "error_type": "validation",
                },
            ),
            "`top_p` must be > 0.0 and < 1.0",
        ),
        (
            400,
            reply(
                400,
                {
                    "object": "error",
                    "message": "old vllm flat",
                    "type": "BadRequestError",
                    "code": 400,
                },
            ),
            "old vllm flat",
        ),
        (
            422,
            reply(
                422,
                {
                    "detail": [
                        {
                            "loc": ["body", "temperature"],
                            "msg": "Input should be less than or equal to 2",
                            "type": "less_than_equal",
                        }
                    ]
                },
            ),
            "temperature: Input should be less than or equal to 2",
        ),
        (404, reply(404, {"detail": "Not Found"}), "Not Found"),
        (400, reply(400, text="plain text failure"), "plain text failure"),
        (404, reply(404, text="<html><body>nginx</body></html>"), "HTTP 404"),
    ],
    ids=[
        "nested",
        "tgi-flat",
        "vllm-old-flat",
        "fastapi-list",
        "fastapi-str",
        "plain-text",
        "html",
    ],
)
async def test_error_body_shapes(fault: FaultServer, status: int, behaviour, expected: str) -> None:
    """Every error body shape becomes BackendStatusError with the server message, not retried."""
    fault.script(COMPLETIONS, behaviour)
    async with client_for(fault) as client:
        with pytest.raises(BackendStatusError) as info:
            await client.complete(REQ)
    assert info.value.status == status
    assert expected in info.value.message
    assert len(fault.requests()) == 1


async def test_tgi_flat_error_keeps_error_type(fault: FaultServer) -> None:
    """TGI's flat body keeps its error_type on the typed error."""
    fault.script(
        COMPLETIONS,
        reply(424, {"error": "Request failed during generation", "error_type": "generation"}),
    )
    async with client_for(fault, backend="tgi") as client:
        with pytest.raises(BackendStatusError) as info:
            await client.complete(REQ)
    assert info.value.error_type == "generation"
    assert len(fault.requests()) == 1


# -- streaming ------------------------------------------------------------------------


async def collect(client: CompletionsClient, req: CompletionRequest, sink: list[str]) -> None:
    async for delta in client.stream(req):
        sink.append(delta)


async def test_stream_yields_text_as_it_arrives(fault: FaultServer) -> None:
    """Streamed chunks come out as text deltas in order, ending at [DONE]."""
    fault.script(COMPLETIONS, sse([chunk("Hel"), chunk("lo "), chunk("world", "length"), DONE]))
    got: list[str] = []
    async with client_for(fault) as client:
        await collect(client, REQ, got)
    assert "".join(got) == "Hello world"
    assert fault.requests()[0].body["stream"] is True


async def test_error_event_in_stream_raises_after_partial_text(fault: FaultServer) -> None:
    """An error object inside the stream raises BackendError after the earlier text; no retry."""
    error = 'data: {"error": {"message": "slot died", "type": "server_error", "code": 500}}\n\n'
    fault.script(COMPLETIONS, sse([chunk("partial "), chunk("text"), error, DONE]))
    got: list[str] = []
    async with client_for(fault) as client:
        with pytest.raises(BackendError) as info:
            await collect(client, REQ, got)
    assert "slot died" in info.value.message
    assert "".join(got) == "partial text"
    assert len(fault.requests()) == 1


async def test_named_error_event_in_stream_raises(fault: FaultServer) -> None:
    """llama.cpp's older `event: error` frame is an error too."""
    error = (
        'event: error\ndata: {"message": "context full", "type": "exceed_context_size_error"}\n\n'
    )
    fault.script(COMPLETIONS, sse([chunk("abc"), error]))
    got: list[str] = []
    async with client_for(fault) as client:
        with pytest.raises(BackendError) as info:
            await collect(client, REQ, got)
    assert "context full" in info.value.message
    assert len(fault.requests()) == 1


async def test_stream_cut_off_midway_is_not_retried(fault: FaultServer) -> None:
    """A connection dropped after the first chunk raises BackendError and is not retried."""
    fault.script(COMPLETIONS, sse([chunk("first "), chunk("second")], abort=True))
    got: list[str] = []
    async with client_for(fault) as client:
        with pytest.raises(BackendError) as info:
            await collect(client, REQ, got)
    assert "middle of the stream" in info.value.message
    assert got == ["first ", "second"]
    assert len(fault.requests()) == 1


async def test_stream_ending_empty_without_done_raises(fault: FaultServer) -> None:
    """A 200 event stream that ends with no chunk, reason or [DONE] is an error, not empty text."""
    fault.script(COMPLETIONS, sse([]))
    got: list[str] = []
    async with client_for(fault) as client:
        with pytest.raises(BackendError) as info:
            await collect(client, REQ, got)
    assert "ended the stream without any text" in info.value.message
    assert got == []


async def test_stream_ending_without_reason_or_done_raises_after_text(fault: FaultServer) -> None:
    """Text followed by a clean end but no finish_reason or [DONE] is reported as cut short."""
    fault.script(COMPLETIONS, sse([chunk("partial")]))
    got: list[str] = []
    async with client_for(fault) as client:
        with pytest.raises(BackendError) as info:
            await collect(client, REQ, got)
    assert "middle of the stream" in info.value.message
    assert got == ["partial"]


async def test_stream_with_reason_but_no_done_ends_normally(fault: FaultServer) -> None:
    """A finish_reason is enough: servers that omit [DONE] still stream fine."""
    fault.script(COMPLETIONS, sse([chunk("all"), chunk(" done", "stop")]))
    async with client_for(fault) as client:
        stream = client.stream(REQ)
        got = [d async for d in stream]
    assert "".join(got) == "all done"
    assert stream.finish_reason == "stop"


async def test_stream_retried_before_first_chunk(fault: FaultServer) -> None:
    """A 503 before any chunk is retried like a normal request, with the same backoff."""
    fault.script(COMPLETIONS, reply(503, {"error": {"message": "busy"}}))
    got: list[str] = []
    waits = Waits()
    async with client_for(fault, waits) as client:
        await collect(client, REQ, got)
    assert "".join(got) == " sample text"
    assert len(fault.requests()) == 2
    assert len(waits.delays) == 1
    assert_backoff(waits.delays)


async def test_stream_429_honours_retry_after(fault: FaultServer) -> None:
    """A stream's 429 waits the server's Retry-After, as a plain request does."""
    fault.script(COMPLETIONS, error_429({"Retry-After": "0.2"}))
    got: list[str] = []
    waits = Waits()
    async with client_for(fault, waits) as client:
        await collect(client, REQ, got)
    assert "".join(got) == " sample text"
    assert waits.delays == [pytest.approx(0.2)]


async def test_stream_dropped_before_any_text_is_retried(fault: FaultServer) -> None:
    """A connection that drops after the headers but before any text is retried."""
    fault.script(COMPLETIONS, sse([], abort=True))
    got: list[str] = []
    waits = Waits()
    async with client_for(fault, waits) as client:
        await collect(client, REQ, got)
    assert "".join(got) == " sample text"
    assert len(fault.requests()) == 2
    assert len(waits.delays) == 1


async def test_stream_reports_finish_reason_and_usage(fault: FaultServer) -> None:
    """After iteration the stream object holds the text, finish_reason and final usage."""
    usage = {"prompt_tokens": 2, "completion_tokens": 2, "total_tokens": 4}
    final = f'data: {{"choices": [], "usage": {json.dumps(usage)}}}\n\n'
    fault.script(COMPLETIONS, sse([chunk("Hi"), chunk(" there", "eos_token"), final, DONE]))
    async with client_for(fault) as client:
        stream = client.stream(REQ)
        got = [d async for d in stream]
    assert "".join(got) == stream.text == "Hi there"
    assert stream.finish_reason == "stop"  # TGI's eos_token, normalised
    assert stream.usage == Usage(**usage)


async def test_stream_refuses_what_it_cannot_show(fault: FaultServer) -> None:
    """n > 1 and logprobs are refused for streams with a sentence, before any request."""
    async with client_for(fault) as client:
        for kwargs in ({"n": 2}, {"logprobs": 1}):
            req = CompletionRequest.build(prompt="x", **kwargs)
            with pytest.raises(ParameterError) as info:
                _ = [d async for d in client.stream(req)]
            assert "stream" in str(info.value)
    assert fault.requests() == []


async def test_stream_stop_split_across_chunks(fault: FaultServer) -> None:
    """A stop sequence split over two chunks is still cut, and nothing of it leaks."""
    fault.script(COMPLETIONS, sse([chunk("one, two, th"), chunk("ree, four"), DONE]))
    req = CompletionRequest.build(prompt="count:", max_tokens=8, stop=["three"])
    async with client_for(fault) as client:
        stream = client.stream(req)
        got = [d async for d in stream]
    assert "".join(got) == "one, two, "
    assert stream.finish_reason == "stop"


# -- secrets ------------------------------------------------------------------------


async def test_api_key_sent_but_never_logged_or_shown(
    fault: FaultServer, caplog: pytest.LogCaptureFixture
) -> None:
    """The key goes in the Authorization header, never into logs or error messages."""
    caplog.set_level(logging.DEBUG)
    secret = "sk-test-SECRET-1234567890"
    fault.script(
        COMPLETIONS,
        reply(
            401,
            {
                "error": {
                    "message": f"Incorrect API key provided: {secret}",
                    "type": "invalid_request_error",
                }
            },
        ),
    )
    async with client_for(fault, api_key=secret) as client:
        with pytest.raises(BackendStatusError) as info:
            await client.complete(REQ)
    assert fault.requests()[0].headers["Authorization"] == f"Bearer {secret}"
    assert secret not in info.value.message
    assert secret not in caplog.text
    assert any("<redacted>" in r.getMessage() for r in caplog.records)
