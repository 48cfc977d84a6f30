"""What an operator sees of one bot process, in Prometheus' format (`/metrics`).

Each bot has its own `CollectorRegistry` (never the global one), so several
bots in one process (tests) never mix their counts. Counted as things happen:

- `couplet_interactions_total{command, outcome}`: every interaction once its
  handler ended; outcome `ok`, `error` (answered with a sentence: a bad value,
  a limit, the backend down) or `failed` (an unexpected error, logged).
- `couplet_interaction_first_response_seconds{command}`: from the interaction's
  creation (its snowflake) to its first response (Discord allows 3 s), seen on
  the callback request itself (discord.py's `http_trace`, set only with
  METRICS_PORT: aiohttp's tracing costs every request).
- from each ledger entry: `couplet_generations_total{command, backend, outcome}`,
  `couplet_backend_requests_total{backend}`, `couplet_backend_errors_total{backend}`,
  `couplet_tokens_total{kind}`, `couplet_backend_seconds` and
  `couplet_queue_wait_seconds` histograms.

Read when scraped (`LiveCollector`): the queue's depth and running
generations, each shard's gateway latency, each model server's state,
moderation verdicts, background-work runs and leases, cache invalidations,
interactions resumed after their process died.
"""

from __future__ import annotations

import math
import re
import time
from collections import OrderedDict
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import aiohttp
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

if TYPE_CHECKING:
    from bot.app import CoupletBot
    from bot.usage import LedgerEntry

DISCORD_EPOCH_MS = 1420070400000
# Interactions remembered between their arrival and the end of their handler.
TRACKED = 10_000
CALLBACK = re.compile(r"/interactions/(\d+)/[^/]+/callback$")
# Interaction latency buckets, in seconds, around Discord's 3-second window.
RESPONSE_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 3.0, 5.0)
BACKEND_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 120.0)


def command_label(data: dict[str, Any]) -> str:
    """A short, bounded name for what an interaction asked: the command with its
    subcommands, `autocomplete`, or a component's custom id without its numbers."""
    kind = int(data.get("type") or 0)
    inner = data.get("data") or {}
    if kind == 2:
        parts = [str(inner.get("name", "?"))]
        options = inner.get("options") or []
        while options and options[0].get("type") in (1, 2):
            parts.append(str(options[0].get("name")))
            options = options[0].get("options") or []
        return " ".join(parts)[:60]
    if kind == 4:
        return f"autocomplete:{inner.get('name', '?')}"[:60]
    custom = str(inner.get("custom_id", "?"))
    words = [part for part in custom.split(":") if part and not part.isdecimal()]
    prefix = "button" if kind == 3 else "modal"
    return f"{prefix}:{':'.join(words[:3])}"[:60]


def server_label(url: str) -> str:
    """A model server's URL without credentials (a label must not leak them)."""
    parts = urlsplit(url)
    host = parts.hostname or "?"
    return f"{host}:{parts.port}" if parts.port else host


class Metrics:
    """One process's metrics (see the module docstring)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.interactions = Counter(
            "couplet_interactions", "Interactions handled", ["command", "outcome"], registry=r
        )
        self.first_response = Histogram(
            "couplet_interaction_first_response_seconds",
            "From an interaction's creation to its first response",
            ["command"],
            buckets=RESPONSE_BUCKETS,
            registry=r,
        )
        self.generations = Counter(
            "couplet_generations",
            "Generations sent to the backend",
            ["command", "backend", "outcome"],
            registry=r,
        )
        self.backend_requests = Counter(
            "couplet_backend_requests", "HTTP requests generations took", ["backend"], registry=r
        )
        self.backend_errors = Counter(
            "couplet_backend_errors", "Generations the backend failed", ["backend"], registry=r
        )
        self.tokens = Counter("couplet_tokens", "Tokens used", ["kind"], registry=r)
        self.backend_seconds = Histogram(
            "couplet_backend_seconds",
            "Time a generation took at the backend",
            ["backend"],
            buckets=BACKEND_BUCKETS,
            registry=r,
        )
        self.queue_wait = Histogram(
            "couplet_queue_wait_seconds",
            "Time a generation waited for its turn",
            buckets=BACKEND_BUCKETS,
            registry=r,
        )
        # Labelled children by metric and labels: `labels()` takes a lock and
        # checks its arguments on every call, several times per interaction.
        # The label values are bounded (commands, outcomes, backends, kinds).
        self._children: dict[tuple[Any, tuple[str, ...]], Any] = {}
        # Interaction id -> its command label, until its handler ends.
        self._commands: OrderedDict[int, str] = OrderedDict()
        self._outcomes: dict[int, str] = {}

    def _child(self, metric: Any, *labels: str) -> Any:
        """`metric.labels(*labels)`, looked up once."""
        key = (metric, labels)
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = metric.labels(*labels)
        return child

    def render(self) -> bytes:
        """The text exposition of every metric."""
        return generate_latest(self.registry)

    def watch(self, bot: CoupletBot) -> None:
        """Also report what `bot` knows when scraped."""
        self.registry.register(LiveCollector(bot))

    # -- interactions -------------------------------------------------------------

    def interaction_started(self, data: dict[str, Any]) -> int:
        """An interaction arrived (its raw payload); returns its id."""
        interaction_id = int(data["id"])
        self._commands[interaction_id] = command_label(data)
        while len(self._commands) > TRACKED:
            old, _ = self._commands.popitem(last=False)
            self._outcomes.pop(old, None)
        return interaction_id

    def interaction_outcome(self, interaction_id: int, outcome: str) -> None:
        """How the interaction went, when it was not `ok` (`error` or `failed`)."""
        if interaction_id in self._commands:
            self._outcomes[interaction_id] = outcome

    def interaction_ended(self, interaction_id: int) -> None:
        """Its handler ended: count it once, with its outcome."""
        command = self._commands.pop(interaction_id, None)
        if command is None:
            return
        outcome = self._outcomes.pop(interaction_id, "ok")
        self._child(self.interactions, command, outcome).inc()

    def responded(self, interaction_id: int) -> None:
        """Its first response was accepted by Discord."""
        command = self._commands.get(interaction_id, "unknown")
        created = ((interaction_id >> 22) + DISCORD_EPOCH_MS) / 1000
        self._child(self.first_response, command).observe(max(0.0, time.time() - created))

    def trace_config(self) -> aiohttp.TraceConfig:
        """Watches discord.py's requests for interaction callbacks (first responses)."""
        trace = aiohttp.TraceConfig()

        async def on_end(
            session: aiohttp.ClientSession, context: Any, params: aiohttp.TraceRequestEndParams
        ) -> None:
            if params.method != "POST" or params.response.status >= 400:
                return
            found = CALLBACK.search(params.url.path)
            if found:
                self.responded(int(found.group(1)))

        trace.on_request_end.append(on_end)
        return trace

    # -- generations --------------------------------------------------------------

    def generation(self, entry: LedgerEntry) -> None:
        """One ledger entry: a generation sent to the backend, and how it went."""
        self._child(self.generations, entry.command, entry.backend, entry.outcome).inc()
        self._child(self.backend_requests, entry.backend).inc(entry.requests)
        if entry.outcome == "error":
            self._child(self.backend_errors, entry.backend).inc()
        self._child(self.tokens, "prompt").inc(entry.prompt_tokens)
        self._child(self.tokens, "completion").inc(entry.completion_tokens)
        self._child(self.backend_seconds, entry.backend).observe(entry.latency_ms / 1000)
        self.queue_wait.observe(entry.wait_ms / 1000)


class LiveCollector(Collector):
    """Reads the bot's state when Prometheus scrapes."""

    def __init__(self, bot: CoupletBot) -> None:
        self.bot = bot

    def collect(self) -> Iterator[Metric]:
        bot = self.bot
        queue = GaugeMetricFamily(
            "couplet_queue_depth", "Generations of this process waiting for the backend"
        )
        queue.add_metric([], bot.usage.waiting)
        yield queue
        running = GaugeMetricFamily(
            "couplet_queue_running", "Generations of this process running on the backend"
        )
        running.add_metric([], bot.usage.running)
        yield running
        latency = GaugeMetricFamily(
            "couplet_shard_latency_seconds", "Gateway heartbeat latency", labels=["shard"]
        )
        for shard_id, seconds in bot.latencies:
            if math.isfinite(seconds):
                latency.add_metric([str(shard_id)], seconds)
        yield latency
        yield from self._servers()
        verdicts = CounterMetricFamily(
            "couplet_moderation_verdicts", "Moderation verdicts", labels=["stage", "action"]
        )
        for (stage, action), count in sorted(bot.moderation.verdicts.items()):
            verdicts.add_metric([stage, action], count)
        yield verdicts
        leases = bot.cluster.leases
        runs = CounterMetricFamily(
            "couplet_background_runs", "Runs of background work by this process", labels=["task"]
        )
        held = GaugeMetricFamily(
            "couplet_lease_held", "Background work this process runs", labels=["task"]
        )
        for name in sorted(set(leases.runs) | leases.held):
            runs.add_metric([name], leases.runs[name])
            held.add_metric([name], 1.0 if name in leases.held else 0.0)
        yield runs
        yield held
        bus = bot.cluster.bus
        invalidations = CounterMetricFamily(
            "couplet_cache_invalidations",
            "Cache changes announced to or heard from other processes",
            labels=["cache", "direction"],
        )
        for topic in sorted(set(bus.published) | set(bus.received)):
            invalidations.add_metric([topic, "sent"], bus.published[topic])
            invalidations.add_metric([topic, "received"], bus.received[topic])
        yield invalidations
        resumed = CounterMetricFamily(
            "couplet_interactions_resumed",
            "Interactions this process finished for a process that died",
        )
        resumed.add_metric([], bot.jobs.resumed)
        yield resumed
        pending = GaugeMetricFamily(
            "couplet_ledger_pending", "Usage ledger entries held in this process"
        )
        pending.add_metric([], bot.usage.ledger.pending)
        yield pending

    def _servers(self) -> Iterator[Metric]:
        labels = ["server"]
        up = GaugeMetricFamily(
            "couplet_model_server_up", "Whether a model server is in the pool", labels=labels
        )
        flight = GaugeMetricFamily(
            "couplet_model_server_in_flight", "Requests in flight per model server", labels=labels
        )
        sent = CounterMetricFamily(
            "couplet_model_server_requests", "Requests sent per model server", labels=labels
        )
        failed = CounterMetricFamily(
            "couplet_model_server_failures", "Failed requests per model server", labels=labels
        )
        for server in self.bot.completions.http.servers:
            name = [server_label(server.url)]
            up.add_metric(name, 1.0 if server.up else 0.0)
            flight.add_metric(name, server.in_flight)
            sent.add_metric(name, server.requests)
            failed.add_metric(name, server.failures)
        yield from (up, flight, sent, failed)
