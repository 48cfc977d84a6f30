"""The Database: URLs, SQLite connection settings, sessions, time zones."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import Connection, insert, select, text

from bot.settings import DEFAULT_DATABASE_URL
from bot.storage import Database, database, normalize_url
from bot.storage.database import SQLITE_CACHE_KIB, SQLITE_POOL_SIZE
from bot.storage.models import GuildSetting, utcnow
from tests.support import postgres
from tests.support.migrated import migrated_sqlite


@pytest.mark.parametrize(
    ("given", "driver"),
    [
        ("sqlite:///x.db", "sqlite+aiosqlite"),
        ("sqlite+aiosqlite:///x.db", "sqlite+aiosqlite"),
        ("postgresql://u:p@h/db", "postgresql+asyncpg"),
        ("postgres://u:p@h/db", "postgresql+asyncpg"),
        ("postgresql+asyncpg://u:p@h/db", "postgresql+asyncpg"),
    ],
)
def test_urls_get_the_async_driver(given: str, driver: str) -> None:
    """URLs written without a driver get the async one."""
    assert normalize_url(given).drivername == driver


async def test_repr_hides_the_password() -> None:
    """A Database's repr never shows the password."""
    db = Database("postgresql://couplet:hunter2@127.0.0.1:1/couplet")
    try:
        assert "hunter2" not in repr(db)
    finally:
        await db.dispose()


async def test_default_url_creates_the_data_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The default sqlite URL works from a fresh directory: data/ is created."""
    monkeypatch.chdir(tmp_path)
    db = Database(DEFAULT_DATABASE_URL)
    try:
        await db.upgrade()
        assert (tmp_path / "data" / "couplet.db").is_file()
    finally:
        await db.dispose()


async def test_sqlite_connections_use_wal_foreign_keys_and_busy_timeout(tmp_path: Path) -> None:
    """Every SQLite connection runs in WAL mode with foreign keys and a busy timeout, and
    a page cache of SQLITE_CACHE_KIB (not SQLite's 2,000 KiB each)."""
    db = Database(f"sqlite:///{tmp_path / 'nested' / 'dir' / 'c.db'}")
    try:
        async with db.read() as first, db.write() as second:
            for session in (first, second):
                assert (await session.execute(text("PRAGMA journal_mode"))).scalar() == "wal"
                assert (await session.execute(text("PRAGMA foreign_keys"))).scalar() == 1
                assert (await session.execute(text("PRAGMA busy_timeout"))).scalar() > 0
                assert (await session.execute(text("PRAGMA cache_size"))).scalar() == -512
        writer = await db.run_write(lambda conn: conn.exec_driver_sql("PRAGMA cache_size").scalar())
        assert writer == -SQLITE_CACHE_KIB == -512
    finally:
        await db.dispose()


async def test_write_commits_and_rolls_back(db: Database) -> None:
    """write() commits on success and rolls back when the block raises."""
    async with db.write() as session:
        session.add(GuildSetting(guild_id=1, name="a", value=1, updated_by=2, updated_at=utcnow()))
    with pytest.raises(RuntimeError):
        async with db.write() as session:
            session.add(
                GuildSetting(guild_id=1, name="b", value=2, updated_by=2, updated_at=utcnow())
            )
            await session.flush()
            raise RuntimeError("boom")
    async with db.read() as session:
        names = (await session.scalars(select(GuildSetting.name))).all()
    assert names == ["a"]


def insert_setting(name: str, *, fail: bool = False) -> Callable[[Connection], str]:
    def work(conn: Connection) -> str:
        conn.execute(
            insert(GuildSetting),
            {
                "guild_id": 1,
                "name": name,
                "value": {"v": name},
                "updated_by": 2,
                "updated_at": utcnow(),
            },
        )
        if fail:
            raise RuntimeError("boom")
        return name

    return work


async def test_run_write_commits_and_rolls_back(db: Database) -> None:
    """run_write() commits on success, rolls back when the work raises, and returns its result."""
    assert await db.run_write(insert_setting("kept")) == "kept"
    with pytest.raises(RuntimeError):
        await db.run_write(insert_setting("dropped", fail=True))
    async with db.read() as session:
        rows = (await session.execute(select(GuildSetting.name, GuildSetting.value))).all()
    assert [tuple(row) for row in rows] == [("kept", {"v": "kept"})]


def insert_through_the_driver(name: str, *, fail: bool = False) -> Callable[[Connection], str]:
    """Work as the hot paths' (bot.storage.prepared): SQL straight to the driver."""

    def work(conn: Connection) -> str:
        driver = conn.connection.driver_connection
        assert driver is not None
        driver.execute(
            "INSERT INTO guild_settings (guild_id, name, value, updated_by, updated_at)"
            " VALUES (1, ?, '1', 2, '2026-01-01 00:00:00.000000')",
            (name,),
        )
        if fail:
            raise RuntimeError("boom")
        return name

    return work


@pytest.mark.parametrize("bulk", [False, True], ids=["on the loop", "on the writer thread"])
async def test_run_write_on_a_sqlite_file_commits_or_rolls_back_whole(
    tmp_path: Path, bulk: bool
) -> None:
    """On a SQLite file the transaction is the driver's own: statements sent to the
    driver and statements through the Connection commit together, or roll back
    together when the work raises."""
    db = Database(f"sqlite+aiosqlite:///{migrated_sqlite(tmp_path / 't.db')}")

    def both(tag: str, *, fail: bool = False) -> Callable[[Connection], str]:
        def work(conn: Connection) -> str:
            insert_through_the_driver(f"{tag}-driver")(conn)
            return insert_setting(f"{tag}-core", fail=fail)(conn)

        return work

    try:
        assert await db.run_write(both("kept"), bulk=bulk) == "kept-core"
        with pytest.raises(RuntimeError):
            await db.run_write(both("dropped", fail=True), bulk=bulk)
        with pytest.raises(RuntimeError):
            await db.run_write(insert_through_the_driver("alone", fail=True), bulk=bulk)
        assert await db.run_write(insert_through_the_driver("last"), bulk=bulk) == "last"
        async with db.read() as session:
            names = set((await session.scalars(select(GuildSetting.name))).all())
        assert names == {"kept-driver", "kept-core", "last"}
    finally:
        await db.dispose()


async def test_run_write_on_a_sqlite_file_takes_turns_with_write(tmp_path: Path) -> None:
    """On a SQLite file, run_write (on its thread) and write() sessions at once all commit."""
    db = Database(f"sqlite+aiosqlite:///{migrated_sqlite(tmp_path / 'w.db')}")
    try:

        async def session_write(i: int) -> None:
            async with db.write() as session:
                session.add(GuildSetting(guild_id=1, name=f"s{i}", value=i, updated_by=2))

        await asyncio.gather(
            *(db.run_write(insert_setting(f"r{i}")) for i in range(20)),
            *(session_write(i) for i in range(20)),
        )
        async with db.read() as session:
            assert len((await session.scalars(select(GuildSetting.name))).all()) == 40
    finally:
        await db.dispose()


def on_thread(name: str) -> Callable[[Connection], int]:
    """Work inserting `name` and returning the id of the thread it ran on."""
    insert_it = insert_setting(name)

    def work(conn: Connection) -> int:
        insert_it(conn)
        return threading.get_ident()

    return work


async def test_run_write_on_a_sqlite_file_runs_on_the_event_loop(tmp_path: Path) -> None:
    """A small write on a free SQLite file runs on the loop's own thread (no hand-over)."""
    db = Database(f"sqlite+aiosqlite:///{migrated_sqlite(tmp_path / 'i.db')}")
    try:
        assert await db.run_write(on_thread("inline")) == threading.get_ident()
        # A bulk write goes to the writer thread.
        assert await db.run_write(on_thread("bulk"), bulk=True) != threading.get_ident()
        async with db.read() as session:
            names = set((await session.scalars(select(GuildSetting.name))).all())
        assert names == {"inline", "bulk"}
    finally:
        await db.dispose()


async def test_run_write_waits_off_the_loop_while_another_process_writes(tmp_path: Path) -> None:
    """When another connection holds SQLite's write lock, run_write neither fails nor
    blocks the event loop: it waits on the writer thread and commits once the lock is free."""
    path = migrated_sqlite(tmp_path / "b.db")
    db = Database(f"sqlite+aiosqlite:///{path}")
    other = sqlite3.connect(path, isolation_level=None)
    try:
        await db.run_write(insert_setting("warm"))  # the inline connection is open
        other.execute("BEGIN IMMEDIATE")  # another process's write transaction
        write = asyncio.create_task(db.run_write(on_thread("waited")))
        ticks = 0
        for _ in range(20):  # the loop keeps running while the write waits
            await asyncio.sleep(0.01)
            ticks += 1
        assert ticks == 20 and not write.done()
        other.execute("COMMIT")
        assert await asyncio.wait_for(write, 20) != threading.get_ident()
        async with db.read() as session:
            names = set((await session.scalars(select(GuildSetting.name))).all())
        assert names == {"warm", "waited"}
    finally:
        other.close()
        await db.dispose()


async def test_inline_writes_leave_the_wal_to_the_writer_threads_checkpoint(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Inline commits never copy the WAL into the database file themselves (that could
    stall the loop); every CHECKPOINT_EVERY of them the writer thread does."""
    monkeypatch.setattr(database, "CHECKPOINT_EVERY", 40)
    path = migrated_sqlite(tmp_path / "c.db")
    db = Database(f"sqlite+aiosqlite:///{path}")
    big = "x" * 120_000  # 30 pages a row: 40 rows pass SQLite's own 1,000-page checkpoint

    def insert_big(i: int) -> Callable[[Connection], None]:
        def work(conn: Connection) -> None:
            row = {"guild_id": 1, "name": f"n{i}", "value": big, "updated_by": 2}
            conn.execute(insert(GuildSetting), {**row, "updated_at": utcnow()})

        return work

    try:
        await db.run_write(insert_big(0))
        await db.dispose()  # the last connection closing checkpoints the WAL: a clean start
        size = path.stat().st_size
        db = Database(f"sqlite+aiosqlite:///{path}")
        for i in range(1, 40):
            await db.run_write(insert_big(i))
        assert db._checkpoint is None
        assert path.stat().st_size == size  # 39 commits, all still in the WAL
        await db.run_write(insert_big(40))
        assert db._checkpoint is not None
        await db._checkpoint
        assert path.stat().st_size > size + 39 * 120_000  # copied into the database file
    finally:
        await db.dispose()


async def test_timestamps_come_back_aware_utc(db: Database) -> None:
    """Timestamps read back are timezone-aware UTC on every backend."""
    now = utcnow()
    async with db.write() as session:
        session.add(GuildSetting(guild_id=5, name="x", value=[1], updated_by=6, updated_at=now))
    async with db.read() as session:
        row = await session.get(GuildSetting, (5, "x"))
    assert row is not None
    assert row.updated_at.utcoffset() is not None and row.updated_at.utcoffset().seconds == 0
    assert abs((row.updated_at - now).total_seconds()) < 1e-3


async def test_big_discord_ids_round_trip(db: Database) -> None:
    """64-bit Discord ids are stored exactly."""
    guild = 2**63 - 1
    async with db.write() as session:
        session.add(GuildSetting(guild_id=guild, name="x", value=1, updated_by=guild))
    async with db.read() as session:
        row = await session.get(GuildSetting, (guild, "x"))
    assert row is not None and row.updated_by == guild


def test_missing_postgres_binaries_fail_instead_of_skipping(
    monkeypatch: pytest.MonkeyPatch, pytestconfig: pytest.Config, tmp_path: Path
) -> None:
    """Without PostgreSQL installed the fixture fails with what to run."""
    monkeypatch.setattr(postgres, "BIN_GLOB", str(tmp_path / "*" / "bin"))
    monkeypatch.setattr(postgres, "_shared", None)
    with pytest.raises(pytest.fail.Exception, match="make postgres"):
        postgres.shared_cluster(pytestconfig)


async def test_in_memory_sqlite_keeps_one_database() -> None:
    """sqlite:// (memory) migrates and keeps its data across sessions."""
    db = Database("sqlite+aiosqlite://")
    try:
        await db.upgrade()
        async with db.write() as session:
            session.add(GuildSetting(guild_id=1, name="a", value=1, updated_by=2))
        async with db.read() as session:
            assert (await session.scalars(select(GuildSetting.name))).all() == ["a"]
        await db.run_write(insert_setting("b"))  # the same in-memory database, not a new one
        async with db.read() as session:
            assert sorted((await session.scalars(select(GuildSetting.name))).all()) == ["a", "b"]
    finally:
        await db.dispose()


async def test_sqlite_reads_beyond_the_pool_wait_for_a_connection(tmp_path: Path) -> None:
    """More reads at once than the pool holds all finish, on at most SQLITE_POOL_SIZE
    connections kept open: none opened (with its thread) only to be closed again."""
    db = Database(f"sqlite+aiosqlite:///{migrated_sqlite(tmp_path / 'p.db')}")
    seen: set[int] = set()

    async def read() -> int:
        async with db.read() as session:
            conn = await session.connection()
            raw = await conn.get_raw_connection()
            seen.add(id(raw.driver_connection))
            await asyncio.sleep(0.02)  # held long enough for the others to queue
            return len((await session.scalars(select(GuildSetting.name))).all())

    try:
        assert await asyncio.gather(*(read() for _ in range(3 * SQLITE_POOL_SIZE))) == [0] * (
            3 * SQLITE_POOL_SIZE
        )
        assert len(seen) == SQLITE_POOL_SIZE
        assert db.engine.pool.checkedin() == SQLITE_POOL_SIZE  # all kept, none closed
    finally:
        await db.dispose()


# About a second and a half of work for SQLite on this machine: still running when cancelled.
SLOW_READ = (
    "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 3000000) "
    "SELECT count(*) FROM c"
)


def _closes_pending() -> list[asyncio.Task[object]]:
    return [
        task
        for task in asyncio.all_tasks()
        if "_terminate_graceful_close" in getattr(task.get_coro(), "__qualname__", "")
        and not task.done()
    ]


async def test_dispose_waits_for_a_connection_closed_after_a_cancelled_read(
    tmp_path: Path,
) -> None:
    """A read cancelled twice (its task, then its cleanup) leaves SQLAlchemy closing the
    connection in a task nobody awaits; dispose waits for it, so the close does not
    finish on aiosqlite's thread after the event loop is gone."""
    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'c.db'}")

    async def read() -> None:
        async with db.engine.connect() as conn:
            await conn.execute(text(SLOW_READ))

    task = asyncio.create_task(read())
    await asyncio.sleep(0.05)  # the query runs on the connection's thread
    task.cancel()
    await asyncio.sleep(0)  # SQLAlchemy throws the connection away: a graceful close
    task.cancel()  # and the wait for that close is cancelled too
    await asyncio.gather(task, return_exceptions=True)
    assert len(_closes_pending()) == 1
    await db.dispose()
    assert _closes_pending() == []
