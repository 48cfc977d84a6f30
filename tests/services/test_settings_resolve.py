"""Effective parameters: precedence, clamping to server limits, and the cache."""

from __future__ import annotations

import pytest

from bot.completions import BOT_DEFAULTS, CompletionRequest
from bot.errors import ParameterError
from bot.services.parameters import ParameterResolver
from bot.services.presets import PresetService
from bot.services.server_settings import ServerSettingsService
from bot.storage import Database
from tests.storage.statements import count_statements
from tests.support.postgres import db, db_url, postgres_cluster, postgres_url

__all__ = ["db", "db_url", "postgres_cluster", "postgres_url"]

GUILD_A, GUILD_B = 111_111_111_111_111_111, 222_222_222_222_222_222
CHANNEL, OTHER_CHANNEL = 333_333_333_333_333_331, 333_333_333_333_333_332
ADMIN = 900_000_000_000_000_001


class Services:
    def __init__(self, db: Database) -> None:
        self.settings = ServerSettingsService(db)
        self.presets = PresetService(db)
        self.resolver = ParameterResolver(
            self.settings, self.presets, bot_defaults={"model": "gemma-3-270m", "top_p": 0.95}
        )


@pytest.fixture
def svc(db: Database) -> Services:
    return Services(db)


async def test_precedence_option_preset_channel_server_bot(svc: Services) -> None:
    """Each layer overrides the ones below it, and each value names its source."""
    await svc.settings.set(GUILD_A, "temperature", "0.1", ADMIN)
    await svc.settings.set(GUILD_A, "max_tokens", "40", ADMIN)
    await svc.settings.set(GUILD_A, "presence_penalty", "0.5", ADMIN)
    await svc.presets.create(
        GUILD_A, "chan", params={"temperature": 0.2, "max_tokens": 50}, actor_id=ADMIN
    )
    await svc.presets.set_channel_preset(GUILD_A, CHANNEL, "chan", ADMIN)
    await svc.presets.create(GUILD_A, "pick", params={"temperature": 0.3}, actor_id=ADMIN)

    result = await svc.resolver.resolve(GUILD_A, CHANNEL, {"seed": 7, "n": None}, "pick")
    assert result.params == {
        "model": "gemma-3-270m",
        "top_p": 0.95,
        "max_tokens": 50,
        "temperature": 0.3,
        "presence_penalty": 0.5,
        "seed": 7,
    }
    assert result.sources == {
        "model": "bot default",
        "top_p": "bot default",
        "max_tokens": "channel preset:chan",
        "temperature": "preset:pick",
        "presence_penalty": "server",
        "seed": "option",
    }
    assert result.preset == "pick"
    assert result.clamped == []

    option = await svc.resolver.resolve(GUILD_A, CHANNEL, {"temperature": 1.5}, "pick")
    assert (option.params["temperature"], option.sources["temperature"]) == (1.5, "option")

    # Another channel has no default preset: the server's value applies.
    other = await svc.resolver.resolve(GUILD_A, OTHER_CHANNEL, {}, None)
    assert other.params["temperature"] == 0.1 and other.sources["temperature"] == "server"
    assert other.params["max_tokens"] == 40
    # The parameters make a valid request as they are.
    CompletionRequest.build(prompt="hi", stream=other.stream, **other.params)


async def test_bot_defaults_apply_with_nothing_set(svc: Services) -> None:
    """A fresh server (or a DM) gets the bot's defaults and behaviour."""
    for guild in (GUILD_A, None):
        result = await svc.resolver.resolve(guild, CHANNEL, {}, None)
        assert result.params == {**BOT_DEFAULTS, "model": "gemma-3-270m", "top_p": 0.95}
        assert set(result.sources.values()) == {"bot default"}
        assert (result.stream, result.clean_mode, result.preset) == (False, "preserve", None)


async def test_clamps_are_applied_and_reported(svc: Services) -> None:
    """Values above the server's limits are lowered, each with a sentence."""
    await svc.settings.set(GUILD_A, "max_tokens_limit", "512", ADMIN)
    await svc.settings.set(GUILD_A, "n_limit", "3", ADMIN)
    await svc.settings.set(GUILD_A, "best_of_limit", "2", ADMIN)
    await svc.presets.create(GUILD_A, "long", params={"max_tokens": 900}, actor_id=ADMIN)

    result = await svc.resolver.resolve(GUILD_A, CHANNEL, {"n": 5, "best_of": 6}, "long")
    assert (result.params["max_tokens"], result.params["n"], result.params["best_of"]) == (
        512,
        2,
        2,
    )
    assert [str(note) for note in result.clamped] == [
        "max_tokens 900 was lowered to the server limit of 512.",
        "n 5 was lowered to the server limit of 3.",
        "best_of 6 was lowered to the server limit of 2.",
        "n 3 was lowered to 2 to match best_of.",
    ]
    within = await svc.resolver.resolve(GUILD_A, CHANNEL, {"max_tokens": 512, "n": 3}, None)
    assert within.clamped == []


async def test_bad_options_and_unknown_presets_raise_sentences(svc: Services) -> None:
    """A bad option value or unknown preset is a ParameterError with one sentence."""
    with pytest.raises(ParameterError, match=r"^temperature 7 is out of range"):
        await svc.resolver.resolve(GUILD_A, CHANNEL, {"temperature": 7}, None)
    with pytest.raises(ParameterError, match=r"^preset 'nope' does not exist on this server"):
        await svc.resolver.resolve(GUILD_A, CHANNEL, {}, "nope")
    with pytest.raises(ParameterError, match="Presets belong to servers"):
        await svc.resolver.resolve(None, CHANNEL, {}, "nope")
    with pytest.raises(ParameterError, match=r"^private is not a Completions parameter"):
        await svc.resolver.resolve(GUILD_A, CHANNEL, {"private": True}, None)
    await svc.presets.create(GUILD_A, "three", params={"best_of": 3}, actor_id=ADMIN)
    with pytest.raises(ParameterError, match=r"^best_of 3 is less than n 4"):
        await svc.resolver.resolve(GUILD_A, CHANNEL, {"n": 4}, "three")


async def test_text_options_are_parsed(svc: Services) -> None:
    """stop and logit_bias typed as text are parsed; an option's bias replaces a preset's."""
    await svc.presets.create(
        GUILD_A, "biased", params={"logit_bias": "world=5, 13=1"}, actor_id=ADMIN
    )
    result = await svc.resolver.resolve(
        GUILD_A, CHANNEL, {"stop": r"\n|###", "logit_bias": '{"50256": -100}'}, "biased"
    )
    assert result.params["stop"] == ["\n", "###"]
    assert result.params["logit_bias"] == {"50256": -100}
    assert "logit_bias_words" not in result.params
    preset_only = await svc.resolver.resolve(GUILD_A, CHANNEL, {}, "biased")
    assert preset_only.params["logit_bias"] == {"13": 1}
    assert preset_only.params["logit_bias_words"] == {"world": 5}


async def test_allowed_models(svc: Services) -> None:
    """Models off the allow-list are refused; the bot default gives way to the first allowed."""
    await svc.settings.set(GUILD_A, "allowed_models", "tiny, small", ADMIN)
    result = await svc.resolver.resolve(GUILD_A, CHANNEL, {}, None)
    assert (result.params["model"], result.sources["model"]) == ("tiny", "server")
    assert (await svc.resolver.resolve(GUILD_A, CHANNEL, {"model": "small"}, None)).params[
        "model"
    ] == "small"
    with pytest.raises(
        ParameterError,
        match=r"^model 'huge' is not allowed on this server: use one of tiny, small\.",
    ):
        await svc.resolver.resolve(GUILD_A, CHANNEL, {"model": "huge"}, None)
    await svc.presets.create(GUILD_A, "big", params={"model": "huge"}, actor_id=ADMIN)
    with pytest.raises(ParameterError, match="model 'huge' is not allowed"):
        await svc.resolver.resolve(GUILD_A, CHANNEL, {}, "big")


async def test_stream_setting_and_best_of(svc: Services) -> None:
    """The server's stream setting applies, and is turned off (with a note) for best_of."""
    await svc.settings.set(GUILD_A, "stream", "on", ADMIN)
    await svc.settings.set(GUILD_A, "clean_mode", "seed", ADMIN)
    plain = await svc.resolver.resolve(GUILD_A, CHANNEL, {}, None)
    assert (plain.stream, plain.clean_mode) == (True, "seed")
    assert (await svc.resolver.resolve(GUILD_A, CHANNEL, {"stream": False}, None)).stream is False
    ranked = await svc.resolver.resolve(GUILD_A, CHANNEL, {"best_of": 2}, None)
    assert ranked.stream is False
    assert [str(note) for note in ranked.clamped] == [
        "stream was turned off: best_of compares complete candidates."
    ]


async def test_another_servers_preset_is_unknown_here(svc: Services) -> None:
    """A preset of server A cannot be used, or be a channel default, in server B."""
    await svc.presets.create(GUILD_A, "a-only", params={"temperature": 2}, actor_id=ADMIN)
    await svc.presets.set_channel_preset(GUILD_A, CHANNEL, "a-only", ADMIN)
    with pytest.raises(ParameterError, match="does not exist on this server"):
        await svc.resolver.resolve(GUILD_B, CHANNEL, {}, "a-only")
    in_b = await svc.resolver.resolve(GUILD_B, CHANNEL, {}, None)
    assert "temperature" not in in_b.params and in_b.preset is None


async def test_second_resolve_makes_no_database_round_trip(db: Database, svc: Services) -> None:
    """Resolving again with nothing changed sends no SQL; a preset edit is seen next time."""
    await svc.settings.set(GUILD_A, "temperature", "0.5", ADMIN)
    await svc.presets.create(GUILD_A, "p", params={"max_tokens": 20}, actor_id=ADMIN)
    await svc.presets.set_channel_preset(GUILD_A, CHANNEL, "p", ADMIN)
    await svc.resolver.resolve(GUILD_A, CHANNEL, {"seed": 1}, "p")

    with count_statements(db) as statements:
        again = await svc.resolver.resolve(GUILD_A, CHANNEL, {"seed": 2}, "p")
    assert statements == []
    assert again.params["max_tokens"] == 20

    await svc.presets.edit(GUILD_A, "p", params={"max_tokens": 30}, actor_id=ADMIN)
    with count_statements(db) as statements:
        edited = await svc.resolver.resolve(GUILD_A, CHANNEL, {}, "p")
    assert statements, "the edit must invalidate the cached presets"
    assert edited.params["max_tokens"] == 30

    await svc.settings.set(GUILD_A, "temperature", "0.6", ADMIN)
    assert (await svc.resolver.resolve(GUILD_A, CHANNEL, {}, None)).params["temperature"] == 0.6
