"""`CoupletBot`: owns the shared resources, loads the cogs, syncs commands, closes everything.

The backend client and the database are created once here (or passed in by
tests), handed to the services, and closed in `close()` after the cogs are
unloaded.
"""

from __future__ import annotations

import asyncio
import gc
import hashlib
import importlib
import json
import logging
import pkgutil
from datetime import timedelta
from typing import Any

import discord
from discord.ext import commands, tasks

import cogs
from bot.completions import CompletionsClient
from bot.discord_endpoints import patch_discord_endpoints
from bot.moderation import ModerationService
from bot.services.generation import GenerationService
from bot.services.metering import Metering
from bot.services.parameters import ParameterResolver
from bot.services.presets import PresetService
from bot.services.server_settings import ServerSettingsService
from bot.settings import Settings
from bot.storage import Database
from bot.storage.command_sync import CommandSyncStore
from bot.storage.generations import GenerationStore
from bot.tree import CoupletTranslator, CoupletTree
from bot.usage import UsageService, build_usage
from bot.usage.ledger import FLUSH_INTERVAL

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


# On a clean stop, interactions being answered get this long to finish before
# they are cancelled (a generation cut off mid-way would fail on closed clients).
SHUTDOWN_GRACE = 10.0
# The names discord.py gives the tasks that run commands, buttons and forms.
_INTERACTION_TASKS = ("CommandTree-invoker", "discord-ui-")


def interaction_tasks() -> list[asyncio.Task[Any]]:
    """The tasks discord.py is running commands, button clicks and form submits in."""
    return [
        task
        for task in asyncio.all_tasks()
        if task.get_name().startswith(_INTERACTION_TASKS) and task is not asyncio.current_task()
    ]


async def finish_interactions(grace: float) -> None:
    """Let running interactions finish for up to `grace` seconds, then cancel the rest
    so they end quietly instead of failing with tracebacks on closed clients."""
    running = interaction_tasks()
    if running and grace > 0:
        log.info("waiting up to %.0f s for %d interactions to finish", grace, len(running))
        await asyncio.wait(running, timeout=grace)
    unfinished = [task for task in running if not task.done()]
    for task in unfinished:
        task.cancel()
    if unfinished:
        log.warning("cancelled %d unfinished interactions on shutdown", len(unfinished))
        await asyncio.wait(unfinished, timeout=10)


class CoupletBot(commands.AutoShardedBot):
    """The Couplet bot: slash commands over the Completions API."""

    def __init__(
        self,
        settings: Settings,
        *,
        completions: CompletionsClient | None = None,
        database: Database | None = None,
        usage: UsageService | None = None,
        **discord_kwargs: Any,
    ) -> None:
        options: dict[str, Any] = {
            # Interactions need no intents; guilds keeps the server cache useful;
            # AutoMod rule events keep the server's rules fresh for moderation.
            "intents": discord.Intents(guilds=True, auto_moderation_configuration=True),
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
        self._owns_usage = usage is None
        # Limits, the usage ledger and the fair queue to the backend.
        self.usage: UsageService = usage or build_usage(settings, self.db)
        self.server_settings = ServerSettingsService(self.db)
        self.presets = PresetService(self.db)
        self.parameters = ParameterResolver(self.server_settings, self.presets)
        self.generations = GenerationStore(self.db)
        self.metering = Metering(self.usage, self.completions, self.server_settings)
        self.moderation = ModerationService.from_settings(settings, self.db)
        self.generation = GenerationService(
            self.completions,
            self.parameters,
            self.generations,
            default_model=settings.completions_model,
            metering=self.metering,
            moderation=self.moderation,
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
        await self.tree.set_translator(CoupletTranslator())
        await self.db.upgrade()
        try:
            await self.generations.prune(GENERATION_RETENTION)
        except Exception:
            log.exception("could not prune old generations; continuing")
        # The ledger is the source of truth for the limit counters.
        await self.usage.rebuild()
        self.flush_ledger.start()
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

    async def command_payload(self, guild: discord.abc.Snowflake | None = None) -> list[Any]:
        """What a sync sends for one scope, translations included (as `tree.sync` builds it)."""
        translator = self.tree.translator
        commands = self.tree.get_commands(guild=guild)
        if translator is None:
            return [command.to_dict(self.tree) for command in commands]
        return [await command.get_translated_payload(self.tree, translator) for command in commands]

    async def _sync_scope(self, guild: discord.abc.Snowflake | None, *, force: bool) -> bool:
        scope = "global" if guild is None else f"guild:{guild.id}"
        digest = commands_hash(await self.command_payload(guild))
        app_id = self.application_id or 0
        if not force and await self.command_sync.last_hash(app_id, scope) == digest:
            log.info("commands unchanged for %s: not syncing", scope)
            return False
        synced = await self.tree.sync(guild=guild)
        await self.command_sync.record(app_id, scope, digest)
        log.info("synced %d commands to %s", len(synced), scope)
        return True

    @tasks.loop(seconds=FLUSH_INTERVAL)
    async def flush_ledger(self) -> None:
        """Write the usage ledger's pending entries (batched, off the reply path)."""
        try:
            await self.usage.ledger.flush()
        except Exception:
            log.warning("could not write the usage ledger; will try again", exc_info=True)

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        await finish_interactions(SHUTDOWN_GRACE)
        for name in list(self.extensions):
            try:
                await self.unload_extension(name)
            except Exception:
                log.exception("could not unload %s", name)
        await super().close()
        # Replies waiting on their generation's commit get it before the database goes.
        await self.generations.close()
        async with self.usage.ledger.lock:  # so no flush is cut off half way
            self.flush_ledger.cancel()
        # A clean stop loses no ledger entry: the last ones are written here.
        try:
            if self._owns_usage:
                await self.usage.aclose()
            else:
                await self.usage.ledger.flush()
        except Exception:
            log.exception("could not write the usage ledger on close")
        await self.moderation.aclose()
        if self._owns_completions:
            await self.completions.aclose()
        if self._owns_db:
            await self.db.dispose()
