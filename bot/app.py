"""`CoupletBot`: owns the shared resources, loads the cogs, syncs commands, closes everything.

The backend client and the database are created once here (or passed in by
tests), handed to the services, and closed in `close()` after the cogs are
unloaded.
"""

from __future__ import annotations

import gc
import hashlib
import importlib
import json
import logging
import pkgutil
from datetime import timedelta
from typing import Any

import discord
from discord.ext import commands

import cogs
from bot.completions import CompletionsClient
from bot.discord_endpoints import patch_discord_endpoints
from bot.services.generation import GenerationService
from bot.services.parameters import ParameterResolver
from bot.services.presets import PresetService
from bot.services.server_settings import ServerSettingsService
from bot.settings import Settings
from bot.storage import Database
from bot.storage.command_sync import CommandSyncStore
from bot.storage.generations import GenerationStore
from bot.tree import CoupletTree

log = logging.getLogger(__name__)

# Buttons refer to stored generations; older ones are pruned at start and
# their buttons say the completion is no longer available.
GENERATION_RETENTION = timedelta(days=30)


def cog_modules() -> list[str]:
    """Every module in the cogs package that defines `setup`, by dotted name."""
    names = []
    for info in sorted(pkgutil.iter_modules(cogs.__path__), key=lambda i: i.name):
        name = f"cogs.{info.name}"
        module = importlib.import_module(name)
        if callable(getattr(module, "setup", None)):
            names.append(name)
    return names


def commands_hash(payload: list[dict[str, Any]]) -> str:
    """A stable hash of a command payload, to tell whether a sync would change anything."""
    canonical = json.dumps(
        sorted(payload, key=lambda c: (c.get("type", 1), c.get("name", ""))),
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
    )
    return hashlib.sha256(canonical.encode()).hexdigest()


class CoupletBot(commands.AutoShardedBot):
    """The Couplet bot: slash commands over the Completions API."""

    def __init__(
        self,
        settings: Settings,
        *,
        completions: CompletionsClient | None = None,
        database: Database | None = None,
        **discord_kwargs: Any,
    ) -> None:
        options: dict[str, Any] = {
            # Interactions need no intents; guilds keeps the server cache useful.
            "intents": discord.Intents(guilds=True),
            "allowed_mentions": discord.AllowedMentions.none(),
            "tree_cls": CoupletTree,
            "shard_count": settings.shard_count,
            "shard_ids": settings.shard_ids,
            "help_command": None,
        }
        options.update(discord_kwargs)
        super().__init__(command_prefix=commands.when_mentioned, **options)
        self.settings = settings
        # Resources we create we also close; ones passed in belong to the caller.
        self._owns_completions = completions is None
        self._owns_db = database is None
        self.completions: CompletionsClient = completions or CompletionsClient.from_settings(
            settings
        )
        self.db: Database = database or Database(settings.database_url)
        self.server_settings = ServerSettingsService(self.db)
        self.presets = PresetService(self.db)
        self.parameters = ParameterResolver(self.server_settings, self.presets)
        self.generations = GenerationStore(self.db)
        self.generation = GenerationService(
            self.completions,
            self.parameters,
            self.generations,
            default_model=settings.completions_model,
        )
        self.command_sync = CommandSyncStore(self.db)
        self.synced_scopes: list[str] = []
        self._closed = False

    async def login(self, token: str) -> None:
        # discord.py builds every URL from these class attributes: set them first.
        patch_discord_endpoints(self.settings.discord_api_base, self.settings.discord_gateway_url)
        await super().login(token)

    async def launch_shards(self) -> None:
        if self.settings.discord_gateway_url and self.shard_count is None:
            # Ask Discord how many shards, but connect to the configured gateway
            # (discord.py uses DEFAULT_GATEWAY once shard_count is known).
            self.shard_count, _url, _limits = await self.http.get_bot_gateway()
        await super().launch_shards()

    async def setup_hook(self) -> None:
        await self.db.upgrade()
        try:
            await self.generations.prune(GENERATION_RETENTION)
        except Exception:
            log.exception("could not prune old generations; continuing")
        for name in cog_modules():
            await self.load_extension(name)
            log.info("loaded %s", name)
        await self.sync_commands()
        # What start-up made (modules, the command tree, the ORM, Alembic's
        # leftovers collected here: some 130,000 objects) lives as long as the
        # process; frozen, the collector stops walking it on every full
        # collection (about 200 ms each, every few hundred interactions).
        gc.collect()
        gc.freeze()

    async def sync_commands(self) -> list[str]:
        """Sync per DISCORD_SYNC, skipping scopes whose commands did not change.

        auto: global, when changed. global: global, always. guild:IDs: the
        commands copied to those servers, when changed. off: never.
        Returns the scopes actually synced.
        """
        mode = self.settings.discord_sync
        synced: list[str] = []
        if mode == "off":
            log.info("DISCORD_SYNC=off: not syncing commands")
            return synced
        if mode in ("auto", "global"):
            if await self._sync_scope(None, force=mode == "global"):
                synced.append("global")
        else:
            for raw in mode.removeprefix("guild:").split(","):
                guild = discord.Object(id=int(raw))
                self.tree.copy_global_to(guild=guild)
                if await self._sync_scope(guild, force=False):
                    synced.append(f"guild:{guild.id}")
        self.synced_scopes = synced
        return synced

    async def _sync_scope(self, guild: discord.abc.Snowflake | None, *, force: bool) -> bool:
        scope = "global" if guild is None else f"guild:{guild.id}"
        payload = [command.to_dict(self.tree) for command in self.tree.get_commands(guild=guild)]
        digest = commands_hash(payload)
        app_id = self.application_id or 0
        if not force and await self.command_sync.last_hash(app_id, scope) == digest:
            log.info("commands unchanged for %s: not syncing", scope)
            return False
        synced = await self.tree.sync(guild=guild)
        await self.command_sync.record(app_id, scope, digest)
        log.info("synced %d commands to %s", len(synced), scope)
        return True

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        for name in list(self.extensions):
            try:
                await self.unload_extension(name)
            except Exception:
                log.exception("could not unload %s", name)
        await super().close()
        # Replies waiting on their generation's commit get it before the database goes.
        await self.generations.close()
        if self._owns_completions:
            await self.completions.aclose()
        if self._owns_db:
            await self.db.dispose()
