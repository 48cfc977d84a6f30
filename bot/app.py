"""`CoupletBot`: owns the shared resources, loads the cogs, syncs commands, closes everything.

The backend client and the database are created once here (or passed in by
tests), handed to the services, and closed in `close()` after the cogs are
unloaded. So is this process's part in a group of processes (`bot.cluster`:
Redis when REDIS_URL is set): IDENTIFY turns, leases for background work,
and the invalidation bus every per-server cache is attached to; the metrics
and the health endpoint (METRICS_PORT); and the interaction jobs that let
another process finish what a killed one started.
"""

from __future__ import annotations

import asyncio
import gc
import hashlib
import importlib
import json
import logging
import pkgutil
import time
from collections.abc import Callable
from datetime import timedelta
from functools import partial
from typing import TYPE_CHECKING, Any

import discord
from discord.ext import commands, tasks

import cogs
from bot import memory
from bot.cluster import Cluster
from bot.completions import CompletionsClient
from bot.discord_endpoints import patch_discord_endpoints
from bot.interaction_jobs import InteractionJobs
from bot.metrics import Metrics
from bot.moderation import ModerationService
from bot.services.generation import GenerationService
from bot.services.metering import Metering
from bot.services.parameters import ParameterResolver
from bot.services.presets import PresetService
from bot.services.server_settings import ServerSettingsService
from bot.services.stories import StoryBackend
from bot.settings import Settings
from bot.storage import Database
from bot.storage.cache import GuildCache
from bot.storage.command_sync import CommandSyncStore
from bot.storage.generations import GenerationStore
from bot.storage.jobs import JobStore
from bot.storage.stories import StoryStore
from bot.stories import StoryService
from bot.tree import CoupletTranslator, CoupletTree
from bot.usage import UsageService, build_usage
from bot.usage.ledger import FLUSH_INTERVAL

if TYPE_CHECKING:
    from bot.health import HealthServer

log = logging.getLogger(__name__)

# Background work one process runs at a time, and how long its lease lasts
# without renewal (a few rounds of its loop).
FLUSH_LEASE = "ledger-flush"
FLUSH_LEASE_TTL = FLUSH_INTERVAL * 5

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
# Net new objects between two collections of the youngest generation (Python's
# default is 700). At 700 the collector ran it about every four interactions,
# its middle generation every 45 and a full collection every 500: about 0.19 ms
# of CPU per /complete at 20 in flight and 0.33 ms per Regenerate one at a time.
# At 2,000: 0.10 and 0.21 ms, with pauses of 1.4 ms instead of 0.5
# (bench/README.md, "Garbage collection").
GC_YOUNG_THRESHOLD = 2_000
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


def _tasks_made_by(parse: Callable[[Any], None], data: Any) -> list[asyncio.Task[Any]]:
    """`parse(data)`, and the handler tasks it started (discord.py's own "discord.py: …"
    event dispatches left out)."""
    loop = asyncio.get_running_loop()
    previous = loop.get_task_factory()
    made: list[asyncio.Task[Any]] = []

    def factory(loop: asyncio.AbstractEventLoop, coro: Any, **kwargs: Any) -> asyncio.Future[Any]:
        if previous is not None:
            task = previous(loop, coro, **kwargs)
        else:
            task = asyncio.Task(coro, loop=loop, **kwargs)
        if isinstance(task, asyncio.Task):
            made.append(task)
        return task

    loop.set_task_factory(factory)
    try:
        parse(data)
    finally:
        loop.set_task_factory(previous)
    return [task for task in made if not task.get_name().startswith("discord.py: ")]


class CoupletBot(commands.AutoShardedBot):
    """The Couplet bot: slash commands over the Completions API."""

    def __init__(
        self,
        settings: Settings,
        *,
        completions: CompletionsClient | None = None,
        database: Database | None = None,
        usage: UsageService | None = None,
        cluster: Cluster | None = None,
        clock: Callable[[], float] = time.time,
        **discord_kwargs: Any,
    ) -> None:
        """`clock`: the wall clock stories keep their rounds' deadlines by (tests pass the
        emulator's, which they can move forward)."""
        # Counters and histograms of this process (served on METRICS_PORT when set).
        self.metrics = Metrics()
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
        if settings.metrics_port is not None:
            # Sees each interaction's first response (for its latency). Only when
            # the metrics are served: aiohttp's tracing costs every request.
            options["http_trace"] = self.metrics.trace_config()
        options.update(discord_kwargs)
        super().__init__(command_prefix=commands.when_mentioned, **options)
        self.settings = settings
        # Resources we create we also close; ones passed in belong to the caller.
        self._owns_cluster = cluster is None
        self.cluster: Cluster = cluster or Cluster.from_settings(settings)
        self._owns_completions = completions is None
        self._owns_db = database is None
        self.completions: CompletionsClient = completions or CompletionsClient.from_settings(
            settings
        )
        self.db: Database = database or Database(settings.database_url)
        self._owns_usage = usage is None
        # Limits, the usage ledger and the fair queue to the backend.
        self.usage: UsageService = usage or build_usage(settings, self.db, redis=self.cluster.redis)
        self.usage.observers.append(self.metrics.generation)
        self.server_settings = ServerSettingsService(self.db)
        self.presets = PresetService(self.db)
        self.parameters = ParameterResolver(self.server_settings, self.presets)
        # A stored generation marks the interaction job it answers (bot/storage/jobs.py).
        job_store = JobStore(self.db)
        self.generations = GenerationStore(self.db, job_store)
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
        # Group stories: their rounds go through the same generation, limits and moderation.
        self.stories = StoryService(
            StoryStore(self.db),
            StoryBackend(self.generation, self.server_settings),
            self.moderation,
            clock=clock,
        )
        self.command_sync = CommandSyncStore(self.db)
        self.synced_scopes: list[str] = []
        # A change to one process's cached configuration reaches the others' caches.
        self._share("settings", self.server_settings.cache)
        self._share("presets", self.presets.cache)
        self._share("limits", self.usage.limits.cache)
        self._share("moderation", self.moderation.policies)
        self._share("automod", self.moderation.automod)
        self.jobs = InteractionJobs(self, job_store, self.cluster.instance)
        self.health: HealthServer | None = None
        # Sessions a bucket of shards may start at once (GET /gateway/bot says).
        self.max_concurrency = 1
        self._watch_interactions()
        self.metrics.watch(self)
        self._closed = False
        # When flush_ledger next gives free memory back (see trim_memory).
        self.next_trim = time.monotonic() + memory.TRIM_EVERY

    def _share(self, topic: str, cache: GuildCache[Any]) -> None:
        """Announce the cache's changes to the other processes and apply theirs."""
        cache.on_change = partial(self.cluster.bus.publish, topic)
        self.cluster.bus.attach(topic, cache.forget)

    def _watch_interactions(self) -> None:
        """See each interaction as Discord sent it, and when its handler ends.

        discord.py keeps no raw payload and has no "handled" event for buttons
        and forms, so its INTERACTION_CREATE parser is wrapped: the raw payload
        goes to the jobs (to run it again after a crash) and the metrics, and the
        handler tasks discord.py starts while parsing it (caught by a task
        factory set on the loop for the parse only: a factory in Python would
        slow every other task the bot makes) report when they end.
        """
        parsers = self._connection.parsers
        parse = parsers["INTERACTION_CREATE"]

        def watched(data: Any) -> None:
            interaction_id = self.metrics.interaction_started(data)
            self.jobs.seen(data)
            handlers = _tasks_made_by(parse, data)
            if not handlers:  # event listeners only: nothing handles it
                self.metrics.interaction_ended(interaction_id)
                return
            pending = set(handlers)

            def ended(task: asyncio.Task[Any]) -> None:
                pending.discard(task)
                if not pending:
                    self.metrics.interaction_ended(interaction_id)

            for task in handlers:
                task.add_done_callback(ended)

        parsers["INTERACTION_CREATE"] = watched

    async def login(self, token: str) -> None:
        # discord.py builds every URL from these class attributes: set them first.
        patch_discord_endpoints(self.settings.discord_api_base, self.settings.discord_gateway_url)
        await super().login(token)

    async def launch_shards(self) -> None:
        count, _url, limits = await self.http.get_bot_gateway()
        self.max_concurrency = max(1, int(limits.get("max_concurrency") or 1))
        if self.settings.discord_gateway_url and self.shard_count is None:
            # Use Discord's shard count, but connect to the configured gateway
            # (discord.py uses DEFAULT_GATEWAY once shard_count is known).
            self.shard_count = count
        shards = self.shard_ids or (range(self.shard_count) if self.shard_count else None)
        log.info(
            "running shards %s of %s (max_concurrency %d)",
            list(shards) if shards is not None else "all",
            self.shard_count or "as many as Discord recommends",
            self.max_concurrency,
        )
        await super().launch_shards()

    async def before_identify_hook(self, shard_id: int | None, *, initial: bool = False) -> None:
        """Wait for this shard's IDENTIFY turn in its max_concurrency bucket, across
        every process of the bot (see bot.cluster.identify)."""
        await self.cluster.identify.wait_turn(shard_id or 0, self.max_concurrency)

    async def setup_hook(self) -> None:
        await self.tree.set_translator(CoupletTranslator())
        await self.cluster.start()
        if self.settings.metrics_port is not None:
            # Here: aiohttp's web server (1.5 MiB) only when METRICS_PORT asks for it.
            from bot.health import HealthServer

            self.health = HealthServer(self, self.settings.metrics_port)
            await self.health.start()
        await self.db.upgrade(in_child=True)  # Alembic stays out of this process
        try:
            await self.generations.prune(GENERATION_RETENTION)
        except Exception:
            log.exception("could not prune old generations; continuing")
        # The ledger is the source of truth for the limit counters.
        await self.usage.rebuild()
        self.flush_ledger.start()
        self.jobs.start()
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
        gc.set_threshold(GC_YOUNG_THRESHOLD, *gc.get_threshold()[1:])
        # And what start-up allocated and freed (the command payloads, the
        # migration check's reads) goes back to the system.
        await self.trim_memory()

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
        """Write the usage ledger's pending entries (batched, off the reply path).

        With several processes the entries wait in a shared spool, which one
        process (the lease's holder) writes; each process only checks that its
        own entries got there (see bot/usage/ledger.py).
        """
        ledger = self.usage.ledger
        try:
            if ledger.spool is None:
                await ledger.flush()
                return
            if await self.cluster.leases.claim(FLUSH_LEASE, ttl=FLUSH_LEASE_TTL):
                await ledger.drain()
            await ledger.confirm()
        except Exception:
            log.warning("could not write the usage ledger; will try again", exc_info=True)
        if time.monotonic() >= self.next_trim:
            await self.trim_memory()

    async def trim_memory(self) -> bool:
        """Give the C library's free memory back to the system (bot.memory), in a
        worker thread; the next trim is due TRIM_EVERY seconds later."""
        self.next_trim = time.monotonic() + memory.TRIM_EVERY
        return await asyncio.to_thread(memory.trim)

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self.health is not None:
            await self.health.stop()
        await finish_interactions(SHUTDOWN_GRACE)
        # Interactions still unanswered (cancelled above) are left for another process
        # (or a restart) to answer.
        await self.jobs.close()
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
        if self._owns_cluster:
            # Leases given up, so another process takes the background work at once.
            await self.cluster.aclose()
        if self._owns_db:
            await self.db.dispose()
