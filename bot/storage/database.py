"""The async engine, its sessions, and running the Alembic migrations.

`Database(url)` is created once by the bot (or a CLI command) and disposed of
on shutdown. SQLite (the default, via aiosqlite) runs in WAL mode with foreign
keys on and a busy timeout; PostgreSQL runs via asyncpg.

SQLite has one writer at a time. Write transactions of this process take
turns on an asyncio lock before they take a connection: a writer waiting in
SQLite's busy handler sleeps in steps of up to 100 ms and holds a pooled
connection meanwhile, which under load stalls every interaction for a second
or more. (Other processes still wait on the busy timeout.)

`run_write(work)` runs a small write on a hot path. Through aiosqlite every
statement, the BEGIN and the COMMIT each cross to the driver's thread and back
(nine crossings for one INSERT), which costs more CPU than the write itself.
On a SQLite file the whole transaction instead runs with the synchronous
driver right on the event loop: a small INSERT and its COMMIT take tens of
microseconds in WAL mode (no fsync with synchronous=NORMAL, and committed
rows survive the process being killed), less than handing it to a thread and
back. What could make that block the loop is kept away from it: that
connection never waits for SQLite's lock (busy timeout 0 — when another
process holds it, the write goes to the writer thread, which waits), and it
never checkpoints the WAL itself (the writer thread does, every
`CHECKPOINT_EVERY` inline commits). A write of several rows
(`run_write(work, bulk=True)`: a group commit under load, the usage ledger's
once-a-second batch) goes to the writer thread, where SQLite's own work (which
releases the GIL) runs beside the event loop on the other core; handing it
over then costs less than it saves, and under load the writes that arrive
meanwhile join the next batch.

Alembic (about 11 MiB of RSS with the Mako and Pygments it imports) is
imported only to migrate: at start-up `upgrade()` first compares the
database's revision with the newest script's, read from the scripts' source,
and the bot migrates a database that is behind in a child process
(`upgrade(in_child=True)`), so Alembic is never imported by the bot itself.
"""

from __future__ import annotations

import ast
import asyncio
import contextlib
import logging
import sqlite3
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from sqlalchemy import create_engine, event, text
from sqlalchemy.engine import URL, Connection, Engine, make_url
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.ext.asyncio import (
    AsyncConnection,
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.pool import StaticPool

if TYPE_CHECKING:
    from alembic.config import Config

log = logging.getLogger(__name__)

T = TypeVar("T")

# The checkout's root, where migrations/ (the Alembic scripts) and alembic.ini
# sit next to bot/: a fresh clone or an editable install.
REPO_ROOT = Path(__file__).resolve().parents[2]
# An installed wheel carries the same scripts inside the package (setup.py maps
# migrations/ to bot.storage.migrations).
SHIPPED_MIGRATIONS = Path(__file__).resolve().with_name("migrations")

# pg_advisory_lock key serialising migrations across processes ("couplet" in hex-ish).
MIGRATION_LOCK_KEY = 0x636F75706C6574

# How long SQLite waits for another writer before giving up, in milliseconds.
SQLITE_BUSY_TIMEOUT_MS = 15_000

# Each SQLite connection's page cache, in KiB (SQLite's default is 2,000). The
# pool keeps up to a dozen connections, each of which would fill its cache
# with pages of a large database (a read of a server's settings here, of a
# generation there): 20 MiB or more of RSS. Pages not cached are read again
# from the operating system's file cache, a few microseconds each.
SQLITE_CACHE_KIB = 512

# Inline writes between two checkpoints of the WAL, run on the writer thread.
# A small write adds a few pages to the WAL; SQLite's own default is to
# checkpoint at 1,000 pages.
CHECKPOINT_EVERY = 200

# Execution option naming how an SQLite transaction begins (see _sqlite_begin).
_SQLITE_BEGIN = "couplet_sqlite_begin"

# SQLite connections kept open (each is a driver thread). Reads run side by
# side in WAL mode; writes take turns. No overflow: reads beyond these wait for
# one (a read takes a millisecond or two) instead of opening a connection, its
# thread and its page cache, to close them again right after — under a burst of
# reads (clicks on replies older than the recent generations) that churn cost
# 8 % more CPU per click, and 10,000 servers' settings read once each about
# 5 MiB more RSS (bench/README.md).
SQLITE_POOL_SIZE = 10
SQLITE_POOL_OVERFLOW = 0


def normalize_url(url: str | URL) -> URL:
    """Pick the async driver for URLs given without one (sqlite://, postgres://)."""
    parsed = make_url(url) if isinstance(url, str) else url
    backend = parsed.get_backend_name()
    if backend == "sqlite" and parsed.drivername != "sqlite+aiosqlite":
        parsed = parsed.set(drivername="sqlite+aiosqlite")
    elif backend in ("postgresql", "postgres") and parsed.drivername != "postgresql+asyncpg":
        parsed = parsed.set(drivername="postgresql+asyncpg")
    return parsed


def migrations_dir() -> Path:
    """The Alembic environment and revisions: the ones shipped inside the installed
    package, else the checkout's top-level migrations/."""
    if (SHIPPED_MIGRATIONS / "env.py").is_file():
        return SHIPPED_MIGRATIONS
    return REPO_ROOT / "migrations"


def alembic_config(url: URL | None = None) -> Config:
    """An Alembic config for running the migrations from code (`couplet db`, the bot).

    alembic.ini is for the `alembic` command line in a checkout; nothing in it
    matters here, and an installed package has none.
    """
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(migrations_dir()))
    if url is not None:
        # '%' is ConfigParser's interpolation character.
        cfg.set_main_option(
            "sqlalchemy.url", url.render_as_string(hide_password=False).replace("%", "%%")
        )
    return cfg


def script_heads(versions: Path | None = None) -> set[str]:
    """The newest revisions among the migration scripts (those no script revises),
    read from their `revision` and `down_revision` lines without importing Alembic."""
    revisions: set[str] = set()
    revised: set[str] = set()
    for script in (versions or migrations_dir() / "versions").glob("*.py"):
        for node in ast.parse(script.read_text(encoding="utf-8")).body:
            if not isinstance(node, ast.AnnAssign | ast.Assign) or node.value is None:
                continue
            target = node.target if isinstance(node, ast.AnnAssign) else node.targets[0]
            if not isinstance(target, ast.Name):
                continue
            if target.id == "revision":
                revisions.add(str(ast.literal_eval(node.value)))
            elif target.id == "down_revision":
                down = ast.literal_eval(node.value)  # None, one id, or a merge's tuple
                revised.update([down] if isinstance(down, str) else down or ())
    return revisions - revised


class Database:
    """One engine and sessionmaker for the life of the process."""

    def __init__(self, url: str | URL, *, echo: bool = False) -> None:
        self.url = normalize_url(url)
        self.dialect = self.url.get_backend_name()
        kwargs: dict[str, Any] = {"echo": echo}
        if self.dialect == "sqlite":
            if self.in_memory:
                # One shared connection, or every session would see its own empty DB.
                kwargs["poolclass"] = StaticPool
            else:
                Path(self.url.database or "").expanduser().parent.mkdir(parents=True, exist_ok=True)
                kwargs["pool_size"] = SQLITE_POOL_SIZE
                kwargs["max_overflow"] = SQLITE_POOL_OVERFLOW
        else:
            kwargs["pool_pre_ping"] = True
        self.engine: AsyncEngine = create_async_engine(self.url, **kwargs)
        # run_write's connections and thread on a SQLite file (see the module doc):
        # one used on the event loop, one on the writer thread.
        self._thread_writer: _Writer | None = None
        self._inline_writer: _Writer | None = None
        self._writer_thread: ThreadPoolExecutor | None = None
        self._inline_commits = 0
        self._checkpoint: asyncio.Future[None] | None = None
        if self.dialect == "sqlite":
            _configure_sqlite(self.engine.sync_engine)
            if "poolclass" not in kwargs:
                sync_url = self.url.set(drivername="sqlite")
                self._thread_writer = _Writer(sync_url, echo=echo)
                # Never waits for SQLite's lock, never checkpoints: see the module doc.
                self._inline_writer = _Writer(
                    sync_url, echo=echo, busy_timeout_ms=0, autocheckpoint=False
                )
        self.sessionmaker: async_sessionmaker[AsyncSession] = async_sessionmaker(
            self.engine, expire_on_commit=False
        )
        # Writes on SQLite take the write lock up front (BEGIN IMMEDIATE):
        # a deferred transaction that reads and then writes fails with
        # "database is locked" when another writer got there first.
        self._write_engine = self.engine.execution_options(**{_SQLITE_BEGIN: "IMMEDIATE"})
        self._write_sessionmaker: async_sessionmaker[AsyncSession] = async_sessionmaker(
            self._write_engine, expire_on_commit=False
        )
        # SQLite: this process's write transactions, one at a time (see the module doc).
        self._turn: asyncio.Lock | None = None
        self._turn_loop: asyncio.AbstractEventLoop | None = None

    def _write_turn(self) -> contextlib.AbstractAsyncContextManager[Any]:
        """The SQLite writers' lock (one per event loop: tests may run several), or nothing."""
        if self.dialect != "sqlite":
            return contextlib.nullcontext()
        loop = asyncio.get_running_loop()
        if self._turn is None or self._turn_loop is not loop:
            self._turn, self._turn_loop = asyncio.Lock(), loop
        return self._turn

    @property
    def in_memory(self) -> bool:
        """An in-memory SQLite database: only this process can reach it."""
        return self.dialect == "sqlite" and (self.url.database or "") in ("", ":memory:")

    def __repr__(self) -> str:
        return f"Database({self.url.render_as_string(hide_password=True)!r})"

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncSession]:
        """A session for reads; its transaction is rolled back at the end."""
        async with self.sessionmaker() as session:
            yield session

    @asynccontextmanager
    async def write(self) -> AsyncIterator[AsyncSession]:
        """A session in a transaction, committed on success, rolled back on error."""
        async with self._write_turn(), self._write_sessionmaker() as session, session.begin():
            yield session

    async def run_write(self, work: Callable[[Connection], T], *, bulk: bool = False) -> T:
        """`work(connection)` in one write transaction, committed before this returns.

        For small writes on a hot path, in Core (no ORM session, which costs
        about as much CPU again as a small INSERT). On a SQLite file `work`
        runs on the event loop with the synchronous driver, or on the writer
        thread when SQLite's lock is taken or for a `bulk` write (see the
        module doc) — so `work` may run twice, and must do nothing but SQL.
        Elsewhere it runs on the async engine, through `AsyncConnection.run_sync`.
        """
        if self._thread_writer is None:
            async with self._write_turn(), self._write_engine.begin() as conn:
                return await conn.run_sync(work)
        async with self._write_turn():
            if not bulk:
                try:
                    return self._write_inline(work)
                except (OperationalError, sqlite3.OperationalError) as error:
                    if not _busy(error):
                        raise
                    # Another process writes: wait for it off the event loop.
            return await self._on_writer_thread(partial(self._thread_writer.transaction, work))

    def _write_inline(self, work: Callable[[Connection], T]) -> T:
        assert self._inline_writer is not None
        result = self._inline_writer.transaction(work)
        self._inline_commits += 1
        if self._inline_commits % CHECKPOINT_EVERY == 0 and (
            self._checkpoint is None or self._checkpoint.done()
        ):
            self._checkpoint = asyncio.ensure_future(self._checkpoint_wal())
        return result

    async def _checkpoint_wal(self) -> None:
        """Copy the WAL's committed pages into the database (without waiting for anyone)."""
        assert self._thread_writer is not None
        try:
            await self._on_writer_thread(self._thread_writer.checkpoint)
        except Exception:
            log.warning("could not checkpoint the SQLite WAL", exc_info=True)

    async def _on_writer_thread(self, work: Callable[[], T]) -> T:
        if self._writer_thread is None:
            self._writer_thread = ThreadPoolExecutor(1, thread_name_prefix="sqlite-writer")
        return await asyncio.get_running_loop().run_in_executor(self._writer_thread, work)

    # -- migrations ---------------------------------------------------------

    async def upgrade(self, revision: str = "head", *, in_child: bool = False) -> None:
        """Migrate to `revision` (default: the newest), safe from concurrent processes.

        `in_child` (the bot's start-up): Alembic runs in a child process, so this
        one never imports it (see bot.storage.child_upgrade); not for an
        in-memory SQLite database, which no other process can reach.
        """
        if revision == "head" and await self._at_head():
            return  # the usual start-up: nothing to migrate, Alembic not imported
        if in_child and not self.in_memory:
            from bot.storage.child_upgrade import upgrade_in_child

            await upgrade_in_child(self.url, revision)
            return
        from alembic import command

        await self._run_alembic(lambda cfg: command.upgrade(cfg, revision))

    async def _at_head(self) -> bool:
        """Whether the database is at the newest scripts' revision(s) already."""
        try:
            async with self.engine.connect() as conn:
                rows = await conn.execute(text("SELECT version_num FROM alembic_version"))
                current = {row[0] for row in rows}
        except DBAPIError:
            return False  # no alembic_version table yet: never migrated
        return bool(current) and current == script_heads()

    async def downgrade(self, revision: str = "-1") -> None:
        """Migrate down to `revision` ("base" removes every table)."""
        from alembic import command

        await self._run_alembic(lambda cfg: command.downgrade(cfg, revision))

    async def current(self) -> str | None:
        """The revision the database is at, or None before the first upgrade."""
        from alembic.runtime.migration import MigrationContext

        async with self.engine.connect() as conn:
            return await conn.run_sync(
                lambda sync: MigrationContext.configure(sync).get_current_revision()
            )

    async def _run_alembic(self, action: Callable[[Config], None]) -> None:
        cfg = alembic_config(self.url)

        def run(sync_conn: Connection) -> None:
            # env.py uses this connection instead of opening its own.
            cfg.attributes["connection"] = sync_conn
            action(cfg)

        async with self.migration_connection() as conn:
            await conn.run_sync(run)

    @asynccontextmanager
    async def migration_connection(self) -> AsyncIterator[AsyncConnection]:
        """A connection in a transaction that no other process migrates at the same time.

        PostgreSQL: a transaction-level advisory lock, released at commit, so
        a second process waits and then finds the schema already at head (DDL
        is transactional there). SQLite: BEGIN IMMEDIATE takes the write lock.
        """
        async with self._write_turn(), self._write_engine.begin() as conn:
            if self.dialect == "postgresql":
                await conn.execute(
                    text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK_KEY}
                )
            yield conn

    async def ping(self) -> None:
        """Run `SELECT 1` (raises when the database cannot be reached)."""
        async with self.engine.connect() as conn:
            await conn.execute(text("SELECT 1"))

    async def dispose(self) -> None:
        """Close every pooled connection (and the SQLite writer thread)."""
        if self._checkpoint is not None:
            await asyncio.gather(self._checkpoint, return_exceptions=True)
        if self._inline_writer is not None:
            self._inline_writer.close()
        if self._writer_thread is not None:
            assert self._thread_writer is not None
            await self._on_writer_thread(self._thread_writer.close)  # its connection's thread
            await asyncio.to_thread(self._writer_thread.shutdown)
            self._writer_thread = None
        elif self._thread_writer is not None:
            self._thread_writer.close()
        await self.engine.dispose()
        await _closes_under_way()


async def _closes_under_way() -> None:
    """Wait for the connections SQLAlchemy still closes in tasks of their own.

    A call cancelled mid-way leaves its connection in an unknown state; SQLAlchemy
    throws it away and closes it in a shielded task nobody awaits. Unawaited, the
    close (on aiosqlite's thread) can finish after the event loop has closed."""
    closing = [
        task
        for task in asyncio.all_tasks()
        if getattr(task.get_coro(), "__qualname__", "").endswith("_terminate_graceful_close")
    ]
    if closing:
        await asyncio.wait(closing, timeout=5)


class _Writer:
    """One synchronous SQLite connection, kept open, for write transactions.

    Kept rather than checked out of a pool each time: a checkout, its reset
    and a new `BEGIN IMMEDIATE` option cost more than a small INSERT. Used
    from one thread at a time (the event loop, or the writer thread)."""

    def __init__(
        self,
        url: URL,
        *,
        echo: bool,
        busy_timeout_ms: int = SQLITE_BUSY_TIMEOUT_MS,
        autocheckpoint: bool = True,
    ) -> None:
        """A synchronous engine of one connection on `url`, configured by
        `_configure_sqlite`, with BEGIN sent straight to the driver."""
        self.engine = create_engine(
            url,
            echo=echo,
            pool_size=1,
            max_overflow=0,
            # Tests may run one Database on several event loops (threads).
            connect_args={"check_same_thread": False},
        )
        _configure_sqlite(
            self.engine,
            busy_timeout_ms=busy_timeout_ms,
            autocheckpoint=autocheckpoint,
            begun_on_the_driver=True,
        )
        self._conn: Connection | None = None

    def _connection(self) -> Connection:
        if self._conn is None or self._conn.closed or self._conn.invalidated:
            self._conn = self.engine.connect()
        return self._conn

    def transaction(self, work: Callable[[Connection], T]) -> T:
        """`work` in one write transaction (BEGIN IMMEDIATE), committed.

        The transaction is the driver's own: SQLAlchemy's begin and commit (its
        Transaction objects and events) cost more than a small write's SQL. A
        `work` that runs statements through the Connection still may: the
        transaction SQLAlchemy then begins joins this one (see `_configure_sqlite`),
        and its commit or rollback ends both."""
        conn = self._connection()
        driver = conn.connection.driver_connection
        assert driver is not None
        driver.execute("BEGIN IMMEDIATE")
        try:
            result = work(conn)
            if conn.in_transaction():
                conn.commit()
            else:
                driver.commit()
        except BaseException:
            if conn.in_transaction():
                conn.rollback()
            if driver.in_transaction:
                driver.rollback()
            raise
        return result

    def checkpoint(self) -> None:
        """Copy what the WAL holds into the database file as far as readers allow,
        without waiting for any (PASSIVE); outside a transaction, which would pin it."""
        driver = self._connection().connection.driver_connection
        assert driver is not None
        driver.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None
        self.engine.dispose()


def _busy(error: OperationalError | sqlite3.OperationalError) -> bool:
    """Whether SQLite refused because another connection holds its lock (SQLITE_BUSY)."""
    driver_error = error.orig if isinstance(error, OperationalError) else error
    code = getattr(driver_error, "sqlite_errorcode", None)
    return code is not None and code & 0xFF == sqlite3.SQLITE_BUSY


def _configure_sqlite(
    engine: Engine,
    *,
    busy_timeout_ms: int = SQLITE_BUSY_TIMEOUT_MS,
    autocheckpoint: bool = True,
    begun_on_the_driver: bool = False,
) -> None:
    """WAL, foreign keys and a busy timeout on every new connection; our own BEGIN.

    `autocheckpoint=False`: this connection's commits never checkpoint the WAL
    (someone else must, see Database._checkpoint_wal). `begun_on_the_driver`:
    transactions are begun on the driver by `_Writer.transaction` (run_write's
    own engines), so SQLAlchemy's begin sends nothing and joins them."""

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # Let SQLAlchemy, not the driver, decide when transactions begin.
        dbapi_conn.isolation_level = None
        cursor = dbapi_conn.cursor()
        try:
            cursor.execute(f"PRAGMA busy_timeout = {busy_timeout_ms}")
            cursor.execute(f"PRAGMA cache_size = -{SQLITE_CACHE_KIB}")
            cursor.execute("PRAGMA journal_mode = WAL")
            cursor.execute("PRAGMA synchronous = NORMAL")
            cursor.execute("PRAGMA foreign_keys = ON")
            if not autocheckpoint:
                cursor.execute("PRAGMA wal_autocheckpoint = 0")
        finally:
            cursor.close()

    @event.listens_for(engine, "begin")
    def _sqlite_begin(conn: Connection) -> None:
        if begun_on_the_driver:
            return
        mode = conn.get_execution_options().get(_SQLITE_BEGIN, "DEFERRED")
        conn.exec_driver_sql(f"BEGIN {mode}")
