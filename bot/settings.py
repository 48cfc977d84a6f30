"""Process-wide settings, read from the environment and `.env`.

The names are part of Couplet's interface (see README); secrets are
`SecretStr` so they never show up in logs, reprs or replies.
"""

from __future__ import annotations

from typing import Literal

from pydantic import AliasChoices, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

BackendName = Literal["auto", "openai", "vllm", "llamacpp", "llama-cpp-python", "ollama", "tgi"]

DEFAULT_DISCORD_API_BASE = "https://discord.com/api/v10"
DEFAULT_DATABASE_URL = "sqlite+aiosqlite:///data/couplet.db"


class Settings(BaseSettings):
    """Every setting Couplet reads. Unknown variables are ignored."""

    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore")

    # Discord
    discord_token: SecretStr | None = None
    discord_api_base: str = DEFAULT_DISCORD_API_BASE
    discord_gateway_url: str | None = None
    # "auto" (sync when the command definitions changed), "global",
    # "guild:ID[,ID…]" or "off".
    discord_sync: str = "auto"
    shard_count: int | None = None
    shard_ids: list[int] | None = None

    # Storage
    database_url: str = DEFAULT_DATABASE_URL

    # Completions backend
    completions_base_url: str | None = Field(
        default=None, validation_alias=AliasChoices("COMPLETIONS_BASE_URL", "OPENAI_BASE_URL")
    )
    completions_api_key: SecretStr | None = Field(
        default=None, validation_alias=AliasChoices("COMPLETIONS_API_KEY", "OPENAI_API_KEY")
    )
    completions_model: str | None = None
    completions_backend: BackendName = "auto"
    # Seconds to wait for one backend response; Discord allows 15 minutes
    # for a deferred answer, people rarely wait more than a minute.
    completions_timeout: float = Field(default=120.0, gt=0)
    # Generations sent to the backend at once; the rest wait in a fair queue.
    # None: 1 on llama-cpp-python (the bundled model serves one request at a
    # time), 8 elsewhere. 0: no limit, no queue.
    completions_concurrency: int | None = Field(default=None, ge=0)
    # Requests that may wait for the backend at once; one more is refused.
    completions_queue_size: int = Field(default=100, ge=1)

    # Usage counters shared by several processes; unset: kept in this process.
    redis_url: SecretStr | None = None

    # Moderation: OpenAI's /v1/moderations. Unset, it falls back to the
    # completions settings when that backend is OpenAI (see `moderation_endpoint`).
    moderation_base_url: str | None = None
    moderation_api_key: SecretStr | None = None
    # Seconds to wait for the moderation endpoint before the server's
    # provider-failure mode (open or closed) applies.
    moderation_timeout: float = Field(default=10.0, gt=0)
    # The offline profanity classifier (on by default; needs no network).
    moderation_classifier: bool = True

    # Logging
    log_level: str = "INFO"

    def moderation_endpoint(self) -> tuple[str, SecretStr | None] | None:
        """Base URL (…/v1) and key of the moderation endpoint, or None when there is none.

        MODERATION_BASE_URL wins; else the completions backend when it is OpenAI
        (its key too, unless MODERATION_API_KEY is set).
        """
        if self.moderation_base_url:
            return self.moderation_base_url, self.moderation_api_key
        base = self.completions_base_url or ""
        if self.completions_backend == "openai" or "api.openai.com" in base:
            return (
                base or "https://api.openai.com/v1",
                self.moderation_api_key or self.completions_api_key,
            )
        return None

    @field_validator("discord_sync")
    @classmethod
    def _check_sync(cls, value: str) -> str:
        value = value.strip()
        if value in ("auto", "global", "off"):
            return value
        if value.startswith("guild:"):
            ids = [part.strip() for part in value[len("guild:") :].split(",") if part.strip()]
            if ids and all(part.isdigit() for part in ids):
                return "guild:" + ",".join(ids)
        raise ValueError(
            "DISCORD_SYNC must be auto, global, off or guild:ID[,ID...] with numeric server ids"
        )

    @field_validator("shard_ids", mode="before")
    @classmethod
    def _split_ids(cls, value: object) -> object:
        if isinstance(value, str):
            return [int(part) for part in value.replace(",", " ").split()]
        return value
