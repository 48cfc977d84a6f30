"""Two `couplet run` processes, each running one of two shards, against one local Discord,
one real PostgreSQL and one real Redis (all started by the test setup).

Each command is answered by the process running its server's shard; IDENTIFY turns
are shared (the emulator enforces Discord's 5 seconds per bucket); a process that
replaces another on a shard (a rolling deploy) sees the configuration changes made
through it and shares its members' limits exactly; background work runs in one
process; /metrics counts what was done; a process killed with kill -9 in the middle
of a generation loses nothing and no interaction is answered twice.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest
import pytest_asyncio

from bot.cluster import IDENTIFY_INTERVAL
from bot.sandbox.world import Guild
from bot.storage.usage import LedgerStore
from tests.scale.processes import (
    STUB_TEXT,
    WAIT,
    TwoProcesses,
    eventually,
    two_processes,
)
from tests.support.discord_env import wait_until
from tests.support.postgres import PostgresCluster
from tests.support.redis import RedisServer

pytestmark = pytest.mark.asyncio(loop_scope="module")

COMPLETE = "couplet_interactions_total"


class World(TwoProcesses):
    @property
    def ledger(self) -> LedgerStore:
        return LedgerStore(self.db)


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def world(
    postgres_cluster: PostgresCluster,
    redis_server: RedisServer,
    tmp_path_factory: pytest.TempPathFactory,
) -> AsyncIterator[World]:
    """Discord with a server on each of two shards; process p1 runs shard 0, p2 shard 1."""
    logs = tmp_path_factory.mktemp("processes")
    # dana and kara: members of one test each.
    async with two_processes(
        World, postgres_cluster, redis_server, logs, members=("dana", "kara")
    ) as started:
        yield started


async def complete(world: World, guild: Guild, member: str, prompt: str, **options: object) -> str:
    rec = await world.fake.slash(
        "complete", guild=guild, member=member, prompt=prompt, max_tokens=20, **options
    )
    return str((await rec.wait_final(WAIT))["content"])


async def test_each_command_is_answered_by_the_process_running_its_shard(world: World) -> None:
    """A /complete in the server on shard 0 is answered by p1 only, one on shard 1 by p2
    only; the two IDENTIFYs shared their bucket, 5 seconds apart, and none was refused."""
    a, b = world.guilds
    assert (await complete(world, a, "alice", "to shard 0")).startswith(f"{STUB_TEXT} (to shard 0)")
    assert (await complete(world, b, "alice", "to shard 1")).startswith(f"{STUB_TEXT} (to shard 1)")

    async def counted() -> bool:
        p1 = await world.p1.metric(COMPLETE, command="complete", outcome="ok")
        p2 = await world.p2.metric(COMPLETE, command="complete", outcome="ok")
        return (p1, p2) == (1, 1)

    await eventually(counted, "each process to count its one /complete")
    for process in (world.p1, world.p2):
        samples = await process.metrics()
        first = ("couplet_interaction_first_response_seconds_count", (("command", "complete"),))
        assert samples[first] == 1
        shards = {
            dict(labels)["shard"]
            for name, labels in samples
            if name == "couplet_shard_latency_seconds"
        }
        assert shards == {str(s) for s in process.shards}
    assert "running shards [0] of 2" in world.p1.log()
    assert "running shards [1] of 2" in world.p2.log()
    starts = {shard: at for at, shard, _ in world.fake.identify_log}
    assert abs(starts[1] - starts[0]) >= IDENTIFY_INTERVAL * 0.95  # one bucket (max_concurrency 1)
    assert world.fake.identify_refusals == []


async def test_metrics_count_what_was_done(world: World) -> None:
    """Three generations and one refused option through p1: /metrics (parsed with
    Prometheus' parser) counts them, their requests, tokens and verdicts exactly."""
    a = world.guilds[0]
    before = await world.p1.metrics()
    for n in range(3):
        await complete(world, a, "bob", f"counted {n}")
    rec = await world.fake.slash("complete", guild=a, member="bob", prompt="x", stop="a|b|c|d|e")
    assert "stop" in (await rec.wait_final(WAIT))["content"]

    def delta(after: dict, name: str, **labels: str) -> float:  # type: ignore[type-arg]
        key = (name, tuple(sorted(labels.items())))
        return after.get(key, 0.0) - before.get(key, 0.0)

    async def settled() -> bool:
        after = await world.p1.metrics()
        return delta(after, COMPLETE, command="complete", outcome="error") == 1

    await eventually(settled, "the refused command to be counted")
    after = await world.p1.metrics()
    assert delta(after, COMPLETE, command="complete", outcome="ok") == 3
    generations = {"command": "complete", "backend": "vllm", "outcome": "ok"}
    assert delta(after, "couplet_generations_total", **generations) == 3
    assert delta(after, "couplet_backend_requests_total", backend="vllm") == 3
    assert delta(after, "couplet_backend_errors_total", backend="vllm") == 0
    assert delta(after, "couplet_tokens_total", kind="prompt") == 3 * 3
    assert delta(after, "couplet_tokens_total", kind="completion") == 3 * 7
    assert delta(after, "couplet_backend_seconds_count", backend="vllm") == 3
    assert delta(after, "couplet_moderation_verdicts_total", stage="input", action="allow") == 3
    assert delta(after, "couplet_moderation_verdicts_total", stage="output", action="allow") == 3
    assert after[("couplet_queue_depth", ())] == 0
    server = next(labels for name, labels in after if name == "couplet_model_server_up")
    assert after[("couplet_model_server_up", server)] == 1
    assert delta(after, "couplet_model_server_requests_total", **dict(server)) >= 3
    # p2 saw none of it.
    assert await world.p2.metric(COMPLETE, command="complete", outcome="error") == 0


async def test_background_work_runs_in_one_process(world: World) -> None:
    """The ledger flush, the recovery of lost interactions and the AutoMod refresh each
    run in exactly one of the two processes; every generation so far is in the ledger
    once."""
    for task in ("ledger-flush", "interaction-jobs", "automod-refresh"):

        async def one_holder(task: str = task) -> bool:
            held = [await p.metric("couplet_lease_held", task=task) for p in (world.p1, world.p2)]
            return sorted(held) == [0.0, 1.0]

        await eventually(one_holder, f"one process to hold {task}")
        runs = [
            await p.metric("couplet_background_runs_total", task=task) for p in (world.p1, world.p2)
        ]
        assert min(runs) == 0 and max(runs) >= 1, (task, runs)
    made = len(world.stub.requests)

    async def all_written() -> bool:
        today = datetime.now(UTC).date()
        totals = [await world.ledger.totals(g.id, today) for g in world.guilds]
        return sum(t.requests for t in totals) == made

    await eventually(all_written, "every generation to be in the ledger once")


async def test_a_change_through_one_process_reaches_the_other(world: World) -> None:
    """A preset used through p1 (so p1 caches it), edited through p3 — a process started
    on shard 0 while p1 still runs, as a rolling deploy does — is used with its new
    value by p1 on the next command once p3 is gone."""
    a = world.guilds[0]
    fake, stub = world.fake, world.stub
    rec = await fake.slash("preset create", guild=a, member="admin", name="warm", temperature=0.5)
    await rec.wait_final(WAIT)
    await complete(world, a, "alice", "before", preset="warm")
    assert stub.with_prompt("before")[0]["temperature"] == 0.5
    p3 = await world.cluster.start([0], name="p3")
    try:
        rec = await fake.slash("preset edit", guild=a, member="admin", name="warm", temperature=1.5)
        await rec.wait_final(WAIT)

        async def edited_by_p3() -> bool:
            return await p3.metric(COMPLETE, command="preset edit", outcome="ok") == 1

        await eventually(edited_by_p3, "p3 to have answered the edit")

        async def heard() -> bool:
            return (
                await world.p1.metric(
                    "couplet_cache_invalidations_total", cache="presets", direction="received"
                )
                >= 1
            )

        await eventually(heard, "p1 to hear of the change")
    finally:
        await world.cluster.stop(p3)
    answered_before = await world.p1.metric(COMPLETE, command="complete", outcome="ok")
    await complete(world, a, "alice", "after", preset="warm")
    assert stub.with_prompt("after")[0]["temperature"] == 1.5

    async def by_p1() -> bool:
        return await world.p1.metric(COMPLETE, command="complete", outcome="ok") > answered_before

    await eventually(by_p1, "p1 to have answered")


async def test_a_members_limit_is_shared_exactly(world: World) -> None:
    """tokens_per_day 40 with generations reserving 23 and using 10: dana's first goes
    through p1, his second through p3; his third (p3) and fourth (p1 again) are refused
    with the exact amount both processes used."""
    a = world.guilds[0]
    fake, stub = world.fake, world.stub
    rec = await fake.slash("limits set", guild=a, member="admin", limit="tokens_per_day", value=40)
    await rec.wait_final(WAIT)
    used = "You have 20 of your 40 tokens_per_day left and this request may use up to 23"
    assert (await complete(world, a, "dana", "r1")).startswith(STUB_TEXT)
    p3 = await world.cluster.start([0], name="p3-limits")
    try:
        assert (await complete(world, a, "dana", "r2")).startswith(STUB_TEXT)
        assert used in await complete(world, a, "dana", "r3")
    finally:
        await world.cluster.stop(p3)
    assert used in await complete(world, a, "dana", "r4")
    assert [len(stub.with_prompt(p)) for p in ("r1", "r2", "r3", "r4")] == [1, 1, 0, 0]
    rec = await fake.slash("limits reset", guild=a, member="admin", limit="tokens_per_day")
    await rec.wait_final(WAIT)


async def test_a_process_killed_mid_generation_loses_nothing(world: World) -> None:
    """kill -9 of p1 while kara's /complete waits for the backend; p1 started again.
    The interaction is run again by a live process and answered once, in its own
    message; the ledger has it once; kara's in_flight hold is free again."""
    a = world.guilds[0]
    fake, stub = world.fake, world.stub
    gate = stub.hold("doomed")
    rec = await fake.slash("complete", guild=a, member="kara", prompt="doomed", max_tokens=20)
    await wait_until(lambda: len(stub.with_prompt("doomed")) == 1, "the request", WAIT)
    await world.cluster.kill(world.p1)
    world.p1 = await world.cluster.start([0], name="p1-again")
    await wait_until(lambda: len(stub.with_prompt("doomed")) == 2, "it to be sent again", WAIT)
    gate.set()
    final = await rec.wait_final(WAIT)
    assert final["content"].startswith(f"{STUB_TEXT} (doomed)")
    assert len(rec.callbacks) == 1  # acknowledged once, by the process that died
    assert rec.followup_ids == []
    assert [h.action for h in rec.history].count("create") == 1
    # Nothing else was posted in the channel by the bot.
    bot_id = fake.world.bot_user.id  # type: ignore[union-attr]
    posted = [
        m for m in fake.messages.values()
        if m.get("channel_id") == str(a.channels[0].id)
        and m.get("author", {}).get("id") == str(bot_id)
        and m.get("interaction_metadata", {}).get("id") == str(rec.id)
    ]  # fmt: skip
    assert len(posted) <= 1

    async def resumed_once() -> bool:
        counts = [
            await p.metric("couplet_interactions_resumed_total") for p in (world.p1, world.p2)
        ]
        return sum(counts) == 1

    await eventually(resumed_once, "one process to report the resumed interaction")
    today = datetime.now(UTC).date()

    async def in_ledger() -> bool:
        totals = await world.ledger.totals(a.id, today, user_id=a.member("kara").user.id)
        return totals.requests == 1

    await eventually(in_ledger, "kara's generation to be in the ledger once")
    assert (await complete(world, a, "kara", "free again")).startswith(STUB_TEXT)
