"""Process-wide settings, read from the environment and `.env`.

The names are part of Couplet's interface (see README); secrets are
`SecretStr` so they never show up in logs, reprs or replies.
"""

from __future__ import annotations

from typing import Literal

from pydantic import AliasChoices, Field, SecretStr, field_validator, model_validator
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
    # Sharding: the total number of shards across every process, and this
    # process's shards (SHARD_IDS), or its place among CLUSTER_COUNT processes
    # (CLUSTER_ID), which gives it a contiguous range. See `_check_shards`.
    shard_count: int | None = Field(default=None, ge=1)
    shard_ids: list[int] | None = None
    cluster_id: int | None = Field(default=None, ge=0)
    cluster_count: int | None = Field(default=None, ge=1)

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

    # What several bot processes share live (usage counters, the queue to the
    # backend, IDENTIFY turns, cache invalidation, leases); unset: one process.
    redis_url: SecretStr | None = None

    # Port of the health and metrics endpoint (/healthz, /readyz, /metrics); unset: off.
    metrics_port: int | None = Field(default=None, ge=1, le=65535)

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

    @property
    def completions_base_urls(self) -> list[str]:
        """COMPLETIONS_BASE_URL as a list: several servers of the same models, comma-separated."""
        return split_urls(self.completions_base_url or "")

    @field_validator("shard_ids", mode="before")
    @classmethod
    def _split_ids(cls, value: object) -> object:
        if isinstance(value, int) and not isinstance(value, bool):
            return [value]  # SHARD_IDS=3 (the environment's JSON reading gives a number)
        if isinstance(value, str):
            parts = value.replace(",", " ").split()
            if not all(part.isdecimal() for part in parts):
                raise ValueError(f"{value.strip()!r} is not a list of shard numbers such as 0,1")
            return [int(part) for part in parts]
        return value

    @model_validator(mode="after")
    def _check_shards(self) -> Settings:
        """SHARD_IDS, or CLUSTER_ID of CLUSTER_COUNT (a contiguous range), within SHARD_COUNT."""
        cluster = (self.cluster_id, self.cluster_count)
        if cluster != (None, None):
            if None in cluster:
                raise ValueError("CLUSTER_ID and CLUSTER_COUNT go together: set both, or neither.")
            if self.shard_ids is not None:
                raise ValueError("Set SHARD_IDS or CLUSTER_ID and CLUSTER_COUNT, not both.")
            self.shard_ids = cluster_shards(self.shard_count, *cluster)  # type: ignore[arg-type]
            return self
        if self.shard_ids is None:
            return self
        if self.shard_count is None:
            raise ValueError(
                "SHARD_IDS needs SHARD_COUNT, the number of shards across every process "
                "(for example SHARD_COUNT=4 SHARD_IDS=0,1)."
            )
        if not self.shard_ids:
            raise ValueError(
                "SHARD_IDS is empty: list this process's shards, such as 0,1, "
                "or leave it unset to run them all."
            )
        for shard in self.shard_ids:
            if not 0 <= shard < self.shard_count:
                raise ValueError(
                    f"SHARD_IDS has {shard}, but with SHARD_COUNT {self.shard_count} shard ids "
                    f"go from 0 to {self.shard_count - 1}."
                )
        repeated = sorted({s for s in self.shard_ids if self.shard_ids.count(s) > 1})
        if repeated:
            raise ValueError(f"SHARD_IDS lists {repeated[0]} twice: name each shard once.")
        return self


def split_urls(value: str) -> list[str]:
    """Base URLs separated by commas (or spaces), each without a trailing slash."""
    return [part.rstrip("/") for part in value.replace(",", " ").split() if part.strip()]


def cluster_shards(shard_count: int | None, cluster_id: int, cluster_count: int) -> list[int]:
    """Process `cluster_id` of `cluster_count`'s contiguous share of the shards.

    The first `shard_count % cluster_count` processes take one shard more, so
    0..N-1 is covered once: 10 shards over 3 processes are 0-3, 4-6, 7-9.
    """
    if shard_count is None:
        raise ValueError(
            "CLUSTER_ID and CLUSTER_COUNT need SHARD_COUNT, so that every process splits "
            "the same number of shards."
        )
    if cluster_id >= cluster_count:
        raise ValueError(
            f"CLUSTER_ID {cluster_id} is not below CLUSTER_COUNT {cluster_count}: "
            f"cluster ids go from 0 to {cluster_count - 1}."
        )
    if cluster_count > shard_count:
        raise ValueError(
            f"CLUSTER_COUNT {cluster_count} is more than SHARD_COUNT {shard_count}: "
            "each process needs at least one shard."
        )
    size, extra = divmod(shard_count, cluster_count)
    start = cluster_id * size + min(cluster_id, extra)
    end = start + size + (1 if cluster_id < extra else 0)
    return list(range(start, end))
