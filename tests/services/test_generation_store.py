"""The stored generations that buttons refer to."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from pathlib import Path

from bot.completions import Choice, CompletionRequest, CompletionResult, CompletionsClient
from bot.i18n import _, to_data
from bot.render.completion import candidate_footer
from bot.services.generation import Display, GenerationService, Requester, StoredDisplay
from bot.storage import Database
from bot.storage.generations import GenerationRecord, GenerationStore


async def test_add_get_and_prune(tmp_path: Path) -> None:
    """A stored generation reads back whole; pruning removes it and get() then says None."""
    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'g.db'}")
    try:
        await db.upgrade()
        store = GenerationStore(db)
        record = GenerationRecord(
            user_id=5,
            guild_id=6,
            channel_id=7,
            private=True,
            request={"prompt": "hi", "n": 1},
            result={"choices": [{"index": 0, "text": "there"}]},
            display={"clean_mode": "seed"},
        )
        gid = await store.add(record)
        loaded = await store.get(gid)
        assert loaded is not None
        assert (loaded.user_id, loaded.guild_id, loaded.channel_id, loaded.private) == (
            5,
            6,
            7,
            True,
        )
        assert loaded.request == {"prompt": "hi", "n": 1}
        assert loaded.result["choices"][0]["text"] == "there"
        assert loaded.display == {"clean_mode": "seed"}
        assert await store.prune(timedelta(days=1)) == 0
        assert await store.prune(timedelta(0)) == 1
        assert await store.get(gid) is None
    finally:
        await db.dispose()


def stored(display: dict) -> GenerationRecord:
    request = CompletionRequest.build(prompt="Roses", max_tokens=4, echo=True)
    result = CompletionResult(
        id="c",
        created=0,
        model="m",
        choices=[Choice(index=0, text="Roses are\x01 red  ", finish_reason="length")],
        elapsed=0.25,
    )
    return GenerationRecord(
        user_id=5,
        guild_id=6,
        channel_id=7,
        request=request.model_dump(mode="json", exclude_none=True),
        result=result.model_dump(mode="json"),
        display=display,
    )


@asynccontextmanager
async def store_and_service(
    tmp_path: Path,
) -> AsyncIterator[tuple[GenerationStore, GenerationService]]:
    """A generation store on a new SQLite file, and a service over it (whose client is
    never called)."""
    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'g.db'}")
    try:
        await db.upgrade()
        store = GenerationStore(db)
        client = CompletionsClient("http://127.0.0.1:9/v1", backend="vllm")
        try:
            yield store, GenerationService(client, store=store)
        finally:
            await client.aclose()
    finally:
        await db.dispose()


async def test_rows_written_by_older_versions_load_typed(tmp_path: Path) -> None:
    """Stored display JSON in the old dict shape, empty, or with nulls and unknown keys loads."""
    async with store_and_service(tmp_path) as (store, service):
        # Exactly what the dict-building code before StoredDisplay wrote.
        old_shape = await store.add(
            stored(
                {
                    "echo_prompt": "Roses",
                    "prefix": "",
                    "continued_from": None,
                    "clean_mode": "seed",
                    "sources": {"max_tokens": "option"},
                    "clamped": ["n 9 was lowered to the server limit of 4."],
                    "notes": [],
                    "preset": "poem",
                    "stream": False,
                    "streamed": True,
                    "elapsed": 1.5,
                }
            )
        )
        empty = await store.add(stored({}))
        nulls = await store.add(
            stored({"prefix": None, "sources": None, "notes": None, "gone_field": 1})
        )

        old = await service.load(old_shape)
        assert old is not None
        assert old.clean_mode == "seed" and old.streamed and old.elapsed == 1.5
        assert old.display == Display(echo_prompt="Roses")
        assert old.shown_prompt == "Roses"
        assert old.candidates[0].text == "are red"  # echo stripped, cleaned by the seed rule
        assert old.sources == {"max_tokens": "option"}
        assert old.footer_notes() == ["n 9 was lowered to the server limit of 4."]
        again = await service.prepare_regenerate(old_shape, Requester(user_id=5, guild_id=6))
        assert again is not None and again.preset == "poem" and again.clean_mode == "seed"

        for gid in (empty, nulls):
            outcome = await service.load(gid)
            assert outcome is not None
            assert outcome.clean_mode == "preserve"
            assert outcome.display == Display()
            assert outcome.sources == {} and outcome.notes == []
            assert outcome.elapsed == 0.25  # the result's own time when display has none
            assert outcome.candidates[0].text == " are red"  # cleaned by preserve


async def test_regenerate_reads_only_the_stored_request(tmp_path: Path) -> None:
    """Regenerate sends the stored request again: it works for a row whose stored result
    no longer loads (the result is only read by what shows it: paging, tokens, Continue)."""
    async with store_and_service(tmp_path) as (store, service):
        record = stored({"preset": "poem"})
        record.result = {"choices": [{"index": "first", "text": 3}]}  # not a CompletionResult
        gid = await store.add(record)
        again = await service.prepare_regenerate(gid, Requester(user_id=5, guild_id=6))
        assert again is not None
        assert again.request.prompt == "Roses" and again.request.max_tokens == 4
        assert again.preset == "poem"


async def test_stored_notes_render_in_the_readers_language(tmp_path: Path) -> None:
    """Clamps and warnings are stored as message ids with values, so a stored generation's
    footer reads in Chinese for a zh-CN reader and in English for others."""
    async with store_and_service(tmp_path) as (store, service):
        clamp = _(
            "{param} {value} was lowered to the server limit of {limit}.",
            param="n",
            value=9,
            limit=4,
        )
        record = stored(StoredDisplay(clamped=[clamp]).model_dump(mode="json"))
        warning = _("TGI ignores logit_bias.")
        record.result["warnings"] = CompletionResult(
            id="c", created=0, model="m", choices=[], warnings=[warning]
        ).model_dump(mode="json")["warnings"]
        assert record.display["clamped"] == [to_data(clamp)]  # not English text
        loaded = await service.load(await store.add(record))
        assert loaded is not None
        assert loaded.footer_notes() == [clamp, warning]
        footer = candidate_footer(loaded, 0, "zh-CN").split("\n")
        assert footer[1:] == ["-# n 9 已降到服务器上限 4。", "-# TGI 会忽略 logit_bias。"]
        english = candidate_footer(loaded, 0, "en-US").split("\n")
        assert english[1] == "-# n 9 was lowered to the server limit of 4."
