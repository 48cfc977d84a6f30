"""Interactions being answered survive their process: a kill -9 mid-generation is
finished by another process, or by the same one restarted, exactly once.

    async with bot.jobs.track(interaction, "complete", {"prompt": ..., ...}):
        ...generate and answer...

`track` stores the interaction as Discord sent it (its token lets any process
edit the answer for 15 minutes) and the handler's arguments
(bot/storage/jobs.py), heartbeats while the handler runs, and forgets the job
when the handler ends — with the answer, or with an error it answered. A
process stopping cleanly leaves its unfinished jobs to be taken at once.

Every process runs the recovery loop, but one at a time (the
`interaction-jobs` lease): it claims jobs whose heartbeat stopped
(`STALE_AFTER`), rebuilds each interaction — already acknowledged, so the
"thinking…" message is edited, never answered twice — and hands it to the
handler registered for its kind. The handler runs it again from the start
with the same usage reservation id (`request_id`), so limits count it once —
unless the job's generation was already stored (bot/storage/jobs.py): then the
kind's `resend` handler sends that generation again, and nothing is generated.
A job that has already cost `MAX_ATTEMPTS` processes is answered with a
sentence instead.
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import discord
from discord.ext import tasks

from bot.background import Iteration, stop_loop
from bot.i18n import _
from bot.storage.jobs import Job, JobStore
from bot.storage.models import utcnow
from bot.tree import PUBLIC_DEFER, reply_ephemeral, report_error

if TYPE_CHECKING:
    from bot.app import CoupletBot

log = logging.getLogger(__name__)

# Seconds between heartbeats of the jobs a process works on.
HEARTBEAT = 3.0
# A job whose heartbeat is this old has lost its process.
STALE_AFTER = 12.0
# Seconds between looks for lost jobs (by the holder of the lease).
RECOVER_EVERY = 2.0
RECOVER_LEASE = "interaction-jobs"
# Jobs too old to answer are dropped every this many rounds (a minute).
DROP_EVERY = 30
# Processes a job may cost before it is given up with a sentence.
MAX_ATTEMPTS = 3
# Discord accepts answers to an interaction for 15 minutes.
TOKEN_LIFETIME = timedelta(minutes=15)
# Raw interaction payloads kept between their arrival and their handler's start.
RAW_KEPT = 2_000

Handler = Callable[[discord.Interaction, dict[str, Any]], Awaitable[None]]
# Sends a stored generation (its id) as the answer.
Resend = Callable[[discord.Interaction, int], Awaitable[None]]


def private_of(payload: dict[str, Any]) -> bool:
    """Whether a stored interaction's answer was private (its arguments say so)."""
    return bool(payload.get("private"))


class InteractionJobs:
    """The jobs of one process (see the module docstring)."""

    def __init__(self, bot: CoupletBot, store: JobStore, owner: str) -> None:
        self.bot = bot
        self.store = store
        self.owner = owner
        self.handlers: dict[str, Handler] = {}
        self.resenders: dict[str, Resend] = {}
        self._raw: OrderedDict[int, dict[str, Any]] = OrderedDict()
        self._running: dict[int, asyncio.Task[Any]] = {}
        self._resumed: set[int] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self._beating, self._recovering = Iteration(), Iteration()
        self.resumed = 0  # jobs this process finished for another (for /metrics)

    def register(self, kind: str, handler: Handler, *, resend: Resend | None = None) -> None:
        """Who runs a job of `kind` again (a cog, when it loads), and who sends its
        stored generation again when it has one."""
        self.handlers[kind] = handler
        if resend is not None:
            self.resenders[kind] = resend

    def unregister(self, kind: str) -> None:
        self.handlers.pop(kind, None)
        self.resenders.pop(kind, None)

    def seen(self, data: dict[str, Any]) -> None:
        """An interaction arrived, as Discord sent it (kept a short while for `track`)."""
        self._raw[int(data["id"])] = data
        while len(self._raw) > RAW_KEPT:
            self._raw.popitem(last=False)

    @property
    def working(self) -> int:
        """Jobs this process is working on now."""
        return len(self._running)

    # -- tracking ---------------------------------------------------------------------

    @asynccontextmanager
    async def track(
        self, interaction: discord.Interaction, kind: str, args: dict[str, Any]
    ) -> AsyncIterator[None]:
        """Keep the interaction's job stored while the block answers it (see the module
        docstring). Call it once the interaction is acknowledged, or while its
        acknowledgement is on its way (`bot.tree.acknowledge`): a process that dies
        before the "thinking…" response reached Discord leaves a job nobody can
        answer, as one dying before the job was written leaves an unanswered one."""
        job_id = interaction.id
        resumed = job_id in self._resumed  # a job being run again is stored already
        raw = self._raw.pop(job_id, None)
        stored = resumed
        if not resumed and raw is not None:
            job = Job(job_id, kind, raw, args, interaction.created_at + TOKEN_LIFETIME)
            # Written beside the work, not before it: the answer is not delayed, and
            # a job answered before its write started is never written.
            self.store.add_soon(job, self.owner).add_done_callback(_log_failed_add)
            stored = True
        task = asyncio.current_task()
        if task is not None:
            self._running[job_id] = task
        self._start_loops()
        try:
            yield
        except asyncio.CancelledError:
            # The process is stopping: the job stays for another (or this one, restarted).
            raise
        finally:
            self._running.pop(job_id, None)
            self._resumed.discard(job_id)
            if stored and not _cancelled():
                await self._finish(job_id)

    async def _finish(self, job_id: int) -> None:
        try:
            await self.store.finish(job_id)
        except Exception:
            log.warning("could not forget interaction %s's job", job_id, exc_info=True)

    # -- loops --------------------------------------------------------------------------

    def _start_loops(self) -> None:
        if not self.heartbeat.is_running():
            self.heartbeat.start()

    def start(self) -> None:
        """Start the recovery loop (and the heartbeat)."""
        self._start_loops()
        if not self.recover.is_running():
            self.recover.start()

    @tasks.loop(seconds=HEARTBEAT)
    async def heartbeat(self) -> None:
        try:
            with self._beating:
                # Removals waiting for a write (answered jobs) are written well before
                # their heartbeat is stale, so this process never takes them over.
                await self.store.flush()
                if self._running:
                    await self.store.heartbeat(self.owner)
        except Exception:
            log.warning("could not refresh the jobs' heartbeat", exc_info=True)

    @tasks.loop(seconds=RECOVER_EVERY)
    async def recover(self) -> None:
        """Take jobs whose process died and run them again (one process at a time)."""
        with self._recovering:
            await self._recover()

    async def _recover(self) -> None:
        if not await self.bot.cluster.leases.claim(RECOVER_LEASE, ttl=RECOVER_EVERY * 4):
            return
        try:
            if self.recover.current_loop % DROP_EVERY == 0:
                await self.store.drop_expired()
            stale = utcnow() - timedelta(seconds=STALE_AFTER)
            jobs = await self.store.claim_stale(self.owner, stale)
        except Exception:
            log.warning("could not look for interactions left unanswered", exc_info=True)
            return
        for job in jobs:
            task = asyncio.create_task(self.resume(job), name=f"couplet-resume-{job.id}")
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def resume(self, job: Job) -> None:
        """Answer a job another process (or this one, before a restart) left unfinished."""
        interaction = self.rebuild(job)
        handler = self.handlers.get(job.kind)
        resend = self.resenders.get(job.kind)
        log.info("resuming interaction %s (%s, attempt %d)", job.id, job.kind, job.attempts)
        self._resumed.add(job.id)
        try:
            if handler is None or job.attempts > MAX_ATTEMPTS:
                await reply_ephemeral(
                    interaction,
                    _(
                        "Couplet was restarted while answering this and could not finish it: "
                        "please run the command again."
                    ),
                )
            else:
                try:
                    if job.generation_id is not None and resend is not None:
                        await resend(interaction, job.generation_id)
                    else:
                        await handler(interaction, job.args)
                except Exception as error:
                    await report_error(interaction, error)
            self.resumed += 1
        finally:
            self._resumed.discard(job.id)
            if not _cancelled():
                await self._finish(job.id)

    def rebuild(self, job: Job) -> discord.Interaction:
        """The stored interaction as discord.py's object, marked as already deferred."""
        state = self.bot._connection
        interaction: discord.Interaction = discord.Interaction(
            data=job.interaction,  # type: ignore[arg-type]
            state=state,
        )
        # It was acknowledged before the process died: answers edit "thinking…".
        interaction.response._response_type = (
            discord.InteractionResponseType.deferred_channel_message
        )
        if not private_of(job.args):
            interaction.extras[PUBLIC_DEFER] = True
        return interaction

    async def close(self) -> None:
        """Stop the loops; jobs still running are left for another process at once."""
        # A claim under way completes: the jobs it took are started, then handed over below.
        await stop_loop(self.recover, self._recovering)
        await stop_loop(self.heartbeat, self._beating)
        running = [*self._running.values(), *self._tasks]
        for task in running:
            if task is not asyncio.current_task():
                task.cancel()
        await asyncio.gather(*running, return_exceptions=True)
        try:
            await self.store.flush()
            left = await self.store.abandon(self.owner)
        except Exception:
            log.warning("could not hand unfinished interactions over", exc_info=True)
            return
        if left:
            log.info("left %d unfinished interactions for another process", left)


def _log_failed_add(future: asyncio.Future[None]) -> None:
    if not future.cancelled() and future.exception() is not None:
        log.warning("could not store an interaction's job", exc_info=future.exception())


def _cancelled() -> bool:
    """Whether the current task is being cancelled (the process is stopping)."""
    task = asyncio.current_task()
    return task is not None and task.cancelling() > 0
