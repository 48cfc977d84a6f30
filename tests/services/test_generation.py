"""GenerationService against the real local model (and a real SQLite store)."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.completions import CompletionsClient
from bot.errors import ParameterError
from bot.services.generation import GenerationService, Requester
from bot.services.parameters import ParameterResolver
from bot.services.presets import PresetService
from bot.services.server_settings import ServerSettingsService
from bot.storage import Database
from bot.storage.generations import GenerationStore

ALICE = Requester(user_id=11, guild_id=1001, channel_id=2001)


@pytest.fixture
async def database(tmp_path: Path) -> AsyncIterator[Database]:
    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'gen.db'}")
    await db.upgrade()
    yield db
    await db.dispose()


@pytest.fixture
async def service(local_model_url: str, database: Database) -> AsyncIterator[GenerationService]:
    client = CompletionsClient(local_model_url, backend="llama-cpp-python")
    settings = ServerSettingsService(database)
    resolver = ParameterResolver(settings, PresetService(database))
    yield GenerationService(client, resolver, GenerationStore(database))
    await client.aclose()


async def test_generate_returns_cleaned_text_and_stores_it(service: GenerationService) -> None:
    """A generation gives cleaned text, the effective parameters and a stored id that loads back."""
    outcome = await service.generate(
        ALICE, "The capital of France is", {"max_tokens": 8, "temperature": 0}
    )
    assert outcome.request.max_tokens == 8
    assert outcome.sources["max_tokens"] == "option"
    assert outcome.sources["temperature"] == "option"
    assert outcome.result.usage.completion_tokens <= 8
    text = outcome.candidates[0].text
    assert text.strip()
    assert "\r" not in text
    assert outcome.generation_id is not None
    loaded = await service.load(outcome.generation_id)
    assert loaded is not None
    assert loaded.candidates[0].text == text
    assert loaded.request == outcome.request


async def test_bot_default_max_tokens_applies(service: GenerationService) -> None:
    """With no max_tokens option the bot default (not the API's 16) is sent and its source named."""
    prepared = await service.prepare(ALICE, "Hello", {})
    assert prepared.request.max_tokens == 256
    assert prepared.sources["max_tokens"] == "bot default"


async def test_bad_option_is_a_parameter_error(service: GenerationService) -> None:
    """A bad stop value raises ParameterError naming stop, before any backend call."""
    with pytest.raises(ParameterError) as err:
        await service.prepare(ALICE, "Hello", {"stop": "a|b|c|d|e"})
    assert err.value.param == "stop"


async def test_echo_separates_prompt_and_completion(service: GenerationService) -> None:
    """With echo the prompt is kept apart for display; the candidate text is only the new text."""
    outcome = await service.generate(
        ALICE, "One, two, three,", {"max_tokens": 4, "temperature": 0, "echo": True}
    )
    assert outcome.shown_prompt == "One, two, three,"
    assert not outcome.candidates[0].text.startswith("One, two, three,")


async def test_continue_appends_the_completion_to_the_prompt(service: GenerationService) -> None:
    """Continue sends prompt + completion as the new prompt and shows the text as one piece."""
    first = await service.generate(ALICE, "Once upon a time", {"max_tokens": 4, "temperature": 0})
    assert first.candidates[0].finish_reason == "length"
    assert first.generation_id is not None
    prepared = await service.prepare_continue(first.generation_id, 0, ALICE)
    assert prepared is not None
    raw = first.result.choices[0].text
    assert prepared.request.prompt == "Once upon a time" + raw
    follow = await service.run(prepared)
    assert follow.candidates[0].text.startswith(first.candidates[0].text.rstrip())
    assert len(follow.candidates[0].text) > len(first.candidates[0].text.rstrip())


async def test_regenerate_reuses_the_stored_request(service: GenerationService) -> None:
    """Regenerate prepares exactly the stored request; a gone id gives None."""
    first = await service.generate(ALICE, "Roses are", {"max_tokens": 3, "seed": 7})
    assert first.generation_id is not None
    prepared = await service.prepare_regenerate(first.generation_id, ALICE)
    assert prepared is not None
    assert prepared.request == first.request
    assert any("seed 7" in str(note) for note in prepared.notes)
    assert await service.prepare_regenerate(first.generation_id + 999, ALICE) is None


async def test_stream_yields_growing_text_then_an_outcome(service: GenerationService) -> None:
    """Streaming yields the cleaned text so far, growing, and ends with a stored outcome."""
    prepared = await service.prepare(ALICE, "A B C D", {"max_tokens": 6, "stream": True})
    assert prepared.stream
    stream = service.stream(prepared)
    seen = [text async for text in stream]
    assert seen
    assert all(later.startswith(earlier.rstrip()) for earlier, later in itertools.pairwise(seen))
    assert stream.outcome is not None
    assert stream.outcome.streamed
    assert stream.outcome.candidates[0].text == seen[-1]
    assert stream.outcome.generation_id is not None


async def test_stream_gives_way_to_n_and_logprobs_with_a_note(service: GenerationService) -> None:
    """stream with n 2 or with logprobs is turned off, and a note says why."""
    with_n = await service.prepare(ALICE, "Hi", {"stream": True, "n": 2})
    with_logprobs = await service.prepare(ALICE, "Hi", {"stream": True, "logprobs": 1})
    assert not with_n.stream and "n is 2" in str(with_n.notes[0])
    assert not with_logprobs.stream and "token probabilities" in str(with_logprobs.notes[0])


async def test_stream_knows_how_it_ended(service: GenerationService) -> None:
    """A stream cut by max_tokens ends with finish_reason length, as a plain request would."""
    prepared = await service.prepare(ALICE, "Once upon a time", {"max_tokens": 4, "stream": True})
    stream = service.stream(prepared)
    async for _ in stream:
        pass
    assert stream.outcome is not None
    assert stream.outcome.candidates[0].finish_reason == "length"
