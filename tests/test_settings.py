"""Settings load from an env file and the environment, with the documented names."""

from pathlib import Path

import pytest
from pydantic import ValidationError

from bot.settings import DEFAULT_DATABASE_URL, Settings

ENV_NAMES = (
    "DISCORD_TOKEN",
    "DISCORD_API_BASE",
    "DISCORD_GATEWAY_URL",
    "DISCORD_SYNC",
    "DATABASE_URL",
    "COMPLETIONS_BASE_URL",
    "COMPLETIONS_API_KEY",
    "COMPLETIONS_MODEL",
    "COMPLETIONS_BACKEND",
    "OPENAI_API_KEY",
    "OPENAI_BASE_URL",
    "SHARD_IDS",
    "SHARD_COUNT",
    "REDIS_URL",
    "COMPLETIONS_CONCURRENCY",
    "COMPLETIONS_QUEUE_SIZE",
)


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ENV_NAMES:
        monkeypatch.delenv(name, raising=False)


def test_env_example_lists_every_setting() -> None:
    """.env.example mentions every field of Settings by its variable name."""
    text = (Path(__file__).parents[1] / ".env.example").read_text()
    for field in Settings.model_fields:
        assert field.upper() in text, field


def test_loads_sample_env_file(tmp_path: Path) -> None:
    """A sample .env file is read, and secrets stay hidden in repr."""
    env = tmp_path / ".env"
    env.write_text(
        "DISCORD_TOKEN=abc.def.ghi\n"
        "DISCORD_SYNC=guild:123, 456\n"
        "COMPLETIONS_BASE_URL=http://127.0.0.1:9/v1\n"
        "COMPLETIONS_API_KEY=sk-secret\n"
        "COMPLETIONS_BACKEND=vllm\n"
        "SHARD_COUNT=4\n"
        "SHARD_IDS=0,2\n"
    )
    settings = Settings(_env_file=env)  # type: ignore[call-arg]
    assert settings.discord_token is not None
    assert settings.discord_token.get_secret_value() == "abc.def.ghi"
    assert settings.discord_sync == "guild:123,456"
    assert settings.completions_base_url == "http://127.0.0.1:9/v1"
    assert settings.completions_backend == "vllm"
    assert settings.shard_ids == [0, 2]
    assert "sk-secret" not in repr(settings)
    assert "abc.def.ghi" not in repr(settings)
    assert settings.database_url == DEFAULT_DATABASE_URL


def test_openai_fallbacks(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """OPENAI_API_KEY and OPENAI_BASE_URL are used when the COMPLETIONS_ names are unset."""
    monkeypatch.setenv("OPENAI_API_KEY", "sk-openai")
    monkeypatch.setenv("OPENAI_BASE_URL", "https://api.openai.com/v1")
    settings = Settings(_env_file=tmp_path / "missing.env")  # type: ignore[call-arg]
    assert settings.completions_api_key is not None
    assert settings.completions_api_key.get_secret_value() == "sk-openai"
    assert settings.completions_base_url == "https://api.openai.com/v1"


@pytest.mark.parametrize("value", ["sometimes", "guild:", "guild:abc"])
def test_bad_sync_value_is_refused(value: str, tmp_path: Path) -> None:
    """A DISCORD_SYNC value other than auto, global, off or guild:IDs is refused."""
    with pytest.raises(ValidationError, match="DISCORD_SYNC must be"):
        Settings(_env_file=tmp_path / "missing.env", discord_sync=value)  # type: ignore[call-arg]


def test_usage_settings(tmp_path: Path) -> None:
    """REDIS_URL is a secret (it may carry a password); the queue settings parse, and
    leaving COMPLETIONS_CONCURRENCY out means "decide by the backend"."""
    env = tmp_path / ".env"
    env.write_text(
        "REDIS_URL=redis://:hunter2@127.0.0.1:6379/0\n"
        "COMPLETIONS_CONCURRENCY=2\n"
        "COMPLETIONS_QUEUE_SIZE=7\n"
    )
    settings = Settings(_env_file=env)  # type: ignore[call-arg]
    assert settings.redis_url is not None
    assert settings.redis_url.get_secret_value() == "redis://:hunter2@127.0.0.1:6379/0"
    assert "hunter2" not in repr(settings)
    assert (settings.completions_concurrency, settings.completions_queue_size) == (2, 7)
    defaults = Settings(_env_file=None)  # type: ignore[call-arg]
    assert (defaults.redis_url, defaults.completions_concurrency) == (None, None)
    with pytest.raises(ValidationError):
        Settings(_env_file=None, completions_concurrency=-1)  # type: ignore[call-arg]
