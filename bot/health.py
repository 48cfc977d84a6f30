"""The operator's endpoint (off unless METRICS_PORT is set): `/healthz`, `/readyz`, `/metrics`.

- `/healthz`: 200 while the process's event loop answers (restart it when not).
- `/readyz`: 200 when this process can serve — every shard connected, the
  database answers, a model server answers its model list, Redis answers (when
  configured) — else 503; the JSON body says which check failed.
- `/metrics`: Prometheus' text format (bot/metrics.py).

It listens on every interface, so Prometheus and an orchestrator can reach it
from outside a container; it shows no secrets.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST

if TYPE_CHECKING:
    from bot.app import CoupletBot

log = logging.getLogger(__name__)

# Seconds each readiness check may take.
CHECK_TIMEOUT = 3.0


class HealthServer:
    """Serves the three routes for one bot on `port` (0: any free port)."""

    def __init__(self, bot: CoupletBot, port: int, host: str = "0.0.0.0") -> None:
        self.bot = bot
        self.host, self.port = host, port
        self._runner: web.AppRunner | None = None

    async def start(self) -> int:
        """Start listening; returns the port."""
        app = web.Application()
        app.router.add_get("/healthz", self.healthz)
        app.router.add_get("/readyz", self.readyz)
        app.router.add_get("/metrics", self.metrics)
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        self.port = self._runner.addresses[0][1]
        log.info("health and metrics on port %s (/healthz, /readyz, /metrics)", self.port)
        return self.port

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def healthz(self, request: web.Request) -> web.Response:
        return web.json_response({"alive": True})

    async def readyz(self, request: web.Request) -> web.Response:
        checks = {
            "discord": self._discord,
            "database": self.bot.db.ping,
            "backend": self._backend,
        }
        if self.bot.cluster.redis is not None:
            checks["redis"] = self._redis
        results = dict(
            zip(checks, await asyncio.gather(*(_run(c) for c in checks.values())), strict=True)
        )
        ready = all(result == "ok" for result in results.values())
        return web.json_response({"ready": ready, "checks": results}, status=200 if ready else 503)

    async def metrics(self, request: web.Request) -> web.Response:
        body = self.bot.metrics.render()
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})

    # -- the checks -------------------------------------------------------------------

    async def _discord(self) -> None:
        bot = self.bot
        if bot.is_closed() or not bot.is_ready():
            raise RuntimeError("not connected to Discord")
        closed = [shard_id for shard_id, shard in bot.shards.items() if shard.is_closed()]
        if closed:
            raise RuntimeError(f"shards {closed} are not connected")

    async def _backend(self) -> None:
        pool = self.bot.completions.http
        server = pool.pick()
        if not await pool.probe(server):
            raise RuntimeError(f"the model server {server.index} does not answer")

    async def _redis(self) -> None:
        assert self.bot.cluster.redis is not None
        await self.bot.cluster.redis.ping()


async def _run(check: Callable[[], Awaitable[object]]) -> str:
    """ "ok", or why the check failed (one line, no traceback)."""
    try:
        await asyncio.wait_for(check(), CHECK_TIMEOUT)
    except TimeoutError:
        return f"no answer within {CHECK_TIMEOUT:g} s"
    except Exception as err:  # a readiness check reports, it never raises
        return str(err) or type(err).__name__
    return "ok"
