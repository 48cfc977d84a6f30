"""Per-server settings: parsing, audit trail, cache, isolation and restarts."""

from __future__ import annotations

import asyncio

import pytest

from bot.errors import ParameterError
from bot.services.server_settings import SETTINGS, ServerSettingsService
from bot.storage import Database
from tests.storage.statements import count_statements
from tests.support.postgres import db, db_url, postgres_cluster, postgres_url

__all__ = ["db", "db_url", "postgres_cluster", "postgres_url"]

GUILD_A, GUILD_B = 111_111_111_111_111_111, 222_222_222_222_222_222
ADMIN, OTHER_ADMIN = 900_000_000_000_000_001, 900_000_000_000_000_002


async def test_set_parses_typed_values(db: Database) -> None:
    """Values typed as text are stored with their proper types."""
    service = ServerSettingsService(db)
    await service.set(GUILD_A, "temperature", "0.7", ADMIN)
    await service.set(GUILD_A, "max_tokens", "300", ADMIN)
    await service.set(GUILD_A, "stop", r"\n\n|END", ADMIN)
    await service.set(GUILD_A, "echo", "true", ADMIN)
    await service.set(GUILD_A, "stream", "on", ADMIN)
    await service.set(GUILD_A, "clean_mode", "Seed", ADMIN)
    await service.set(GUILD_A, "allowed_models", "gemma-3-270m, gpt-3.5-turbo-instruct", ADMIN)
    config = await service.set(GUILD_A, "max_tokens_limit", "512", ADMIN)

    assert config.parameter_defaults() == {
        "temperature": 0.7,
        "max_tokens": 300,
        "stop": ["\n\n", "END"],
        "echo": True,
    }
    assert config.stream is True
    assert config.clean_mode == "seed"
    assert config.allowed_models == ("gemma-3-270m", "gpt-3.5-turbo-instruct")
    assert config.max_tokens_limit == 512
    assert config.n_limit == SETTINGS["n_limit"].default


@pytest.mark.parametrize(
    ("name", "value", "expected"),
    [
        ("temperature", "3.5", "temperature 3.5 is out of range: use a number from 0 to 2."),
        ("top_p", "lots", "top_p 'lots' is not a number: use a number from 0 to 1."),
        ("max_tokens_limit", "0", "max_tokens_limit 0 is out of range: use a whole number from 1"),
        (
            "n_limit",
            "two",
            "n_limit 'two' is not a whole number: use a whole number from 1 to 128.",
        ),
        ("clean_mode", "fancy", "clean_mode 'fancy' is not a cleaning mode: use seed"),
        ("stream", "maybe", "stream 'maybe' is not on or off: use on or off."),
        ("allowed_models", " , ", "allowed_models ' , ' names no model"),
        ("stop", "a|b|c|d|e", "stop has 5 sequences: use 1 to 4."),
        ("colour", "blue", "There is no setting named 'colour': use one of model, max_tokens"),
    ],
)
async def test_bad_values_get_one_sentence(
    db: Database, name: str, value: str, expected: str
) -> None:
    """A bad name or value is refused with a sentence naming it and what is allowed."""
    service = ServerSettingsService(db)
    with pytest.raises(ParameterError) as err:
        await service.set(GUILD_A, name, value, ADMIN)
    message = str(err.value)
    assert message.startswith(expected)
    assert message.endswith(".") and "\n" not in message
    assert (await service.get(GUILD_A)).values == {}


async def test_default_model_must_be_allowed(db: Database) -> None:
    """A default model outside allowed_models is refused."""
    service = ServerSettingsService(db)
    await service.set(GUILD_A, "allowed_models", "gemma-3-270m", ADMIN)
    with pytest.raises(ParameterError, match="not in this server's allowed_models"):
        await service.set(GUILD_A, "model", "gpt-4", ADMIN)
    config = await service.set(GUILD_A, "model", "gemma-3-270m", ADMIN)
    assert config.parameter_defaults()["model"] == "gemma-3-270m"


async def test_reset_and_history(db: Database) -> None:
    """Every change is audited with who, what, old and new, newest first."""
    service = ServerSettingsService(db)
    await service.set(GUILD_A, "temperature", "0.7", ADMIN)
    await service.set(GUILD_A, "temperature", "0.9", OTHER_ADMIN)
    await service.set(GUILD_A, "temperature", "0.9", OTHER_ADMIN)  # no change: no entry
    await service.set(GUILD_A, "top_p", "0.5", ADMIN)
    assert await service.reset(GUILD_A, "temperature", ADMIN) == ["temperature"]
    assert await service.reset(GUILD_A, "temperature", ADMIN) == []

    history = await service.history(GUILD_A, limit=10)
    assert [(h.action, h.target, h.actor_id, h.old, h.new) for h in history] == [
        ("setting.reset", "temperature", ADMIN, 0.9, None),
        ("setting.set", "top_p", ADMIN, None, 0.5),
        ("setting.set", "temperature", OTHER_ADMIN, 0.7, 0.9),
        ("setting.set", "temperature", ADMIN, None, 0.7),
    ]
    assert str(history[2].summary()) == "set temperature: 0.7 → 0.9"
    assert str(history[0].summary()) == "reset temperature (was 0.9)"
    assert all(h.at.tzinfo is not None for h in history)
    assert len(await service.history(GUILD_A, limit=2)) == 2

    assert await service.reset(GUILD_A, None, ADMIN) == ["top_p"]
    assert (await service.get(GUILD_A)).values == {}


async def test_servers_do_not_see_each_other(db: Database) -> None:
    """One server's settings and history are invisible to another."""
    service = ServerSettingsService(db)
    await service.set(GUILD_A, "temperature", "1.5", ADMIN)
    assert (await service.get(GUILD_B)).values == {}
    assert await service.history(GUILD_B) == []
    assert await service.reset(GUILD_B, None, ADMIN) == []
    assert (await service.get(GUILD_A)).values == {"temperature": 1.5}


async def test_cache_hit_makes_no_statement_and_write_invalidates(db: Database) -> None:
    """The second read makes no database round trip; a write is seen at once."""
    service = ServerSettingsService(db)
    await service.set(GUILD_A, "temperature", "0.3", ADMIN)
    await service.get(GUILD_A)
    with count_statements(db) as statements:
        config = await service.get(GUILD_A)
    assert statements == []
    assert config.values["temperature"] == 0.3

    loads = service.cache.loads
    await service.set(GUILD_A, "temperature", "0.4", ADMIN)
    assert service.cache.loads == loads + 1, "the write should have invalidated the cache"
    with count_statements(db) as statements:
        config = await service.get(GUILD_A)
    assert statements == []
    assert config.values["temperature"] == 0.4


async def test_restart_keeps_settings(db_url: str) -> None:
    """Settings survive disposing of the database and opening it again."""
    first = Database(db_url)
    await first.upgrade()
    await ServerSettingsService(first).set(GUILD_A, "max_tokens", "77", ADMIN)
    await first.dispose()

    second = Database(db_url)
    try:
        await second.upgrade()
        config = await ServerSettingsService(second).get(GUILD_A)
        assert config.values == {"max_tokens": 77}
        history = await ServerSettingsService(second).history(GUILD_A)
        assert [(h.target, h.new) for h in history] == [("max_tokens", 77)]
    finally:
        await second.dispose()


async def test_concurrent_changes_to_different_settings_all_survive(db: Database) -> None:
    """Eight admins changing eight settings at once: every change is kept and audited."""
    changes = {
        "temperature": ("0.5", 0.5),
        "top_p": ("0.8", 0.8),
        "presence_penalty": ("1", 1.0),
        "frequency_penalty": ("-1", -1.0),
        "max_tokens": ("99", 99),
        "logprobs": ("2", 2),
        "echo": ("yes", True),
        "n_limit": ("3", 3),
    }
    # Separate services, as separate processes would have.
    await asyncio.gather(
        *(
            ServerSettingsService(db).set(GUILD_A, name, raw, ADMIN + i)
            for i, (name, (raw, _)) in enumerate(changes.items())
        )
    )
    config = await ServerSettingsService(db).get(GUILD_A)
    assert dict(config.values) == {name: value for name, (_, value) in changes.items()}
    history = await ServerSettingsService(db).history(GUILD_A, limit=20)
    assert sorted(h.target for h in history) == sorted(changes)
